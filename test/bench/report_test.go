//go:build integration

package bench

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// figures is everything one run measured; render writes BENCHMARKS.md from it alone.
type figures struct {
	Machine               machine
	Date                  time.Time
	LoadBefore, LoadAfter loadAvg
	Settings              settings
	// Command is how the run was started (make bench sets it); GoCommand the go test command that ran.
	Command, GoCommand string
	Duration           time.Duration
	Runs               []run
	// Idle and Peak are process memory by role: webhook, minimal (idle only), noop.
	Idle, Peak map[string]memory
	// Sizes are binary sizes by build: full, minimal, noop.
	Sizes      map[string]int64
	Calls      []providerCalls
	Delegation delegationFigures
	// Background is each process's CPU use with nothing in flight, by role (CPU seconds per second), left out of
	// the runs' CPU figures.
	Background map[string]float64
}

// The targets the issue sets.
const (
	boundTarget   = 0.9  // webhook throughput at high concurrency ≥ 0.9 × the harmonic bound
	latencyTarget = 1.1  // webhook p50 at 1 in flight ≤ 1.1 × (no-op p50 + alone p50)
	rssTarget     = 1.05 // webhook idle RSS ≤ 1.05 × the no-op's
	cfCallsTarget = 3    // Cloudflare API requests per lifecycle, steady state
	// quietLoad is the 1-minute load average below which the machine counts as quiet.
	quietLoad = 1.5
)

// summary is a side at one concurrency over the rounds: medians of the per-round figures.
type summary struct {
	Rounds                 []float64 // req/s of each round
	Throughput             float64
	P50, P99               time.Duration
	P50Present, P50CleanUp time.Duration
	// CPU is CPU time per call by role, plus "front" (the webhook or no-op process) and "total".
	CPU map[string]time.Duration
	// Busy is the share of the machine's cores the run kept busy.
	Busy float64
	// Calls is provider API requests per lifecycle over every round (-1: not counted).
	Calls float64
}

func (f *figures) summary(side string, inflight int) summary {
	var tput, p50, p99, p50p, p50c, busy []float64
	cpu := map[string][]float64{}
	calls, lifecycles := 0, 0
	counted := false
	for _, r := range f.Runs {
		if r.Side != side || r.InFlight != inflight {
			continue
		}
		tput = append(tput, r.Throughput())
		all := r.all()
		p50 = append(p50, float64(percentile(all, 0.5)))
		p99 = append(p99, float64(percentile(all, 0.99)))
		p50p = append(p50p, float64(percentile(r.Present, 0.5)))
		p50c = append(p50c, float64(percentile(r.CleanUp, 0.5)))
		for role := range r.CPU {
			cpu[role] = append(cpu[role], float64(r.CPUPerRequest(role)))
		}
		cpu["front"] = append(cpu["front"], float64(r.CPUPerRequest("webhook")+r.CPUPerRequest("noop")))
		cpu["total"] = append(cpu["total"], float64(r.CPUPerRequest("total")))
		var total time.Duration
		for _, d := range r.CPU {
			total += d
		}
		busy = append(busy, total.Seconds()/(r.Elapsed.Seconds()*float64(f.Machine.Cores)))
		if r.Calls >= 0 {
			counted = true
			calls += r.Calls
			lifecycles += r.Lifecycles
		}
	}
	s := summary{Rounds: tput, Throughput: median(tput), P50: time.Duration(median(p50)), P99: time.Duration(median(p99)),
		P50Present: time.Duration(median(p50p)), P50CleanUp: time.Duration(median(p50c)), CPU: map[string]time.Duration{},
		Busy: median(busy), Calls: -1}
	for role, v := range cpu {
		s.CPU[role] = time.Duration(median(v))
	}
	if counted && lifecycles > 0 {
		s.Calls = float64(calls) / float64(lifecycles)
	}
	return s
}

// pairing is the webhook on one provider, read against the no-op and that provider alone.
type pairing struct {
	provider, webhook, alone string
	aloneLabel               string
}

var pairings = []pairing{
	{"rfc2136 (BIND)", "webhook-rfc2136", "dns", "DNS alone"},
	{"cloudflare (fake API)", "webhook-cloudflare", "cloudflare-alone", "Cloudflare alone"},
}

