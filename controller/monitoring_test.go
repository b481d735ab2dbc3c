package controller

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The alert rules and the Grafana dashboard shipped in monitoring/ are
// checked against what the controller exports: promtool accepts the
// rules, and every metric they name is one the controller has.

// exportedNames are the names of every metric family the controller
// exports, each series made to exist once.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := NewMetrics()
	m.reconciled("e", "applied", 0.1)
	m.failed("e", Stalled)
	m.succeeded("e", 1, 0)
	m.leading("e", true)
	m.connected("e", true)
	m.environment("e", "main (abc1234)", true, false)
	m.fleet("e", 2, 1, 0, 1)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\bringmaster_[a-z_]+\b`)

// checkNames fails for every ringmaster_ metric in text the controller
// does not export.
func checkNames(t *testing.T, what string, text []byte, names map[string]bool) {
	t.Helper()
	found := metricName.FindAllString(string(text), -1)
	if len(found) == 0 {
		t.Fatalf("%s names no ringmaster metric", what)
	}
	for _, n := range found {
		if !names[n] {
			t.Errorf("%s uses %s, which the controller does not export", what, n)
		}
	}
}

func TestAlertRules(t *testing.T) {
	out, err := exec.Command("promtool", "check", "rules", "../monitoring/alerts.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	raw, err := os.ReadFile("../monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, "alerts.yaml", raw, exportedNames(t))
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	names := exportedNames(t)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, "panel "+p.Title, []byte(q.Expr), names)
		}
	}
}

// TestMetricsPassPromtool: a real scrape of every metric the controller
// exports passes `promtool check metrics` (naming and help conventions).
func TestMetricsPassPromtool(t *testing.T) {
	m := NewMetrics()
	m.reconciled("e", "applied", 0.1)
	m.failed("e", Retry)
	m.succeeded("e", 1, 2)
	m.leading("e", true)
	m.connected("e", true)
	m.environment("e", "main (abc1234)", true, false)
	m.fleet("e", 2, 1, 0, 1)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
