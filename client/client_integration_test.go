package client

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// env is an environment written as applies write it (itest.Generations),
// with the test's ZooKeeper.
type env struct {
	*itest.Generations
	t    *testing.T
	z    *itest.ZK
	root string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	z := itest.ZooKeeper(t)
	g := itest.NewGenerations(t, z)
	return &env{Generations: g, t: t, z: z, root: g.Root}
}

func (e *env) open(ctx context.Context, mutate ...func(*Config)) *Client {
	e.t.Helper()
	cfg := Config{Servers: e.z.Servers, Root: e.root}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := Open(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// updates collects a Client's updates.
func updates(c *Client) <-chan Update {
	ch := make(chan Update, 100)
	c.Listen(func(u Update) { ch <- u })
	return ch
}

// next waits for the next update of kind.
func next(t *testing.T, ch <-chan Update, kind UpdateKind) Update {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case u := <-ch:
			if u.Kind == kind {
				return u
			}
		case <-deadline:
			t.Fatalf("no %s update within 20 s", kind)
		}
	}
}

// TestClientFollowsGenerations: the first generation is read whole; the
// next ones read only what they list, and tell which flags and entries
// changed; a generation that lists nothing reads everything again.
func TestClientFollowsGenerations(t *testing.T) {
	itest.NoLeaks(t)
	e := newEnv(t)
	e.Apply(map[string]string{"data/flags/a": `{"v":1}`, "data/flags/b": `{"v":1}`, "data/config/ingest/pipeline": `{"batch":50}`})
	c := e.open(context.Background())
	snap := c.Snapshot()
	if snap.Generation != 1 || len(snap.Flags) != 2 || string(snap.Config["ingest/pipeline"]) != `{"batch":50}` {
		t.Fatalf("first snapshot: %+v", snap)
	}
	ch := updates(c)
	e.Apply(map[string]string{"data/flags/a": `{"v":2}`, "data/flags/b": "", "data/flags/c": `{"v":1}`})
	u := next(t, ch, Loaded)
	if u.Snapshot.Generation != 2 || strings.Join(u.Flags, ",") != "a,b,c" || len(u.Config) != 0 {
		t.Fatalf("second generation: %+v", u)
	}
	if s := c.Snapshot(); string(s.Flags["a"]) != `{"v":2}` || s.Flags["b"] != nil || string(s.Flags["c"]) != `{"v":1}` || string(s.Config["ingest/pipeline"]) != `{"batch":50}` {
		t.Fatalf("second snapshot: %+v", s)
	}
	// A generation that cannot list its changes (after a failed apply):
	// everything is read again, and what differs is told.
	e.Write(map[string]string{"data/config/ingest/pipeline": `{"batch":60}`, "data/flags/c": ""})
	e.Finish(nil, true)
	u = next(t, ch, Loaded)
	if u.Snapshot.Generation != 3 || strings.Join(u.Flags, ",") != "c" || strings.Join(u.Config, ",") != "ingest/pipeline" {
		t.Fatalf("a generation with changedAll: %+v", u)
	}
}

