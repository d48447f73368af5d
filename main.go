// Command cert-manager-webhook-delegate is a cert-manager DNS-01 webhook that writes ACME TXT records into a
// delegation zone through libdns providers. See README.md.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/cert-manager/cert-manager/pkg/acme/webhook/cmd"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
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
	s := &solver.Solver{}
	if ns := os.Getenv("DNS_CHECK_NAMESERVERS"); ns != "" {
		servers, err := dnsname.ParseServers(ns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "DNS_CHECK_NAMESERVERS: %v\n", err)
			os.Exit(2)
		}
		s.DNS.Nameservers, s.DNS.Authoritative = servers, true
		if v := os.Getenv("DNS_CHECK_AUTHORITATIVE"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "DNS_CHECK_AUTHORITATIVE: %q is not true or false\n", v)
				os.Exit(2)
			}
			s.DNS.Authoritative = b
		}
	}
	if help {
		fmt.Fprintf(os.Stderr, "cert-manager-webhook-delegate %s\n", version)
	} else {
		fmt.Fprintf(os.Stderr, "cert-manager-webhook-delegate %s serving group %s\n", version, groupName)
	}
	cmd.RunWebhookServer(groupName, s)
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}
