//go:build !minimal

package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/libdns/dynu"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func dynuEntry() *Entry {
	return &Entry{
		Name:        "dynu",
		Module:      "github.com/libdns/dynu",
		New:         func() any { return new(dynu.Provider) },
		Credentials: []string{"api_token"},
		Required: []Field{
			{"api_token", "a Dynu API key, as {secretKeyRef: {name, key}}"},
			{"own_domain", "the Dynu domain that holds the records, e.g. example.org"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     "the webhook's client, put in before the library's first call (its exported Once and Client)",
		Quirks: []string{
			"a delete without the record's ID removes every TXT at the name, the sibling's too: CleanUp reads the records itself and deletes the ones holding the value by their IDs, never by name",
			"reading the records through the library panics on an A or AAAA record without an address: the webhook reads them itself",
			"the library retries an EOF for up to 15 minutes, sleeping past any deadline and logging each retry to stderr: the webhook's client reports EOF as a plain error (its transport has already retried)",
			"Once and Client are exported without JSON tags: a config giving Client is refused",
		},
		Example: "api_token: {secretKeyRef: {name: dynu-api, key: api-key}}\nown_domain: example.org\n",
		Build:   buildDynu,
	}
}

func buildDynu(v any, env Env) (Writer, error) {
	p := v.(*dynu.Provider)
	if p.Client != nil {
		return nil, fmt.Errorf("config.%s.Client: is not a configuration field; remove it", env.Path)
	}
	client := env.Client()
	client.Transport = eofIsFinal{client.Transport}
	p.Once.Do(func() {
		p.Client = dynu.NewClient(p.APIToken)
		p.Client.HTTPClient = client
	})
	d := &dynuRecords{p: p}
	lw := &libdnsWriter{p: &adapter{lib: p, get: d.get, deleteRecs: d.delete}, deleteByLookup: true, httpPaced: true}
	return dynuEntry().writer(lw, env, nil, false), nil
}

// eofIsFinal reports a transport error that wraps io.EOF as a plain error: libdns/dynu retries an EOF with
// backoff.RetryNotify for up to 15 minutes, sleeping without looking at the context.
type eofIsFinal struct{ rt http.RoundTripper }

func (t eofIsFinal) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil && errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s %s: the connection closed early: %s", req.Method, req.URL.Path, err.Error())
	}
	return resp, err
}

// dynuRecords reads and deletes TXT records through the library's exported client, by record ID.
type dynuRecords struct{ p *dynu.Provider }

func (d *dynuRecords) root(ctx context.Context) (int64, error) {
	root, err := d.p.Client.GetRootDomain(ctx, d.p.OwnDomain)
	if err != nil {
		return 0, err
	}
	return root.ID, nil
}

// get returns the TXT records in zone, with their IDs as ProviderData.
func (d *dynuRecords) get(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := d.root(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := d.p.Client.GetRecords(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range recs {
		name, err := dnsname.Canonical(r.Hostname)
		if r.Type != "TXT" || err != nil || !dnsname.Within(name, zone) {
			continue
		}
		out = append(out, libdns.TXT{Name: dnsname.Relative(name, zone), Text: r.TextData,
			ProviderData: dynu.DynuProviderData{ID: r.ID, DomainID: r.DomainID}})
	}
	return out, nil
}

// delete removes each record by its ID; a record without one is refused, never deleted by name.
func (d *dynuRecords) delete(ctx context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	id, err := d.root(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []libdns.Record
	for _, r := range recs {
		txt, ok := r.(libdns.TXT)
		pd, hasID := txt.ProviderData.(dynu.DynuProviderData)
		if !ok || !hasID || pd.ID == 0 {
			return deleted, fmt.Errorf("refusing to delete a Dynu record without its ID (%s)", r.RR().Name)
		}
		if err := d.p.Client.DeleteRecord(ctx, id, strconv.FormatInt(pd.ID, 10)); err != nil {
			return deleted, err
		}
		deleted = append(deleted, r)
	}
	return deleted, nil
}
