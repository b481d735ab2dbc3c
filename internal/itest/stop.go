package itest

import (
	"context"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

// StopServer stops the server name of the cluster (a ZooKeeper server or
// a Cassandra node; the test must hold the cluster with Disruptive) and
// returns the function that starts it again and waits until the cluster
// is ready. That function runs once: when the test calls it, or when the
// test ends.
func StopServer(t testing.TB, c *testcluster.Cluster, name string) (restart func()) {
	t.Helper()
	if err := c.Stop(name); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	_, cassandra := c.Spec.CassandraByName(name)
	restarted := false
	restart = func() {
		if restarted {
			return
		}
		restarted = true
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var err error
		if cassandra {
			if err = c.StartCassandra(name); err == nil {
				err = c.WaitCassandra(ctx)
			}
		} else if err = c.StartZooKeeper(name); err == nil {
			err = c.WaitZooKeeper(ctx)
		}
		if err != nil {
			t.Errorf("restart %s: %v", name, err)
			return
		}
		t.Logf("%s back in %s", name, time.Since(start).Round(time.Millisecond))
	}
	t.Cleanup(restart)
	return restart
}
