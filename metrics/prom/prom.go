// Package prom exports the worker's metrics in Prometheus text format on
// /metrics: the Temporal SDK's own (worker task slots, pollers,
// schedule-to-start latency, sticky cache) and Strata's strata_* ones.
//
// Both are recorded through one Temporal SDK metrics handler, the SDK's
// OpenTelemetry contrib handler, into an OpenTelemetry meter whose
// Prometheus exporter writes into this package's registry. The
// OpenTelemetry bridge, rather than a handler of our own over
// client_golang, because the SDK gives the same metric different label
// sets (a poller's, a task queue's, a workflow type's), which
// client_golang's fixed label names refuse and OpenTelemetry's attributes
// take as they come; and the contrib handler is the one the SDK supports.
// The fleet gauges are a collector of their own that reads the monitor's
// last snapshot, so a scrape never touches the catalog.
package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/metrics"
)

// DefaultListen is where the worker serves /metrics unless told
// otherwise (in --dev; production serves it when --metrics-listen is
// given).
const DefaultListen = "127.0.0.1:9464"

// Exporter holds one worker's metrics.
type Exporter struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	handler  client.MetricsHandler
	// Fleet are the fleet gauges the monitor refreshes.
	Fleet *metrics.FleetGauges
}

// New builds an exporter; logger reports instruments the meter refuses
// (nil: they are dropped silently).
func New(logger *zap.Logger) (*Exporter, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	e := &Exporter{registry: prometheus.NewRegistry(), Fleet: &metrics.FleetGauges{}}
	exp, err := otelprom.New(otelprom.WithRegisterer(e.registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	e.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(views()...))
	e.handler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                e.provider.Meter("strata"),
		UseMonotonicCounters: true,
		OnError:              func(err error) { logger.Warn("metric refused", zap.Error(err)) },
	})
	if err := e.registry.Register(fleetCollector{e.Fleet}); err != nil {
		return nil, err
	}
	e.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.Declare(e.handler)
	return e, nil
}

// views give Strata's metrics their help text and buckets, and the SDK's
// latencies buckets in seconds (OpenTelemetry's default buckets are for
// milliseconds).
func views() []sdkmetric.View {
	var vs []sdkmetric.View
	for _, m := range metrics.All {
		if m.Kind == metrics.Gauge {
			continue // served by fleetCollector
		}
		s := sdkmetric.Stream{Description: m.Help}
		if m.Kind == metrics.Histogram {
			s.Aggregation = sdkmetric.AggregationExplicitBucketHistogram{Boundaries: m.Buckets}
		}
		vs = append(vs, sdkmetric.NewView(sdkmetric.Instrument{Name: m.Instrument()}, s))
	}
	vs = append(vs, sdkmetric.NewView(sdkmetric.Instrument{Name: "temporal_*", Kind: sdkmetric.InstrumentKindHistogram},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: metrics.SDKBuckets}}))
	return vs
}

// Handler is the Temporal SDK metrics handler to give the worker's client
// (client.Options.MetricsHandler).
func (e *Exporter) Handler() client.MetricsHandler { return e.handler }

// HTTP serves the registry in Prometheus text format.
func (e *Exporter) HTTP() http.Handler {
	return promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve answers /metrics at addr until ctx ends and returns the address
// it listens on (addr may give port 0).
func (e *Exporter) Serve(ctx context.Context, addr string, logger *zap.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.HTTP())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}

// Close flushes and stops the meter.
func (e *Exporter) Close() error { return e.provider.Shutdown(context.Background()) }

// fleetCollector serves the fleet gauges from their last snapshot.
type fleetCollector struct{ f *metrics.FleetGauges }

var fleetDescs = func() map[string]*prometheus.Desc {
	m := map[string]*prometheus.Desc{}
	for _, g := range metrics.All {
		if g.Kind == metrics.Gauge {
			m[g.Name] = prometheus.NewDesc(g.Name, g.Help, g.Labels, nil)
		}
	}
	return m
}()

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range fleetDescs {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Snapshot(time.Now())
	gauge := func(m metrics.Metric, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(fleetDescs[m.Name], prometheus.GaugeValue, v, labels...)
	}
	if !s.JobsAt.IsZero() {
		for _, state := range []string{metrics.JobFresh, metrics.JobStale, metrics.JobPaused} {
			gauge(metrics.FleetJobs, float64(s.Jobs[state]), state)
		}
		if s.HasRPO {
			gauge(metrics.FleetRPO, s.RPO.Seconds())
		}
	}
	if !s.BackupsAt.IsZero() {
		for status, n := range s.Backups {
			gauge(metrics.FleetBackups, float64(n), status)
		}
	}
	if !s.ArchivesAt.IsZero() {
		gauge(metrics.FleetArchiveLag, s.ArchiveLag.Seconds())
		gauge(metrics.FleetArchiveStalled, float64(s.ArchiveStalled))
	}
	if t := s.Refreshed(); !t.IsZero() {
		gauge(metrics.FleetRefreshed, float64(t.UnixNano())/1e9)
	}
}
