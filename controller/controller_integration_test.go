package controller

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// TestRunAppliesAndStopsCleanly runs a controller in this process against
// the real cluster, on a folder: it applies the folder's state, applies an
// edit on the next poll, and stops when its context ends, having released
// its leadership, with no goroutine left behind.
func TestRunAppliesAndStopsCleanly(t *testing.T) {
	// Registered first, so run last: after the test's own sessions close.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	z := itest.ZooKeeper(t)
	c := itest.Cluster(t)
	root := z.Path("env")
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
	write("ringmaster.yaml", "apiVersion: ringmaster.io/v1\nkind: Repository\nmetadata: {name: ctl}\nspec: {}\n")
	write("environments/it/environment.yaml", fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: it}\nspec:\n  cluster:\n    datacenters: [dc1, dc2]\n    zookeeper: {servers: [%s], root: %s}\n    cassandra: {contactPoints: [%s], localDatacenter: dc1}\n",
		c.Spec.ZooKeeperConnect(), root, c.Spec.CassandraContactPoints()))
	entry := func(v int) string {
		return fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec: {path: ctl/x, value: {v: %d}}\n", v)
	}
	write("base/x.yaml", entry(1))

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
	await := func(want string) {
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
	await(`{"v":1}`)
	if !ctl.Ready() {
		t.Error("not ready while leading")
	}
	write("base/x.yaml", entry(2))
	await(`{"v":2}`)

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