// verdict is one target's result.
type verdict struct {
	target, figure string
	met            bool
	// by is how far a missed target is off, and why explains it.
	by, why string
}

func render(f *figures) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	hi := f.Settings.InFlight
	sides := []struct{ key, label, what string }{
		{"dns", "DNS alone", fmt.Sprintf("libdns/rfc2136 straight to BIND from the harness: one add for a Present, one "+
			"delete for a CleanUp, a new TCP connection each (as the library does), with at most %d updates on the wire at "+
			"once however many calls are in flight, as the webhook's rfc2136 provider sends them: BIND's TCP listen queue "+
			"(tcp-listen-queue, 10) overflows when fifty connect at once, and the library's 2 s reads time out.", rfc2136Limit)},
		{"solver-rfc2136", "solver in process", "this webhook's solver (solver.Solver) called in the harness process, with " +
			"no Kubernetes in the path: config and Secret caches (a fake clientset), the delegation check against BIND, the " +
			"rfc2136 provider. It is the webhook's own code without the framework (and without its log line: the harness " +
			"logs at the default level)."},
		{"cloudflare-alone", "Cloudflare alone", "libdns/cloudflare straight to the fake Cloudflare API from the harness, " +
			"through the fake's CONNECT proxy and TLS as the webhook reaches it, with the webhook's HTTP client settings."},
		{"noop", "no-op", "the no-op solver ([test/load/noop-webhook](test/load/noop-webhook/main.go)) on the same " +
			"cmd.RunWebhookServer, behind the same aggregation layer, with the same flags and identity."},
		{"webhook-rfc2136", "webhook → BIND", "this webhook, every provider compiled in, writing to BIND over RFC 2136."},
		{"webhook-cloudflare", "webhook → Cloudflare", "this webhook writing to the fake Cloudflare API."},
	}

	p("# Benchmarks\n\n")
	p("Written by `make bench` (`BenchmarkReport` in [test/bench](test/bench/)) from one run on %s; every figure below "+
		"comes from that run, and the next run rewrites the file. Do not edit it by hand.\n\n", f.Date.Format("2006-01-02 15:04 MST"))

	p("## Machine and run\n\n| | |\n|---|---|\n")
	p("| CPU | %s |\n| Cores | %d (GOMAXPROCS %d) |\n| RAM | %s |\n| Kernel | %s |\n| Go | %s %s |\n",
		f.Machine.CPU, f.Machine.Cores, f.Machine.Threads, f.Machine.RAM, f.Machine.Kernel, f.Machine.Go, f.Machine.OS)
	p("| Load average (1 / 5 / 15 min) | %s before, %s after |\n", f.LoadBefore, f.LoadAfter)
	cmd := cmp.Or(f.Command, "go test")
	if f.GoCommand != "" {
		cmd = fmt.Sprintf("`%s`, which runs `%s`", cmd, f.GoCommand)
	} else {
		cmd = "`" + cmd + "`"
	}
	p("| Command | %s |\n| Date | %s |\n| Duration | %s |\n\n", cmd, f.Date.Format(time.RFC3339), f.Duration.Round(time.Second))
	p("The run keeps both cores busy itself, so the load after it includes its own. ")
	if f.LoadBefore[0] >= quietLoad {
		p("The machine was not quiet when it started: other work shared its cores (1-minute load %.2f; `make bench` is "+
			"meant to start below %.1f). The rounds spread accordingly (calls/s by round, below); read the medians, and the "+
			"ratios, which each round's interleaving keeps fairer than the absolute figures.\n\n", f.LoadBefore[0], quietLoad)
	} else {
		p("It started on a quiet machine (1-minute load %.2f, below %.1f).\n\n", f.LoadBefore[0], quietLoad)
	}

	p("## What was measured\n\n")
	p("A *call* is one Present or one CleanUp; a *lifecycle* is a Present and the CleanUp of the same fresh 43-character "+
		"value at `%s`, the one name every value shares (as an apex and its wildcard do). The webhook and the no-op are "+
		"separate processes behind a real kube-apiserver's aggregation layer, called by cert-manager's own webhook client "+
		"(`pkg/issuer/acme/dns/webhook`) as cert-manager's ServiceAccount, exactly as `make load` and the e2e tests do; the "+
		"*alone* rows send, from the harness process, what the webhook's provider sends for one Present (one add) and one "+
		"CleanUp (one delete) through the same library, with no Kubernetes in the path.\n\n", aliasName)
	p("What each row is:\n\n")
	for _, sd := range sides {
		p("- **%s**: %s\n", sd.label, sd.what)
	}
	p("\nHow:\n\n")
	p("- %d rounds, interleaved: each round runs every row above in that order, each at 1 and at %d calls in flight"+
		"; the figures are the medians of the rounds.\n", f.Settings.Rounds, hi)
	p("- Each run measures %d lifecycles at 1 in flight and %d at %d in flight, after an unmeasured warm-up (20 and %d "+
		"lifecycles); every call must succeed, and after the last round neither BIND nor the fake holds a value.\n",
		f.Settings.N1, f.Settings.NHigh, hi, 2*hi)
	p("- Everything shares the machine's %d cores: kube-apiserver, etcd, BIND, the measured process, and the harness "+
		"(cert-manager's client, the fake Cloudflare). A path that must do the no-op's work and the provider's work on the "+
		"same cores runs at best at 1/(1/no-op + 1/alone): the harmonic bound.\n", f.Machine.Cores)
	p("- The webhook runs with the chart's defaults (`--v=2`: one log line per call; the delegation check on every " +
		"Present, asking BIND, from its cache after the first) plus `PACING=off`: Cloudflare's documented 3.5 requests/s " +
		"per account would otherwise be the figure. The binaries are built as the release is (`CGO_ENABLED=0 go build " +
		"-trimpath -ldflags \"-s -w\"`).\n\n")

	p("## Throughput and latency\n\nMedians of %d rounds; latency is per call, Present and CleanUp together unless named.\n\n", f.Settings.Rounds)
	p("| | in flight | calls/s | calls/s by round | p50 ms | p99 ms | Present p50 ms | CleanUp p50 ms |\n|---|---:|---:|---|---:|---:|---:|---:|\n")
	for _, s := range sides {
		for _, n := range []int{1, hi} {
			sm := f.summary(s.key, n)
			if len(sm.Rounds) == 0 {
				continue
			}
			p("| %s | %d | %.0f | %s | %.2f | %.2f | %.2f | %.2f |\n", s.label, n, sm.Throughput, joinRounds(sm.Rounds),
				ms(sm.P50), ms(sm.P99), ms(sm.P50Present), ms(sm.P50CleanUp))
		}
	}

	var verdicts []verdict
	p("\n## Against the bound\n\n### %d in flight: throughput against 1/(1/no-op + 1/alone)\n\n", hi)
	p("| provider | no-op calls/s | alone calls/s | bound | webhook calls/s | webhook ÷ bound | target |\n|---|---:|---:|---:|---:|---:|---|\n")
	noopHi := f.summary("noop", hi)
	for _, pr := range pairings {
		alone, hook := f.summary(pr.alone, hi), f.summary(pr.webhook, hi)
		bound := 1 / (1/noopHi.Throughput + 1/alone.Throughput)
		ratio := hook.Throughput / bound
		p("| %s | %.0f | %.0f | %.0f | %.0f | %.2f× | ≥ %.1f× %s |\n", pr.provider, noopHi.Throughput, alone.Throughput, bound,
			hook.Throughput, ratio, boundTarget, mark(ratio >= boundTarget))
		v := verdict{target: fmt.Sprintf("%s: throughput at %d in flight ≥ %.1f× the harmonic bound", pr.provider, hi, boundTarget),
			figure: fmt.Sprintf("%.2f× (%.0f of %.0f calls/s)", ratio, hook.Throughput, bound), met: ratio >= boundTarget}
		if !v.met {
			v.by = fmt.Sprintf("%.0f%% (%.0f calls/s where %.0f would meet it)", 100*(1-ratio/boundTarget), hook.Throughput, boundTarget*bound)
			v.why = cpuWhy(f, pr, noopHi, alone, hook)
		}
		verdicts = append(verdicts, v)
	}
	p("\n### 1 in flight: webhook p50 against no-op p50 + alone p50\n\n")
	p("| provider | no-op p50 ms | alone p50 ms | sum ms | webhook p50 ms | webhook ÷ sum | target |\n|---|---:|---:|---:|---:|---:|---|\n")
	noop1 := f.summary("noop", 1)
	for _, pr := range pairings {
		alone, hook := f.summary(pr.alone, 1), f.summary(pr.webhook, 1)
		sum := noop1.P50 + alone.P50
		ratio := float64(hook.P50) / float64(sum)
		p("| %s | %.2f | %.2f | %.2f | %.2f | %.2f× | ≤ %.1f× %s |\n", pr.provider, ms(noop1.P50), ms(alone.P50), ms(sum), ms(hook.P50),
			ratio, latencyTarget, mark(ratio <= latencyTarget))
		v := verdict{target: fmt.Sprintf("%s: p50 at 1 in flight ≤ %.1f× (no-op p50 + alone p50)", pr.provider, latencyTarget),
			figure: fmt.Sprintf("%.2f× (%.2f ms against %.2f ms)", ratio, ms(hook.P50), ms(sum)), met: ratio <= latencyTarget}
		if !v.met {
			v.by = fmt.Sprintf("%.2f ms (%.0f%%) over the %.2f ms the target allows", ms(hook.P50)-latencyTarget*ms(sum),
				100*(ratio/latencyTarget-1), latencyTarget*ms(sum))
			v.why = latencyWhy(f, pr, noop1, alone, hook)
		}
		verdicts = append(verdicts, v)
	}

	p("\n## Where the CPU goes\n\nCPU time per call (user + system, ms; medians of the rounds) of each process, read from "+
		"/proc/<pid>/stat (the harness: getrusage) before and after each run, less what each process uses with nothing in "+
		"flight (measured for %s before the first round: %s); *busy* is the share of the %d cores all of them used. At 1 in flight every process idles between its turns and wakes for each call, which costs it more CPU "+
		"per call than at %d in flight, where the calls keep it running.\n", backgroundWindow, backgroundString(f.Background), f.Machine.Cores, hi)
	for _, n := range []int{1, hi} {
		p("\n### %d in flight\n\n", n)
		p("| | harness (client, fake API, alone libraries) | kube-apiserver | etcd | named | webhook or no-op process | total | busy |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range sides {
			sm := f.summary(s.key, n)
			if len(sm.Rounds) == 0 {
				continue
			}
			p("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f%% |\n", s.label, ms(sm.CPU["harness"]), ms(sm.CPU["kube-apiserver"]),
				ms(sm.CPU["etcd"]), ms(sm.CPU["named"]), ms(sm.CPU["front"]), ms(sm.CPU["total"]), 100*sm.Busy)
		}
	}

	p("\n## Provider API calls per challenge lifecycle\n\nCounted by each fake provider, through the whole solver (config, "+
		"Secrets, strategy, provider library) in a process of its own, one lifecycle at a time: the first lifecycle of a "+
		"new provider client, then the mean of the %d after it (steady state). The config names the aliasZone, as the "+
		"load runs' does.\n\n", callsSteady)
	p("| provider (fake) | first lifecycle | steady state | steady, by method | target |\n|---|---:|---:|---|---|\n")
	for _, c := range f.Calls {
		target := "—"
		if c.Provider == "cloudflare" {
			target = fmt.Sprintf("≤ %d %s", cfCallsTarget, mark(c.Steady <= cfCallsTarget))
			v := verdict{target: fmt.Sprintf("Cloudflare API requests per lifecycle, steady state ≤ %d", cfCallsTarget),
				figure: fmt.Sprintf("%.1f (%s)", c.Steady, byMethod(c.ByMethod)), met: c.Steady <= cfCallsTarget}
			if !v.met {
				v.by = fmt.Sprintf("%.1f requests per lifecycle over", c.Steady-cfCallsTarget)
				v.why = fmt.Sprintf("the steady lifecycle sends %s", byMethod(c.ByMethod))
			}
			verdicts = append(verdicts, v)
		}
		p("| %s | %d | %.1f | %s | %s |\n", c.Provider, c.First, c.Steady, byMethod(c.ByMethod), target)
	}
	cf1, cfHi, cfAlone := f.summary("webhook-cloudflare", 1), f.summary("webhook-cloudflare", hi), f.summary("cloudflare-alone", hi)
	p("\nUnder load, through the webhook process (the runs above), the fake Cloudflare answered %.2f requests per lifecycle at "+
		"1 in flight and %.2f at %d; libdns/cloudflare alone sent %.2f.\n", cf1.Calls, cfHi.Calls, hi, cfAlone.Calls)

	p("\n## Memory\n\nVmRSS and VmHWM from /proc/<pid>/status. Idle: %s after the process answered /healthz, before any "+
		"challenge, each process started alone. Peak: VmHWM after every round.\n\n", f.Settings.Idle)
	p("| process | idle VmRSS MiB | of which anonymous (heap, stacks) | of which file-backed (the binary) | peak VmHWM MiB |\n|---|---:|---:|---:|---:|\n")
	for _, row := range []struct{ key, label string }{
		{"webhook", "this webhook, every provider compiled in"}, {"minimal", "this webhook, `-tags minimal`"}, {"noop", "no-op solver"},
	} {
		idle, peak := f.Idle[row.key], "—"
		if m, ok := f.Peak[row.key]; ok {
			peak = fmt.Sprintf("%.1f", mib(m.HWM))
		}
		p("| %s | %.1f | %.1f | %.1f | %s |\n", row.label, mib(idle.RSS), mib(idle.Anon), mib(idle.File), peak)
	}
	rssRatio := float64(f.Idle["webhook"].RSS) / float64(f.Idle["noop"].RSS)
	p("\nIdle, the webhook holds %.2f× the no-op's resident memory (target ≤ %.2f× %s); at peak %.2f×. Its anonymous memory "+
		"alone (heap and stacks, what its code allocates) is %.2f× the no-op's.\n", rssRatio, rssTarget,
		mark(rssRatio <= rssTarget), float64(f.Peak["webhook"].HWM)/float64(f.Peak["noop"].HWM),
		float64(f.Idle["webhook"].Anon)/float64(f.Idle["noop"].Anon))
	v := verdict{target: fmt.Sprintf("idle RSS ≤ %.2f× the no-op's, every provider compiled in", rssTarget),
		figure: fmt.Sprintf("%.2f× (%.1f MiB against %.1f MiB)", rssRatio, mib(f.Idle["webhook"].RSS), mib(f.Idle["noop"].RSS)),
		met:    rssRatio <= rssTarget}
	if !v.met {
		v.by = fmt.Sprintf("%.1f MiB over the %.1f MiB the target allows", mib(f.Idle["webhook"].RSS)-rssTarget*mib(f.Idle["noop"].RSS),
			rssTarget*mib(f.Idle["noop"].RSS))
		v.why = rssWhy(f)
	}
	verdicts = append(verdicts, v)

	p("\n## Binary size\n\n`CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\"`, as the Makefile's `build` target and the Dockerfile build.\n\n")
	p("| build | bytes | MiB | ÷ no-op |\n|---|---:|---:|---:|\n")
	for _, bld := range []struct{ key, label string }{
		{"full", "this webhook, every provider"}, {"minimal", "this webhook, `-tags minimal`"}, {"noop", "no-op solver"},
	} {
		p("| %s | %d | %.1f | %.2f× |\n", bld.label, f.Sizes[bld.key], mib(f.Sizes[bld.key]), float64(f.Sizes[bld.key])/float64(f.Sizes["noop"]))
	}

	p("\n## Delegation check\n\nFrom the existing benchmarks, run by the same `make bench` before the load: `%s`. "+
		"BenchmarkDelegation is the check alone against BIND; BenchmarkPresentDelegationCheck a whole Present (solver, "+
		"rfc2136 to BIND) with the check off, served from its cache (warm), and made anew every time (cold).\n\n", f.Delegation.Command)
	p("| benchmark | time per op | p50 of a Present |\n|---|---:|---:|\n")
	for _, bn := range f.Delegation.Benches {
		p50 := "—"
		if v, ok := bn.Metrics["p50-µs"]; ok {
			p50 = fmt.Sprintf("%.0f µs", v)
		}
		p("| %s | %s | %s |\n", bn.Name, nsString(bn.Metrics["ns/op"]), p50)
	}
	off, _ := f.Delegation.get("BenchmarkPresentDelegationCheck/off", "p50-µs")
	warm, _ := f.Delegation.get("BenchmarkPresentDelegationCheck/warm", "p50-µs")
	cold, _ := f.Delegation.get("BenchmarkPresentDelegationCheck/cold", "p50-µs")
	w, _ := f.Delegation.get("BenchmarkDelegation/warm", "ns/op")
	c, _ := f.Delegation.get("BenchmarkDelegation/cold", "ns/op")
	p("\nThe check costs %s warm and %s cold on its own; in a Present's p50 it adds %+.0f µs warm and %+.0f µs cold to the "+
		"%.0f µs of a Present without it.\n", nsString(w), nsString(c), warm-off, cold-off, off)

	p("\n## Targets\n\n| target | figure | |\n|---|---|---|\n")
	for _, v := range verdicts {
		p("| %s | %s | %s |\n", v.target, v.figure, map[bool]string{true: "met", false: "**missed**"}[v.met])
	}
	missed := false
	for _, v := range verdicts {
		if v.met {
			continue
		}
		if !missed {
			p("\n### Where a target is missed\n")
			missed = true
		}
		p("\n**%s** — missed by %s. %s\n", v.target, v.by, v.why)
	}
	if !missed {
		p("\nEvery target is met.\n")
	}

	p("\n## Every run\n\n| round | side | in flight | lifecycles | seconds | calls/s | p50 ms | p99 ms | CPU ms/call |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range f.Runs {
		all := r.all()
		p("| %d | %s | %d | %d | %.2f | %.0f | %.2f | %.2f | %.3f |\n", r.Round, r.Side, r.InFlight, r.Lifecycles, r.Elapsed.Seconds(),
			r.Throughput(), ms(percentile(all, 0.5)), ms(percentile(all, 0.99)), ms(r.CPUPerRequest("total")))
	}
	return b.String()
}

