package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// ProviderInfo is one provider of this build as `providers -o json` prints it. Field names are stable.
type ProviderInfo struct {
	Name        string   `json:"name"`
	Module      string   `json:"module"`
	Version     string   `json:"version"`
	Strategy    string   `json:"strategy"`
	Credentials []string `json:"credentials"`
	Endpoints   []string `json:"endpoints"`
	Required    []string `json:"required"`
	MinTTL      int      `json:"minTTLSeconds"`
	Zones       string   `json:"zoneDiscovery"`
	TestLevel   string   `json:"testLevel"`
	HTTP        string   `json:"http,omitempty"`
	Env         []string `json:"env,omitempty"`
	Quirks      []string `json:"quirks,omitempty"`
	Example     string   `json:"example"`
}

// Providers lists the registry of this build: the `providers` subcommand. Its output and the README's
// provider table are made from the same data.
func Providers(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("providers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cert-manager-webhook-delegate providers [-o text|json]")
		fmt.Fprintln(stderr, "Lists the DNS providers compiled into this build: name, module and version, write strategy,")
		fmt.Fprintln(stderr, "credential fields (Secret only), minimum TTL, zone discovery and how the provider was tested.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "providers: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	infos := ProviderInfos(providers.Default())
	switch *output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(infos); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	case "text":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSTRATEGY\tTESTED\tMIN TTL\tCREDENTIALS\tMODULE")
		for _, p := range infos {
			ttl := "-"
			if p.MinTTL > 0 {
				ttl = fmt.Sprintf("%ds", p.MinTTL)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s@%s\n", p.Name, p.Strategy, p.TestLevel, ttl,
				strings.Join(p.Credentials, ","), p.Module, p.Version)
		}
		if err := w.Flush(); err != nil {
			return 1
		}
	default:
		fmt.Fprintf(stderr, "providers: -o %q: use text or json\n", *output)
		return 2
	}
	return 0
}

// OwnVersion is the version shown for a provider built on the webhook's own client when the build carries no
// module version.
const OwnVersion = "built in"

// ProviderInfos describes the registry, sorted by name, with each module's version read from the build.
func ProviderInfos(reg providers.Registry) []ProviderInfo {
	versions := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		// A provider written on the webhook's own client (GoDaddy's API, for one) is versioned with the webhook;
		// a build from a checkout has no module version, only "(devel)".
		versions[bi.Main.Path] = OwnVersion
		if strings.HasPrefix(bi.Main.Version, "v") {
			versions[bi.Main.Path] = bi.Main.Version
		}
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
			versions[d.Path] = v
		}
	}
	var out []ProviderInfo
	for _, name := range reg.Names() {
		e := reg[name]
		req := make([]string, 0, len(e.Required))
		for _, f := range e.Required {
			req = append(req, f.Name)
		}
		v := versions[e.Module]
		if v == "" {
			v = "unknown"
		}
		out = append(out, ProviderInfo{
			Name: e.Name, Module: e.Module, Version: v, Strategy: string(e.Strategy),
			Credentials: nonNil(e.Credentials), Endpoints: nonNil(e.Endpoints), Required: req,
			MinTTL: int(e.MinTTL / time.Second), Zones: e.Zones, TestLevel: string(e.Test), HTTP: e.HTTP,
			Env: e.Env, Quirks: e.Quirks, Example: e.Example,
		})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
