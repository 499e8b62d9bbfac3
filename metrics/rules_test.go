package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipsd/ipsd/metrics"
)

// needPromtool returns the path of promtool, or skips the test without it
// (Debian: apt-get install prometheus).
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		// .ci/run installs it: in CI a missing promtool is a failure
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found in CI (.ci/run installs prometheus): %v", err)
		}
		t.Skipf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(needPromtool(t), args...).CombinedOutput()
	return string(out), err
}

var alertRE = regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`)

// alertNames returns the alert names in alerts.yml, in order.
func alertNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range alertRE.FindAllStringSubmatch(string(data), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("no alerts found in alerts.yml")
	}
	return names
}

func TestCheckRules(t *testing.T) {
	out, err := promtool(t, "check", "rules", "alerts.yml")
	if err != nil {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("promtool check rules alerts.yml: no SUCCESS line\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n != len(alertNames(t)) {
		t.Errorf("promtool found %d rules; alerts.yml has %d alerts", n, len(alertNames(t)))
	}
}

func TestTestRules(t *testing.T) {
	out, err := promtool(t, "test", "rules", "alerts_test.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules alerts_test.yml: %v\n%s", err, out)
	}
}

// TestPromtoolRejects makes sure the two checks above can fail: promtool
// must reject a rule with broken PromQL, and a unit test whose expected alert
// does not fire.
func TestPromtoolRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	write(t, bad, "groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: rate(ipsd_requests_total[5m]) >\n")
	if out, err := promtool(t, "check", "rules", bad); err == nil {
		t.Errorf("promtool check rules accepted broken PromQL:\n%s", out)
	}

	abs, err := filepath.Abs("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong_test.yml")
	write(t, wrong, fmt.Sprintf(`rule_files: [%q]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="ipsd",instance="a:9464"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 10m
        alertname: IpsdDown
        exp_alerts:
          - exp_labels: {severity: critical, job: ipsd, instance: "a:9464"}