// cpuWhy explains a throughput short of the bound from the CPU each process spent per call.
func cpuWhy(f *figures, pr pairing, noop, alone, hook summary) string {
	hi := f.Settings.InFlight
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("At %d in flight the runs keep the %d cores %.0f%% (no-op), %.0f%% (%s) and %.0f%% (webhook) busy. ", hi, f.Machine.Cores,
		100*noop.Busy, 100*alone.Busy, pr.aloneLabel, 100*hook.Busy)
	if alone1 := f.summary(pr.alone, 1); alone1.Throughput > 0 && alone.Throughput < 1.5*alone1.Throughput && alone.Busy < 0.7 {
		w("%s hardly gains from concurrency (%.0f calls/s at 1 in flight, %.0f at %d): its calls queue on the server, which "+
			"applies one zone's changes one at a time, while the cores idle; the webhook's calls queue there too, with the cores "+
			"busier around them. ", pr.aloneLabel, alone1.Throughput, alone.Throughput, hi)
	}
	expect := noop.CPU["total"] + alone.CPU["total"]
	w("A webhook call costs %.3f ms of CPU in all processes, against the no-op's %.3f ms plus %s's %.3f ms = %.3f ms "+
		"(%+.0f%%). ", ms(hook.CPU["total"]), ms(noop.CPU["total"]), pr.aloneLabel, ms(alone.CPU["total"]), ms(expect),
		100*(float64(hook.CPU["total"])/float64(expect)-1))
	type part struct {
		role string
		d    time.Duration
	}
	var parts []part
	for _, role := range []string{"front", "harness", "kube-apiserver", "etcd", "named"} {
		parts = append(parts, part{role, hook.CPU[role] - noop.CPU[role] - alone.CPU[role]})
	}
	slices.SortFunc(parts, func(a, b part) int { return int(b.d - a.d) })
	names := map[string]string{"front": "the webhook process", "harness": "the harness", "kube-apiserver": "kube-apiserver",
		"etcd": "etcd", "named": "named"}
	var ex []string
	for _, pt := range parts {
		ex = append(ex, fmt.Sprintf("%s %+.3f ms", names[pt.role], ms(pt.d)))
	}
	w("By process (webhook run − no-op run − %s run, per call): %s. ", pr.aloneLabel, strings.Join(ex, ", "))
	extra := hook.CPU["front"] - noop.CPU["front"]
	if d := hook.CPU["kube-apiserver"] - noop.CPU["kube-apiserver"]; d > noop.CPU["kube-apiserver"]/10 {
		w("kube-apiserver does the same for a webhook call as for a no-op call, yet spends %+.3f ms more on each, while "+
			"each call stays open longer (p50 %.0f ms against %.0f ms) and shares the cores with more work. ", ms(d),
			ms(hook.P50), ms(noop.P50))
	}
	w("The webhook process spends %.3f ms per call where the no-op spends %.3f ms. ", ms(hook.CPU["front"]), ms(noop.CPU["front"]))
	if pr.webhook == "webhook-rfc2136" {
		sol := f.summary("solver-rfc2136", hi)
		own := max(sol.CPU["harness"]-alone.CPU["harness"], 0)
		w("Of its extra %.3f ms, %.3f ms is the rfc2136 library call itself (what DNS alone spends in the harness) and %.3f ms "+
			"the solver's own work around it, measured in process without the framework (%.3f ms per call against DNS "+
			"alone's %.3f: the config, Secret and delegation caches, the writer cache key, and the UDP question each CleanUp "+
			"asks BIND before its delete, so that a value written through a since-changed CNAME can be searched for); the "+
			"remaining %.3f ms is in neither: the framework and the Go runtime doing more per call in a process whose calls "+
			"wait on the network (scheduling, garbage collection of the library's allocations, goroutine stacks), and the "+
			"log line each call writes at --v=2. named spends %.3f ms per webhook call against %.3f ms per call "+
			"alone, the difference being that UDP question.", ms(extra), ms(alone.CPU["harness"]), ms(own), ms(sol.CPU["harness"]),
			ms(alone.CPU["harness"]), ms(extra-alone.CPU["harness"]-own), ms(hook.CPU["named"]), ms(alone.CPU["named"]))
	} else {
		w("Its extra %.3f ms is the libdns/cloudflare call with its HTTP client and TLS to the proxy (%s's %.3f ms in the "+
			"harness holds that and the fake API's own work), the solver's work around it, and the log line it writes at --v=2.",
			ms(extra), pr.aloneLabel, ms(alone.CPU["harness"]))
	}
	return b.String()
}

