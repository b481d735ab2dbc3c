// Package itest gives integration tests their share of the real local
// cluster: its own ZooKeeper root path (a chroot by convention: the test
// works only below it) and its own keyspace names, both removed when the test
// ends.
//
// Tests find the cluster through RINGMASTER_TEST_CLUSTER, the cluster folder
// that make test sets. Without it (a plain go test) integration tests skip,
// saying how to run them; with it, a cluster that cannot be reached fails
// the test with a message saying so. Under make test nothing skips.
//
// Tests that disrupt the cluster (kill or pause a server) call Disruptive
// instead of Cluster: it waits until no other integration test, in any
// package's test binary, is running, and holds the others off until it ends.
package itest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

// EnvCluster names the environment variable holding the cluster folder.
const EnvCluster = "RINGMASTER_TEST_CLUSTER"

// Cluster returns the running test cluster, holding a shared claim on it
// until the test ends.
func Cluster(t testing.TB) *testcluster.Cluster {
	t.Helper()
	return claim(t, syscall.LOCK_SH)
}

// Disruptive returns the running test cluster for a test that kills, stops
// or pauses servers: it blocks until every other integration test has
// released the cluster and keeps them waiting until this test ends. The
// test's own later claims (itest.ZooKeeper, itest.Cassandra) pass; its
// subtests must not claim the cluster (they would wait for it forever).
func Disruptive(t testing.TB) *testcluster.Cluster {
	t.Helper()
	return claim(t, syscall.LOCK_EX)
}

func claim(t testing.TB, how int) *testcluster.Cluster {
	t.Helper()
	dir := os.Getenv(EnvCluster)
	if dir == "" {
		t.Skipf("integration test: %s is not set; run make test (it starts the local cluster and sets it)", EnvCluster)
	}
	c, err := testcluster.Load(dir)
	if err != nil {
		t.Fatalf("integration cluster unreachable: %v (make test starts it; make cluster-status shows it)", err)
	}
	if !holdClaim(t) {
		// This test claimed the cluster already, and may have stopped a
		// server since: no reachability check.
		return c
	}
	// Claim first, check after: a disruptive test in another test binary
	// may have a server down until it releases its claim.
	lock, err := os.OpenFile(filepath.Join(c.Dir, "itest.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		releaseClaim(t)
		t.Fatalf("open cluster claim: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), how); err != nil {
		lock.Close()
		releaseClaim(t)
		t.Fatalf("claim cluster: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
		releaseClaim(t)
	})
	if _, err := Reach(context.Background(), dir); err != nil {
		t.Fatalf("integration cluster unreachable: %v (make test starts it; make cluster-status shows it)", err)
	}
	if how == syscall.LOCK_EX {
		// A disruptive test starts from a whole cluster, whatever the one
		// before it left.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.WaitZooKeeper(ctx); err != nil {
			t.Fatalf("cluster not whole before a disruptive test: %v", err)
		}
	}
	return c
}

var (
	claimsMu gosync.Mutex
	// claims holds the tests that hold a claim: a test claims once, however
	// many helpers it calls (a second flock from the same process on a new
	// descriptor would wait for the first forever).
	claims = map[testing.TB]bool{}
)

// holdClaim records that t claims the cluster; false when it did already.
func holdClaim(t testing.TB) bool {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	if claims[t] {
		return false
	}
	claims[t] = true
	return true
}

func releaseClaim(t testing.TB) {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	delete(claims, t)
}

// Reach loads the cluster recorded in dir and checks that a ZooKeeper server
// and a Cassandra node answer.
func Reach(ctx context.Context, dir string) (*testcluster.Cluster, error) {
	c, err := testcluster.Load(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	zkOK := false
	for _, z := range c.Spec.ZooKeeper {
		if _, err := testcluster.ZooKeeperMode(ctx, z.Address()); err != nil {
			errs = append(errs, err)
			continue
		}
		zkOK = true
		break
	}
	if !zkOK {
		return nil, fmt.Errorf("no ZooKeeper server of %s answers: %w", dir, errors.Join(errs...))
	}
	for _, n := range c.Spec.Cassandra {
		if err := testcluster.CQLReady(ctx, n.CQLAddress()); err != nil {
			return nil, err
		}
	}
	return c, nil
}
