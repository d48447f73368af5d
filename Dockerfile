# syntax=docker/dockerfile:1
# The webhook image: a static binary on distroless, running as an unprivileged user. Build it with `make image`.
# test/chart checks that the Go version below is go.mod's, and builds the binary with this file's own `go build`
# command to check it is static, built without cgo and with -trimpath, and starts as UID 65532.

# The build stage runs on the build machine's platform and cross-compiles for the target's (no emulation).
FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/cert-manager-webhook-delegate .

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="cert-manager-webhook-delegate" \
      org.opencontainers.image.description="cert-manager DNS-01 webhook writing ACME TXT records into a delegation zone through libdns providers" \
      org.opencontainers.image.source="https://github.com/delegate01/cert-manager-webhook-delegate" \
      org.opencontainers.image.url="https://github.com/delegate01/cert-manager-webhook-delegate" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/cert-manager-webhook-delegate /cert-manager-webhook-delegate
# distroless's nonroot user; the Helm chart runs the pod as the same UID and GID.
USER 65532:65532
ENTRYPOINT ["/cert-manager-webhook-delegate"]
