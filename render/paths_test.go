package render

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestNamesNeverEscapeTheRoot: every name that becomes a znode path
// segment is checked against one rule (state.CheckSegment), whatever kind
// it comes from, and an environment's root is checked too.
func TestNamesNeverEscapeTheRoot(t *testing.T) {
	settings := func(selector string) string {
		return "apiVersion: ringmaster.io/v1\nkind: NodeSettings\nmetadata: {name: s}\nspec:\n  selector: " + selector + "\n  settings: {concurrent_compactors: 2}\n"
	}
	tests := []struct {
		name, file, content, want string
	}{
		{"node escapes to another environment", "base/s.yaml", settings(`{node: "../../../../staging/data/config/ingest/pipeline"}`),
			`base/s.yaml:5:20: NodeSettings s: selector node: "../../../../staging/data/config/ingest/pipeline" has a leading "."`},
		{"node escapes to /zookeeper", "base/s.yaml", settings(`{node: "../../../../../zookeeper/quota"}`), `selector node: "../../../../../zookeeper/quota"`},
		{"rack escapes to another team", "base/s.yaml", settings(`{datacenter: dc1, rack: "../../../../../../other-team/secret"}`), `selector rack: "../../../../../../other-team/secret"`},
		{"NUL in a node", "base/s.yaml", settings(`{node: "x\0y"}`), `has a NUL byte at offset 1`},
		{"slash in a datacenter", "base/s.yaml", settings(`{datacenter: "dc1/x"}`), `selector datacenter: "dc1/x" has a '/'`},
		{"dot node", "base/s.yaml", settings(`{node: "."}`), `selector node: "." has a leading "."`},
		{"config path with NUL", "base/c.yaml", "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  path: \"a/b\\0c\"\n  value: 1\n", `ConfigEntry c: path "a/b\x00c": "b\x00c" has a NUL byte`},
		{"config path empty segment", "base/c.yaml", "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  path: \"a//b\"\n  value: 1\n", `ConfigEntry c: path "a//b": empty name`},
		{"config path absolute", "base/c.yaml", "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  path: \"/etc\"\n  value: 1\n", `ConfigEntry c: path "/etc": empty name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadAndRender(repoWith(map[string]string{tt.file: tt.content}))
			if err == nil {
				t.Fatal("rendered without an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error lacks %q:\n%v", tt.want, err)
			}
		})
	}
}

func TestZooKeeperRootIsChecked(t *testing.T) {
	for _, root := range []string{"/", "/zookeeper", "/zookeeper/quota", "/a/../b", "relative", `/a\0b`, "/a/.hidden"} {
		t.Run(root, func(t *testing.T) {
			env := "apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1]\n    zookeeper: {root: \"" + root + "\"}\n"
			fsys := fstest.MapFS{
				"ringmaster.yaml":                   {Data: []byte(repoFile)},
				"environments/dev/environment.yaml": {Data: []byte(env)},
			}
			err := loadAndRender(fsys)
			if err == nil || !strings.Contains(err.Error(), "environments/dev/environment.yaml:7:") || !strings.Contains(err.Error(), "zookeeper root") {
				t.Fatalf("root %q: got %v, want a located zookeeper root error", root, err)
			}
		})
	}
}
