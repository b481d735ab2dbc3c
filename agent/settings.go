package agent

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Which settings apply to a node: the scopes cluster, dc/<dc>,
// rack/<dc>/<rack> and node/<node> (data/settings/<scope>), merged in that
// order, so that the most specific scope that names a setting wins it.

// scopeDoc is one scope's znode, as render writes it.
type scopeDoc struct {
	Scope    string `json:"scope"`
	Settings map[string]struct {
		Value float64 `json:"value"`
		Unit  string  `json:"unit"`
	} `json:"settings"`
	Sources []string `json:"sources"`
}

// Want is a setting's value for a node and the scope it comes from.
type Want struct {
	Value float64
	Scope string
}

// scopePaths are the settings znodes (relative to the root) that apply to
// the node, least specific first.
func scopePaths(dc, rack, node string) []string {
	out := []string{path.Join(state.SettingsDir, state.ScopeCluster)}
	if dc != "" {
		out = append(out, path.Join(state.SettingsDir, "dc", dc))
		if rack != "" {
			out = append(out, path.Join(state.SettingsDir, "rack", dc, rack))
		}
	}
	if node != "" {
		out = append(out, path.Join(state.SettingsDir, "node", node))
	}
	return out
}

// merge decodes the scopes' znodes (nil: absent), least specific first,
// and merges them. A setting the catalogue does not know is an error (a
// newer ringmaster wrote it): the others still apply.
func merge(docs [][]byte) (map[string]Want, []error) {
	out := map[string]Want{}
	var errs []error
	for _, raw := range docs {
		if len(raw) == 0 {
			continue
		}
		var d scopeDoc
		if err := json.Unmarshal(raw, &d); err != nil {
			errs = append(errs, fmt.Errorf("settings scope: %w", err))
			continue
		}
		for name, v := range d.Settings {
			if _, ok := state.Settings[name]; !ok {
				errs = append(errs, fmt.Errorf("setting %s (scope %s): not in this agent's catalogue", name, d.Scope))
				continue
			}
			out[name] = Want{Value: v.Value, Scope: d.Scope}
		}
	}
	return out, errs
}

// runningValue parses a value of system_views.settings in def's unit:
// "64MiB/s", "1024KiB" (a throughput without "/s"), "3h", "5000ms", "2".
func runningValue(def state.SettingDef, raw string) (float64, error) {
	s := strings.TrimSpace(raw)
	if def.Type == state.Throughput && !strings.HasSuffix(s, "/s") {
		for _, u := range []string{"KiB", "MiB", "GiB"} {
			if strings.HasSuffix(s, u) {
				s += "/s"
				break
			}
		}
	}
	return def.ParseSetting(s)
}

// nodetoolValue parses the output of a nodetool get command: the last
// number it prints ("Current compaction throughput: 64 MB/s" → 64), in
// def's unit as nodetool reports it for the Get command in the catalogue.
func nodetoolValue(out string) (float64, error) {
	fields := strings.FieldsFunc(out, func(r rune) bool { return r == ' ' || r == '\n' || r == ':' || r == '\t' })
	for i := len(fields) - 1; i >= 0; i-- {
		var v float64
		if _, err := fmt.Sscan(fields[i], &v); err == nil && !math.IsNaN(v) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("no number in nodetool's output %q", strings.TrimSpace(out))
}

// same tells whether two values of a setting are equal, up to the
// precision its unit keeps.
func same(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(a)) }
