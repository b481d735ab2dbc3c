package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// runtimeOnly are the catalogued settings cassandra.yaml has no key for;
// every other one's key is its name (Cassandra 5.0's names).
var runtimeOnly = map[string]bool{"trace_probability": true}

// yamlValue is v as cassandra.yaml writes def's unit: "64MiB/s", "1024KiB"
// for a KiB/s throttle, "5000ms", "2".
func yamlValue(def state.SettingDef, v float64) string {
	n := strconv.FormatFloat(v, 'f', -1, 64)
	switch def.Unit {
	case "KiB/s":
		return n + "KiB"
	case "":
		return n
	}
	return n + def.Unit
}

// writeYAML writes want as a cassandra.yaml fragment at p, atomically.
func writeYAML(p string, want map[string]Want) error {
	var b strings.Builder
	b.WriteString("# Written by the ringmaster agent: the node settings of the current generation,\n# for the node's next boot. Runtime settings are lost when Cassandra restarts.\n")
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def := state.Settings[name]
		if runtimeOnly[name] {
			fmt.Fprintf(&b, "# %s: %s (runtime only: no cassandra.yaml setting)\n", name, state.FormatSetting(def, want[name].Value))
			continue
		}
		fmt.Fprintf(&b, "%s: %s  # from %s\n", name, yamlValue(def, want[name].Value), want[name].Scope)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ringmaster-agent-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
