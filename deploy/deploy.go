// Package deploy holds Strata's monitoring files, embedded: the Grafana
// dashboard (grafana/strata.json, uid "strata-overview") and the Prometheus
// alerting rules (prometheus/alerts.yml), which docker-compose.yml mounts
// into its grafana and prometheus services. Beside them, this package reads
// the PromQL they contain, so that tests can hold it to the metrics the
// worker exports: every metric a query selects must be a family of
// metrics.All or of ExternalMetrics, and every label it matches on, groups
// by or prints must be one those metrics carry. See docs/observability.md.
package deploy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/stratabackup/strata/metrics"
)

//go:embed grafana/strata.json
var dashboardJSON []byte

//go:embed prometheus/alerts.yml
var alertsYAML []byte

// DashboardUID is the Grafana dashboard's uid.
const DashboardUID = "strata-overview"

// Dashboard is the Grafana dashboard's JSON (a copy).
func Dashboard() []byte { return bytes.Clone(dashboardJSON) }

// Labels every scraped series carries, added by Prometheus.
var scrapeLabels = []string{"instance", "job"}

// sdkLabels are the labels the Temporal SDK's root metrics handler gives
// every temporal_* metric ("none" where they do not apply).
var sdkLabels = []string{"namespace", "client_name", "task_queue", "worker_type", "workflow_type", "activity_type"}

func sdk(name string, kind metrics.Kind, help string, more ...string) metrics.Metric {
	return metrics.Metric{Name: name, Kind: kind, Help: help, Labels: append(slices.Clone(sdkLabels), more...)}
}

// ExternalMetrics is the allow-list of metric families the worker's
// /metrics serves besides Strata's own (metrics.All) that the dashboard and
// the alerts may use: the Temporal SDK's worker metrics and the Go and
// process collectors'. Each is a family's name as a scrape's TYPE line
// gives it (a histogram's series are NAME_bucket, NAME_sum and
// NAME_count; Family maps a selected series name to its family). The SDK's
// counters and latency histograms appear once first recorded (a workflow
// failed, an activity ran); the gauges and the Go and process families
// from the worker's start. ExternalFamilies has their kinds and labels.
var ExternalMetrics = func() []string {
	names := make([]string, len(ExternalFamilies))
	for i, m := range ExternalFamilies {
		names[i] = m.Name
	}
	return names
}()

// ExternalFamilies describe ExternalMetrics: kind, help and the labels
// the queries may use.
var ExternalFamilies = []metrics.Metric{
	sdk("temporal_worker_task_slots_available", metrics.Gauge, "Free task slots, by worker type.", "worker_type"),
	sdk("temporal_worker_task_slots_used", metrics.Gauge, "Busy task slots, by worker type.", "worker_type"),
	sdk("temporal_num_pollers", metrics.Gauge, "Pollers, by poller type.", "poller_type"),
	sdk("temporal_sticky_cache_size", metrics.Gauge, "Workflows in the sticky cache (reported per workflow type)."),
	sdk("temporal_workflow_task_schedule_to_start_latency_seconds", metrics.Histogram, "Time workflow tasks waited in the task queue."),
	sdk("temporal_activity_schedule_to_start_latency_seconds", metrics.Histogram, "Time activity tasks waited in the task queue."),
	sdk("temporal_activity_execution_latency_seconds", metrics.Histogram, "Time activity attempts took."),
	sdk("temporal_workflow_task_execution_latency_seconds", metrics.Histogram, "Time workflow tasks took."),
	sdk("temporal_activity_execution_failed_total", metrics.Counter, "Failed activity attempts."),
	sdk("temporal_workflow_completed_total", metrics.Counter, "Workflows that completed."),
	sdk("temporal_workflow_failed_total", metrics.Counter, "Workflows that failed."),
	{Name: "go_memstats_heap_inuse_bytes", Kind: metrics.Gauge, Help: "Go heap bytes in use."},
	{Name: "go_goroutines", Kind: metrics.Gauge, Help: "Goroutines."},
	{Name: "process_resident_memory_bytes", Kind: metrics.Gauge, Help: "Resident memory."},
	{Name: "process_cpu_seconds_total", Kind: metrics.Counter, Help: "CPU time used."},
	{Name: "process_start_time_seconds", Kind: metrics.Gauge, Help: "When the process started (Unix time)."},
}

