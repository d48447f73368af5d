//go:build integration

package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// delegationBench is one line of the existing delegation-check benchmarks' output.
type delegationBench struct {
	// Name is the benchmark without its -GOMAXPROCS suffix, e.g. BenchmarkDelegation/warm.
	Name string
	// Metrics are the line's figures by unit: ns/op, p50-µs, …
	Metrics map[string]float64
}

// delegationFigures are the delegation check's benchmarks as run, and the command that ran them.
type delegationFigures struct {
	Command string
	Benches []delegationBench
}

func (d delegationFigures) get(name, unit string) (float64, bool) {
	for _, b := range d.Benches {
		if b.Name == name {
			v, ok := b.Metrics[unit]
			return v, ok
		}
	}
	return 0, false
}

// delegationArgs run dnscheck's BenchmarkDelegation (the check alone, warm and cold) and solver's
// BenchmarkPresentDelegationCheck (a whole Present against BIND with the check off, warm and cold).
var delegationArgs = []string{"test", "-count=1", "-run", "^$", "-bench", "^(BenchmarkDelegation|BenchmarkPresentDelegationCheck)$",
	"-benchtime", "1s", "./dnscheck/", "./solver/"}

func delegationBenchmarks(tb testing.TB, root string) delegationFigures {
	tb.Helper()
	cmd := exec.CommandContext(context.Background(), "go", delegationArgs...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(delegationArgs, " "), err, out)
	}
	d := delegationFigures{Command: "go " + quoteArgs(delegationArgs), Benches: parseBenchmarks(out)}
	for _, want := range []string{"BenchmarkDelegation/warm", "BenchmarkDelegation/cold", "BenchmarkPresentDelegationCheck/off",
		"BenchmarkPresentDelegationCheck/warm", "BenchmarkPresentDelegationCheck/cold"} {
		if _, ok := d.get(want, "ns/op"); !ok {
			tb.Fatalf("the delegation benchmarks printed no %s:\n%s", want, out)
		}
	}
	return d
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.+)$`)

// parseBenchmarks reads `go test -bench` output: "BenchmarkX/sub-2  1234  567 ns/op  89 p50-µs".
func parseBenchmarks(out []byte) []delegationBench {
	var res []delegationBench
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		b := delegationBench{Name: m[1], Metrics: map[string]float64{}}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				b.Metrics[f[i+1]] = v
			}
		}
		res = append(res, b)
	}
	return res
}

// quoteArgs writes args as a shell would need them.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()* ") {
			a = "'" + a + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
