package state

import (
	"path"
	"strings"
	"testing"
)

func TestCheckSegment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // substring of the error; "" for valid
	}{
		{"dc1", ""},
		{"us-east-1a", ""},
		{"10.0.0.7", ""},
		{"_private", ""},
		{"fe80::1", ""},
		{strings.Repeat("a", 253), ""},
		{"", "empty"},
		{".", "leading"},
		{"..", "leading"},
		{".hidden", "leading"},
		{"-x", "leading"},
		{"a/b", "'/'"},
		{"../../../../staging/data/config/ingest/pipeline", "leading"},
		{"x\x00y", "NUL"},
		{"x\ny", "control character 0x0a"},
		{"naïve", "non-ASCII"},
		{"a b", `" "`},
		{strings.Repeat("a", 254), "too long"},
	} {
		err := CheckSegment(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckSegment(%q) = %v, want nil", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSegment(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckRoot(t *testing.T) {
	for _, ok := range []string{"/ringmaster/prod", "/a", "/team-x/ringmaster/staging"} {
		if err := CheckRoot(ok); err != nil {
			t.Errorf("CheckRoot(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/", "ringmaster", "/zookeeper", "/zookeeper/quota", "/a/../b", "/a/", "//a", "/a\x00b", "/a/./b", "/a/.."} {
		if err := CheckRoot(bad); err == nil {
			t.Errorf("CheckRoot(%q) = nil, want an error", bad)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		root, p string
		want    bool
	}{
		{"/r/prod", "/r/prod/data/x", true},
		{"/r/prod", "/r/prod", false},
		{"/r/prod", "/r/production/x", false},
		{"/r/prod", "/r/prod/../staging/x", false},
		{"/r/prod", "/r/prod/data/../../staging", false},
		{"/r/prod", "/r/staging", false},
		{"/r/prod", "/zookeeper/quota", false},
		{"/r/prod", "/r/prod/a\x00b", false},
		{"/r/prod/", "/r/prod/x", false},
		{"/", "/x", true},
	} {
		if got := Within(tc.root, tc.p); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.root, tc.p, got, tc.want)
		}
	}
}

func TestScopeForRefusesUnsafeSelectors(t *testing.T) {
	for _, sel := range [][3]string{
		{"", "", "../../../../staging/data/config/ingest/pipeline"},
		{"", "", "../../../../../zookeeper/quota"},
		{"dc1", "../../../../../../other-team/secret", ""},
		{"", "", "x\x00y"},
		{"dc/1", "", ""},
	} {
		if scope, err := ScopeFor(sel[0], sel[1], sel[2]); err == nil {
			t.Errorf("ScopeFor(%q) = %q, want an error", sel, scope)
		}
	}
	if scope, err := ScopeFor("dc1", "rack1", ""); err != nil || scope != "rack/dc1/rack1" {
		t.Errorf("ScopeFor(dc1, rack1) = %q, %v", scope, err)
	}
}

// FuzzPathRule: whatever name passes the rule, joined under a root, stays
// exactly one level below it; whatever relative path passes stays below
// the root; and a root that passes is never ZooKeeper's own tree.
func FuzzPathRule(f *testing.F) {
	for _, s := range []string{"dc1", "..", ".", "a/b", "x\x00y", "../../zookeeper", "a//b", "node-1.example.com", "zookeeper", "/zookeeper/q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		const root = "/ringmaster/prod"
		if CheckSegment(s) == nil {
			p := path.Join(root, s)
			if path.Dir(p) != root || path.Base(p) != s || !Within(root, p) || strings.ContainsAny(s, "/\x00") {
				t.Fatalf("segment %q passes but joins to %q", s, p)
			}
		}
		if CheckRelPath(s) == nil {
			p := path.Join(root, s)
			if p != root+"/"+s || !Within(root, p) {
				t.Fatalf("relative path %q passes but joins to %q", s, p)
			}
		}
		if CheckRoot(s) == nil {
			if path.Clean(s) != s || s == "/" || !strings.HasPrefix(s, "/") || s == "/zookeeper" || strings.HasPrefix(s, "/zookeeper/") || strings.ContainsRune(s, 0) {
				t.Fatalf("root %q passes", s)
			}
		}
	})
}