// Family is the metric family a selected series name belongs to: a
// family of metrics.All or ExternalFamilies whose Name is name (a
// histogram's only with suffix _bucket, _sum or _count: a bare histogram
// name selects no series). ok is false for any other name.
func Family(name string) (m metrics.Metric, bucket, ok bool) {
	for _, list := range [][]metrics.Metric{metrics.All, ExternalFamilies} {
		for _, m := range list {
			if m.Kind != metrics.Histogram {
				if name == m.Name {
					return m, false, true
				}
				continue
			}
			switch name {
			case m.Name + "_bucket":
				return m, true, true
			case m.Name + "_sum", m.Name + "_count":
				return m, false, true
			}
		}
	}
	return metrics.Metric{}, false, false
}

// CheckMetric says why a series name is not one the worker exports (nil
// if it is): see Family.
func CheckMetric(name string) error {
	if _, _, ok := Family(name); ok {
		return nil
	}
	for _, m := range append(slices.Clone(metrics.All), ExternalFamilies...) {
		if m.Kind == metrics.Histogram && name == m.Name {
			return fmt.Errorf("metric %s is a histogram: select %s_bucket, _sum or _count", name, name)
		}
	}
	return fmt.Errorf("metric %s is not exported by the worker (not in metrics.All or deploy.ExternalMetrics)", name)
}

// Query is one PromQL expression of the dashboard or the rules.
type Query struct {
	// Source says where it is: `panel 12 "Title" target A` or `rule
	// StrataJobsStale`.
	Source string
	// Expr is the expression as written.
	Expr string
	// PromQL is Expr with Grafana's variables replaced by stand-ins that
	// parse (Expand); the same as Expr for a rule.
	PromQL string
	// Legend is a dashboard target's legend format ("" for a rule).
	Legend string
}

// Panel is the part of a dashboard panel this package reads.
type Panel struct {
	ID          int      `json:"id"`
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Targets     []Target `json:"targets"`
	// Panels are a collapsed row's panels.
	Panels []Panel `json:"panels"`
}

// Target is a panel's query.
type Target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

