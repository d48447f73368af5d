package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// issuerInfo is an ACME Issuer or ClusterIssuer as check and plan read it.
type issuerInfo struct {
	// Kind is "Issuer" or "ClusterIssuer"; Namespace is empty for a ClusterIssuer.
	Kind, Namespace, Name string
	// Server is spec.acme.server, AccountURI status.acme.uri (empty until cert-manager registered the account).
	Server, AccountURI string
	// Solvers are spec.acme.solvers, all of them (ours and others), in order.
	Solvers []cmacme.ACMEChallengeSolver
}

// String names the issuer as the output does: "ClusterIssuer/letsencrypt" or "Issuer/shop/letsencrypt".
func (i *issuerInfo) String() string {
	if i.Namespace == "" {
		return i.Kind + "/" + i.Name
	}
	return i.Kind + "/" + i.Namespace + "/" + i.Name
}

func issuerFromAPI(kind string, obj cmapi.GenericIssuer) *issuerInfo {
	acme := obj.GetSpec().ACME
	if acme == nil {
		return nil
	}
	info := &issuerInfo{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Server: acme.Server,
		Solvers: acme.Solvers}
	if st := obj.GetStatus().ACMEStatus(); st != nil {
		info.AccountURI = st.URI
	}
	return info
}

// ourSolver is one of an issuer's solvers that names this webhook, with its config parsed as the webhook parses
// it (or the errors the webhook would give).
type ourSolver struct {
	// Index in spec.acme.solvers; -1 for a bare webhook config.
	Index int
	// Follow is the solver's cnameStrategy: Follow.
	Follow bool
	// Raw is the webhook config as the webhook receives it (JSON).
	Raw []byte
	// Config is Raw parsed; nil when Err is set.
	Config *solver.Config
	Err    error
}

// label names the solver in output: "solvers[1]", or "" for a bare webhook config.
func (s *ourSolver) label() string {
	if s.Index < 0 {
		return ""
	}
	return fmt.Sprintf("solvers[%d]", s.Index)
}

// isOurs reports whether a solver names this webhook: a dns01 webhook solver with our group and solver name.
func isOurs(s *cmacme.ACMEChallengeSolver, groupName string) bool {
	return s.DNS01 != nil && s.DNS01.Webhook != nil && s.DNS01.Webhook.GroupName == groupName &&
		s.DNS01.Webhook.SolverName == solver.Name
}

// parseSolver parses one of our solvers' config exactly as the webhook does.
func parseSolver(index int, s *cmacme.ACMEChallengeSolver, reg providers.Registry) *ourSolver {
	out := &ourSolver{Index: index, Follow: s.DNS01.CNAMEStrategy == cmacme.FollowStrategy}
	if s.DNS01.Webhook.Config != nil {
		out.Raw = s.DNS01.Webhook.Config.Raw
	}
	out.Config, out.Err = solver.ParseConfig(out.Raw, reg)
	return out
}

// source is what check's --config names: an issuer manifest, or a bare webhook config.
type source struct {
	// Issuer is set for a manifest; then Solvers are its solvers that name this webhook.
	Issuer *issuerInfo
	// Solvers to use: the manifest's that are ours, or the one bare config (Index -1).
	Solvers []*ourSolver
}

