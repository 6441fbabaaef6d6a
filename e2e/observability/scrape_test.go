package observability

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/internal/stratatest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// scrape is one read of a worker's /metrics, parsed.
type scrape map[string]*dto.MetricFamily

// scrapeOf reads e's /metrics over HTTP, as Prometheus would.
func scrapeOf(t *testing.T, e *stratatest.Env) scrape {
	t.Helper()
	srv := httptest.NewServer(e.Metrics.HTTP())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// matches reports whether m carries every label of want (an empty value
// wants the label absent or empty).
func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		got := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == k {
				got = l.GetValue()
			}
		}
		if got != v {
			return false
		}
	}
	return true
}

// value sums the series of a counter or gauge family matching labels.
func (s scrape) value(name string, labels map[string]string) float64 {
	var sum float64
	f := s[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// count sums the observations of a histogram family's series matching
// labels.
func (s scrape) count(name string, labels map[string]string) uint64 {
	var n uint64
	if f := s[name]; f != nil {
		for _, m := range f.GetMetric() {
			if matches(m, labels) && m.Histogram != nil {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// has reports whether the scrape has the series a PromQL selector names:
// a family, or a histogram's _bucket, _sum or _count.
func (s scrape) has(name string) bool {
	if _, ok := s[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := s[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

// labelValues lists the values label takes across a family's series.
func (s scrape) labelValues(name, label string) map[string]bool {
	out := map[string]bool{}
	if f := s[name]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = true
				}
			}
		}
	}
	return out
}
