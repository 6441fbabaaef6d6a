package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/stratabackup/strata/metrics"
)

// The alerts the rules file must define (docs/observability.md documents
// each under a heading of its name).
var wantAlerts = []string{
	"StrataWorkerDown", "StrataBackupFailureRate", "StrataJobsStale", "StrataFleetRPOOverBound",
	"StrataFleetGaugesNotRefreshed", "StrataWorkerTaskBacklog", "StrataProviderThrottling",
	"StrataReconcilerFoundOrphans", "StrataWALArchiveStalled", "StrataNotificationsFailing",
	"StrataRetentionFailing",
}

var templateLabel = regexp.MustCompile(`\$labels\.(\w+)`)

func TestRules(t *testing.T) {
	groups, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != 1 || groups.Groups[0].Name != "strata" {
		t.Fatalf("want one rule group \"strata\", got %d groups", len(groups.Groups))
	}
	anchors := docAnchors(t)
	var names []string
	for _, r := range groups.Groups[0].Rules {
		name := r.Alert.Value
		if name == "" {
			t.Errorf("rule %q is not an alerting rule", r.Record.Value)
			continue
		}
		names = append(names, name)
		if r.For <= 0 {
			t.Errorf("%s: no `for`", name)
		}
		if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q, want critical, warning or info", name, s)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", name, a)
			}
		}
		if rb, want := r.Annotations["runbook"], "docs/observability.md#"+strings.ToLower(name); rb != want {
			t.Errorf("%s: runbook %q, want %q", name, rb, want)
		} else if !anchors[strings.ToLower(name)] {
			t.Errorf("%s: docs/observability.md has no heading %q", name, name)
		}
		if _, err := parser.ParseExpr(r.Expr.Value); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		a, err := Analyze(r.Expr.Value)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for k, text := range r.Annotations {
			for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
				if !slices.Contains(a.Labels, m[1]) {
					t.Errorf("%s: annotation %s prints $labels.%s, which the expression's result does not carry (it has %v)", name, k, m[1], a.Labels)
				}
			}
		}
	}
	for _, w := range wantAlerts {
		if !slices.Contains(names, w) {
			t.Errorf("no alert %s", w)
		}
	}
	if len(names) != len(wantAlerts) {
		t.Errorf("alerts %v, want %v", names, wantAlerts)
	}
}

