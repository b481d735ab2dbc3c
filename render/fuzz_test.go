package render

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes as a base manifest file: loading and
// rendering must never panic, and every problem must be located in a file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n"))
	f.Add([]byte("apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: t}\nspec:\n  keyspace: app\n  columns: [{name: id, type: \"map<text, frozen<list<int>>>\"}]\n  primaryKey: {partition: [id], clustering: [{column: id, order: desc}]}\n"))
	f.Add([]byte("apiVersion: ringmaster.io/v1\nkind: FeatureFlag\nmetadata: {name: f}\nspec:\n  state: ENABLED\n  variants: {a: 1, b: 2}\n  defaultVariant: a\n  targeting: {fractional: [[a, 50], [b, 50]]}\n"))
	f.Add([]byte("apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: p}\nspec:\n  target: {kind: Keyspace, name: app}\n  merge: {replication: null}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("---\n---\nkind: 7\n"))
	f.Add([]byte("apiVersion: ringmaster.io/v1\nkind: NodeSettings\nmetadata: {name: s}\nspec:\n  selector: {rack: r1}\n  settings: {max_hint_window: 3h, compaction_throughput: 1GiB/s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := repoWith(nil)
		fsys["base/fuzz.yaml"] = &fstest.MapFile{Data: data}
		err := loadAndRender(fsys)
		if err == nil {
			return
		}
		for _, p := range Problems(err) {
			if p.File == "" || strings.Contains(p.Error(), "panic") {
				t.Fatalf("bad problem report: %q", p.Error())
			}
		}
	})
}
