package render

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
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

// FuzzAliasBudget feeds arbitrary bytes as a manifest file under a small
// alias budget: whatever Load accepts expands (counted naively, node by
// node, as clone and toValue walk it) to at most its own nodes plus the
// budget, and holds no alias cycle (the naive count would not end).
func FuzzAliasBudget(f *testing.F) {
	const budget = 500
	f.Add([]byte("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  value: {a: &a [1, 2, 3], b: *a, c: *a}\n"))
	f.Add([]byte(aliasBomb(4)))
	f.Add([]byte("a: &a [1, *a]\n"))
	f.Add([]byte("a: &a {x: &b [*a]}\nb: *b\n"))
	f.Add([]byte("a: {<<: {b: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := repoWith(nil)
		fsys["base/fuzz.yaml"] = &fstest.MapFile{Data: data}
		repo, _ := Load(context.Background(), fsys, Limits{MaxAliasNodes: budget})
		if repo == nil {
			return
		}
		for _, d := range repo.base {
			literal := map[*yaml.Node]bool{}
			var countLiteral func(n *yaml.Node)
			countLiteral = func(n *yaml.Node) {
				if n == nil || literal[n] {
					return
				}
				literal[n] = true
				if n.Kind == yaml.AliasNode {
					countLiteral(n.Alias)
				}
				for _, c := range n.Content {
					countLiteral(c)
				}
			}
			countLiteral(d.root)
			limit := len(literal) + budget
			expanded := 0
			var walk func(n *yaml.Node, depth int)
			walk = func(n *yaml.Node, depth int) {
				if n == nil || expanded > limit {
					return
				}
				if depth > 10000 {
					t.Fatalf("accepted a document with an alias cycle: %q", data)
				}
				expanded++
				if n.Kind == yaml.AliasNode {
					walk(n.Alias, depth+1)
				}
				for _, c := range n.Content {
					walk(c, depth+1)
				}
			}
			walk(d.root, 0)
			if expanded > limit {
				t.Fatalf("accepted a document expanding past %d nodes: %q", limit, data)
			}
		}
	})
}
