package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/ringmaster-io/ringmaster/internal/repogen"
)

// messyRepo is a repository with a bit of everything Load and Render meet,
// spread over many files so that the parsers run ahead of Load: syntax
// errors part-way through a file, aliases (fine, cyclic and a bomb), merge
// keys, variables, patches in two environments (one conflicting),
// duplicates, misplaced and unknown kinds, empty documents, dot folders,
// .yml files and a stray file among the environments.
func messyRepo() fstest.MapFS {
	fsys := fstest.MapFS{
		"ringmaster.yaml":                   {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Repository\nmetadata: {name: messy}\nspec:\n  variables: {rf: 2, owner: team-a}\n")},
		"environments/dev/environment.yaml": {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster: {datacenters: [dc1, dc2]}\n  variables: {rf: 1}\n")},
		"environments/dev/patches.yaml": {Data: []byte(`apiVersion: ringmaster.io/v1
kind: Patch
metadata: {name: p1}
spec:
  target: {kind: ConfigEntry, name: c003}
  merge: {value: {limit: 9, extra: [1, 2]}}
---
apiVersion: ringmaster.io/v1
kind: Patch
metadata: {name: p2}
spec:
  target: {kind: Keyspace, name: ks1}
  merge: {replication: {dc2: ${rf}}}
---
apiVersion: ringmaster.io/v1
kind: Patch
metadata: {name: p3}
spec:
  target: {kind: ConfigEntry, name: c003}
  merge: {value: {limit: 10}}
`)},
		"environments/prod/environment.yml": {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: prod}\nspec:\n  cluster: {datacenters: [dc1, dc2]}\n")},
		"environments/prod/patch.yaml":      {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: p}\nspec:\n  target: {kind: ConfigEntry, name: c001}\n  merge: {value: null, path: moved/c001}\n")},
		"environments/prod/.hidden/x.yaml":  {Data: []byte("not: [valid")},
		"environments/stray.yaml":           {Data: []byte("x: 1\n")},
		"environments/.git/config.yaml":     {Data: []byte("x: 1\n")},
		"policies/p.yaml":                   {Data: []byte("apiVersion: ringmaster.io/v1\nkind: Policy\nmetadata: {name: pol}\nspec:\n  rules:\n    - {name: r, expression: 'true', message: m}\n")},
		"base/ks.yaml": {Data: []byte(`apiVersion: ringmaster.io/v1
kind: Keyspace
metadata: {name: ks1}
spec:
  replication: {class: NetworkTopologyStrategy, dc1: 3, dc2: ${rf}}
---
apiVersion: ringmaster.io/v1
kind: Keyspace
metadata: {name: ks2}
spec:
  replication: &r {class: NetworkTopologyStrategy, dc1: 1}
---
apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: t}
spec:
  keyspace: ks1
  columns: [{name: id, type: uuid}, {name: v, type: text}]
  primaryKey: {partition: [id]}
`)},
		"base/.skipped/x.yaml": {Data: []byte("::: not yaml")},
		"base/readme.txt":      {Data: []byte("not a manifest")},
	}
	for i := range 40 {
		var b strings.Builder
		for j := range 12 {
			n := i*12 + j
			fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c%03d}\nspec:\n  value: {owner: team-%d, limit: %d, tags: [a, b]}\n", n, n%5, n)
			switch {
			case n%97 == 5:
				b.WriteString("---\n---\n") // empty documents
			case n%89 == 7:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: v%03d}\nspec:\n  value: {owner: \"${owner}\", rf: \"${rf}\", lit: \"$${x}\"}\n", n)
			case n%83 == 11:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: a%03d}\nspec:\n  value: {a: &x [1, 2], b: *x, c: {<<: {d: 1}}}\n", n)
			case n%79 == 13:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: e%03d}\nspec: {}\n", n)
			case n%73 == 17:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: Gadget\nmetadata: {name: g%03d}\nspec: {}\n---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c%03d}\nspec: {value: dup}\n", n, n-1)
			case n%61 == 23:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: bad%03d}\nspec:\n  path: ../up\n  value: {a: !!binary aGk=, b: 99999999999999999999, {c: 1}: 2, a: 3}\n  extra: 1\n", n)
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: bad%03d-b}\nspec:\n  value: {a: !!binary aGk=, b: 99999999999999999999, {c: 1}: 2, a: 3, e: .inf}\n---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: novalue%03d}\nspec: {path: x/y}\n", n, n)
			case n%71 == 19:
				fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: cyc%03d}\nspec:\n  value: &c [1, *c]\n", n)
			}
		}
		if i%13 == 4 {
			b.WriteString("---\nkey: [unclosed\n---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: after-error}\nspec: {value: 1}\n")
		}
		if i == 21 {
			b.WriteString("---\n" + aliasBomb(9) + "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: undefined}\nspec: {value: \"${nope} and ${rf}\"}\n")
		}
		name := fmt.Sprintf("base/gen/%02d.yaml", i)
		if i%7 == 3 {
			name = fmt.Sprintf("base/gen/sub/%02d.yml", i)
		}
		fsys[name] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return fsys
}

// outcome is everything Load and Render give for a repository: the
// Repository, Load's error, and each environment's Result and error.
type outcome struct {
	repo    *Repository
	loadErr string
	results map[string]*Result
	errs    map[string]string
}

func outcomeOf(repo *Repository, err error) outcome {
	o := outcome{repo: repo, results: map[string]*Result{}, errs: map[string]string{}}
	if err != nil {
		o.loadErr = err.Error()
	}
	if repo == nil {
		return o
	}
	for _, env := range repo.Environments {
		res, err := repo.Render(context.Background(), env)
		o.results[env] = res
		if err != nil {
			o.errs[env] = err.Error()
		}
	}
	return o
}

func (o outcome) diff(other outcome) string {
	switch {
	case o.loadErr != other.loadErr:
		return fmt.Sprintf("load errors differ:\n%s\n---- and ----\n%s", o.loadErr, other.loadErr)
	case !reflect.DeepEqual(o.errs, other.errs):
		return fmt.Sprintf("render errors differ:\n%v\n---- and ----\n%v", o.errs, other.errs)
	case !reflect.DeepEqual(o.results, other.results):
		for env, r := range o.results {
			if !reflect.DeepEqual(r, other.results[env]) {
				return fmt.Sprintf("%s renders differently", env)
			}
		}
		return "rendered environments differ"
	case !reflect.DeepEqual(o.repo, other.repo):
		return "repositories differ"
	}
	return ""
}

// withParseWorkers runs f with n parsers ahead of Load (1: none).
func withParseWorkers(n int, f func()) {
	old := parseWorkers
	parseWorkers = func() int { return n }
	defer func() { parseWorkers = old }()
	f()
}

// TestParallelAndCachedLoadsAgree: with parsers running ahead of Load,
// through a cold cache and through a warm one, Load and Render give
// exactly what the sequential Load gives (the same Repository, the same
// problems in the same order, the same states), whatever limit stops the
// load and wherever.
func TestParallelAndCachedLoadsAgree(t *testing.T) {
	examples := fstest.MapFS{}
	if err := fs.WalkDir(os.DirFS("../examples"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(os.DirFS("../examples"), p)
		examples[p] = &fstest.MapFile{Data: data}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	repos := map[string]fstest.MapFS{"examples": examples, "large": repogen.Large(150, 20), "messy": messyRepo()}
	limits := []Limits{{}, {MaxAliasNodes: 50}}
	for _, n := range []int64{1, 40, 333, 2500, 6000, 12000} {
		limits = append(limits, Limits{MaxNodes: n})
	}
	for _, n := range []int64{100, 3000, 30000} {
		limits = append(limits, Limits{MaxRepoBytes: n}, Limits{MaxFileBytes: n})
	}
	for name, fsys := range repos {
		for _, lim := range limits {
			t.Run(fmt.Sprintf("%s/%+v", name, lim), func(t *testing.T) {
				var want outcome
				withParseWorkers(1, func() { want = outcomeOf(Load(context.Background(), fsys, lim)) })
				withParseWorkers(4, func() {
					if d := want.diff(outcomeOf(Load(context.Background(), fsys, lim))); d != "" {
						t.Fatalf("parallel load: %s", d)
					}
					cache := NewCache()
					for i, what := range []string{"cold cache", "warm cache"} {
						if d := want.diff(outcomeOf(cache.Load(context.Background(), fsys, lim))); d != "" {
							t.Fatalf("%s (load %d): %s", what, i, d)
						}
					}
				})
				withParseWorkers(1, func() {
					cache := NewCache()
					_, _ = cache.Load(context.Background(), fsys, Limits{})
					if d := want.diff(outcomeOf(cache.Load(context.Background(), fsys, lim))); d != "" {
						t.Fatalf("cache warmed under other limits: %s", d)
					}
				})
			})
		}
	}
}

// TestCacheParsesOnlyChangedFiles: a Load through a warm cache takes the
// documents of unchanged files from it and parses a changed file again,
// and what it returns is what a fresh Load returns.
func TestCacheParsesOnlyChangedFiles(t *testing.T) {
	fsys := repogen.ConfigEntries(300)
	cache := NewCache()
	first, err := cache.Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	changed := "base/entries/001.yaml"
	fsys[changed] = &fstest.MapFile{Data: []byte(strings.Replace(string(fsys[changed].Data), "limit:", "limit: 1\n    old_limit:", 1))}
	second, err := cache.Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, fresh) {
		t.Fatal("a Load through the cache differs from a fresh Load")
	}
	shared, parsed := 0, 0
	for i, d := range second.base {
		if d == first.base[i] {
			shared++
			if d.file == changed {
				t.Errorf("%s changed but its document %s came from the cache", changed, d.name)
			}
		} else {
			parsed++
			if d.file != changed {
				t.Errorf("%s did not change but its document %s was parsed again", d.file, d.name)
			}
		}
	}
	if shared != 200 || parsed != 100 {
		t.Errorf("%d documents from the cache and %d parsed, want 200 and 100", shared, parsed)
	}
	if len(cache.files) != 5 { // and ringmaster.yaml, environment.yaml
		t.Errorf("the cache holds %d files after a Load of 5", len(cache.files))
	}
}

// TestRenderLeavesRepositoryAlone: Render shares the nodes of plain
// documents among environments and copies the others before it changes
// them, so renders in any order, or at once, give the same results.
func TestRenderLeavesRepositoryAlone(t *testing.T) {
	for name, fsys := range map[string]fs.FS{"examples": os.DirFS("../examples"), "messy": messyRepo()} {
		t.Run(name, func(t *testing.T) {
			fresh := func() *Repository {
				repo, _ := Load(context.Background(), fsys, Limits{})
				return repo
			}
			want := map[string]string{}
			for _, env := range fresh().Environments {
				res, err := fresh().Render(context.Background(), env)
				want[env] = fmt.Sprint(dumpOrNil(res), err)
			}
			repo := fresh()
			for range 2 {
				for _, env := range repo.Environments {
					res, err := repo.Render(context.Background(), env)
					if got := fmt.Sprint(dumpOrNil(res), err); got != want[env] {
						t.Fatalf("%s renders differently after other renders", env)
					}
				}
			}
			var wg sync.WaitGroup
			for range 4 {
				for _, env := range repo.Environments {
					wg.Go(func() {
						res, err := repo.Render(context.Background(), env)
						if got := fmt.Sprint(dumpOrNil(res), err); got != want[env] {
							t.Errorf("%s renders differently beside other renders", env)
						}
					})
				}
			}
			wg.Wait()
			if !reflect.DeepEqual(repo, fresh()) {
				t.Fatal("rendering changed the Repository")
			}
		})
	}
}

func dumpOrNil(res *Result) string {
	if res == nil {
		return "<nil>"
	}
	return dump(res)
}

// parseDocumentsSequential is the document loop as Load ran it before
// parses were recorded (parseFile) and taken under a budget (take): the
// reference they must match. (Only prepare is new.)
func parseDocumentsSequential(p *problems, file string, raw []byte, limits Limits, budget int64) (docs []*document, nodes int64) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for nodes <= budget {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.add(yamlError(file, err))
			break
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue
		}
		count, plain, ok := checkExpansion(p, file, &n, limits.MaxAliasNodes)
		nodes += count
		if !ok {
			continue
		}
		if d := parseEnvelope(p, file, n.Content[0]); d != nil {
			d.plain = plain
			if plain {
				d.prepare()
			}
			docs = append(docs, d)
		}
	}
	return docs, nodes
}

// TestTakeMatchesSequentialLoop: a file parsed once and taken under any
// node budget gives what the sequential loop gives under that budget, and
// a parse stopped early answers only the budgets it can.
func TestTakeMatchesSequentialLoop(t *testing.T) {
	limits := Limits{MaxAliasNodes: 100}.withDefaults()
	for file, f := range messyRepo() {
		switch path.Base(file) {
		case "00.yaml", "04.yaml", "17.yml", "21.yaml", "30.yaml": // and every file not under gen/
		default:
			if strings.HasPrefix(file, "base/gen/") {
				continue
			}
		}
		full := parseFile(file, f.Data, limits, limits.MaxNodes, nil)
		budgets := []int64{-1, 0, limits.MaxNodes}
		for _, s := range full.steps { // around each step's start and end
			for _, b := range []int64{s.before, s.before + s.nodes} {
				budgets = append(budgets, b-1, b, b+1)
			}
		}
		stopped := parseFile(file, f.Data, limits, limits.MaxNodes, func(int64) bool { return false })
		for _, budget := range budgets {
			wantP := &problems{}
			wantDocs, wantNodes := parseDocumentsSequential(wantP, file, f.Data, limits, budget)
			gotP := &problems{}
			gotDocs, gotNodes, ok := full.take(gotP, budget)
			if !ok || gotNodes != wantNodes || !reflect.DeepEqual(gotDocs, wantDocs) || !reflect.DeepEqual(gotP.errs, wantP.errs) {
				t.Fatalf("%s under budget %d: got %d nodes, %d documents, %v (ok %t); want %d, %d, %v",
					file, budget, gotNodes, len(gotDocs), gotP.errs, ok, wantNodes, len(wantDocs), wantP.errs)
			}
			gotP = &problems{}
			gotDocs, gotNodes, ok = stopped.take(gotP, budget)
			if ok && (gotNodes != wantNodes || !reflect.DeepEqual(gotDocs, wantDocs) || !reflect.DeepEqual(gotP.errs, wantP.errs)) {
				t.Fatalf("%s stopped after one document, under budget %d: got a wrong answer", file, budget)
			}
			if !ok && !stopped.complete && budget < stopped.next {
				t.Fatalf("%s stopped after one document refused budget %d below %d", file, budget, stopped.next)
			}
		}
	}
}

