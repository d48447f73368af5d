// Package metricstest reads metrics back for tests: every series of a family as one string per series, so a test
// can compare exact counts by label, and the text exposition a scraper reads.
package metricstest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Snapshot is the value of every series, keyed `name{label="value",...}` with the labels sorted; a histogram
// appears as its _count and _sum series (buckets are left out: they depend on timing).
type Snapshot map[string]float64

// Gather reads legacyregistry, the registry the webhook's /metrics serves.
func Gather() (Snapshot, error) { return GatherFrom(legacyregistry.DefaultGatherer) }

// GatherFrom reads g.
func GatherFrom(g metrics.Gatherer) (Snapshot, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	s := Snapshot{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			key := func(name string) string { return name + "{" + strings.Join(labels, ",") + "}" }
			switch {
			case m.GetCounter() != nil:
				s[key(mf.GetName())] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s[key(mf.GetName())] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s[key(mf.GetName()+"_count")] = float64(m.GetHistogram().GetSampleCount())
				s[key(mf.GetName()+"_sum")] = m.GetHistogram().GetSampleSum()
			case m.GetUntyped() != nil:
				s[key(mf.GetName())] = m.GetUntyped().GetValue()
			}
		}
	}
	return s, nil
}

// Family returns the series of one family (for a histogram, name is its _count or _sum), keyed by their labels
// alone: `{label="value",...}`.
func (s Snapshot) Family(name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if rest, ok := strings.CutPrefix(k, name+"{"); ok {
			out["{"+rest] = v
		}
	}
	return out
}

// Diff compares a family's series with want exactly (every series, no more), and describes the differences; ""
// when they agree.
func (s Snapshot) Diff(name string, want map[string]float64) string {
	got := s.Family(name)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "\n  %s%s: missing, want %g", name, k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "\n  %s%s = %g, want %g", name, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "\n  %s%s = %g, not expected", name, k, got[k])
		}
	}
	return b.String()
}

// Sub returns s minus before, series by series (a series absent from before counts from zero): what happened in
// between, for tests that share a process-wide registry.
func (s Snapshot) Sub(before Snapshot) Snapshot {
	out := Snapshot{}
	for k, v := range s {
		out[k] = v - before[k]
	}
	return out
}

// Names returns the family names (a histogram's as _bucket, _sum and _count) of the text exposition body that
// start with prefix, sorted.
func Names(body []byte, prefix string) ([]string, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var names []string
	for name, mf := range mfs {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
