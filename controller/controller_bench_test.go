package controller

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// benchEnv is a folder repository of n ConfigEntries for environment
// "bench" and a controller following it, running, with its first apply
// done.
type benchEnv struct {
	z       *itest.ZK
	remote  *itest.GitRemote
	root    string
	ctl     *Controller
	metrics *Metrics
}

func entries(n int, version string) map[string]string {
	files := map[string]string{}
	var sb strings.Builder
	for f := 0; f*100 < n; f++ {
		sb.Reset()
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			fmt.Fprintf(&sb, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: e%05d}\nspec:\n  path: bulk/e%05d\n  value: {owner: team-%03d, version: %q, note: %q}\n", i, i, i%100, version, strings.Repeat("x", 60))
		}
		files[fmt.Sprintf("base/bulk/f%04d.yaml", f)] = sb.String()
	}
	return files
}

func entryX(v int) string {
	return fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec: {path: ctl/x, value: {v: %d}}\n", v)
}

func startBench(b *testing.B, n int) *benchEnv {
	b.Helper()
	e := &benchEnv{z: itest.ZooKeeper(b), remote: itest.NewGitRemote(b)}
	e.root = e.z.Path("env")
	files := entries(n, "v0")
	files["ringmaster.yaml"] = itest.RepositoryManifest
	files["environments/bench/environment.yaml"] = itest.EnvironmentManifest(b, "bench", e.root, "")
	files["base/x.yaml"] = entryX(0)
	e.remote.Commit(b, "v0", files)
	ctx, cancel := context.WithCancel(context.Background())
	// The controller follows the branch of a Git repository, as in
	// production: fetches, commits, targets kept per commit.
	src, err := reposource.Open(ctx, e.remote.URL, reposource.Options{CacheParses: true})
	if err != nil {
		b.Fatal(err)
	}
	e.metrics = NewMetrics()
	e.ctl, err = New(Config{
		Source: src, Branch: "main", Environments: []string{"bench"}, Interval: time.Hour,
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl})
		},
		Holder: zk.HolderInfo{User: "bench"}, Metrics: e.metrics,
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = e.ctl.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	awaitData(b, e.z, path.Join(e.root, state.ConfigDir, "ctl/x"), `{"v":0}`)
	e.settle(b)
	return e
}

// settle waits until the leader's watched cache of <root>/data holds what
// ZooKeeper holds: the first apply's writes come back as thousands of
// watch events, which the cache applies one by one.
func (e *benchEnv) settle(b *testing.B) {
	b.Helper()
	c, err := zk.Connect(context.Background(), zk.Config{Servers: e.z.Servers})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		want, err := c.ReadTree(context.Background(), path.Join(e.root, state.DataDir))
		if err != nil {
			b.Fatal(err)
		}
		if l := e.ctl.leader("bench"); l != nil && l.data != nil {
			if got, err := l.data.Snapshot(); err == nil && sameTree(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the leader's cache did not settle within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sameTree(a, b map[string]*zk.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if m, ok := b[k]; !ok || m.Stat.Version != n.Stat.Version {
			return false
		}
	}
	return true
}

// BenchmarkBareWatchLatency is the floor of seeing a change: one session
// sets a znode another watches, with bare go-zookeeper; the time from the
// set to the event.
func BenchmarkBareWatchLatency(b *testing.B) {
	z := itest.ZooKeeper(b)
	other := itest.Connect(b, z.Servers...)
	p := z.Path("w")
	if _, err := z.Conn.Create(p, []byte("0"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		_, _ = other.Sync(p)
		_, _, ev, err := other.GetW(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := z.Conn.Set(p, []byte(fmt.Sprint(i)), -1); err != nil {
			b.Fatal(err)
		}
		<-ev
	}
}

// BenchmarkDriftCorrected10k: in an environment of 10,000 znodes, a hand
// edit of one, until the controller has restored it (seen by a watch of
// the bench's own session): what a drifted object costs to correct.
func BenchmarkDriftCorrected10k(b *testing.B) {
	e := startBench(b, 10000)
	p := path.Join(e.root, state.ConfigDir, "ctl/x")
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.z.Conn.Set(p, []byte(`{"v":"by hand"}`), -1); err != nil {
			b.Fatal(err)
		}
		awaitData(b, e.z, p, `{"v":0}`)
	}
}

// BenchmarkWebhookToApplied10k: a commit changing one entry of a 10,000-
// object environment is pushed, then a signed webhook, until the change is
// live (the fetch, render, diff and apply are timed).
func BenchmarkWebhookToApplied10k(b *testing.B) {
	e := startBench(b, 10000)
	hook := &Webhook{Secret: []byte("s"), Trigger: e.ctl.Trigger}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	p := path.Join(e.root, state.ConfigDir, "ctl/x")
	body := []byte(`{"ref":"refs/heads/main"}`)
	i := 0
	for b.Loop() {
		i++
		// The commit and push are the author's: not timed.
		b.StopTimer()
		e.remote.Commit(b, fmt.Sprint(i), map[string]string{"base/x.yaml": entryX(i)})
		b.StartTimer()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", Sign([]byte("s"), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook: %v %v", resp, err)
		}
		resp.Body.Close()
		awaitData(b, e.z, p, fmt.Sprintf(`{"v":%d}`, i))
	}
}

// BenchmarkReconcileNoChange10k is one reconcile of an unchanged
// 10,000-object environment by the leader, its watched caches warm: what
// every poll costs.
func BenchmarkReconcileNoChange10k(b *testing.B) {
	e := startBench(b, 10000)
	l := e.ctl.leader("bench")
	if l == nil {
		b.Fatal("no leader state")
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, ans := e.ctl.reconcile(ctx, l, "bench", nil, false); ans.Result != "no_change" {
			b.Fatalf("reconcile: %+v", ans)
		}
	}
}

// BenchmarkColdTreeRead10k is the baseline of the no-change reconcile:
// reading the same environment's data znodes from ZooKeeper, as a
// reconcile without watches must.
func BenchmarkColdTreeRead10k(b *testing.B) {
	e := startBench(b, 10000)
	c, err := zk.Connect(context.Background(), zk.Config{Servers: e.z.Servers})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	for b.Loop() {
		nodes, err := c.ReadTree(context.Background(), path.Join(e.root, state.DataDir))
		if err != nil || len(nodes) < 10000 {
			b.Fatalf("read: %d, %v", len(nodes), err)
		}
	}
}
