// Package testproc runs a program for a test (the webhook binary, cert-manager's controller) with its output
// captured, so that the test that started it can wait on it, read its output and stop it; and finds a Go
// module's source (charts, CRDs) for a test with the go command.
package testproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testlog"
)

// Process is a running program started by Start.
type Process struct {
	// Cmd is the command as started.
	Cmd *exec.Cmd
	// Out holds what it wrote to stdout and stderr.
	Out testlog.Buffer

	done chan struct{}
	err  error
}

// Start starts cmd with its stdout and stderr going to Out.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.Out, &p.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended (cmd.Wait's error); valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig (unless the process has already ended) and waits up to grace for it to end, then kills it. It
// reports whether the process ended within grace.
func (p *Process) Stop(sig os.Signal, grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return false
	}
}

// ModuleDir returns the directory of module in the module cache, at the version the go.mod in dir requires
// (go list -m, with the go command on PATH).
func ModuleDir(dir, module string) (string, error) {
	cmd := exec.CommandContext(context.Background(), "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("go list -m %s: %w: %s", module, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}
