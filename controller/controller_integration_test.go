package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// TestRunAppliesAndStopsCleanly runs a controller in this process against
// the real cluster, on a folder: it applies the folder's state, applies an
// edit on the next poll, and stops when its context ends, having released
// its leadership, with no goroutine left behind.
func TestRunAppliesAndStopsCleanly(t *testing.T) {
	// Registered first, so run last: after the test's own sessions close.
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	dir, write := folderRepo(t, map[string]string{"it": root})
	write("base/x.yaml", entryX(1))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := reposource.Open(ctx, dir, reposource.Options{})
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics()
	ctl, err := New(Config{
		Source: src, Environments: []string{"it"}, Interval: 200 * time.Millisecond,
		Backoff: Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl, SessionTimeout: 4 * time.Second})
		},
		Holder:  zk.HolderInfo{User: "test", Host: "here", PID: os.Getpid()},
		Metrics: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()

	p := path.Join(root, state.ConfigDir, "ctl/x")
	awaitData(t, z, p, `{"v":1}`)
	if !ctl.Ready() {
		t.Error("not ready while leading")
	}
	write("base/x.yaml", entryX(2))
	awaitData(t, z, p, `{"v":2}`)

	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20 s of its context ending")
	}
	kids, _, err := z.Synced(t).Children(path.Join(root, state.ControllerElection))
	if err != nil || len(kids) != 0 {
		t.Fatalf("election after Run returned: %v, %v (want no contender)", kids, err)
	}
	if ctl.Ready() {
		t.Error("still ready after Run returned")
	}
	if !strings.Contains(fmt.Sprint(metrics.Registry.Gather()), "ringmaster_reconcile_total") {
		t.Error("no reconcile metric gathered")
	}
}

// TestHeadThatDoesNotRenderIsRecorded: a controller started on a head
// that does not render still finds its cluster (the environment's own
// manifests name it), leads, and records in status why nothing is
// applied; the fix is then applied.
func TestHeadThatDoesNotRenderIsRecorded(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	dir, write := folderRepo(t, map[string]string{"it": root})
	write("base/x.yaml", "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec: {path: ctl/x, value: [unclosed\n")

	startController(t, dir, Config{
		Environments: []string{"it"}, Interval: 200 * time.Millisecond,
		Backoff: Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl})
		},
		Holder: zk.HolderInfo{User: "test"},
	})
	st := awaitStatus(t, z, root, "RenderFailed", func(st *rmsync.Status) bool {
		r := st.Ready()
		return r != nil && r.Reason == rmsync.ReasonRenderFailed
	})
	if r := st.Ready(); r.Status != "False" || !strings.Contains(r.Message, "base/x.yaml") {
		t.Fatalf("Ready %+v: want False naming the file", r)
	}
	write("base/x.yaml", entryX(1))
	awaitData(t, z, path.Join(root, state.ConfigDir, "ctl/x"), `{"v":1}`)
	awaitStatus(t, z, root, "Ready", func(st *rmsync.Status) bool {
		r := st.Ready()
		return r != nil && r.Status == "True"
	})
}

