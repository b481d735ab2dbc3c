package render

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// largeRepository generates a repository with flags+entries FeatureFlag
// and ConfigEntry manifests (half each) and tables tables over 50
// keyspaces, split into files of 100 documents.
func largeRepository(entries, tables int) fstest.MapFS {
	fsys := repoWith(nil)
	var b strings.Builder
	file := 0
	docs := 0
	flush := func(force bool) {
		if docs == 100 || (force && docs > 0) {
			fsys[fmt.Sprintf("base/gen/%05d.yaml", file)] = &fstest.MapFile{Data: []byte(b.String())}
			b.Reset()
			file++
			docs = 0
		}
	}
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: ks%02d}\nspec:\n  replication: {class: NetworkTopologyStrategy, dc1: 3, dc2: 3}\n", i)
		docs++
		flush(false)
	}
	for i := 0; i < tables; i++ {
		fmt.Fprintf(&b, `---
apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: t%04d}
spec:
  keyspace: ks%02d
  columns:
    - {name: id, type: uuid}
    - {name: ts, type: timestamp}
    - {name: payload, type: "map<text, text>"}
    - {name: n, type: bigint}
  primaryKey:
    partition: [id]
    clustering: [{column: ts, order: desc}]
  options:
    comment: generated table %d
    gc_grace_seconds: 86400
    compaction: {class: LeveledCompactionStrategy}
`, i, i%50, i)
		docs++
		flush(false)
	}
	for i := 0; i < entries; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: FeatureFlag\nmetadata: {name: flag-%05d}\nspec:\n  state: ENABLED\n  variants: {\"on\": true, \"off\": false}\n  defaultVariant: \"off\"\n  targeting:\n    fractional:\n      - [\"on\", %d]\n      - [\"off\", %d]\n", i, i%100, 100-i%100)
		} else {
			fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: entry-%05d}\nspec:\n  path: svc/s%03d/key-%05d\n  value: {enabled: true, limit: %d, tags: [a, b, c], owner: team-%d}\n", i, i%100, i, i, i%7)
		}
		docs++
		flush(false)
	}
	flush(true)
	return fsys
}

// BenchmarkLoadRender measures Load + Render of 10,000 ConfigEntry and
// FeatureFlag manifests and 500 tables: the target is under 2 s per
// operation on the project's 2-core machine. make bench prints it.
func BenchmarkLoadRender(b *testing.B) {
	fsys := largeRepository(10000, 500)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		repo, err := Load(fsys)
		if err != nil {
			b.Fatal(err)
		}
		res, err := repo.Render("dev")
		if err != nil {
			b.Fatal(err)
		}
		if len(res.State.Znodes) != 10000 {
			b.Fatalf("%d znodes", len(res.State.Znodes))
		}
	}
}
