package zk

import (
	"context"
	"errors"
	"fmt"
	"sort"
	gosync "sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// noLeaks is itest.NoLeaks.
func noLeaks(t *testing.T) { t.Helper(); itest.NoLeaks(t) }

// connect opens a Client on the test cluster, closed when the test ends.
func connect(t testing.TB, servers []string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{Servers: servers, Logger: newTestLogger(t)}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testLogger sends go-zookeeper's lines to the test log until the test
// ends, and drops them after.
type testLogger struct {
	mu   gosync.Mutex
	t    testing.TB
	done bool
}

func newTestLogger(t testing.TB) *testLogger {
	l := &testLogger{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("zk: "+format, args...)
	}
}

// withTxnLimit sets c's batch size (Config.MaxTxnBytes) to n, small
// enough to force many transactions.
func withTxnLimit(c *Client, n int) { c.maxTxn = n }

// create makes nodes (parents first) through the bare connection.
func create(t testing.TB, conn *gozk.Conn, nodes map[string]string) {
	t.Helper()
	paths := make([]string, 0, len(nodes))
	for p := range nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents sort before their children
	for _, p := range paths {
		if _, err := conn.Create(p, []byte(nodes[p]), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
}

// awaitState waits until c is in state want.
func awaitState(t testing.TB, c *Client, want SessionState, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		st, changed := c.WatchState()
		if st == want {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("session state %s after %s, want %s (%v)", st, within, want, c.Healthy())
		}
	}
}

// disconnects counts the disconnections c has noticed so far.
func disconnects(c *Client) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(c.epoch)
}

// awaitDisconnect waits until c notices it is no longer connected: it is
// not connected now, or it has noticed a disconnection since it had seen
// since of them (a client may lose a server and reconnect to another
// between two looks at its state).
func awaitDisconnect(t testing.TB, c *Client, within time.Duration) {
	t.Helper()
	awaitDisconnectSince(t, c, disconnects(c), within)
}

func awaitDisconnectSince(t testing.TB, c *Client, since uint64, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		st, changed := c.WatchState()
		if st != Connected || disconnects(c) > since {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("client still connected after %s", within)
		}
	}
}

// awaitClosed waits for ch to close.
func awaitClosed(t testing.TB, ch <-chan struct{}, what string, within time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s: not within %s", what, within)
	}
}

// awaitGone waits, by watch, until p does not exist.
func awaitGone(t testing.TB, conn *gozk.Conn, p string, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		ok, _, ev, err := conn.ExistsW(p)
		if err != nil {
			t.Fatalf("watch %s: %v", p, err)
		}
		if !ok {
			return
		}
		select {
		case <-ev:
		case <-deadline.C:
			t.Fatalf("%s still exists after %s", p, within)
		}
	}
}

// awaitChildren waits, by watch, until dir has n children.
func awaitChildren(t testing.TB, conn *gozk.Conn, dir string, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		kids, _, ev, err := conn.ChildrenW(dir)
		if err != nil && !errors.Is(err, gozk.ErrNoNode) {
			t.Fatalf("watch children of %s: %v", dir, err)
		}
		if errors.Is(err, gozk.ErrNoNode) {
			// No child watch on a missing node: watch its creation.
			ok, _, eev, err := conn.ExistsW(dir)
			if err != nil {
				t.Fatalf("watch %s: %v", dir, err)
			}
			if ok {
				continue
			}
			ev = eev
		}
		if len(kids) == n {
			return kids
		}
		select {
		case <-ev:
		case <-deadline.C:
			t.Fatalf("%s has children %v after %s, want %d", dir, kids, within, n)
		}
	}
}

// ctxFor is a context ending after d, canceled when the test ends.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// zkTest is the usual start of an integration test: leak check, the
// test's root, and a Client.
func zkTest(t *testing.T, mod ...func(*Config)) (*itest.ZK, *Client) {
	t.Helper()
	noLeaks(t)
	z := itest.ZooKeeper(t)
	return z, connect(t, z.Servers, mod...)
}

func payload(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"pad":"%0180d"}`, i, i) }
