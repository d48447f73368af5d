package fakeazuredns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libdns/azure"
	"github.com/libdns/libdns"
)

// libdns/azure v0.5.0 builds its Azure SDK clients with nil options (azcore's own default transport), so it can
// reach the fake only the way a separately started process does: HTTPS_PROXY and SSL_CERT_FILE, read once per
// process. The test runs it in a child process (this test binary, re-executed) to show what it does to two values
// at one name, which is why the webhook drives armdns itself for Azure.

// childEnv marks the child; its value is the JSON of the provider's settings.
const childEnv = "FAKEAZUREDNS_CHILD_PROVIDER"

// step is what the child reports after each libdns call.
type step struct {
	Name string   `json:"name"`
	Err  string   `json:"err,omitempty"`
	TXT  []string `json:"txt"`
}

func runChild() int {
	var p azure.Provider
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &p); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const zone = "example.com."
	rec := func(v string) libdns.Record { return libdns.TXT{Name: "_acme-challenge", Text: v, TTL: time.Minute} }
	var steps []step
	do := func(name string, err error) {
		st := step{Name: name}
		if err != nil {
			st.Err = err.Error()
		}
		recs, gerr := p.GetRecords(ctx, zone)
		if gerr != nil {
			st.Err += " / get: " + gerr.Error()
		}
		for _, r := range recs {
			if rr := r.RR(); rr.Type == "TXT" && rr.Name == "_acme-challenge" {
				st.TXT = append(st.TXT, rr.Data)
			}
		}
		sort.Strings(st.TXT)
		steps = append(steps, st)
	}
	_, err := p.AppendRecords(ctx, zone, []libdns.Record{rec("apex-value")})
	do("append apex", err)
	_, err = p.AppendRecords(ctx, zone, []libdns.Record{rec("wildcard-value")})
	do("append sibling", err)
	_, err = p.SetRecords(ctx, zone, []libdns.Record{rec("apex-value"), rec("wildcard-value")})
	do("set both", err)
	_, err = p.DeleteRecords(ctx, zone, []libdns.Record{rec("apex-value")})
	do("delete apex", err)
	b, _ := json.Marshal(steps)
	// The library prints to stdout too; the last line is ours.
	fmt.Println("\n" + string(b))
	return 0
}

func TestLibdnsAzureInAChildProcess(t *testing.T) {
	s := start(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(azure.Provider{SubscriptionId: s.Subscription(), ResourceGroupName: group, TenantId: s.Tenant(), ClientId: clientID, ClientSecret: secret})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), s.ProxyEnv(caFile)...)
	cmd.Env = append(cmd.Env, childEnv+"="+string(cfg), "SSL_CERT_DIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("child process: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var steps []step
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &steps); err != nil || len(steps) != 4 {
		t.Fatalf("child output %s: %v", out, err)
	}
	check := func(i int, name string, wantErr string, want ...string) {
		st := steps[i]
		if st.Name != name || !strings.Contains(st.Err, wantErr) || (wantErr == "" && st.Err != "") || !slices.Equal(st.TXT, want) {
			t.Errorf("%s: err %q, TXT %q; want err containing %q, TXT %q", name, st.Err, st.TXT, wantErr, want)
		}
	}
	check(0, "append apex", "", "apex-value")
	// Append is a create-only PUT of a one-value set: the sibling cannot be added at all.
	check(1, "append sibling", "412", "apex-value")
	// SetRecords PUTs one single-value set per record: the last one wins.
	check(2, "set both", "", "wildcard-value")
	// DeleteRecords deletes the whole set, whatever the value: the sibling goes with it.
	check(3, "delete apex", "")
	if !strings.Contains(string(out), "record: ") {
		t.Errorf("the library's fmt.Println of each record was expected on stdout: %s", out)
	}
	for _, r := range s.Requests() {
		if !r.ViaProxy {
			t.Errorf("request %s %s did not come through the proxy", r.Method, r.Path)
		}
	}
}
