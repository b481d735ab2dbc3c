package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// aliasBomb is a ConfigEntry whose value is a levels-deep alias bomb of
// width 9: a few hundred bytes that expand to 9^levels nodes.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: bomb}\nspec:\n  value:\n    a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= levels; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "    a%d: &a%d [%s, %s, %s, %s, %s, %s, %s, %s, %s]\n", i, i, p, p, p, p, p, p, p, p, p)
	}
	return b.String()
}

// TestAliasBombIsRefusedBeforeExpansion: a bomb of any depth is refused
// while loading, at a cost in proportion to its text (the allocation
// bound would not hold if any step expanded it).
func TestAliasBombIsRefusedBeforeExpansion(t *testing.T) {
	for _, levels := range []int{3, 8, 9, 30} {
		t.Run(fmt.Sprint(levels), func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := loadAndRender(repoWith(map[string]string{"base/bomb.yaml": aliasBomb(levels)}))
			runtime.ReadMemStats(&after)
			if levels == 3 {
				if err != nil { // 9^3 = 729 nodes: a fine use of aliases
					t.Fatalf("small alias use refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "base/bomb.yaml:") || !strings.Contains(err.Error(), "--max-alias-nodes") {
				t.Fatalf("got %v, want a located alias limit error", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Fatalf("refusing the bomb allocated %d MiB: it was expanded", alloc>>20)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	cfg := func(value string) string {
		return "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  value: " + value + "\n"
	}
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"an alias cycle", fstest.MapFS{"base/c.yaml": {Data: []byte(cfg("&a [1, *a]"))}}, `base/c.yaml:5:17: YAML alias *a refers to a node that contains it`},
		{"a merge key", fstest.MapFS{"base/c.yaml": {Data: []byte(cfg("{a: 1, <<: {b: 2}}"))}}, `base/c.yaml:5:17: YAML merge keys (<<) are not supported`},
		{"a symlinked folder", fstest.MapFS{"base/linked": {Data: []byte("/etc"), Mode: fs.ModeSymlink}}, `base/linked: symbolic links are not followed: base/linked -> "/etc"`},
		{"a symlinked file", fstest.MapFS{"base/a.yaml": {Data: []byte("../../secret.yaml"), Mode: fs.ModeSymlink}}, `base/a.yaml: symbolic links are not followed`},
		{"a symlinked environment", fstest.MapFS{"environments/stage2": {Data: []byte("/etc"), Mode: fs.ModeSymlink}}, `environments/stage2: symbolic links are not followed`},
		{"a stray file among environments", fstest.MapFS{"environments/up.yaml": {Data: []byte("x: 1")}}, `environments/up.yaml: not an environment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := repoWith(nil)
			for k, v := range tt.files {
				fsys[k] = v
			}
			err := loadAndRender(fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSizeLimits(t *testing.T) {
	big := "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: big}\nspec:\n  value: \"" + strings.Repeat("x", 3000) + "\"\n"
	fsys := repoWith(map[string]string{"base/big.yaml": big})
	_, err := Load(context.Background(), fsys, Limits{MaxFileBytes: 2048})
	if err == nil || !strings.Contains(err.Error(), "base/big.yaml: file is 3.0 KiB, over the 2.0 KiB limit for one manifest file (raise it with --max-file-bytes)") {
		t.Fatalf("file limit: %v", err)
	}
	if _, err := Load(context.Background(), fsys, Limits{MaxFileBytes: 4096}); err != nil {
		t.Fatalf("under the file limit: %v", err)
	}
	files := map[string]string{}
	for i := range 10 {
		files[fmt.Sprintf("base/c%d.yaml", i)] = strings.Replace(big, "name: big", fmt.Sprintf("name: c%d", i), 1)
	}
	_, err = Load(context.Background(), repoWith(files), Limits{MaxRepoBytes: 20000})
	if err == nil || !strings.Contains(err.Error(), "the repository's manifests pass 19.5 KiB here, its limit") || strings.Count(err.Error(), "--max-repo-bytes") != 1 {
		t.Fatalf("repository limit: %v", err)
	}
}

// TestNodeLimit: dense YAML is bounded by its nodes, not its bytes, and
// the limit stops reading without a cascade of "missing" errors after it.
func TestNodeLimit(t *testing.T) {
	dense := "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: d}\nspec:\n  value: [" + strings.Repeat("1,", 3000) + "1]\n"
	_, err := Load(context.Background(), repoWith(map[string]string{"base/dense.yaml": dense}), Limits{MaxNodes: 2000})
	if err == nil || !strings.Contains(err.Error(), "base/dense.yaml: the repository's manifests pass 2000 YAML nodes here, their limit") || !strings.Contains(err.Error(), "--max-nodes") {
		t.Fatalf("node limit: %v", err)
	}
	if strings.Contains(err.Error(), "has no manifest of kind Environment") {
		t.Fatalf("the limit cascades into errors about files it did not read: %v", err)
	}
	if _, err := Load(context.Background(), repoWith(map[string]string{"base/dense.yaml": dense}), Limits{MaxNodes: 4000}); err != nil {
		t.Fatalf("under the node limit: %v", err)
	}
}

func TestLoadAndRenderStopWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, repoWith(map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n"}), Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load on a cancelled context: %v", err)
	}
	repo, err := Load(context.Background(), repoWith(map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n"}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Render(ctx, "dev"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Render on a cancelled context: %v", err)
	}
}

func TestSilentAcceptanceIsGone(t *testing.T) {
	patch := func(name, target, merge string) string {
		return "apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: " + name + "}\nspec:\n  target: " + target + "\n  merge: " + merge + "\n"
	}
	ks := ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n"
	policy := "apiVersion: ringmaster.io/v1\nkind: Policy\nmetadata: {name: strict}\nspec:\n  rules:\n  - {name: r, expression: 'true', message: m}\n"
	flag := func(targeting string) string {
		return "apiVersion: ringmaster.io/v1\nkind: FeatureFlag\nmetadata: {name: f}\nspec:\n  state: ENABLED\n  variants: {on: true, off: false}\n  defaultVariant: off\n  targeting: " + targeting + "\n"
	}
	cfg := func(value string) string {
		return "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  value: " + value + "\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"a patch of a policy", map[string]string{"policies/p.yaml": policy, "environments/dev/p.yaml": patch("off", "{kind: Policy, name: strict}", "{rules: []}")},
			[]string{`environments/dev/p.yaml:5:18: Patch off: a Policy cannot be patched: patches apply to managed objects only`}},
		{"two patches on one field", map[string]string{"base/ks.yaml": ks,
			"environments/dev/a.yaml": patch("a", "{kind: Keyspace, name: app}", "{replication: {dc1: 2}}"),
			"environments/dev/b.yaml": patch("b", "{kind: Keyspace, name: app}", "{replication: {dc1: 3, dc2: 2}}")},
			[]string{`environments/dev/b.yaml:6:25: Patch b sets spec.replication.dc1 of Keyspace app, which Patch a also sets (environments/dev/a.yaml:6:25)`}},
		{"a patch deleting what another sets", map[string]string{"base/ks.yaml": ks,
			"environments/dev/a.yaml": patch("a", "{kind: Keyspace, name: app}", "{replication: {dc1: 2}}"),
			"environments/dev/b.yaml": patch("b", "{kind: Keyspace, name: app}", "{replication: null}")},
			[]string{`Patch b sets spec.replication of Keyspace app, which Patch a also sets`}},
		{"negative guardrails", map[string]string{"environments/dev/environment.yaml": strings.Replace(envFile, "  variables:", "  guardrails: {minReplication: -1, maxReplication: -3}\n  variables:", 1)},
			[]string{`guardrails.minReplication is -1`, `guardrails.maxReplication is -3`}},
		{"a variable in a key", map[string]string{"base/c.yaml": cfg("{\"${rf}\": 1}")}, []string{`key "${rf}": variables are not substituted in keys`}},
		{"an unclosed variable", map[string]string{"base/c.yaml": cfg(`"x ${rf"`)}, []string{`unclosed variable reference "${rf"`}},
		{"an invalid variable", map[string]string{"base/c.yaml": cfg(`"x ${a-b} y"`)}, []string{`invalid variable reference "${a-b}"`}},
		{"a variable inside a variable", map[string]string{"environments/dev/environment.yaml": envFile + "    nested: \"${rf}\"\n"}, []string{`variable "nested": its value refers to a variable`}},
		{"a fractional weight", map[string]string{"base/f.yaml": flag(`{fractional: [[on, 10.5], [off, 89.5]]}`)}, []string{`weight 10.5 of "on" is not a whole number`}},
		{"a negative weight", map[string]string{"base/f.yaml": flag(`{fractional: [[on, -10], [off, 110]]}`)}, []string{`weight -10 of "on"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadAndRender(repoWith(tt.files))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// The escape still works and references still substitute.
	if err := loadAndRender(repoWith(map[string]string{"base/c.yaml": cfg(`"$${literal} and ${rf}"`)})); err != nil {
		t.Fatalf("escape and reference: %v", err)
	}
}

// TestMessagesSayWhatIsWrong: replication and number messages name the
// actual mistake.
func TestMessagesSayWhatIsWrong(t *testing.T) {
	for _, tt := range []struct{ replication, want, not string }{
		{"{class: NetworkTopologyStrategy, dc1: 0, dc2: 0}", "every datacenter has factor 0", "needs at least one datacenter"},
		{"{class: NetworkTopologyStrategy, dc1: -3}", "replication factor of dc1 is -3: want 0", "needs at least one datacenter"},
		{"{class: NetworkTopologyStrategy, dc1: 99999999999}", "dc1 99999999999 is out of range", "must be a whole number"},
		{"{class: NetworkTopologyStrategy, dc1: 1e12}", "dc1 1e12 is out of range", "must be a whole number"},
		{"{class: NetworkTopologyStrategy}", "needs at least one datacenter", "factor 0"},
	} {
		err := loadAndRender(repoWith(map[string]string{"base/a.yaml": ksHeader + "  replication: " + tt.replication + "\n"}))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.not) {
			t.Errorf("%s: got %v, want %q and not %q", tt.replication, err, tt.want, tt.not)
		}
	}
}
