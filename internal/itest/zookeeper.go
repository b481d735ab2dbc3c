package itest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	connected := make(chan struct{})
	var once gosync.Once
	logger := &testLogger{t: t}
	conn, _, err := zk.Connect(servers, 10*time.Second,
		zk.WithLogger(logger),
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
func DeleteTree(conn *zk.Conn, p string) error {
	children, _, err := conn.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", p, err)
	}
	for _, child := range children {
		if err := DeleteTree(conn, path.Join(p, child)); err != nil {
			return err
		}
	}
	if err := conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
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
