#!/usr/bin/env bash
# Builds the real control-plane binaries the tests run (kube-apiserver, kubectl, etcd) from the Go module proxy
# into $BIN (default _bin/), because they cannot be downloaded here. Each binary is built once and reused;
# delete it to rebuild. Versions match cert-manager v1.21.2's k8s.io/* v0.36.2 dependencies.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.36.2}
STAGING_VERSION=${STAGING_VERSION:-v0.36.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
BIN=$(mkdir -p "${BIN:-_bin}" && cd "${BIN:-_bin}" && pwd)
GO=${GO:-go}
export GOFLAGS=-mod=mod CGO_ENABLED=0

# The throwaway modules live beside the binaries so a rebuild reuses the module and build caches.
build_kube() {
  local src="$BIN/src/kubernetes"
  mkdir -p "$src"
  if [ ! -f "$src/go.mod" ]; then
    (
      cd "$src"
      printf 'module testbin/kubernetes\n\ngo 1.26\n' >go.mod
      printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n' >tools.go
      "$GO" mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
      # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging paths, which do
      # not apply to a dependant: pin each to its published version instead.
      local gomod
      gomod=$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
      local staging
      staging=$(awk '$1 ~ /^k8s\.io\// && $2 == "=>" && $3 ~ /^\.\/staging/ {print $1}' "$gomod")
      if [ -z "$staging" ]; then
        echo "found no ./staging replace lines in k8s.io/kubernetes@$KUBE_VERSION's go.mod ($gomod)" >&2
        exit 1
      fi
      for m in $staging; do
        "$GO" mod edit -replace="$m=$m@$STAGING_VERSION"
      done
      "$GO" mod tidy
    )
  fi
  # Stamp the version as Kubernetes' own build does, so clients and envtest see v1.36.2, not v0.0.0-master.
  local minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  local ldflags="-s"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for cmd in kube-apiserver kubectl; do
    if [ ! -x "$BIN/$cmd" ]; then
      echo "building $cmd $KUBE_VERSION (first time only: several minutes)" >&2
      (cd "$src" && "$GO" build -trimpath -ldflags="$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") &&
        mv "$BIN/$cmd.tmp" "$BIN/$cmd"
    fi
  done
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return 0
  local src="$BIN/src/etcd"
  mkdir -p "$src"
  if [ ! -f "$src/go.mod" ]; then
    (
      cd "$src"
      printf 'module testbin/etcd\n\ngo 1.26\n' >go.mod
      printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' >tools.go
      "$GO" mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
      "$GO" mod tidy
    )
  fi
  echo "building etcd $ETCD_VERSION (first time only: about a minute)" >&2
  # server/v3 has no main package of its own; etcdmain.Main is what the etcd binary runs.
  mkdir -p "$src/cmd/etcd"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$src/cmd/etcd/main.go"
  (cd "$src" && "$GO" build -trimpath -ldflags=-s -o "$BIN/etcd.tmp" ./cmd/etcd) && mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_etcd
build_kube
"$BIN/kube-apiserver" --version >&2
# No "| head" here: under pipefail, etcd dying of SIGPIPE after head exits fails the build (exit 141).
version=$("$BIN/etcd" --version)
echo "${version%%$'\n'*}" >&2
