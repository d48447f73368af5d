//go:build integration

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine is what the figures were measured on.
type machine struct {
	CPU     string
	Cores   int
	RAM     string
	Kernel  string
	Go      string
	OS      string
	Threads int // GOMAXPROCS of the harness (each process sees the same cores)
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Threads: runtime.GOMAXPROCS(0), CPU: "unknown", RAM: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (strings.TrimSpace(k) == "model name" || strings.TrimSpace(k) == "Model") {
				m.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal"); ok {
		m.RAM = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute load.
type loadAvg [3]float64

func readLoad() loadAvg {
	var l loadAvg
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := range min(3, len(f)) {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

func (l loadAvg) String() string { return fmt.Sprintf("%.2f / %.2f / %.2f", l[0], l[1], l[2]) }

// procField reads a "Name: <n> kB" line of a /proc status-like file.
func procField(path, name string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// memory is a process's resident set now (VmRSS) and at its peak (VmHWM), and how much of the resident set is
// anonymous (heap, stacks: RssAnon) and file-backed (the binary's pages: RssFile), in bytes.
type memory struct {
	RSS, HWM, Anon, File int64
}

func readMemory(pid int) (memory, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var m memory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &m.RSS}, {"VmHWM", &m.HWM}, {"RssAnon", &m.Anon}, {"RssFile", &m.File}} {
		kb, ok := procField(path, f.name)
		if !ok {
			return memory{}, fmt.Errorf("reading %s from %s failed", f.name, path)
		}
		*f.v = kb << 10
	}
	return m, nil
}

// userHZ is the unit of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on every Linux architecture Go runs on).
const userHZ = 100

// cpuTime is the user plus system CPU time a process (all its threads) has used.
func cpuTime(pid int) (time.Duration, error) {
	if pid == os.Getpid() {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// children returns the pids of this process's children by command name (kube-apiserver, etcd, named): the
// control plane envtest started and the BIND testdns started, never another engineer's processes.
func children(names ...string) map[string]int {
	out := map[string]int{}
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := string(b[open+1 : closing])
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid != self {
			continue
		}
		for _, n := range names {
			if comm == n {
				out[n], _ = strconv.Atoi(filepath.Base(d))
			}
		}
	}
	return out
}

// procSet is the processes whose CPU time each run accounts for, by role.
type procSet struct {
	order []string
	pids  map[string]int
	// background is each role's CPU use with nothing in flight (CPU time per second of wall time), which a run's
	// figures leave out: it would otherwise count against each call, the more the slower the run.
	background map[string]float64
}

// measureBackground sets p.background from d with nothing in flight.
func (p *procSet) measureBackground(d time.Duration) {
	before := p.cpu()
	start := time.Now()
	time.Sleep(d)
	after := p.cpu()
	elapsed := time.Since(start).Seconds()
	p.background = map[string]float64{}
	for role, v := range after {
		p.background[role] = (v - before[role]).Seconds() / elapsed
	}
}

func (p *procSet) add(role string, pid int) {
	if p.pids == nil {
		p.pids = map[string]int{}
	}
	if _, ok := p.pids[role]; !ok {
		p.order = append(p.order, role)
	}
	p.pids[role] = pid
}

// cpu reads every process's CPU time; a process that cannot be read counts as 0.
func (p *procSet) cpu() map[string]time.Duration {
	out := make(map[string]time.Duration, len(p.pids))
	for role, pid := range p.pids {
		d, _ := cpuTime(pid)
		out[role] = d
	}
	return out
}