// TestClientWaitsForAnApplyInProgress: while an apply is in progress the
// Client serves the generation before it, whole; the apply's writes
// arrive together with its generation. A Client opened during an apply
// whose lock is held waits for its end; one opened after an apply was
// killed (its lock gone) reads what is there.
func TestClientWaitsForAnApplyInProgress(t *testing.T) {
	itest.NoLeaks(t)
	e := newEnv(t)
	e.Apply(map[string]string{"data/flags/a": `{"v":1}`, "data/flags/b": `{"v":1}`})
	c := e.open(context.Background())
	ch := updates(c)

	// The apply holds its lock, as a running apply does.
	lockDir := path.Join(e.root, state.ApplyLock)
	for _, p := range []string{path.Dir(lockDir), lockDir} {
		if _, err := e.z.Conn.Create(p, nil, 0, gozk.WorldACL(gozk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	held, err := e.z.Conn.Create(lockDir+"/_c_abc-lock-0000000001", nil, gozk.FlagEphemeral, gozk.WorldACL(gozk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	e.Begin(path.Base(held))
	e.Write(map[string]string{"data/flags/a": `{"v":2}`})
	// A Client opened now waits for the apply's end.
	opened := make(chan *Client, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c2, err := Open(ctx, Config{Servers: e.z.Servers, Root: e.root})
		if err != nil {
			t.Error(err)
		}
		opened <- c2
	}()
	e.Write(map[string]string{"data/flags/b": `{"v":2}`})
	if s := c.Snapshot(); s.Generation != 1 || string(s.Flags["a"]) != `{"v":1}` {
		t.Fatalf("mid-apply snapshot: generation %d, a %s", s.Generation, s.Flags["a"])
	}
	e.Finish([]string{"data/flags/a", "data/flags/b"}, false)
	u := next(t, ch, Loaded)
	if u.Snapshot.Generation != 2 || strings.Join(u.Flags, ",") != "a,b" || string(u.Snapshot.Flags["b"]) != `{"v":2}` {
		t.Fatalf("the apply's generation: %+v", u)
	}
	c2 := <-opened
	if c2 == nil {
		t.FailNow()
	}
	defer c2.Close()
	if s := c2.Snapshot(); s.Generation != 2 || string(s.Flags["a"]) != `{"v":2}` || string(s.Flags["b"]) != `{"v":2}` {
		t.Fatalf("a Client opened mid-apply: %+v", s)
	}

	// An apply killed midway: its lock is gone, its trace stays. The
	// running Client keeps generation 2; a new one reads what is there.
	e.Begin("_c_dead-lock-0000000002")
	e.Write(map[string]string{"data/flags/a": `{"v":3}`})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c3 := e.open(ctx)
	if s := c3.Snapshot(); string(s.Flags["a"]) != `{"v":3}` {
		t.Fatalf("a Client opened after a killed apply: %+v", s)
	}
	if s := c.Snapshot(); s.Generation != 2 || string(s.Flags["a"]) != `{"v":2}` {
		t.Fatalf("the running Client after a killed apply: %+v", s)
	}
	// The next apply completes it (and cannot list: it reads all).
	e.Finish(nil, true)
	if u := next(t, ch, Loaded); u.Snapshot.Generation != 3 || string(u.Snapshot.Flags["a"]) != `{"v":3}` {
		t.Fatalf("after the next apply: %+v", u)
	}
}

// TestClientStaleWhileDisconnected: the only server the Client knows cut
// off, it serves the last generation and says Stale; back, it says
// Connected and follows again.
func TestClientStaleWhileDisconnected(t *testing.T) {
	itest.NoLeaks(t)
	e := newEnv(t)
	e.Apply(map[string]string{"data/flags/a": `{"v":1}`})
	proxy := itest.StartProxy(t, e.z.Servers[0], nil)
	c := e.open(context.Background(), func(cfg *Config) { cfg.Servers, cfg.SessionTimeout = []string{proxy.Addr()}, 10*time.Second })
	ch := updates(c)
	proxy.Cut()
	next(t, ch, Stale)
	if s := c.Snapshot(); string(s.Flags["a"]) != `{"v":1}` {
		t.Fatalf("while stale: %+v", s)
	}
	proxy.Restore()
	next(t, ch, Connected)
	e.Apply(map[string]string{"data/flags/a": `{"v":2}`})
	if u := next(t, ch, Loaded); string(u.Snapshot.Flags["a"]) != `{"v":2}` {
		t.Fatalf("after reconnecting: %+v", u)
	}
}

// TestWatchAndGet: a watch hears its entry now and in each generation
// that changes it (nil when it goes), not in others; Get decodes the
// current value and names what is missing.
func TestWatchAndGet(t *testing.T) {
	itest.NoLeaks(t)
	e := newEnv(t)
	e.Apply(map[string]string{"data/config/ingest/pipeline": `{"batch_size":50}`, "data/config/ingest/workers": `8`})
	c := e.open(context.Background())
	type pipeline struct {
		BatchSize int `json:"batch_size"`
	}
	if p, err := Get[pipeline](c, "ingest/pipeline"); err != nil || p.BatchSize != 50 {
		t.Fatalf("Get: %+v %v", p, err)
	}
	if _, err := Get[int](c, "ingest/none"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ingest/none") {
		t.Fatalf("Get of a missing entry: %v", err)
	}
	if _, err := Get[int](c, "ingest/pipeline"); err == nil {
		t.Fatal("Get into the wrong type succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan string, 10)
	if err := c.Watch(ctx, "ingest/pipeline", func(v json.RawMessage) { seen <- string(v) }); err != nil {
		t.Fatal(err)
	}
	if err := c.Watch(ctx, "../escape", func(json.RawMessage) {}); err == nil {
		t.Fatal("a watch of a path that escapes was accepted")
	}
	ch := updates(c)
	e.Apply(map[string]string{"data/config/ingest/workers": `9`})
	next(t, ch, Loaded)
	e.Apply(map[string]string{"data/config/ingest/pipeline": `{"batch_size":60}`})
	next(t, ch, Loaded)
	e.Apply(map[string]string{"data/config/ingest/pipeline": ""})
	next(t, ch, Loaded)
	cancel()
	var got []string
	for len(got) < 3 {
		select {
		case v := <-seen:
			got = append(got, v)
		case <-time.After(10 * time.Second):
			t.Fatalf("watch heard %q", got)
		}
	}
	if want := []string{`{"batch_size":50}`, `{"batch_size":60}`, ``}; !slices.Equal(got, want) {
		t.Fatalf("watch heard %q, want %q", got, want)
	}
	select {
	case v := <-seen:
		t.Fatalf("the watch heard more: %q", v)
	default:
	}
}

// TestOpenFailsClearly: an unreachable ensemble and a bad root are named.
func TestOpenFailsClearly(t *testing.T) {
	itest.NoLeaks(t)
	if _, err := Open(context.Background(), Config{Servers: []string{"127.0.0.1:1"}, Root: "/a/../b"}); err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("a bad root: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Open(ctx, Config{Servers: []string{"127.0.0.1:1"}, Root: "/ringmaster/x"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("an unreachable server: %v", err)
	}
}

// TestClientOverTLSWithCredentials: the Client dials over TLS when given a
// TLS config, and reads what only its digest identity may read; without
// the identity, Open fails naming the node it could not read.
func TestClientOverTLSWithCredentials(t *testing.T) {
	itest.NoLeaks(t)
	e := newEnv(t)
	e.Apply(map[string]string{"data/flags/a": `{"v":1}`})
	// Only "app" reads it (anyone may administer it, so that the test's
	// cleanup can open it up again and remove it).
	guarded := path.Join(e.root, "data/flags/guarded")
	acl := append(gozk.DigestACL(gozk.PermRead, "app", "s3cret"), gozk.WorldACL(gozk.PermAdmin)...)
	if _, err := e.z.Conn.Create(guarded, []byte(`{"v":"g"}`), 0, acl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.z.Conn.SetACL(guarded, gozk.WorldACL(gozk.PermAll), -1) })
	serverTLS, clientTLS := itest.SelfSignedTLS(t)
	proxy := itest.StartProxy(t, e.z.Servers[0], serverTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := e.open(ctx, func(cfg *Config) { cfg.Servers, cfg.TLS, cfg.Digest = []string{proxy.Addr()}, clientTLS, "app:s3cret" })
	if s := c.Snapshot(); string(s.Flags["guarded"]) != `{"v":"g"}` || string(s.Flags["a"]) != `{"v":1}` {
		t.Fatalf("over TLS with credentials: %+v", s)
	}
	_, err := Open(ctx, Config{Servers: e.z.Servers, Root: e.root})
	if err == nil || !strings.Contains(err.Error(), "guarded") || !strings.Contains(err.Error(), "no credentials") {
		t.Fatalf("without credentials: %v (want an error naming the guarded node and the identity)", err)
	}
	// With another identity, the message names it and not its password.
	_, err = Open(ctx, Config{Servers: e.z.Servers, Root: e.root, Digest: "intruder:pw1"})
	if err == nil || !strings.Contains(err.Error(), "digest user intruder") || strings.Contains(err.Error(), "pw1") {
		t.Fatalf("with another identity: %v", err)
	}
}
