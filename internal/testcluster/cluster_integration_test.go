package testcluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

// TestZnodeCreateReadWatch creates a znode through the ensemble, reads it
// back from a session on another server, and sees a data watch fire.
func TestZnodeCreateReadWatch(t *testing.T) {
	z := itest.ZooKeeper(t)
	p := z.Path("greeting")
	if _, err := z.Conn.Create(p, []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", p, err)
	}

	// A reader pinned to the last server sees the write once it syncs.
	reader := itest.Connect(t, z.Servers[len(z.Servers)-1])
	if _, err := reader.Sync(p); err != nil {
		t.Fatalf("sync %s: %v", p, err)
	}
	data, stat, watch, err := reader.GetW(p)
	if err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	if string(data) != "hello" || stat.Version != 0 {
		t.Fatalf("read %q version %d, want %q version 0", data, stat.Version, "hello")
	}

	if _, err := z.Conn.Set(p, []byte("world"), stat.Version); err != nil {
		t.Fatalf("set %s: %v", p, err)
	}
	select {
	case ev := <-watch:
		if ev.Type != zk.EventNodeDataChanged || ev.Path != p {
			t.Fatalf("watch event %v on %s, want data change on %s", ev.Type, ev.Path, p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("data watch did not fire within 30s of the write")
	}
	data, stat, err = reader.Get(p)
	if err != nil || string(data) != "world" || stat.Version != 1 {
		t.Fatalf("after watch: %q version %v err %v, want %q version 1", data, stat.Version, err, "world")
	}
}

// TestEnsembleSurvivesKilledServer SIGKILLs the leader, writes through the
// two remaining servers, restarts the killed one and reads the write from
// it alone: it rejoined and caught up.
func TestEnsembleSurvivesKilledServer(t *testing.T) {
	c := itest.Disruptive(t)
	if len(c.Spec.ZooKeeper) < 3 {
		t.Fatalf("the %s cluster has %d ZooKeeper servers; this test needs an ensemble of 3", c.Spec.Name, len(c.Spec.ZooKeeper))
	}
	z := itest.ZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	modes, err := c.ZooKeeperModes(ctx)
	if err != nil {
		t.Fatalf("ensemble modes: %v", err)
	}
	var victim string
	for name, mode := range modes {
		if mode == "leader" {
			victim = name
		}
	}
	if victim == "" {
		t.Fatalf("no leader among %v", modes)
	}
	victimServer, _ := c.Spec.ZooKeeperByName(victim)
	var survivors []string
	for _, s := range c.Spec.ZooKeeper {
		if s.Name() != victim {
			survivors = append(survivors, s.Address())
		}
	}

	if err := c.Kill(victim); err != nil {
		t.Fatalf("kill %s: %v", victim, err)
	}
	t.Cleanup(func() {
		// Leave a whole ensemble for the tests after this one.
		if err := c.StartZooKeeper(victim); err != nil {
			t.Errorf("restart %s: %v", victim, err)
			return
		}
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.WaitZooKeeper(wctx); err != nil {
			t.Errorf("ensemble after restarting %s: %v", victim, err)
		}
	})
	if c.Running(victim) {
		t.Fatalf("%s still runs after SIGKILL", victim)
	}

	// The two survivors elect a leader and accept writes.
	writer := itest.Connect(t, survivors...)
	p := z.Path("written-while-down")
	if err := retry(ctx, func() error {
		_, err := writer.Create(p, []byte("quorum of two"), 0, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("write through %v with %s down: %v", survivors, victim, err)
	}

	if err := c.StartZooKeeper(victim); err != nil {
		t.Fatalf("restart %s: %v", victim, err)
	}
	if err := c.WaitZooKeeper(ctx); err != nil {
		t.Fatalf("ensemble after restarting %s: %v", victim, err)
	}
	modes, err = c.ZooKeeperModes(ctx)
	if err != nil || (modes[victim] != "follower" && modes[victim] != "leader") {
		t.Fatalf("%s after restart: mode %q err %v", victim, modes[victim], err)
	}

	rejoined := itest.Connect(t, victimServer.Address())
	if _, err := rejoined.Sync(p); err != nil {
		t.Fatalf("sync on %s: %v", victim, err)
	}
	data, _, err := rejoined.Get(p)
	if err != nil || string(data) != "quorum of two" {
		t.Fatalf("read from rejoined %s: %q, %v; want the write made while it was down", victim, data, err)
	}
}

// retry calls f until it succeeds or ctx ends, waiting on the context
// between attempts: the ensemble needs a few seconds to elect a new leader.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestKeyspaceReplicationRoundTrip creates a NetworkTopologyStrategy
// keyspace over both datacenters and reads its replication back from
// system_schema.keyspaces through a node of each datacenter.
func TestKeyspaceReplicationRoundTrip(t *testing.T) {
	session := itest.Cassandra(t, "dc1")
	ks := itest.Keyspace(t, session)
	stmt := "CREATE KEYSPACE " + ks + " WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}"
	if err := session.Query(stmt).Exec(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement: %v", err)
	}

	want := map[string]string{
		"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
		"dc1":   "1",
		"dc2":   "1",
	}
	for _, dc := range []string{"dc1", "dc2"} {
		s := session
		if dc != "dc1" {
			s = itest.Cassandra(t, dc)
		}
		var replication map[string]string
		q := s.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", ks)
		if err := q.Scan(&replication); err != nil {
			t.Fatalf("read replication of %s via %s: %v", ks, dc, err)
		}
		if len(replication) != len(want) {
			t.Fatalf("replication via %s = %v, want %v", dc, replication, want)
		}
		for k, v := range want {
			if replication[k] != v {
				t.Fatalf("replication via %s = %v, want %v", dc, replication, want)
			}
		}
	}
}

// TestReachFailsOnUnreachableCluster shows that a cluster folder whose
// servers do not answer gives an error naming the server.
func TestReachFailsOnUnreachableCluster(t *testing.T) {
	dir := t.TempDir()
	spec := testcluster.Single()
	spec.ZooKeeper[0].ClientPort = 1 // nothing listens on port 1
	c, err := testcluster.New(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteState(); err != nil {
		t.Fatal(err)
	}
	_, err = itest.Reach(context.Background(), dir)
	if err == nil {
		t.Fatal("Reach succeeded against a cluster that does not run")
	}
	if want := "127.0.0.1:1"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the server %s", err, want)
	}
	if _, err := itest.Reach(context.Background(), t.TempDir()); err == nil {
		t.Fatal("Reach succeeded on a folder with no cluster")
	}
}
