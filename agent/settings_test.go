package agent

import (
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestMergeMostSpecificWins: node over rack over datacenter over cluster,
// setting by setting; absent scopes are skipped; a setting this agent does
// not know is an error and the others still merge.
func TestMergeMostSpecificWins(t *testing.T) {
	docs := [][]byte{
		[]byte(`{"scope":"cluster","settings":{"compaction_throughput":{"value":64,"unit":"MiB/s"},"concurrent_compactors":{"value":2}}}`),
		[]byte(`{"scope":"dc/dc1","settings":{"compaction_throughput":{"value":96,"unit":"MiB/s"},"trace_probability":{"value":0.1}}}`),
		nil,
		[]byte(`{"scope":"node/n1","settings":{"trace_probability":{"value":0.5},"turbo":{"value":1}}}`),
	}
	got, errs := merge(docs)
	want := map[string]Want{
		"compaction_throughput": {96, "dc/dc1"},
		"concurrent_compactors": {2, "cluster"},
		"trace_probability":     {0.5, "node/n1"},
	}
	if len(got) != len(want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one for turbo", errs)
	}
	if paths := scopePaths("dc1", "r1", "n1"); len(paths) != 4 || paths[3] != "data/settings/node/n1" || paths[2] != "data/settings/rack/dc1/r1" {
		t.Fatalf("scope paths %v", paths)
	}
}

// TestRunningValues: what system_views.settings and nodetool print,
// parsed in the catalogue's units.
func TestRunningValues(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      float64
	}{
		{"compaction_throughput", "64MiB/s", 64},
		{"hinted_handoff_throttle", "1024KiB", 1024},
		{"batchlog_replay_throttle", "1MiB", 1024},
		{"max_hint_window", "3h", 10800000},
		{"read_request_timeout", "5000ms", 5000},
		{"concurrent_compactors", "2", 2},
	} {
		got, err := runningValue(state.Settings[tc.name], tc.raw)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %v, %v; want %v", tc.name, tc.raw, got, err, tc.want)
		}
	}
	for out, want := range map[string]float64{
		"Current compaction throughput: 64 MB/s\n":              64,
		"Current concurrent compactors in the system is: \n2\n": 2,
		"Current trace probability: 0.25\n":                     0.25,
		"Current stream throughput: 24.0 MiB/s\n":               24,
		"Current timeout for type read: 5000 ms\n":              5000,
	} {
		if got, err := nodetoolValue(out); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", out, got, err, want)
		}
	}
	if _, err := nodetoolValue("error: nothing here"); err == nil {
		t.Error("no number: no error")
	}
}
