// Command cert-manager-webhook-delegate is a cert-manager DNS-01 webhook that writes ACME TXT records into a
// delegation zone through libdns providers. See README.md.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/cert-manager/cert-manager/pkg/acme/webhook/cmd"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/cli"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	groupName := os.Getenv("GROUP_NAME")
	help := wantsHelp(os.Args[1:])
	if groupName == "" && help {
		groupName = "help.invalid" // the flags do not depend on it
	}
	if groupName == "" {
		fmt.Fprintln(os.Stderr, "GROUP_NAME is not set: set it to the API group issuers name as webhook.groupName "+
			"(the Helm chart's groupName value), e.g. acme.example.com")
		os.Exit(2)
	}
	s, err := solverFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Provider libraries that build their own zero http.Client, or use http.DefaultClient, go through the
	// webhook's transport too: timeouts, retries of 429 and 5xx honouring Retry-After, bodies that never fail to
	// close.
	http.DefaultTransport = providers.Transport(nil)
	// The delegate_* metrics, on the server's /metrics: registered here, once, because Initialize runs more than
	// once per process.
	rec := metrics.Register(metrics.Build{Version: version, Registry: s.Registry})
	rec.SetSecretInformers(s.SecretInformers)
	s.Observer = rec
	providers.SetObserver(rec)
	if help {
		fmt.Fprintf(os.Stderr, "cert-manager-webhook-delegate %s\n", version)
	} else {
		fmt.Fprintf(os.Stderr, "cert-manager-webhook-delegate %s serving group %s\n", version, groupName)
	}
	cmd.RunWebhookServer(groupName, s)
}

// solverFromEnv reads the server's environment. Every malformed value stops the webhook at start, naming the
// variable: a fence or a resolver silently dropped would be worse than no start.
func solverFromEnv(getenv func(string) string) (*solver.Solver, error) {
	s := &solver.Solver{Namespace: getenv("POD_NAMESPACE")}
	var errs []error
	// The check subcommand reads the same two variables the same way, so that a user and Present always agree.
	r, err := cli.ResolverFromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	s.DNS = &r
	if v := getenv("ALLOWED_ZONES"); v != "" {
		zones, err := dnsname.ParseZones(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ALLOWED_ZONES (the chart's allowedZones): %w", err))
		}
		s.AllowedZones = zones
	}
	if v := getenv("REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("REPLICAS (the chart's replicaCount): %q is not a whole number of 1 or more", v))
		}
		s.Replicas = n
	}
	switch v := getenv("PACING"); v {
	case "", "on":
	case "off":
		s.NoPacing = true
	default:
		errs = append(errs, fmt.Errorf("PACING: %q is not on or off", v))
	}
	if v := getenv("REQUIRE_SECRET_LABEL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("REQUIRE_SECRET_LABEL (the chart's requireSecretLabel): %q is not true or false", v))
		}
		s.AllowUnlabelledSecrets = !b
	}
	return s, errors.Join(errs...)
}

// subcommand runs a subcommand named by the first argument and reports its exit status. cert-manager's server
// command builds its own flags from os.Args and accepts stray positional arguments, so a mistyped subcommand would
// otherwise start a server: any first argument that is not a flag is a subcommand or an error.
func subcommand(args []string) (int, bool) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return 0, false
	}
	switch args[0] {
	case "check":
		return cli.Check(args[1:], os.Stdout, os.Stderr), true
	case "plan":
		return cli.Plan(args[1:], os.Stdout, os.Stderr), true
	case "providers":
		return cli.Providers(args[1:], os.Stdout, os.Stderr), true
	case "version":
		fmt.Println(version)
		return 0, true
	}
	fmt.Fprintf(os.Stderr, "cert-manager-webhook-delegate: unknown command %q; the commands are check, plan, providers and version "+
		"(with no command, the webhook server starts; --help lists its flags)\n", args[0])
	return 2, true
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}
