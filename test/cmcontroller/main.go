// Command cmcontroller runs cert-manager's own controllers, from the cert-manager module at the version go.mod
// requires, against a kube-apiserver, so that the end-to-end tests drive the webhook with the real controller
// rather than a re-implementation of it.
//
// cert-manager's cmd/controller is a separate Go module that cannot be required, so this command rebuilds the part
// of it that matters here (see run.go): cert-manager's default ContextOptions, the controllers that take a
// Certificate from an ACME Issuer or ClusterIssuer to Ready, no leader election, no metrics or health servers.
// One default differs: the cluster resource namespace is cert-manager (what cert-manager's Helm chart passes,
// its pod's namespace), not the binary's own kube-system.
//
// Usage:
//
//	cmcontroller --kubeconfig=PATH [--cluster-resource-namespace=cert-manager]
//	    [--dns01-recursive-nameservers=HOST:PORT,...] [--dns01-recursive-nameservers-only]
//	    [--extra-controllers=NAME,...] [--v=N]
//
// It logs "started controllers" once every controller is running, and "informer caches synced" once they can act.
// SIGINT or SIGTERM stops it: the controllers finish the item in hand and it exits 0. That can take a minute: once
// a DNS-01 self-check passes, cert-manager sleeps a fixed 60 s in the worker, deaf to cancellation. A second signal
// kills it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"k8s.io/klog/v2"
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs the command and returns its exit code: 2 for bad flags, 1 if the controllers failed, 0 after a
// signal stopped them.
func runMain(args []string) int {
	cfg, err := parseFlags(flag.CommandLine, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmcontroller: %v\n", err)
		return 2
	}
	logf.InitLogs()
	defer logf.FlushLogs()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal takes the default action and kills the process
	}()
	if err := run(ctx, cfg); err != nil {
		klog.ErrorS(err, "cert-manager controllers failed")
		return 1
	}
	return 0
}

// config is what the flags set.
type config struct {
	kubeconfig               string
	clusterResourceNamespace string
	// dns01Nameservers is empty for cert-manager's default: the nameservers of /etc/resolv.conf.
	dns01Nameservers     []string
	dns01NameserversOnly bool
	extraControllers     []string
}

// parseFlags parses args into a config, and klog's --v and --vmodule into klog. It reports every problem at once.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var (
		cfg                     config
		nameservers, extraNames string
	)
	fs.StringVar(&cfg.kubeconfig, "kubeconfig", "",
		"kubeconfig of the identity the controllers act as (required)")
	fs.StringVar(&cfg.clusterResourceNamespace, "cluster-resource-namespace", "cert-manager",
		"namespace that holds the Secrets ClusterIssuers refer to (their ACME account keys, solver credentials)")
	fs.StringVar(&nameservers, "dns01-recursive-nameservers", "",
		"comma-separated nameservers, each HOST:PORT or an https:// DNS-over-HTTPS URL, for the DNS-01 self-check "+
			"and zone lookups (default: those of /etc/resolv.conf)")
	fs.BoolVar(&cfg.dns01NameserversOnly, "dns01-recursive-nameservers-only", false,
		"ask only the recursive nameservers in the DNS-01 self-check, each of which must have the record; by "+
			"default cert-manager looks up the zone's authoritative nameservers and asks each of them on port 53")
	fs.StringVar(&extraNames, "extra-controllers", "",
		"comma-separated controllers to run besides the ACME set, e.g. certificaterequests-issuer-selfsigned")
	var klogFlags flag.FlagSet
	klog.InitFlags(&klogFlags)
	for _, name := range []string{"v", "vmodule"} {
		fs.Var(klogFlags.Lookup(name).Value, name, klogFlags.Lookup(name).Usage)
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}

	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args()))
	}
	if cfg.kubeconfig == "" {
		errs = append(errs, errors.New("--kubeconfig is required: the controllers never use in-cluster config"))
	}
	if cfg.clusterResourceNamespace == "" {
		errs = append(errs, errors.New("--cluster-resource-namespace must not be empty"))
	}
	cfg.dns01Nameservers = splitList(nameservers)
	for _, ns := range cfg.dns01Nameservers {
		if err := checkNameserver(ns); err != nil {
			errs = append(errs, fmt.Errorf("--dns01-recursive-nameservers: %w", err))
		}
	}
	cfg.extraControllers = splitList(extraNames)
	if _, err := selectControllers(controllerpkg.Known(), cfg.extraControllers); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// checkNameserver accepts what cert-manager's configuration validation accepts: HOST:PORT, or an https:// URL
// (RFC 8484). A bare address is refused because cert-manager would dial it without a port.
func checkNameserver(ns string) error {
	if strings.HasPrefix(ns, "https://") {
		if u, err := url.ParseRequestURI(ns); err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a valid DNS-over-HTTPS URL (https://HOST/PATH)", ns)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(ns)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%q is not HOST:PORT (e.g. 127.0.0.1:53, [::1]:53) or an https:// URL", ns)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
