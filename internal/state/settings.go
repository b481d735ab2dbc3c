package state

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SettingType is how a node setting's value is written and normalised.
type SettingType string

// Setting types.
const (
	// Integer: a whole number, no unit.
	Integer SettingType = "integer"
	// Decimal: a number with a fraction, no unit.
	Decimal SettingType = "decimal"
	// Throughput: "128MiB/s", "1GiB/s", "512KiB/s", or a bare number in the
	// setting's unit.
	Throughput SettingType = "throughput"
	// Duration: "3h", "10s", "250ms", or a bare number in the setting's unit.
	Duration SettingType = "duration"
)

// SettingDef describes one runtime setting ringmaster manages on Cassandra
// nodes: how its value is written, its valid range in Unit, and the
// nodetool commands that apply and read it live.
//
// Invariant: Min <= Max; Set and Get are nodetool argument lists; Set's
// value goes last, as an integer when Type is not Decimal. Max is at most
// what nodetool's argument holds (a Java int); the node may refuse less
// (compaction_throughput must stay below 2147483647 MiB/s): the agent
// reports such a refusal.
type SettingDef struct {
	Name string
	Type SettingType
	// Unit is the base unit values are normalised to: "MiB/s", "KiB/s",
	// "ms", or "" for plain numbers.
	Unit     string
	Min, Max float64
	// Set is the nodetool command and leading arguments that set it.
	Set []string
	// Get is the nodetool command that reads it.
	Get []string
	// Doc is a one-line description.
	Doc string
}

// Settings is the catalogue of node settings, by name.
var Settings = map[string]SettingDef{
	"compaction_throughput": {
		Name: "compaction_throughput", Type: Throughput, Unit: "MiB/s", Min: 0, Max: math.MaxInt32,
		Set: []string{"setcompactionthroughput"}, Get: []string{"getcompactionthroughput"},
		Doc: "compaction throughput cap per node; 0 disables throttling",
	},
	"stream_throughput_outbound": {
		Name: "stream_throughput_outbound", Type: Throughput, Unit: "MiB/s", Min: 0, Max: math.MaxInt32,
		Set: []string{"setstreamthroughput", "-m"}, Get: []string{"getstreamthroughput", "-m"},
		Doc: "outbound streaming throughput cap; 0 disables throttling",
	},
	"inter_dc_stream_throughput_outbound": {
		Name: "inter_dc_stream_throughput_outbound", Type: Throughput, Unit: "MiB/s", Min: 0, Max: math.MaxInt32,
		Set: []string{"setinterdcstreamthroughput", "-m"}, Get: []string{"getinterdcstreamthroughput", "-m"},
		Doc: "outbound streaming throughput cap between datacenters; 0 disables throttling",
	},
	"concurrent_compactors": {
		Name: "concurrent_compactors", Type: Integer, Min: 1, Max: 64,
		Set: []string{"setconcurrentcompactors"}, Get: []string{"getconcurrentcompactors"},
		Doc: "number of simultaneous compactions",
	},
	"hinted_handoff_throttle": {
		Name: "hinted_handoff_throttle", Type: Throughput, Unit: "KiB/s", Min: 0, Max: 1048576,
		Set: []string{"sethintedhandoffthrottlekb"}, Get: nil,
		Doc: "hint delivery throttle per delivery thread",
	},
	"max_hint_window": {
		Name: "max_hint_window", Type: Duration, Unit: "ms", Min: 0, Max: 7 * 24 * 3600 * 1000,
		Set: []string{"setmaxhintwindow"}, Get: []string{"getmaxhintwindow"},
		Doc: "how long hints are stored for a down node",
	},
	"batchlog_replay_throttle": {
		Name: "batchlog_replay_throttle", Type: Throughput, Unit: "KiB/s", Min: 0, Max: 1048576,
		Set: []string{"setbatchlogreplaythrottle"}, Get: nil,
		Doc: "batchlog replay throttle, divided among the nodes",
	},
	"trace_probability": {
		Name: "trace_probability", Type: Decimal, Min: 0, Max: 1,
		Set: []string{"settraceprobability"}, Get: []string{"gettraceprobability"},
		Doc: "probability of tracing a request",
	},
	"read_request_timeout": {
		Name: "read_request_timeout", Type: Duration, Unit: "ms", Min: 10, Max: 600000,
		Set: []string{"settimeout", "read"}, Get: []string{"gettimeout", "read"},
		Doc: "coordinator timeout for reads",
	},
	"write_request_timeout": {
		Name: "write_request_timeout", Type: Duration, Unit: "ms", Min: 10, Max: 600000,
		Set: []string{"settimeout", "write"}, Get: []string{"gettimeout", "write"},
		Doc: "coordinator timeout for writes",
	},
	"range_request_timeout": {
		Name: "range_request_timeout", Type: Duration, Unit: "ms", Min: 10, Max: 600000,
		Set: []string{"settimeout", "range"}, Get: []string{"gettimeout", "range"},
		Doc: "coordinator timeout for range scans",
	},
}