// latencyWhy explains a p50 at 1 in flight over the target, operation by operation.
func latencyWhy(f *figures, pr pairing, noop, alone, hook summary) string {
	pExtra := hook.P50Present - noop.P50Present - alone.P50Present
	cExtra := hook.P50CleanUp - noop.P50CleanUp - alone.P50CleanUp
	s := fmt.Sprintf("Present p50 is %.2f ms against the no-op's %.2f ms + %s's add %.2f ms (%+.2f ms); CleanUp p50 %.2f ms "+
		"against %.2f + %.2f ms (%+.2f ms). ", ms(hook.P50Present), ms(noop.P50Present), pr.aloneLabel, ms(alone.P50Present),
		ms(pExtra), ms(hook.P50CleanUp), ms(noop.P50CleanUp), ms(alone.P50CleanUp), ms(cExtra))
	s += fmt.Sprintf("At 1 in flight the webhook process spends %.3f ms of CPU per call against the no-op's %.3f ms", ms(hook.CPU["front"]),
		ms(noop.CPU["front"]))
	if pr.webhook == "webhook-rfc2136" {
		s += fmt.Sprintf(", and named %.3f ms per webhook call against %.3f ms per DNS-alone call: between two of the webhook's "+
			"updates BIND idles while the rest of the path runs, and wakes for each, where DNS alone keeps it busy", ms(hook.CPU["named"]),
			ms(alone.CPU["named"]))
	}
	s += ". "
	if pr.webhook == "webhook-rfc2136" {
		sol := f.summary("solver-rfc2136", 1)
		dp, dc := sol.P50Present-alone.P50Present, sol.P50CleanUp-alone.P50CleanUp
		s += fmt.Sprintf("In process, without the framework, the solver's Present p50 is %.2f ms against the add's %.2f (%s) and its "+
			"CleanUp %.2f ms against the delete's %.2f (%s): the webhook's own code, the UDP question included, explains "+
			"%.2f ms of the %.2f ms. The rest is what the framework adds to a call that waits on the network, beyond what it "+
			"costs the no-op (the webhook process idles and wakes for each of the provider's round trips between the "+
			"aggregator's request and its answer), and the log line each call writes.", ms(sol.P50Present), ms(alone.P50Present),
			deltaNote(dp, "the config, Secret and delegation caches"), ms(sol.P50CleanUp), ms(alone.P50CleanUp),
			deltaNote(dc, "mostly the UDP question to BIND before the delete"), ms(max(dp, 0)+max(dc, 0)), ms(pExtra+cExtra))
	} else {
		s += "A CleanUp sends what libdns/cloudflare sends alone (a GET for the record's ID, then the DELETE); the gap is the " +
			"solver's work around the library call (config, Secret and delegation caches, the writer cache key), the log " +
			"line, and the framework's handling of a call that waits on the network."
	}
	return s
}

