//go:build integration

package chart

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
)

// The non-root user of gcr.io/distroless/static:nonroot, which the Dockerfile's USER and the chart's
// podSecurityContext name too.
const nonRootID = 65532

// imageVersion is what the tests pass as the Dockerfile's VERSION build argument.
const imageVersion = "v0.0.0-chart-test"

// TestDockerfile checks the Dockerfile's shape: the build stage's Go is go.mod's, it cross-compiles on the build
// platform, and the final stage is distroless, unprivileged, labelled, and runs the binary the build stage wrote.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	df := readFile(t, "Dockerfile")
	mf, err := modfile.ParseLax("go.mod", []byte(readFile(t, "go.mod")), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := mf.Go.Version
	if mf.Toolchain != nil {
		want = strings.TrimPrefix(mf.Toolchain.Name, "go")
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=(\S+)\s+)?golang:([^\s@-]+)\S*\s+AS\s+build\s*$`).FindStringSubmatch(df)
	switch {
	case from == nil:
		t.Error("Dockerfile: no `FROM --platform=$BUILDPLATFORM golang:<version> AS build` stage")
	case from[2] != want:
		t.Errorf("Dockerfile builds with golang:%s but go.mod asks for Go %s: make them equal", from[2], want)
	case from[1] != "$BUILDPLATFORM":
		t.Errorf("the build stage must run on --platform=$BUILDPLATFORM (cross-compiling), got %q", from[1])
	}

	for _, re := range []string{
		`(?m)^FROM gcr\.io/distroless/static:nonroot\s*$`,
		`(?m)^USER 65532:65532\s*$`,
		`(?m)^ARG TARGETOS\s*$`,
		`(?m)^ARG TARGETARCH\s*$`,
		`org\.opencontainers\.image\.source="https://github\.com/delegate01/cert-manager-webhook-delegate"`,
		`org\.opencontainers\.image\.version="\$\{VERSION\}"`,
		`(?m)^COPY --from=build /out/cert-manager-webhook-delegate /cert-manager-webhook-delegate\s*$`,
		`(?m)^ENTRYPOINT \["/cert-manager-webhook-delegate"\]\s*$`,
	} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", re)
		}
	}
	// The final stage must be the distroless one: nothing may follow it.
	if strings.LastIndex(df, "\nFROM ") != strings.Index(df, "\nFROM gcr.io/distroless/static:nonroot") {
		t.Error("the last stage of the Dockerfile must be gcr.io/distroless/static:nonroot")
	}
	build := dockerBuildCommand(t)
	for _, w := range []string{"CGO_ENABLED=0", "GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}", "-trimpath", "-X main.version=${VERSION}"} {
		if !strings.Contains(build, w) {
			t.Errorf("the Dockerfile's go build command lacks %s: %s", w, build)
		}
	}
}

// TestImageBinary builds the webhook exactly as the Dockerfile does, from the build context .dockerignore leaves,
// and checks the result: static, no cgo, -trimpath, version stamped, and it starts as UID 65532.
func TestImageBinary(t *testing.T) {
	t.Parallel()
	bin := imageBinary(t)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s program header: it is dynamically linked", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q (%v)", libs, err)
	}

	out, err := exec.Command(goBinary(), "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	// -trimpath keeps -ldflags out of the build info; the help subtest checks the version the binary prints instead.
	for _, w := range []string{"\tbuild\tCGO_ENABLED=0\n", "\tbuild\t-trimpath=true\n", "\tbuild\tGOOS=linux\n"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("go version -m does not show %q:\n%s", strings.TrimSpace(w), out)
		}
	}

	t.Run("GROUP_NAME unset", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := runAsNonRoot(t, bin, []string{"PATH=/usr/bin:/bin"})
		if code != 2 {
			t.Errorf("exit code: want 2, got %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "GROUP_NAME is not set") {
			t.Errorf("stderr does not name GROUP_NAME: %q", stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		// Help needs no GROUP_NAME.
		stdout, stderr, code := runAsNonRoot(t, bin, []string{"PATH=/usr/bin:/bin"}, "--help")
		if code != 0 {
			t.Errorf("--help: exit code %d\nstderr: %s", code, stderr)
		}
		all := stdout + stderr
		for _, w := range []string{"Usage:", "--tls-cert-file", "--tls-private-key-file", "--secure-port", "--cert-dir",
			"cert-manager-webhook-delegate " + imageVersion + "\n"} {
			if !strings.Contains(all, w) {
				t.Errorf("--help output lacks %q", w)
			}
		}
	})
}

// TestImageBinaryReadsChartEnv: the webhook starts with the environment the full-featured values render, and each
// variable it checks at start is one it really reads: a malformed value under the chart's name stops it, naming the
// variable (a misspelt name would be ignored, and a fence silently dropped).
func TestImageBinaryReadsChartEnv(t *testing.T) {
	t.Parallel()
	bin := imageBinary(t)
	env := kubeletEnv(t, deployment(t, renderFull(t), fullNamespace, "delegate-webhook"))
	if _, stderr, code := runAsNonRoot(t, bin, env, "--help"); code != 0 {
		t.Fatalf("the webhook refuses the environment the full values render (exit %d): %s\nenv: %q", code, stderr, env)
	}
	for name, bad := range map[string]string{
		"ALLOWED_ZONES":           "*.validation.example.org",
		"REQUIRE_SECRET_LABEL":    "yes",
		"DNS_CHECK_NAMESERVERS":   "10.96.0.10:99999",
		"DNS_CHECK_AUTHORITATIVE": "yes",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if envValue(env, name) == "" {
				t.Fatalf("the full values render no %s", name)
			}
			var mutated []string
			for _, kv := range env {
				if strings.HasPrefix(kv, name+"=") {
					kv = name + "=" + bad
				}
				mutated = append(mutated, kv)
			}
			_, stderr, code := runAsNonRoot(t, bin, mutated, "--help")
			if code != 2 || !strings.Contains(stderr, name) {
				t.Errorf("%s=%s: want exit 2 naming %s, got exit %d: %s", name, bad, name, code, stderr)
			}
		})
	}
}

// runAsNonRoot runs the binary as UID/GID 65532 (when the test runs as root; otherwise as the current, non-root
// user) with exactly env, and returns its output and exit code.
func runAsNonRoot(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = "/"
	asNonRoot(cmd)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return o.String(), e.String(), cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %q did not exit within 30s", bin, args)
		return "", "", 0
	}
}

// asNonRoot makes cmd run as the image's user when the test runs as root.
func asNonRoot(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonRootID, Gid: nonRootID}}
	}
}

// makeReadable lets the non-root user traverse and read the given paths (the test's temporary directories are 0700
// and owned by root).
func makeReadable(t *testing.T, paths ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, nonRootID, nonRootID); err != nil {
			t.Fatal(err)
		}
	}
}

var imageBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	log  string
}

// imageBinary builds the webhook once per test binary, as the Dockerfile's build stage does.
func imageBinary(t *testing.T) string {
	t.Helper()
	imageBuild.once.Do(func() {
		imageBuild.bin, imageBuild.log, imageBuild.err = buildLikeDockerfile(t)
	})
	if imageBuild.err != nil {
		t.Fatalf("building the webhook as the Dockerfile does: %v\n%s", imageBuild.err, imageBuild.log)
	}
	return imageBuild.bin
}

func buildLikeDockerfile(t *testing.T) (bin, log string, err error) {
	cmdline := dockerBuildCommand(t)
	// The directory outlives the test that happens to build first; TestMain's process exit does not remove it, so
	// remove it when the package's tests end.
	dir, err := os.MkdirTemp("", "chart-image-")
	if err != nil {
		return "", "", err
	}
	registerCleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", "", err
	}
	ctx := filepath.Join(dir, "context")
	if err := copyBuildContext(repoRoot, ctx, dockerignore(t)); err != nil {
		return "", "", err
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return "", "", err
	}
	cmdline = strings.ReplaceAll(cmdline, "/out/", out+"/")
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH, "VERSION="+imageVersion)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	t.Logf("built the webhook as the Dockerfile does in %s: %s", time.Since(start).Round(time.Second), cmdline)
	return filepath.Join(out, "cert-manager-webhook-delegate"), string(b), err
}

// dockerBuildCommand returns the shell command of the Dockerfile's RUN instruction that runs go build, without its
// --mount options.
func dockerBuildCommand(t *testing.T) string {
	t.Helper()
	joined := strings.ReplaceAll(readFile(t, "Dockerfile"), "\\\n", " ")
	var found []string
	for _, l := range strings.Split(joined, "\n") {
		rest, ok := strings.CutPrefix(l, "RUN ")
		if !ok || !strings.Contains(rest, "go build") {
			continue
		}
		f := strings.Fields(rest)
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			f = f[1:]
		}
		found = append(found, strings.Join(f, " "))
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: want one RUN instruction running go build, found %d", len(found))
	}
	return found[0]
}

// dockerignore reads .dockerignore's patterns.
func dockerignore(t *testing.T) []string {
	t.Helper()
	var pats []string
	for _, l := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf(".dockerignore: exception %q: this test's filter supports plain patterns only", l)
		}
		pats = append(pats, path.Clean(strings.TrimPrefix(l, "/")))
	}
	return pats
}

// ignored reports whether .dockerignore excludes rel (slash-separated, relative to the context root): a pattern
// matches the path or one of its parents; a leading **/ matches at any depth.
func ignored(rel string, pats []string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range pats {
		sub, anyDepth := strings.CutPrefix(p, "**/")
		for i := range parts {
			for j := i + 1; j <= len(parts); j++ {
				if i > 0 && !anyDepth {
					break
				}
				if ok, _ := path.Match(sub, strings.Join(parts[i:j], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

func copyBuildContext(src, dst string, pats []string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if rel == "." {
			return os.MkdirAll(target, 0o755)
		}
		if ignored(filepath.ToSlash(rel), pats) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		default:
			return nil // Docker would send symlinks; the module has none.
		}
	})
}

// goBinary is the go command of the toolchain running the tests: go test puts its GOROOT/bin first in PATH.
func goBinary() string {
	if g, err := exec.LookPath("go"); err == nil {
		return g
	}
	return "go"
}

var cleanups struct {
	sync.Mutex
	fns []func()
}

// registerCleanup runs fn when the package's tests end (for state shared between tests).
func registerCleanup(fn func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	cleanups.fns = append(cleanups.fns, fn)
}

func runCleanups() {
	cleanups.Lock()
	defer cleanups.Unlock()
	for _, fn := range cleanups.fns {
		fn()
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	pats := []string{".git", "deploy", "*.md", "**/*_test.go", "**/testdata"}
	for rel, want := range map[string]bool{
		".git": true, ".git/config": true, "deploy/x/Chart.yaml": true, "README.md": true, "solver/doc.md": false,
		"solver/solver_test.go": true, "main.go": false, "solver/testdata/x.json": true, "solver/solver.go": false,
		"internal/testdns/bind.go": false,
	} {
		if got := ignored(rel, pats); got != want {
			t.Errorf("ignored(%q) = %v, want %v", rel, got, want)
		}
	}
}