// ParseSetting normalises a value as written in a manifest (a YAML scalar's
// text) to def's base unit. It checks the syntax, not the range.
func (def SettingDef) ParseSetting(text string) (float64, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return 0, fmt.Errorf("setting %s: empty value", def.Name)
	}
	switch def.Type {
	case Integer:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("setting %s: %q is not a whole number", def.Name, text)
		}
		return float64(n), nil
	case Decimal:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("setting %s: %q is not a number", def.Name, text)
		}
		return f, nil
	case Throughput:
		return parseThroughput(def, s)
	case Duration:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return float64(n), nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("setting %s: %q is not a duration (like 3h, 10s, 250ms or a number of %s)", def.Name, text, def.Unit)
		}
		return float64(d.Milliseconds()), nil
	}
	return 0, fmt.Errorf("setting %s: unknown type %s", def.Name, def.Type)
}

// throughputUnits are in KiB/s.
var throughputUnits = map[string]float64{
	"KiB/s": 1, "MiB/s": 1024, "GiB/s": 1024 * 1024,
}

func parseThroughput(def SettingDef, s string) (float64, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n, nil
	}
	for unit, kib := range throughputUnits {
		if num, ok := strings.CutSuffix(s, unit); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
				break
			}
			return n * kib / throughputUnits[def.Unit], nil
		}
	}
	return 0, fmt.Errorf("setting %s: %q is not a throughput (like 64MiB/s, 512KiB/s, 1GiB/s or a number of %s)", def.Name, s, def.Unit)
}

// CheckRange reports a value outside [Min, Max], or a fraction where the
// nodetool command takes a whole number.
func (def SettingDef) CheckRange(v float64) error {
	if v < def.Min || v > def.Max {
		return fmt.Errorf("setting %s: %s is outside %s..%s", def.Name, FormatSetting(def, v), FormatSetting(def, def.Min), FormatSetting(def, def.Max))
	}
	if def.Type != Decimal && v != math.Trunc(v) {
		return fmt.Errorf("setting %s: %s is not a whole number of %s", def.Name, FormatSetting(def, v), def.Unit)
	}
	return nil
}

// FormatSetting renders v with def's unit.
func FormatSetting(def SettingDef, v float64) string {
	n := strconv.FormatFloat(v, 'f', -1, 64)
	if def.Unit == "" {
		return n
	}
	return n + def.Unit
}

// Scope names, most specific last.
const (
	ScopeCluster = "cluster"
)

// ScopeFor builds a settings scope from a selector: a node id wins over a
// rack, a rack (which needs its datacenter) over a datacenter. Every
// selector value given must pass CheckSegment: the scope becomes a znode
// path below the environment's root.
func ScopeFor(datacenter, rack, node string) (string, error) {
	for _, sel := range []struct{ what, v string }{{"datacenter", datacenter}, {"rack", rack}, {"node", node}} {
		if sel.v == "" {
			continue
		}
		if err := CheckSegment(sel.v); err != nil {
			return "", fmt.Errorf("selector %s: %w", sel.what, err)
		}
	}
	switch {
	case node != "":
		return "node/" + node, nil
	case rack != "" && datacenter == "":
		return "", fmt.Errorf("a rack selector needs its datacenter")
	case rack != "":
		return "rack/" + datacenter + "/" + rack, nil
	case datacenter != "":
		return "dc/" + datacenter, nil
	}
	return ScopeCluster, nil
}