// loadSource reads --config: a webhook.config as JSON or YAML, or an Issuer/ClusterIssuer manifest. YAML becomes
// JSON as kubectl converts it (YAML 1.1: an unquoted Off is false), so the config is parsed exactly as the webhook
// would receive it once applied; JSON is passed on byte for byte. A usage problem is a usageError.
func loadSource(path, groupName string, reg providers.Registry) (*source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--config: %v", err)
	}
	docs, err := splitDocuments(b)
	if err != nil {
		return nil, usageErrorf("--config %s: %v", path, err)
	}
	var issuers []*issuerInfo
	var bare [][]byte
	for i, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		_ = json.Unmarshal(doc, &head)
		if head.Kind == "" && head.APIVersion == "" {
			bare = append(bare, doc)
			continue
		}
		group, _, _ := strings.Cut(head.APIVersion, "/")
		if group != cmapi.SchemeGroupVersion.Group || head.Kind != cmapi.IssuerKind && head.Kind != cmapi.ClusterIssuerKind {
			return nil, usageErrorf("--config %s: document %d is a %s (%s), not an Issuer or ClusterIssuer of %s; give "+
				"an issuer manifest or the issuer's webhook.config", path, i+1, head.Kind, head.APIVersion,
				cmapi.SchemeGroupVersion.Group)
		}
		var obj cmapi.GenericIssuer = &cmapi.Issuer{}
		if head.Kind == cmapi.ClusterIssuerKind {
			obj = &cmapi.ClusterIssuer{}
		}
		if err := json.Unmarshal(doc, obj); err != nil {
			return nil, usageErrorf("--config %s: document %d: %v", path, i+1, err)
		}
		info := issuerFromAPI(head.Kind, obj)
		if info == nil {
			return nil, usageErrorf("--config %s: %s/%s is not an ACME issuer (no spec.acme)", path, head.Kind, obj.GetName())
		}
		issuers = append(issuers, info)
	}
	switch {
	case len(issuers) > 1:
		names := make([]string, len(issuers))
		for i, is := range issuers {
			names[i] = is.String()
		}
		return nil, usageErrorf("--config %s holds %d issuers (%s); give one", path, len(issuers), strings.Join(names, ", "))
	case len(issuers) == 1 && len(bare) > 0:
		return nil, usageErrorf("--config %s mixes an issuer manifest with other documents; give one", path)
	case len(issuers) == 0 && len(bare) != 1:
		return nil, usageErrorf("--config %s holds %d documents; give the issuer's webhook.config or one issuer manifest",
			path, len(bare))
	}
	if len(issuers) == 0 {
		return &source{Solvers: []*ourSolver{bareSolver(bare[0], reg)}}, nil
	}
	is := issuers[0]
	if groupName == "" {
		return nil, usageErrorf("--config %s is an issuer manifest: pass --group-name (the chart's groupName; the "+
			"server reads GROUP_NAME) so that check can tell which solvers are this webhook's%s", path,
			groupsHint(is.Solvers))
	}
	src := &source{Issuer: is}
	for i := range is.Solvers {
		if isOurs(&is.Solvers[i], groupName) {
			src.Solvers = append(src.Solvers, parseSolver(i, &is.Solvers[i], reg))
		}
	}
	if len(src.Solvers) == 0 {
		return nil, usageErrorf("%s has no solver for this webhook: none is dns01.webhook with groupName %s and "+
			"solverName %s%s", is, groupName, solver.Name, groupsHint(is.Solvers))
	}
	return src, nil
}

func bareSolver(raw []byte, reg providers.Registry) *ourSolver {
	cfg, err := solver.ParseConfig(raw, reg)
	return &ourSolver{Index: -1, Raw: raw, Config: cfg, Err: err}
}

// groupsHint names the groups the issuer's solvers with our solver name use, to help with --group-name.
func groupsHint(solvers []cmacme.ACMEChallengeSolver) string {
	var groups []string
	for _, s := range solvers {
		if s.DNS01 != nil && s.DNS01.Webhook != nil && s.DNS01.Webhook.SolverName == solver.Name &&
			!slices.Contains(groups, s.DNS01.Webhook.GroupName) {
			groups = append(groups, s.DNS01.Webhook.GroupName)
		}
	}
	if len(groups) == 0 {
		return ""
	}
	return fmt.Sprintf(" (its solvers named %s use the group %s)", solver.Name, strings.Join(groups, ", "))
}

// splitDocuments splits a YAML stream (or one JSON document) into JSON documents, dropping empty ones.
func splitDocuments(b []byte) ([][]byte, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		if !json.Valid(t) {
			var v any
			return nil, json.Unmarshal(t, &v)
		}
		return [][]byte{t}, nil
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		return nil, errors.New("is empty")
	}
	return out, nil
}

// wellKnownCAs maps ACME directory hosts to the CA's CAA identity (RFC 8659 issuer domain name).
var wellKnownCAs = map[string]string{
	"acme-v02.api.letsencrypt.org":         "letsencrypt.org",
	"acme-staging-v02.api.letsencrypt.org": "letsencrypt.org",
	"acme.zerossl.com":                     "sectigo.com",
	"acme.sectigo.com":                     "sectigo.com",
	"dv.acme-v02.api.pki.goog":             "pki.goog",
	"dv.acme-v02.test-api.pki.goog":        "pki.goog",
	"api.buypass.com":                      "buypass.com",
	"api.test4.buypass.no":                 "buypass.com",
}

// caForServer returns the CAA identity of a well-known CA's ACME directory URL, or "".
func caForServer(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	return wellKnownCAs[strings.ToLower(u.Hostname())]
}

// usageError is a problem with the command line or the config: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }
