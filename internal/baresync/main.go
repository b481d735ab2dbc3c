// Command baresync is the floor that `make bench` measures ringmaster's
// whole apply against: the least a careful program must do to make
// ZooKeeper hold a folder of ConfigEntry manifests, written directly with
// go-zookeeper. It decodes the manifests with yaml.v3, reads the live tree
// with pipelined requests, diffs byte for byte, and writes the changes in
// Multi transactions of -batch ops, each set and delete checked against
// the version it read. It keeps no lock, no inventory, no status and no
// history, checks no policy and prints no plan: everything ringmaster adds
// on top is what the comparison shows.
//
// Usage:
//
//	baresync -servers HOST:PORT,... -root /path -dir FOLDER [-batch 1000] [-prune]
//
// Each ConfigEntry's spec.value lands, as compact JSON with sorted keys,
// at ROOT/data/config/SPEC.PATH, the path ringmaster gives it. It prints
// one line of counts and exits 0, or 1 with the error.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/go-zookeeper/zk"
	"gopkg.in/yaml.v3"
)

func main() {
	servers := flag.String("servers", "127.0.0.1:2181", "ZooKeeper servers, comma-separated")
	root := flag.String("root", "", "the environment's root znode")
	dir := flag.String("dir", "", "folder of ConfigEntry manifests (*.yaml)")
	batch := flag.Int("batch", 1000, "ops per Multi transaction")
	prune := flag.Bool("prune", true, "delete live znodes no manifest has")
	flag.Parse()
	if *root == "" || *dir == "" || *batch < 1 {
		fmt.Fprintln(os.Stderr, "baresync: -root and -dir are required, -batch must be positive")
		os.Exit(1)
	}
	counts, err := run(strings.Split(*servers, ","), *root, *dir, *batch, *prune)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baresync: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(counts)
}

type counts struct{ create, update, delete, unchanged int }

func (c counts) String() string {
	return fmt.Sprintf("%d created, %d updated, %d deleted, %d unchanged", c.create, c.update, c.delete, c.unchanged)
}

func run(servers []string, root, dir string, batch int, prune bool) (counts, error) {
	base := path.Join(root, "data", "config")
	desired, err := readManifests(dir, base)
	if err != nil {
		return counts{}, err
	}
	conn, events, err := zk.Connect(servers, 30*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		return counts{}, err
	}
	defer conn.Close()
	if err := awaitSession(events); err != nil {
		return counts{}, err
	}
	if err := ensure(conn, base); err != nil {
		return counts{}, err
	}
	if _, err := conn.Sync(base); err != nil {
		return counts{}, fmt.Errorf("sync: %w", err)
	}
	live, err := readTree(conn, base)
	if err != nil {
		return counts{}, err
	}
	ops, c := plan(desired, live, base, prune)
	for len(ops) > 0 {
		n := min(batch, len(ops))
		if _, err := conn.Multi(ops[:n]...); err != nil {
			return c, fmt.Errorf("multi of %d ops: %w", n, err)
		}
		ops = ops[n:]
	}
	return c, nil
}

// ensure creates p and its missing ancestors.
func ensure(conn *zk.Conn, p string) error {
	if p == "/" {
		return nil
	}
	if err := ensure(conn, path.Dir(p)); err != nil {
		return err
	}
	if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", p, err)
	}
	return nil
}

func awaitSession(events <-chan zk.Event) error {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return nil
			}
		case <-timeout:
			return errors.New("no session within 30s")
		}
	}
}

// readManifests decodes every *.yaml under dir: path below base → value.
func readManifests(dir, base string) (map[string][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Path  string         `yaml:"path"`
					Value map[string]any `yaml:"value"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if doc.Kind != "ConfigEntry" {
				continue
			}
			data, err := json.Marshal(doc.Spec.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out[path.Join(base, doc.Spec.Path)] = data
		}
	}
	return out, nil
}

// node is a live znode as read.
type node struct {
	data     []byte
	version  int32
	children int32
}

// readTree reads every znode below root (a missing root is empty), every
// request in flight at once.
func readTree(conn *zk.Conn, root string) (map[string]node, error) {
	var (
		mu    gosync.Mutex
		out   = map[string]node{}
		first error
		wg    gosync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var visit func(p string, get bool)
	visit = func(p string, get bool) {
		defer wg.Done()
		if get {
			data, st, err := conn.Get(p)
			if errors.Is(err, zk.ErrNoNode) {
				return
			}
			if err != nil {
				fail(fmt.Errorf("get %s: %w", p, err))
				return
			}
			mu.Lock()
			out[p] = node{data: data, version: st.Version, children: st.NumChildren}
			mu.Unlock()
			if st.NumChildren == 0 {
				return
			}
		}
		kids, _, err := conn.Children(p)
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err != nil {
			fail(fmt.Errorf("children %s: %w", p, err))
			return
		}
		for _, k := range kids {
			wg.Add(1)
			go visit(p+"/"+k, true)
		}
	}
	wg.Add(1)
	visit(root, false)
	wg.Wait()
	return out, first
}

// plan is the diff: creates (missing parents first, in path order), sets
// of changed data and, with prune, deletes of leaves no manifest has.
func plan(desired map[string][]byte, live map[string]node, base string, prune bool) ([]any, counts) {
	var c counts
	var ops []any
	made := map[string]bool{}
	paths := make([]string, 0, len(desired))
	for p := range desired {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		want := desired[p]
		n, ok := live[p]
		switch {
		case !ok:
			var parents []string
			for d := path.Dir(p); d != base && !made[d]; d = path.Dir(d) {
				if _, exists := live[d]; exists {
					break
				}
				made[d] = true
				parents = append(parents, d)
			}
			slices.Reverse(parents)
			for _, d := range parents {
				ops = append(ops, &zk.CreateRequest{Path: d, Acl: zk.WorldACL(zk.PermAll)})
			}
			ops = append(ops, &zk.CreateRequest{Path: p, Data: want, Acl: zk.WorldACL(zk.PermAll)})
			c.create++
		case !bytes.Equal(n.data, want):
			ops = append(ops, &zk.SetDataRequest{Path: p, Data: want, Version: n.version})
			c.update++
		default:
			c.unchanged++
		}
	}
	if prune {
		for p, n := range live {
			if _, ok := desired[p]; !ok && n.children == 0 && len(n.data) > 0 {
				ops = append(ops, &zk.DeleteRequest{Path: p, Version: n.version})
				c.delete++
			}
		}
	}
	return ops, c
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