// TestUntrustedCommitIsRecorded: a controller that reads only commits
// signed by a trusted key applies a signed one, and records an unsigned
// one pushed after it in status (Untrusted, naming the commit) without
// applying it.
func TestUntrustedCommitIsRecorded(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	alice, alicePub := itest.SigningKey(t, "alice")
	remote := itest.NewGitRemote(t)
	remote.CommitSigned(t, "signed", map[string]string{"ringmaster.yaml": itest.RepositoryManifest,
		"environments/it/environment.yaml": itest.EnvironmentManifest(t, "it", root, ""), "base/x.yaml": entryX(1)}, alice)
	ctx, cancel := context.WithCancel(context.Background())
	src, err := reposource.Open(ctx, remote.URL, reposource.Options{CacheParses: true, Git: gitsource.Options{TrustedKeys: alicePub}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ctl, err := New(Config{
		Source: src, Branch: "main", Environments: []string{"it"}, Interval: 200 * time.Millisecond,
		Backoff: Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl})
		},
		Holder: zk.HolderInfo{User: "test"},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	p := path.Join(root, state.ConfigDir, "ctl/x")
	awaitData(t, z, p, `{"v":1}`)
	remote.CommitSigned(t, "unsigned", map[string]string{"base/x.yaml": entryX(2)}, nil)
	st := awaitStatus(t, z, root, "Untrusted", func(st *rmsync.Status) bool {
		r := st.Ready()
		return r != nil && r.Reason == rmsync.ReasonUntrusted
	})
	if r := st.Ready(); r.Status != "False" || !strings.Contains(r.Message, "is not signed") || !strings.Contains(st.LastAttemptedRevision, "main (") {
		t.Fatalf("status %+v, last attempted %q", r, st.LastAttemptedRevision)
	}
	if data, _, err := z.Synced(t).Get(p); err != nil || string(data) != `{"v":1}` {
		t.Fatalf("the unsigned commit was applied: %q, %v", data, err)
	}
}

// TestSessionGaugeFollowsDisconnections: a short disconnection (every
// connection to the only server the controller knows cut, then let
// through again, within the session timeout) shows in the session gauge
// and readiness, also in a standby, whose campaign goes on through it; it
// leads and applies once the leader leaves.
func TestSessionGaugeFollowsDisconnections(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	proxy := itest.StartProxy(t, z.Servers[0], nil)
	dir, write := folderRepo(t, map[string]string{"it": root})
	write("base/x.yaml", entryX(1))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Another replica leads.
	other, err := zk.Connect(ctx, zk.Config{Servers: z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	leader, err := other.Lock(ctx, path.Join(root, state.ControllerElection), zk.HolderInfo{User: "other"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := reposource.Open(ctx, dir, reposource.Options{})
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics()
	ctl, err := New(Config{
		Source: src, Environments: []string{"it"}, Interval: 200 * time.Millisecond,
		Backoff: Backoff{Min: 100 * time.Millisecond, Max: time.Second},
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			cl.ZooKeeperServers = []string{proxy.Addr()}
			return livestore.Connect(ctx, livestore.Config{Cluster: cl, SessionTimeout: 10 * time.Second})
		},
		Holder: zk.HolderInfo{User: "test"}, Metrics: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	const gauge = "ringmaster_zookeeper_session_connected"
	awaitGauge(t, metrics, gauge, "it", func(v float64) bool { return v == 1 })
	proxy.Cut()
	awaitGauge(t, metrics, gauge, "it", func(v float64) bool { return v == 0 })
	if ctl.Ready() {
		t.Error("ready while disconnected")
	}
	proxy.Restore()
	awaitGauge(t, metrics, gauge, "it", func(v float64) bool { return v == 1 })
	if err := leader.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	awaitData(t, z, path.Join(root, state.ConfigDir, "ctl/x"), `{"v":1}`)
}

// TestFleetMetrics: the leader exports the node agents' convergence from
// their membership records: converged, behind, down, and the largest
// generation lag.
func TestFleetMetrics(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	dir, write := folderRepo(t, map[string]string{"it": root})
	write("base/x.yaml", entryX(1))
	metrics := NewMetrics()
	startController(t, dir, Config{
		Environments: []string{"it"}, Interval: time.Hour,
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl})
		},
		Holder: zk.HolderInfo{User: "test"}, Metrics: metrics,
	})
	awaitGauge(t, metrics, "ringmaster_last_successful_reconcile_timestamp_seconds", "it", func(v float64) bool { return v > 0 })
	// Generation 1 is applied; three agents register: at it, behind,
	// and with their node down.
	for id, m := range map[string]agent.Member{
		"n1": {Node: "n1", State: "UN", Generation: 1},
		"n2": {Node: "n2", State: "UN", Generation: 0},
		"n3": {Node: "n3", State: "DOWN", Generation: 1, Error: "node does not answer"},
	} {
		data, _ := json.Marshal(m)
		p := path.Join(root, state.AgentsDir, "dc1/r1", id)
		for _, dir := range []string{path.Join(root, state.AgentsDir), path.Join(root, state.AgentsDir, "dc1"), path.Dir(p)} {
			_, _ = z.Conn.Create(dir, nil, 0, gozk.WorldACL(gozk.PermAll))
		}
		if _, err := z.Conn.Create(p, data, gozk.FlagEphemeral, gozk.WorldACL(gozk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	for state, n := range map[string]float64{"converged": 1, "behind": 1, "down": 1} {
		awaitSeries(t, metrics, "ringmaster_agents", map[string]string{"environment": "it", "state": state}, func(v float64) bool { return v == n })
	}
	awaitGauge(t, metrics, "ringmaster_agent_generation_lag", "it", func(v float64) bool { return v == 1 })
}

// TestDriftCorrectedOrReported: with an hour between polls, a hand edit of
// a managed znode is restored at once in an environment that corrects
// drift, and only reported (the metric) in one that warns.
func TestDriftCorrectedOrReported(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	dir, write := folderRepo(t, map[string]string{"fix": z.Path("fix"), "warn": z.Path("warn")})
	write("base/x.yaml", entryX(1))

	metrics := NewMetrics()
	notes, notesSrv := newReceiver(t)
	startController(t, dir, Config{
		Environments: []string{"fix", "warn"}, Interval: time.Hour,
		Drift:  map[string]DriftMode{"warn": DriftWarn},
		Notify: []Notifier{{URL: notesSrv.URL, Secret: []byte("k")}},
		Connect: func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
			return livestore.Connect(ctx, livestore.Config{Cluster: cl})
		},
		Holder: zk.HolderInfo{User: "test"}, Metrics: metrics,
	})

	for _, env := range []string{"fix", "warn"} {
		awaitData(t, z, path.Join(z.Path(env), state.ConfigDir, "ctl/x"), `{"v":1}`)
	}
	// The controller reports a success once the apply returned: wait for
	// both, so that the edits below are drift, not a race with the apply.
	awaitGauge(t, metrics, "ringmaster_last_successful_reconcile_timestamp_seconds", "fix", func(v float64) bool { return v > 0 })
	awaitGauge(t, metrics, "ringmaster_last_successful_reconcile_timestamp_seconds", "warn", func(v float64) bool { return v > 0 })
	for _, env := range []string{"fix", "warn"} {
		if _, err := z.Conn.Set(path.Join(z.Path(env), state.ConfigDir, "ctl/x"), []byte(`{"v":"by hand"}`), -1); err != nil {
			t.Fatal(err)
		}
	}
	awaitData(t, z, path.Join(z.Path("fix"), state.ConfigDir, "ctl/x"), `{"v":1}`)
	// Restored by the fast path (one transaction, recorded as such), and
	// so again after a delete by hand; a znode made by hand that Git does
	// not declare is left alone.
	awaitHistory(t, z, z.Path("fix"), rmsync.ReasonDriftCorrected, 1)
	if err := z.Conn.Delete(path.Join(z.Path("fix"), state.ConfigDir, "ctl/x"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Conn.Create(path.Join(z.Path("fix"), state.ConfigDir, "mine"), []byte(`"mine"`), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		t.Fatal(err)
	}
	awaitData(t, z, path.Join(z.Path("fix"), state.ConfigDir, "ctl/x"), `{"v":1}`)
	awaitHistory(t, z, z.Path("fix"), rmsync.ReasonDriftCorrected, 2)
	if data, _, err := z.Synced(t).Get(path.Join(z.Path("fix"), state.ConfigDir, "mine")); err != nil || string(data) != `"mine"` {
		t.Fatalf("the unmanaged znode: %q, %v", data, err)
	}
	awaitGauge(t, metrics, "ringmaster_drift_objects", "warn", func(v float64) bool { return v == 1 })
	if data, _, err := z.Synced(t).Get(path.Join(z.Path("warn"), state.ConfigDir, "ctl/x")); err != nil || string(data) != `{"v":"by hand"}` {
		t.Fatalf("warn environment: %q, %v; want the hand edit left in place", data, err)
	}
	// The receiver heard of both first applies and of the correction.
	want := []string{`"event":"applied","environment":"fix"`, `"event":"applied","environment":"warn"`, `"event":"drift_corrected","environment":"fix"`}
	deadline := time.After(30 * time.Second)
	for {
		notes.mu.Lock()
		all := strings.Join(notes.bodies, "\n")
		notes.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(all, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		select {
		case <-notes.got:
		case <-deadline:
			t.Fatalf("no notification with %s; got:\n%s", missing, all)
		}
	}
}

// awaitData waits, with watches, until the znode at p holds want.
func awaitData(t testing.TB, z *itest.ZK, p, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _ = z.Conn.Sync(p)
		data, _, ev, err := z.Conn.GetW(p)
		if err == nil && string(data) == want {
			return
		}
		if err != nil {
			_, _, ev, _ = z.Conn.ExistsW(p)
		}
		select {
		case <-ev:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%s is %q (%v), want %q", p, data, err, want)
		}
	}
}

// startController runs a controller following the folder dir (cfg's
// Source is set to it) until the test ends.
func startController(t *testing.T, dir string, cfg Config) *Controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	src, err := reposource.Open(ctx, dir, reposource.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cfg.Source = src
	ctl, err := New(cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctl
}

// awaitHistory waits until the environment at root has n history entries
// with result, and checks that status stayed Ready.
func awaitHistory(t *testing.T, z *itest.ZK, root, result string, n int) {
	t.Helper()
	st := awaitStatus(t, z, root, fmt.Sprintf("%d history entries %s", n, result), func(st *rmsync.Status) bool {
		got := 0
		for _, h := range st.History {
			if h.Result == result {
				got++
			}
		}
		return got == n
	})
	if r := st.Ready(); r == nil || r.Status != "True" {
		t.Fatalf("status is not Ready: %+v", r)
	}
}

// awaitStatus waits, with a watch on meta/status, until the status of the
// environment at root satisfies ok, and returns it.
func awaitStatus(t *testing.T, z *itest.ZK, root, what string, ok func(*rmsync.Status) bool) *rmsync.Status {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p := path.Join(root, state.StatusPath)
		_, _ = z.Conn.Sync(p)
		data, _, ev, err := z.Conn.GetW(p)
		if err != nil {
			_, _, ev, err = z.Conn.ExistsW(p)
		}
		st := &rmsync.Status{}
		if err == nil && len(data) > 0 {
			err = json.Unmarshal(data, st)
		}
		if err == nil && ok(st) {
			return st
		}
		select {
		case <-ev:
		case <-deadline:
			t.Fatalf("status: no %s within 30 s (%v): %+v", what, err, st)
		}
	}
}

// awaitGauge waits until the gauge name{environment=env} satisfies ok.
func awaitGauge(t *testing.T, m *Metrics, name, env string, ok func(float64) bool) {
	t.Helper()
	awaitSeries(t, m, name, map[string]string{"environment": env}, ok)
}

// awaitSeries waits until the gauge name with (at least) labels satisfies
// ok.
func awaitSeries(t *testing.T, m *Metrics, name string, labels map[string]string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		families, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, metric := range f.GetMetric() {
				matched := 0
				for _, l := range metric.GetLabel() {
					if v, want := labels[l.GetName()]; want && v == l.GetValue() {
						matched++
					}
				}
				if matched == len(labels) && ok(metric.GetGauge().GetValue()) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v not as wanted within 30 s", name, labels)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// folderRepo writes a repository folder with one environment per entry of
// roots (name → ZooKeeper root) on the test cluster, and returns it with a
// function that writes a file into it.
func folderRepo(t testing.TB, roots map[string]string) (string, func(rel, content string)) {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ringmaster.yaml", itest.RepositoryManifest)
	for env, root := range roots {
		write("environments/"+env+"/environment.yaml", itest.EnvironmentManifest(t, env, root, ""))
	}
	return dir, write
}