// deltaNote describes how much slower the solver in process was than the library alone, and why when it was.
func deltaNote(d time.Duration, why string) string {
	if d < 50*time.Microsecond {
		return fmt.Sprintf("%+.2f ms: no slower, within the runs' noise", ms(d))
	}
	return fmt.Sprintf("%+.2f ms: %s", ms(d), why)
}

// rssWhy explains the idle memory over the no-op's with the anonymous/file-backed split and the minimal build's.
func rssWhy(f *figures) string {
	full, minimal, noop := f.Idle["webhook"], f.Idle["minimal"], f.Idle["noop"]
	gap := full.RSS - noop.RSS
	anon, file := full.Anon-noop.Anon, full.File-noop.File
	var b strings.Builder
	fmt.Fprintf(&b, "The webhook idles %.1f MiB above the no-op: %+.1f MiB of it anonymous (heap, stacks, written data) and "+
		"%+.1f MiB file-backed, the pages of its own binary mapped in. ", mib(gap), mib(anon), mib(file))
	if file > 2*max(anon, 0) {
		fmt.Fprintf(&b, "So the gap is the binary, not the heap: each process has %.0f%% (webhook) and %.0f%% (no-op) of its "+
			"binary resident after start-up (start-up runs every package's initialisation, spread over the whole binary, and "+
			"Linux maps the pages around each one it faults in), and the webhook's binary is %.1f MiB against the no-op's "+
			"%.1f MiB because every provider library is linked in. Those pages are page cache that every process running "+
			"the same image file shares and that the kernel can reclaim, but VmRSS counts them. ",
			100*float64(full.File)/float64(f.Sizes["full"]), 100*float64(noop.File)/float64(f.Sizes["noop"]),
			mib(f.Sizes["full"]), mib(f.Sizes["noop"]))
	}
	fmt.Fprintf(&b, "Built with `-tags minimal` (rfc2136, cloudflare and acmedns only; a %.1f MiB binary) the webhook idles at "+
		"%.1f MiB, %.2f× the no-op (anonymous %+.1f MiB, file-backed %+.1f MiB against it): the rest of the gap comes with the "+
		"providers the target's condition keeps compiled in.", mib(f.Sizes["minimal"]), mib(minimal.RSS),
		float64(minimal.RSS)/float64(noop.RSS), mib(minimal.Anon-noop.Anon), mib(minimal.File-noop.File))
	return b.String()
}

// backgroundString lists each process's background CPU use, as a share of one core.
func backgroundString(bg map[string]float64) string {
	var parts []string
	for _, role := range []string{"harness", "kube-apiserver", "etcd", "named", "noop", "webhook"} {
		if v, ok := bg[role]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", role, 100*v))
		}
	}
	return strings.Join(parts, ", ") + " of a core"
}

func byMethod(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func joinRounds(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, " / ")
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func nsString(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
