// Package repogen generates configuration repositories in memory for
// benchmarks and tests: realistic shapes at sizes no one writes by hand.
package repogen

import (
	"fmt"
	"strings"
	"testing/fstest"
)

// Minimal is a repository with ringmaster.yaml and one environment, "dev"
// (datacenters dc1 and dc2), and nothing else.
func Minimal() fstest.MapFS {
	return fstest.MapFS{
		"ringmaster.yaml":                   {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Repository\nmetadata: {name: generated}\nspec: {}\n")},
		"environments/dev/environment.yaml": {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1, dc2]\n")},
	}
}

// Large generates a repository (environment "dev", datacenters dc1 and dc2) with flags+entries FeatureFlag
// and ConfigEntry manifests (half each) and tables tables over 50
// keyspaces, split into files of 100 documents.
func Large(entries, tables int) fstest.MapFS {
	fsys := Minimal()
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

// ConfigEntries generates a repository (environment "dev", datacenters dc1
// and dc2) of n ConfigEntry manifests, 100 documents per file under
// base/entries/, each rendering to a znode of about 110 bytes of JSON: the
// shape of issue 13's scale workload (10,000 entries in 100 files).
func ConfigEntries(n int) fstest.MapFS {
	fsys := Minimal()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: ringmaster.io/v1
kind: ConfigEntry
metadata:
  name: entry-%05d
spec:
  path: svc/s%03d/key-%05d
  value:
    enabled: %t
    limit: %d
    owner: team-%d
    region: eu-west-%d
    tags: [ingest, batch, v2]
    timeout: %ds
`, i, i%100, i, i%3 != 0, i*7%10000, i%7, i%3+1, 10+i%50)
		if i%100 == 99 || i == n-1 {
			fsys[fmt.Sprintf("base/entries/%03d.yaml", i/100)] = &fstest.MapFile{Data: []byte(b.String())}
			b.Reset()
		}
	}
	return fsys
}