// Panels are the dashboard's panels, those of collapsed rows included, in
// order.
func Panels() ([]Panel, error) {
	var d struct {
		Panels []Panel `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// Grafana's built-in variables, by name, and the stand-ins Expand gives
// them.
var builtins = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
	"__rate_interval_ms": "300000", "__interval_ms": "60000", "__range_ms": "3600000", "__range_s": "3600",
	"__from": "0", "__to": "0",
}

// Grafana's variable syntaxes: ${name}, ${name:format}, [[name]], $name.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// Expand replaces the Grafana variables in a dashboard expression with
// stand-ins that parse: the built-in intervals and ranges with durations
// (and their _ms and _s forms with numbers), a template variable (used in
// a label matcher's string) with the regular expression ".*".
func Expand(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		name := m[1] + m[2] + m[3]
		if s, ok := builtins[name]; ok {
			return s
		}
		return ".*"
	})
}

// DashboardQueries are the expressions of every dashboard panel's targets.
func DashboardQueries() ([]Query, error) {
	panels, err := Panels()
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, p := range panels {
		for _, t := range p.Targets {
			qs = append(qs, Query{
				Source: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID),
				Expr:   t.Expr, PromQL: Expand(t.Expr), Legend: t.LegendFormat,
			})
		}
	}
	return qs, nil
}

// Rules parses the alerting rules strictly (an unknown field is an error)
// and validates them as Prometheus does when it loads the file: each
// expression parses, each annotation's template parses.
func Rules() (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.Parse(alertsYAML, false)
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerts.yml: %w", errors.Join(errs...))
	}
	return groups, nil
}

// RuleQueries are the expressions of every rule.
func RuleQueries() ([]Query, error) {
	groups, err := Rules()
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert.Value
			if name == "" {
				name = r.Record.Value
			}
			qs = append(qs, Query{Source: "rule " + name, Expr: r.Expr.Value, PromQL: r.Expr.Value})
		}
	}
	return qs, nil
}

// Queries are DashboardQueries and RuleQueries.
func Queries() ([]Query, error) {
	d, err := DashboardQueries()
	if err != nil {
		return nil, err
	}
	r, err := RuleQueries()
	if err != nil {
		return nil, err
	}
	return append(d, r...), nil
}

// SelectedMetrics are the sorted metric names an expression's selectors
// select. A selector without a metric name (such as {__name__=~"..."}) is
// an error: what it selects cannot be checked.
func SelectedMetrics(promql string) ([]string, error) {
	expr, err := parser.ParseExpr(promql)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	var errs []error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if name := selectorName(vs); name != "" {
			set[name] = true
		} else {
			errs = append(errs, fmt.Errorf("selector %s names no metric", vs))
		}
		return nil
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sortedKeys(set), nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// MetricNames are the sorted, de-duplicated metric names that the
// dashboard's panel targets and the alerting rules select.
func MetricNames() ([]string, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, q := range qs {
		names, err := SelectedMetrics(q.PromQL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Source, err)
		}
		for _, n := range names {
			set[n] = true
		}
	}
	return sortedKeys(set), nil
}

// Analysis is what Analyze found in an expression.
type Analysis struct {
	// Metrics are the sorted metric names it selects.
	Metrics []string
	// Labels are the sorted label names its result's series can carry.
	Labels []string
}

// Analyze parses an expression and checks it against the exported
// metrics: every selected metric is exported (CheckMetric); every label a
// selector matches on is one its family carries (its Labels, instance and
// job, le for a histogram's _bucket); every label of a by (...), on (...)
// or group_left (...) clause, and histogram_quantile's le, is one its
// operands can carry. It returns the metrics and the labels the result can
// carry (what a legend or an alert's $labels may print).
func Analyze(promql string) (*Analysis, error) {
	expr, err := parser.ParseExpr(promql)
	if err != nil {
		return nil, err
	}
	names, err := SelectedMetrics(promql)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, n := range names {
		if err := CheckMetric(n); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var c labelChecker
	out := c.labels(expr)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return &Analysis{Metrics: names, Labels: sortedKeys(out)}, nil
}

// labelChecker infers the labels each node's result can carry and records
// the label names an expression uses that its operands cannot carry.
type labelChecker struct{ errs []error }

type labelSet = map[string]bool

func (c *labelChecker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *labelChecker) need(set labelSet, label, where string) {
	if !set[label] {
		c.errorf("%s: label %q is not on its operand (it has %s)", where, label, strings.Join(sortedKeys(set), ", "))
	}
}

func (c *labelChecker) labels(n parser.Node) labelSet {
	switch n := n.(type) {
	case *parser.VectorSelector:
		name := selectorName(n)
		m, bucket, ok := Family(name)
		if !ok {
			return labelSet{}
		}
		set := labelSet{}
		for _, l := range append(slices.Clone(m.Labels), scrapeLabels...) {
			set[l] = true
		}
		if bucket {
			set["le"] = true
		}
		for _, lm := range n.LabelMatchers {
			if lm.Name != labels.MetricName && !set[lm.Name] {
				c.errorf("%s: %s has no label %q (it has %s)", n, name, lm.Name, strings.Join(sortedKeys(set), ", "))
			}
		}
		return set
	case *parser.MatrixSelector:
		return c.labels(n.VectorSelector)
	case *parser.SubqueryExpr:
		return c.labels(n.Expr)
	case *parser.ParenExpr:
		return c.labels(n.Expr)
	case *parser.StepInvariantExpr:
		return c.labels(n.Expr)
	case *parser.UnaryExpr:
		return c.labels(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.Call:
		return c.call(n)
	case *parser.AggregateExpr:
		return c.aggregate(n)
	case *parser.BinaryExpr:
		return c.binary(n)
	}
	c.errorf("%s: unexpected expression", n)
	return labelSet{}
}

func (c *labelChecker) call(n *parser.Call) labelSet {
	args := make([]labelSet, len(n.Args))
	for i, a := range n.Args {
		args[i] = c.labels(a)
	}
	switch n.Func.Name {
	case "histogram_quantile":
		c.need(args[1], "le", n.String())
		out := clone(args[1])
		delete(out, "le")
		return out
	case "label_replace":
		out := clone(args[0])
		if src := stringArg(n.Args[3]); src != "" {
			c.need(args[0], src, n.String())
		}
		out[stringArg(n.Args[1])] = true
		return out
	case "absent", "absent_over_time", "time", "vector", "scalar":
		return labelSet{}
	}
	for i, a := range n.Args {
		if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			return args[i]
		}
	}
	return labelSet{}
}

func stringArg(e parser.Expr) string {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	if s, ok := e.(*parser.StringLiteral); ok {
		return s.Val
	}
	return ""
}

func (c *labelChecker) aggregate(n *parser.AggregateExpr) labelSet {
	in := c.labels(n.Expr)
	if n.Param != nil {
		c.labels(n.Param)
	}
	if n.Without {
		out := clone(in)
		for _, l := range n.Grouping {
			delete(out, l)
		}
		return out
	}
	for _, l := range n.Grouping {
		c.need(in, l, n.String())
	}
	switch n.Op {
	case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
		return in
	}
	out := labelSet{}
	for _, l := range n.Grouping {
		out[l] = true
	}
	if n.Op == parser.COUNT_VALUES {
		out[stringArg(n.Param)] = true
	}
	return out
}

func (c *labelChecker) binary(n *parser.BinaryExpr) labelSet {
	l, r := c.labels(n.LHS), c.labels(n.RHS)
	lv, rv := n.LHS.Type() == parser.ValueTypeVector, n.RHS.Type() == parser.ValueTypeVector
	switch {
	case lv && !rv:
		return l
	case rv && !lv:
		return r
	case !lv && !rv:
		return labelSet{}
	}
	vm := n.VectorMatching
	if vm == nil {
		vm = &parser.VectorMatching{Card: parser.CardOneToOne}
	}
	where := n.String()
	if vm.On {
		for _, m := range vm.MatchingLabels {
			c.need(l, m, where)
			c.need(r, m, where)
		}
	}
	if n.Op.IsSetOperator() {
		if n.Op == parser.LOR {
			out := clone(l)
			for k := range r {
				out[k] = true
			}
			return out
		}
		return l
	}
	switch vm.Card {
	case parser.CardOneToOne:
		if vm.On {
			out := labelSet{}
			for _, m := range vm.MatchingLabels {
				out[m] = true
			}
			return out
		}
		out := clone(l)
		for _, m := range vm.MatchingLabels {
			delete(out, m)
		}
		return out
	case parser.CardManyToOne:
		out := clone(l)
		for _, inc := range vm.Include {
			c.need(r, inc, where)
			out[inc] = true
		}
		return out
	case parser.CardOneToMany:
		out := clone(r)
		for _, inc := range vm.Include {
			c.need(l, inc, where)
			out[inc] = true
		}
		return out
	}
	return l
}

// clone copies s (never nil).
func clone(s labelSet) labelSet {
	out := make(labelSet, len(s))
	for k := range s {
		out[k] = true
	}
	return out
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
