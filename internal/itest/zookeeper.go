package itest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// rootParent holds every test's root path.
const rootParent = "/itest"

// ZK is a test's ZooKeeper session and the root path it owns.
type ZK struct {
	// Conn has a session with the ensemble; closed when the test ends.
	Conn *zk.Conn
	// Root is a fresh path, unique to this test, that exists and is empty at
	// the start and is removed with everything below it when the test ends.
	Root string
	// Servers are the client addresses of the ensemble.
	Servers []string
}

// Path joins elements below Root.
func (z *ZK) Path(elem ...string) string { return path.Join(append([]string{z.Root}, elem...)...) }

// Synced returns Conn after making its server catch up with the leader.
// ZooKeeper orders reads only within one session: a read through Conn of
// what another session wrote may be served by a follower that has not seen
// it yet. Read through Synced() whenever the write came from another
// client.
func (z *ZK) Synced(t testing.TB) *zk.Conn {
	t.Helper()
	if _, err := z.Conn.Sync("/"); err != nil {
		t.Fatalf("sync with the leader: %v", err)
	}
	return z.Conn
}

// ZooKeeper connects to the test cluster's ensemble and gives the test its
// own root path. It claims the cluster as Cluster does.
func ZooKeeper(t testing.TB) *ZK {
	t.Helper()
	c := Cluster(t)
	servers := strings.Split(c.Spec.ZooKeeperConnect(), ",")
	conn := Connect(t, servers...)
	root := path.Join(rootParent, uniqueName(t, 60))
	if _, err := conn.Create(rootParent, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("create %s: %v", rootParent, err)
	}
	if _, err := conn.Create(root, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create test root %s: %v", root, err)
	}
	t.Cleanup(func() {
		// A fresh session: the test may have closed or broken its own.
		cleanup := Connect(t, servers...)
		if err := DeleteTree(cleanup, root); err != nil {
			t.Errorf("remove test root %s: %v", root, err)
		}
	})
	return &ZK{Conn: conn, Root: root, Servers: servers}
}

// Connect opens a session with the given servers, waits until it is
// established (at most 30 s) and closes it when the test ends.
func Connect(t testing.TB, servers ...string) *zk.Conn {
	t.Helper()
	return connectWith(t, servers, nil)
}

// connectWith is Connect through dial (nil: plain TCP).
func connectWith(t testing.TB, servers []string, dial zk.Dialer) *zk.Conn {
	t.Helper()
	connected := make(chan struct{})
	var once gosync.Once
	logger := &testLogger{t: t}
	if dial == nil {
		dial = net.DialTimeout
	}
	conn, _, err := zk.Connect(servers, 10*time.Second,
		zk.WithLogger(logger),
		zk.WithDialer(dial),
		zk.WithEventCallback(func(ev zk.Event) {
			if ev.State == zk.StateHasSession {
				once.Do(func() { close(connected) })
			}
		}))
	if err != nil {
		t.Fatalf("connect to ZooKeeper %v: %v", servers, err)
	}
	t.Cleanup(func() {
		conn.Close()
		logger.stop()
	})
	select {
	case <-connected:
	case <-time.After(30 * time.Second):
		t.Fatalf("no ZooKeeper session with %v within 30s (state %v)", servers, conn.State())
	}
	return conn
}

// DeleteTree removes p and everything below it; a missing node is fine.
// A test root may hold hundreds of thousands of znodes (the scale
// benchmarks): the tree is listed a level at a time with every request
// of the level in flight, and deleted deepest level first in Multi
// transactions, several at once.
func DeleteTree(conn *zk.Conn, p string) error {
	levels := [][]string{{p}}
	for {
		next, err := listLevel(conn, levels[len(levels)-1])
		if err != nil {
			return err
		}
		if len(next) == 0 {
			break
		}
		levels = append(levels, next)
	}
	for i := len(levels) - 1; i >= 0; i-- {
		if err := deleteLevel(conn, levels[i]); err != nil {
			return err
		}
	}
	return nil
}

// treeConcurrency bounds DeleteTree's requests in flight.
const treeConcurrency = 256

// listLevel returns the children of every node of level; nodes that are
// gone are skipped.
func listLevel(conn *zk.Conn, level []string) ([]string, error) {
	var (
		mu    gosync.Mutex
		out   []string
		first error
		wg    gosync.WaitGroup
		slots = make(chan struct{}, treeConcurrency)
	)
	for _, p := range level {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			kids, _, err := conn.Children(p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, zk.ErrNoNode):
			case err != nil:
				if first == nil {
					first = fmt.Errorf("list %s: %w", p, err)
				}
			default:
				for _, k := range kids {
					out = append(out, path.Join(p, k))
				}
			}
		})
	}
	wg.Wait()
	return out, first
}

// deleteLevel deletes nodes (none a parent of another) in transactions of
// up to 1000, a few in flight; a transaction that fails because a node is
// already gone is redone one node at a time.
func deleteLevel(conn *zk.Conn, nodes []string) error {
	const batch = 1000
	var (
		mu    gosync.Mutex
		first error
		wg    gosync.WaitGroup
		slots = make(chan struct{}, 4)
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for start := 0; start < len(nodes); start += batch {
		part := nodes[start:min(start+batch, len(nodes))]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ops := make([]any, len(part))
			for i, p := range part {
				ops[i] = &zk.DeleteRequest{Path: p, Version: -1}
			}
			if _, err := conn.Multi(ops...); err == nil {
				return
			}
			for _, p := range part {
				if err := conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
					fail(fmt.Errorf("delete %s: %w", p, err))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// uniqueName is the test's name made safe for znode and keyspace names,
// lower-cased, with a random suffix, at most max characters.
func uniqueName(t testing.TB, max int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := "_" + hex.EncodeToString(b[:])
	name := strings.ToLower(strings.Trim(unsafeChars.ReplaceAllString(t.Name(), "_"), "_"))
	if len(name)+len(suffix) > max {
		name = name[:max-len(suffix)]
	}
	return name + suffix
}

// testLogger sends go-zookeeper's log lines to the test log until the test
// ends; after that (the library may log from its goroutines while closing)
// it drops them, since logging to a finished test panics.
type testLogger struct {
	mu      gosync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf(format, args...)
	}
}

func (l *testLogger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

// Print and Println make testLogger a gocql.StdLogger too.
func (l *testLogger) Print(args ...any) { l.Printf("%s", fmt.Sprint(args...)) }

func (l *testLogger) Println(args ...any) { l.Printf("%s", fmt.Sprintln(args...)) }