// cancellingFS cancels a context once Load has opened after files.
type cancellingFS struct {
	fs.FS
	after  int
	opens  int
	cancel context.CancelFunc
}

func (c *cancellingFS) Open(name string) (fs.File, error) {
	if c.opens++; c.opens == c.after {
		c.cancel()
	}
	return c.FS.Open(name)
}

// TestParallelLoadStopsWhenCancelled: a Load cancelled part-way, with
// parsers running ahead, stops with the context's error and leaves no
// goroutine behind.
func TestParallelLoadStopsWhenCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	withParseWorkers(4, func() {
		for _, after := range []int{1, 2, 30, 60, 90, 103} { // 103 opens in all
			ctx, cancel := context.WithCancel(context.Background())
			fsys := &cancellingFS{FS: repogen.ConfigEntries(5000), after: after, cancel: cancel}
			if _, err := Load(ctx, fsys, Limits{}); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled after %d opens: %v", after, err)
			}
			cancel()
		}
	})
}

// TestParsersStayWithinLimits: however much a repository holds past the
// node limit, the parsers running ahead of Load stop near it (each may
// finish the document it is reading), and past the byte limit they read
// nothing more.
func TestParsersStayWithinLimits(t *testing.T) {
	fsys := repogen.ConfigEntries(20000) // 200 files, about 640,000 nodes
	limits := Limits{MaxNodes: 30000}.withDefaults()
	withParseWorkers(4, func() {
		pf := newPrefetcher(context.Background(), limits, nil)
		pf.walk(fsys, "base", false)
		pf.walked()
		for _, job := range pf.jobs {
			<-job.done
		}
		pf.stop()
		if n := pf.nodes.Load(); n <= limits.MaxNodes || n > limits.MaxNodes+4*100 {
			t.Errorf("the parsers counted %d nodes under a limit of %d", n, limits.MaxNodes)
		}
	})
	limits = Limits{MaxRepoBytes: 100_000}.withDefaults()
	withParseWorkers(4, func() {
		pf := newPrefetcher(context.Background(), limits, nil)
		defer pf.stop()
		pf.walk(fsys, "base", false)
		pf.walked()
		var read int64
		for _, job := range pf.jobs {
			read += int64(len(job.raw))
		}
		if read > limits.MaxRepoBytes {
			t.Errorf("read %d bytes ahead under a limit of %d", read, limits.MaxRepoBytes)
		}
	})
}

// TestPreparedPayloadsAgree: the ConfigEntry payloads worked out while
// loading render exactly as Render works them out itself.
func TestPreparedPayloadsAgree(t *testing.T) {
	for name, fsys := range map[string]fs.FS{"examples": os.DirFS("../examples"), "messy": messyRepo(), "entries": repogen.ConfigEntries(300)} {
		t.Run(name, func(t *testing.T) {
			repo, err := Load(context.Background(), fsys, Limits{})
			if repo == nil {
				t.Fatal(err)
			}
			want := outcomeOf(repo, err)
			prepared := 0
			for _, group := range [][]*document{repo.base, repo.policies} {
				for _, d := range group {
					if d.entry != nil {
						prepared++
					}
					d.entry = nil
				}
			}
			for _, ed := range repo.envs {
				for _, d := range ed.resources {
					d.entry = nil
				}
			}
			if prepared == 0 {
				t.Fatal("no payload was worked out while loading")
			}
			if d := want.diff(outcomeOf(repo, err)); d != "" {
				t.Fatal(d)
			}
		})
	}
}