`, abs))
	if out, err := promtool(t, "test", "rules", wrong); err == nil {
		t.Errorf("promtool test rules passed a test expecting IpsdDown for a target that is up:\n%s", out)
	}
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEveryAlertTested requires alerts_test.yml to show every alert firing
// at least once (an expected alert with labels), so no rule goes untested.
func TestEveryAlertTested(t *testing.T) {
	data, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{}
	chunks := strings.Split(string(data), "alertname:")
	for _, c := range chunks[1:] {
		name := strings.Fields(c)[0]
		if strings.Contains(c, "exp_labels:") {
			fired[name] = true
		}
	}
	for _, name := range alertNames(t) {
		if !fired[name] {
			t.Errorf("alerts_test.yml never expects %s to fire", name)
		}
	}
}

// catalogue describes the metrics ipsd exports: metric name to its label
// names. Histograms are listed under their _bucket, _sum and _count series.
type catalogue map[string][]string

var descRE = regexp.MustCompile(`fqName: "(\w+)".*variableLabels: \{([^}]*)\}`)

// exported builds the catalogue from metrics.New: every collector field of
// the Set, plus what the Go and process collectors gather.
func exported(t *testing.T) catalogue {
	t.Helper()
	s := metrics.New("test")
	cat := catalogue{}
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || v.Type().Field(i).Name == "Registry" {
			continue
		}
		_, hist := c.(*prometheus.HistogramVec)
		if _, h := c.(prometheus.Histogram); h {
			hist = true
		}
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot parse %s", d)
			}
			var labels []string
			for l := range strings.SplitSeq(m[2], ",") {
				if l != "" {
					labels = append(labels, l)
				}
			}
			if hist {
				cat[m[1]+"_bucket"] = append(slices.Clone(labels), "le")
				cat[m[1]+"_sum"] = labels
				cat[m[1]+"_count"] = labels
			} else {
				cat[m[1]] = labels
			}
		}
	}
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, ok := cat[mf.GetName()]; ok {
			continue
		}
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(labels, lp.GetName()) {
					labels = append(labels, lp.GetName())
				}
			}
		}
		cat[mf.GetName()] = labels
	}
	if _, ok := cat["ipsd_requests_total"]; !ok || len(cat) < 20 {
		t.Fatalf("metric catalogue looks wrong: %v", cat)
	}
	cat["up"] = nil // from Prometheus itself
	return cat
}

// dashboard is the part of grafana-dashboard.json the tests look at.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var ps []panel
	for _, p := range d.Panels {
		ps = append(ps, p)
		ps = append(ps, p.Panels...)
	}
	return ps
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d; want both set and schema >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("template variables = %v; want datasource (datasource) and instance (query)", vars)
	}

	ids := map[int]string{}
	type rect struct{ x0, y0, x1, y1 int }
	var placed []rect
	var graphs int
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		r := rect{g.X, g.Y, g.X + g.W, g.Y + g.H}
		for _, o := range placed {
			if r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1 {
				t.Errorf("panel %q at %+v overlaps another panel", p.Title, g)
			}
		}
		placed = append(placed, r)
		if p.Type == "row" {
			continue
		}
		graphs++
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: title %q, %d targets; want a title and a query", p.ID, p.Title, len(p.Targets))
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q; want ${datasource}", p.Title, p.Datasource.UID)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.Datasource.UID != "${datasource}" || refs[tg.RefID] {
				t.Errorf("panel %q: target %q (ref %q, datasource %q) is empty, has a fixed datasource or repeats a refId",
					p.Title, tg.Expr, tg.RefID, tg.Datasource.UID)
			}
			refs[tg.RefID] = true
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q ignores the instance variable", p.Title, tg.Expr)
			}
		}
	}
	if graphs < 10 {
		t.Errorf("dashboard has %d panels with queries; want at least 10", graphs)
	}
}

// dashboardExprs returns every PromQL query of the dashboard.
func dashboardExprs(t *testing.T) []string {
	d := loadDashboard(t)
	var exprs []string
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs
}

// alertExprs returns the expr of every rule in alerts.yml: a one-line
// value, or a block scalar (| or >-) made of the more indented lines below.
func alertExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var exprs []string
	for i := 0; i < len(lines); i++ {
		key, val, ok := strings.Cut(strings.TrimSpace(lines[i]), "expr:")
		if !ok || key != "" {
			continue
		}
		val = strings.TrimSpace(val)
		if val != "|" && val != ">-" && val != "|-" && val != ">" {
			exprs = append(exprs, val)
			continue
		}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var b strings.Builder
		for i+1 < len(lines) {
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			b.WriteString(next + "\n")
			i++
		}
		exprs = append(exprs, b.String())
	}
	if len(exprs) != len(alertNames(t)) {
		t.Fatalf("found %d exprs for %d alerts in alerts.yml", len(exprs), len(alertNames(t)))
	}
	return exprs
}

var (
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`^\s*(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
	stringRE   = regexp.MustCompile(`"[^"]*"`)
	nameRE     = regexp.MustCompile(`\b(?:ipsd|go|process)_[a-zA-Z0-9_]+\b|\bup\b`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// knownValues are the label values queries may match exactly.
var knownValues = map[string][]string{
	"result":  append(slices.Clone(metrics.Results), metrics.ReloadError), // ReloadError: ipsd_config_reloads_total
	"channel": metrics.Channels,
	"stage":   metrics.Stages,
	"source":  metrics.Sources,
}

// TestQueriesUseKnownMetrics checks every query of the dashboard and the
// alerts against what ipsd exports, so a renamed metric or label cannot
// leave a silent panel or an alert that never fires.
func TestQueriesUseKnownMetrics(t *testing.T) {
	cat := exported(t)
	allLabels := map[string]bool{"job": true, "instance": true, "le": true}
	for _, ls := range cat {
		for _, l := range ls {
			allLabels[l] = true
		}
	}
	used := map[string]bool{}
	exprs := append(dashboardExprs(t), alertExprs(t)...)
	for _, e := range exprs {
		for _, m := range selectorRE.FindAllStringSubmatch(e, -1) {
			labels, ok := cat[m[1]]
			if !ok {
				continue // reported below
			}
			for ms := range strings.SplitSeq(m[2], ",") {
				mm := matcherRE.FindStringSubmatch(ms)
				if mm == nil {
					t.Errorf("query %q: cannot parse matcher %q", e, ms)
					continue
				}
				if mm[1] != "job" && mm[1] != "instance" && !slices.Contains(labels, mm[1]) {
					t.Errorf("query %q: %s has no label %q (has %v)", e, m[1], mm[1], labels)
				}
				if vals, ok := knownValues[mm[1]]; ok && mm[2] == "=" && !slices.Contains(vals, mm[3]) {
					t.Errorf("query %q: %s=%q is not a value ipsd uses (%v)", e, mm[1], mm[3], vals)
				}
			}
		}
		bare := stringRE.ReplaceAllString(e, `""`)
		for _, name := range nameRE.FindAllString(bare, -1) {
			if _, ok := cat[name]; !ok {
				t.Errorf("query %q: ipsd exports no metric %s", e, name)
			}
			used[name] = true
		}
		for _, m := range groupingRE.FindAllStringSubmatch(bare, -1) {
			for l := range strings.SplitSeq(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !allLabels[l] {
					t.Errorf("query %q: groups by unknown label %q", e, l)
				}
			}
		}
	}
	// every ipsd metric is on the dashboard somewhere
	dash := strings.Join(dashboardExprs(t), "\n")
	for name := range cat {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "ipsd_") && !strings.Contains(dash, base) {
			t.Errorf("ipsd exports %s but no dashboard panel shows it", name)
		}
	}
	if len(used) < 20 {
		t.Errorf("queries use %d distinct metrics; the extraction looks broken", len(used))
	}
}

// TestReadmeListsMetrics keeps the metrics table of the README in step with
// what ipsd exports, and every result value named there.
func TestReadmeListsMetrics(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for name := range exported(t) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(base, "ipsd_") && !strings.Contains(readme, "`"+base+"`") {
			t.Errorf("README does not list %s", base)
		}
	}
	for _, r := range metrics.Results {
		if !strings.Contains(readme, " "+r+",") && !strings.Contains(readme, " "+r+" (") {
			t.Errorf("README does not name the result %q", r)
		}
	}
}
