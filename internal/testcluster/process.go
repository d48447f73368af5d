package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

// StopGrace is how long a process a test started may take to exit after the test's cleanup sent it SIGTERM,
// before it is killed.
const StopGrace = 15 * time.Second

// builds holds the binaries built for this test binary, by package, in a directory Main removes.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// Main runs the tests and then removes the binaries Binary built. Call it from TestMain:
// os.Exit(testcluster.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
	return code
}

// WebhookBinary is Binary for the webhook itself.
func WebhookBinary(t testing.TB) string {
	t.Helper()
	return Binary(t, ".")
}

// Binary builds a main package of the module (".", the webhook; "./test/cmcontroller") as the Dockerfile does,
// once per test binary, and returns its path. The directory lives until Main removes it.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[pkg]; ok {
		return bin
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "testcluster-bin-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	name := strings.ReplaceAll(strings.Trim(filepath.ToSlash(filepath.Clean(pkg)), "./"), "/", "-")
	if name == "" {
		name = "webhook"
	}
	bin := filepath.Join(builds.dir, name+".bin")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	builds.bins[pkg] = bin
	return bin
}

// ModuleRoot returns the directory of the module's go.mod, the nearest one above the working directory (a test
// runs in its package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartProcess starts bin with args and env added to the test's environment, capturing its output. owner's
// cleanup stops it (SIGTERM, then SIGKILL after StopGrace) and, if owner failed, logs the tail of its output
// under name. t reports a failure to start: a subtest may start a process that outlives it, until an enclosing
// test (owner) ends, without calling Fatal on the enclosing test from its goroutine.
func StartProcess(t, owner testing.TB, name string, env []string, bin string, args ...string) *testproc.Process {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, err := testproc.Start(cmd)
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	owner.Cleanup(func() {
		p.Stop(syscall.SIGTERM, StopGrace)
		if owner.Failed() {
			owner.Logf("%s (pid %d) output:\n%s", name, p.Pid(), p.Out.Tail(100))
		}
	})
	return p
}

// FreePort returns a port free on 127.0.0.1 (TCP and UDP) a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := testnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePortOn returns a TCP port free on every one of addrs (loopback addresses, e.g. 127.0.0.2) a moment ago:
// the replicas behind one EndpointSlice share its port.
func FreePortOn(t testing.TB, addrs ...string) int {
	t.Helper()
	if len(addrs) == 0 {
		return FreePort(t)
	}
	var lc net.ListenConfig
	var lastErr error
	for range 20 {
		first, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			t.Fatalf("listening on %s: %v", addrs[0], err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		ok := true
		var others []net.Listener
		for _, a := range addrs[1:] {
			l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				ok, lastErr = false, err
				break
			}
			others = append(others, l)
		}
		_ = first.Close()
		for _, l := range others {
			_ = l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free on all of %v: %v", addrs, lastErr)
	return 0
}