// docAnchors are the GitHub anchors of docs/observability.md's headings.
func docAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimLeft(h, "#")
			var slug strings.Builder
			for _, r := range strings.ToLower(strings.TrimSpace(h)) {
				switch {
				case r == ' ':
					slug.WriteRune('-')
				case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
					slug.WriteRune(r)
				}
			}
			anchors[slug.String()] = true
		}
	}
	return anchors
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func TestDashboard(t *testing.T) {
	raw := Dashboard()
	if !json.Valid(raw) {
		t.Fatal("dashboard is not valid JSON")
	}
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Type, Name string
				Query      any    `json:"query"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int        `json:"id"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			GridPos    struct{ H, W, X, Y int }
			Targets    []struct {
				Datasource datasource `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != DashboardUID || d.Title == "" {
		t.Errorf("uid %q title %q, want uid %q and a title", d.UID, d.Title, DashboardUID)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && !strings.HasPrefix(v.Definition, "label_values(") {
			t.Errorf("variable %s: definition %q, want label_values(...)", v.Name, v.Definition)
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "provider": "query", "region": "query", "job": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s is %q, want a %s variable", name, vars[name], typ)
		}
	}

	// Layout: on the 24-column grid, no two panels overlap.
	type cell struct{ x, y int }
	used := map[cell]int{}
	for _, p := range d.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d: gridPos %+v is off the grid", p.ID, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Fatalf("panels %d and %d overlap at x=%d y=%d", other, p.ID, x, y)
				}
				used[cell{x, y}] = p.ID
			}
		}
		if p.Type == "row" {
			continue
		}
		dss := []datasource{p.Datasource}
		for _, tg := range p.Targets {
			dss = append(dss, tg.Datasource)
		}
		for _, ds := range dss {
			if ds != (datasource{Type: "prometheus", UID: "${datasource}"}) {
				t.Errorf("panel %d: datasource %+v, want the ${datasource} variable", p.ID, ds)
			}
		}
	}

	panels, err := Panels()
	if err != nil {
		t.Fatal(err)
	}
	ids, titles := map[int]bool{}, map[string]bool{}
	queries := 0
	for _, p := range panels {
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d is missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if strings.TrimSpace(p.Title) == "" || titles[p.Title] {
			t.Errorf("panel %d: title %q is empty or repeated", p.ID, p.Title)
		}
		titles[p.Title] = true
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %d %q has no description", p.ID, p.Title)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no target", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			queries++
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %d %q: refId %q is empty or repeated", p.ID, p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			promql := Expand(tg.Expr)
			if strings.Contains(promql, "$") {
				t.Errorf("panel %d %q target %s: a variable is left after Expand: %s", p.ID, p.Title, tg.RefID, promql)
			}
			if _, err := parser.ParseExpr(promql); err != nil {
				t.Errorf("panel %d %q target %s: %v", p.ID, p.Title, tg.RefID, err)
				continue
			}
			a, err := Analyze(promql)
			if err != nil {
				t.Errorf("panel %d %q target %s: %v", p.ID, p.Title, tg.RefID, err)
				continue
			}
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !slices.Contains(a.Labels, m[1]) {
					t.Errorf("panel %d %q target %s: legend prints {{%s}}, which the result does not carry (it has %v)", p.ID, p.Title, tg.RefID, m[1], a.Labels)
				}
			}
		}
	}
	if queries < 40 {
		t.Errorf("only %d dashboard queries", queries)
	}
}

func TestExpand(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{provider=~"$provider", region=~"${region}"}[$__rate_interval])`: `rate(x{provider=~".*", region=~".*"}[5m])`,
		`increase(x{job=~"[[job]]"}[$__range])`:                                 `increase(x{job=~".*"}[1h])`,
		`x{a=~"${a:regex}"} / $__range_s`:                                       `x{a=~".*"} / 3600`,
	} {
		if got := Expand(in); got != want {
			t.Errorf("Expand(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("MetricNames is not sorted and de-duplicated: %v", names)
	}
	for _, n := range names {
		if err := CheckMetric(n); err != nil {
			t.Error(err)
		}
	}
	dash, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	onDashboard := map[string]bool{}
	for _, q := range dash {
		ns, err := SelectedMetrics(q.PromQL)
		if err != nil {
			t.Fatalf("%s: %v", q.Source, err)
		}
		for _, n := range ns {
			m, _, _ := Family(n)
			onDashboard[m.Name] = true
		}
	}
	// Every Strata metric has a panel; every external metric allowed is used.
	for _, m := range metrics.All {
		if !onDashboard[m.Name] {
			t.Errorf("no dashboard panel shows %s", m.Name)
		}
	}
	used := map[string]bool{}
	for _, n := range names {
		m, _, _ := Family(n)
		used[m.Name] = true
	}
	for _, n := range ExternalMetrics {
		if !used[n] {
			t.Errorf("ExternalMetrics lists %s, which nothing uses", n)
		}
	}
}

// The checks reject what a renamed or mistyped metric or label would leave
// behind.
func TestChecksRejectUnknownNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"strata_backups_started_total":                               true,
		"strata_backup_duration_seconds_bucket":                      true,
		"strata_backup_duration_seconds_count":                       true,
		"strata_jobs":                                                true,
		"temporal_activity_schedule_to_start_latency_seconds_bucket": true,
		"go_goroutines":                                              true,
		"strata_backups_started":                                     false, // counter without _total
		"strata_backup_duration_seconds":                             false, // bare histogram
		"strata_backups_started_total_bucket":                        false, // not a histogram
		"strata_jobs_total":                                          false,
		"strata_backups_ended_total":                                 false,
		"temporal_activity_schedule_to_start_latency_seconds":        false,
		"temporal_request_total":                                     false,
		"up":                                                         false,
	} {
		if err := CheckMetric(name); (err == nil) != ok {
			t.Errorf("CheckMetric(%s) = %v, want ok=%v", name, err, ok)
		}
	}
	for _, bad := range []string{
		`rate(strata_backups_ended_total[5m])`,                                                          // unknown metric
		`sum by (provider) (rate(strata_notifications_total[5m]))`,                                      // label not on the family
		`strata_jobs{status="stale"}`,                                                                   // matcher on a missing label
		`histogram_quantile(0.95, sum by (provider) (rate(strata_backup_duration_seconds_bucket[5m])))`, // no le
		`histogram_quantile(0.95, rate(strata_backup_duration_seconds[5m]))`,                            // bare histogram
		`sum(rate({__name__=~"strata_.+_total"}[5m]))`,                                                  // no metric name
		`strata_jobs / on (provider) strata_fleet_rpo_seconds`,                                          // on() label missing
		`label_replace(strata_jobs, "x", "$1", "kind", "(.*)")`,                                         // source label missing
	} {
		if _, err := Analyze(bad); err == nil {
			t.Errorf("Analyze(%s) accepted it", bad)
		}
	}

	// A metric renamed in metrics.go leaves the dashboard and the rules
	// selecting a name the worker no longer exports.
	saved := metrics.All
	t.Cleanup(func() { metrics.All = saved })
	metrics.All = slices.Clone(saved)
	for i, m := range metrics.All {
		if m.Name == metrics.BackupsFinished.Name {
			metrics.All[i].Name = "strata_backups_ended_total"
		}
	}
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	rejected := false
	for _, n := range names {
		if n == metrics.BackupsFinished.Name {
			rejected = CheckMetric(n) != nil
		}
	}
	if !rejected {
		t.Errorf("with %s renamed, CheckMetric still accepts the old name", metrics.BackupsFinished.Name)
	}
}
