package solver

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// TestEveryProviderIsConstructible is the "constructed" test level, run for every provider in the registry: its
// example config parses (credentials from Secrets), builds a writer with the Secrets resolved, every credential
// field is refused inline, and every required field, when empty or missing, gets an error naming it.
func TestEveryProviderIsConstructible(t *testing.T) {
	t.Parallel()
	reg := providers.Default()
	for _, name := range reg.Names() {
		e := reg[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if e.Name != name || e.Module == "" || e.New == nil || e.Build == nil || e.Example == "" || e.Zones == "" {
				t.Fatalf("incomplete entry: %+v", e)
			}
			switch e.Strategy {
			case providers.Exact, providers.Set, providers.Fixed:
			default:
				t.Fatalf("strategy %q", e.Strategy)
			}
			switch e.Test {
			case providers.RealServer, providers.FakeAPI, providers.Constructed:
			default:
				t.Fatalf("test level %q", e.Test)
			}
			var example map[string]any
			if err := yaml.Unmarshal([]byte(e.Example), &example); err != nil || len(example) == 0 {
				t.Fatalf("example is not a YAML object of fields: %v\n%s", err, e.Example)
			}
			fields := jsonFields(e.New())
			for k := range example {
				if !slices.Contains(fields, k) {
					t.Errorf("example field %q is not one of the provider's fields %v", k, fields)
				}
			}
			for _, c := range e.Credentials {
				if v, ok := example[c]; ok {
					if _, isRef := v.(map[string]any); !isRef {
						t.Errorf("example gives credential %q inline", c)
					}
				}
			}
			// The example parses as a provider block.
			block, _ := json.Marshal(map[string]any{name: example})
			cfg, err := ParseConfig([]byte(`{"domainAlias":"validation.example.org","aliasProvider":`+string(block)+`}`), reg)
			if err != nil {
				t.Fatalf("example does not parse: %v", err)
			}
			pc := cfg.AliasProvider
			// With its Secrets resolved (to plausible values), it builds.
			values := make([]string, len(pc.refs))
			for i := range values {
				values[i] = "c2VjcmV0LXZhbHVlLTAxMjM0NTY3ODk=" // base64, for TSIG keys
			}
			w, err := build(e, substitute(pc.spec, pc.refs, func(i int) string { return values[i] }), providers.Env{
				Path: pc.Path, Leases: &providers.LeaseLocks{}, Slots: &providers.Slots{}, AllowAmbientCredentials: false,
			})
			if err != nil || w == nil {
				t.Fatalf("example does not build: %v", err)
			}
			// Every credential is refused inline, at any depth the example has it.
			for _, c := range e.Credentials {
				if _, ok := example[c]; !ok {
					continue
				}
				inline := map[string]any{}
				for k, v := range example {
					inline[k] = v
				}
				inline[c] = "inline-secret-value"
				b, _ := json.Marshal(map[string]any{name: inline})
				_, err := ParseConfig([]byte(`{"domainAlias":"validation.example.org","aliasProvider":`+string(b)+`}`), reg)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("aliasProvider.%s.%s: is a credential", name, c)) ||
					strings.Contains(err.Error(), "inline-secret-value") {
					t.Errorf("inline %s: %v", c, err)
				}
			}
			// Each required field, missing, is named in the error.
			for _, f := range e.Required {
				spec := substitute(pc.spec, pc.refs, func(i int) string { return values[i] })
				delete(spec, f.Name)
				_, err := build(e, spec, providers.Env{Path: pc.Path, Leases: &providers.LeaseLocks{}, Slots: &providers.Slots{}})
				want := fmt.Sprintf("config.aliasProvider.%s.%s: is required", name, f.Name)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("without %s: %v, want %q", f.Name, err, want)
				}
				if !slices.Contains(fields, f.Name) {
					t.Errorf("required field %q is not one of the provider's fields %v", f.Name, fields)
				}
			}
			for _, f := range append(slices.Clone(e.Credentials), e.Endpoints...) {
				if !hasField(reflect.TypeOf(e.New()), f) {
					t.Errorf("credential or endpoint field %q is not a field of the provider (at any depth)", f)
				}
			}
		})
	}
}

func build(e *providers.Entry, spec map[string]any, env providers.Env) (providers.Writer, error) {
	v := e.New()
	if err := decodeStrict(spec, v); err != nil {
		return nil, err
	}
	return e.NewWriter(v, env)
}

// hasField reports whether t has a field with JSON name name, at any depth (maps of structs included).
func hasField(t reflect.Type, name string) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || tag == "" && f.Name == name || f.IsExported() && hasField(f.Type, name) {
			return true
		}
	}
	return false
}
