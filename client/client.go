// Package client is what applications import to read the configuration
// ringmaster applies to one environment: its feature flags (data/flags)
// and config entries (data/config), one whole generation at a time.
//
// A Client holds a Snapshot in memory and follows the environment's
// generation (meta/generation, bumped by the last transaction of every
// apply): it watches that one node only, never the data subtree, and on a
// new generation reads what the generation says it changed (or everything,
// when it cannot say). Reads from the Snapshot make no request.
//
// Invariants:
//   - A Snapshot is a whole generation: never half of an apply. A load
//     begins only when no apply is in progress (meta/in-progress absent;
//     an apply writes it before its first change and removes it in the
//     transaction that bumps the generation), and is thrown away and done
//     again when the generation or meta/in-progress changed while it read
//     (their watches fire before the answers of reads served after the
//     change: ZooKeeper's ordering guarantee). An apply that was killed
//     leaves meta/in-progress behind: the Client then keeps serving the
//     last whole generation until the next apply completes.
//   - A change made by hand, outside ringmaster, is not part of any
//     generation and is not seen until a generation lists it (the
//     controller in drift mode correct restores such a change at once,
//     and its restore is a generation).
//   - While the session is disconnected the last Snapshot is served and
//     listeners hear Stale; when it is back they hear Connected, then the
//     generation is checked again. An expired session is replaced by a
//     new one, and the tree read again.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// Config says where an environment's tree is and how to reach it.
type Config struct {
	// Servers are the ZooKeeper ensemble's host:port client addresses.
	Servers []string
	// Root is the environment's root ("/ringmaster/prod"), as its
	// environment manifest names it (zookeeper.root).
	Root string
	// Digest, when set, is "user:password" for ZooKeeper's digest
	// scheme: give applications a read-only identity.
	Digest string
	// TLS, when set, dials every server over TLS with it.
	TLS *tls.Config
	// SessionTimeout is the session timeout asked for; default 10 s.
	SessionTimeout time.Duration
	// Logger receives the Client's logs; nil discards them.
	Logger *slog.Logger
}

// Snapshot is one generation of the environment's flags and config
// entries. It is never modified once published: share it freely, and do
// not change its maps or byte slices.
type Snapshot struct {
	// Generation is 0 before the environment's first apply.
	Generation int64
	Revision   string
	// Flags maps a flag's name to its flagd JSON.
	Flags map[string][]byte
	// Config maps a config entry's path below data/config
	// ("ingest/pipeline") to its JSON value.
	Config map[string][]byte
}

// UpdateKind is what an Update tells.
type UpdateKind int

const (
	// Loaded: a new generation is the Snapshot; Flags and Config name
	// what changed in it (added, changed or removed).
	Loaded UpdateKind = iota
	// Stale: the session is disconnected; the last Snapshot is served.
	Stale
	// Connected: the session is back after Stale, or the tree readable
	// again after Failed.
	Connected
	// Failed: the Client could not read the tree or reconnect; Err says
	// why. It keeps trying, and serves the last Snapshot meanwhile.
	Failed
)

func (k UpdateKind) String() string {
	return [...]string{"loaded", "stale", "connected", "failed"}[k]
}

// Update is one thing that happened to a Client.
type Update struct {
	Kind     UpdateKind
	Snapshot *Snapshot
	// Flags and Config name the flags and config entries that changed
	// (Loaded only), sorted.
	Flags, Config []string
	Err           error
}

// Client follows one environment. Create it with Open; Close it.
type Client struct {
	cfg  Config
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]

	mu        gosync.Mutex
	listeners map[int]func(Update)
	nextID    int

	cancel context.CancelFunc
	done   chan struct{}
}

// Open connects, loads the current generation and starts following it.
// It fails when ctx ends before the first Snapshot is loaded (for
// example, an unreachable ensemble), naming the servers.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("ringmaster client: no ZooKeeper servers given")
	}
	if err := state.CheckRoot(cfg.Root); err != nil {
		return nil, fmt.Errorf("ringmaster client: root: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log.With("root", cfg.Root), listeners: map[int]func(Update){}, done: make(chan struct{})}
	zc, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	l := &loader{c: c, zc: zc}
	for c.Snapshot() == nil {
		err := l.load(ctx)
		if err == nil && c.Snapshot() == nil {
			// An apply is running: its end is a generation.
			select {
			case <-l.genEv:
			case <-l.inEv:
			case <-ctx.Done():
				err = fmt.Errorf("an apply is in progress (%s): %w", path.Join(cfg.Root, state.InProgressPath), ctx.Err())
			}
		}
		if err != nil {
			zc.Close()
			return nil, fmt.Errorf("ringmaster client: first load of %s from %s: %w", cfg.Root, strings.Join(cfg.Servers, ","), err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(runCtx, l)
	return c, nil
}

// Snapshot returns the current generation. It makes no request.
func (c *Client) Snapshot() *Snapshot { return c.snap.Load() }

// Listen calls f with every Update from now on, one at a time, on the
// Client's goroutine: f must return quickly (hand work to another
// goroutine). The returned function stops the calls.
func (c *Client) Listen(f func(Update)) (stop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	c.listeners[id] = f
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.listeners, id)
	}
}

// Close stops following and closes the session. The last Snapshot stays
// readable. Idempotent.
func (c *Client) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	<-c.done
}

func (c *Client) emit(u Update) {
	c.mu.Lock()
	fs := make([]func(Update), 0, len(c.listeners))
	for _, id := range sortedIDs(c.listeners) {
		fs = append(fs, c.listeners[id])
	}
	c.mu.Unlock()
	for _, f := range fs {
		f(u)
	}
}

func sortedIDs(m map[int]func(Update)) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (c *Client) connect(ctx context.Context) (*zk.Client, error) {
	zcfg := zk.Config{Servers: c.cfg.Servers, SessionTimeout: c.cfg.SessionTimeout, TLS: c.cfg.TLS}
	if dl, ok := ctx.Deadline(); ok {
		zcfg.ConnectTimeout = max(time.Until(dl), time.Millisecond)
	}
	if c.cfg.Digest != "" {
		zcfg.Auth = []zk.Auth{{Scheme: "digest", Credential: c.cfg.Digest}}
	}
	zc, err := zk.Connect(ctx, zcfg)
	if err != nil {
		return nil, fmt.Errorf("ringmaster client: connect to %s: %w", strings.Join(c.cfg.Servers, ","), err)
	}
	return zc, nil
}

// run follows the generation until ctx ends, replacing an expired
// session.
func (c *Client) run(ctx context.Context, l *loader) {
	defer close(c.done)
	defer func() { l.zc.Close() }()
	failures := 0
	for {
		err := l.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		l.zc.Close()
		c.log.Warn("the ZooKeeper session ended; connecting again", "error", err)
		c.emit(Update{Kind: Stale, Snapshot: c.Snapshot(), Err: err})
		for {
			zc, err := c.connect(ctx)
			if err == nil {
				l.zc, l.genEv, l.inEv = zc, nil, nil
				break
			}
			if ctx.Err() != nil {
				l.zc = nil
				return
			}
			failures++
			c.emit(Update{Kind: Failed, Snapshot: c.Snapshot(), Err: err})
			if !sleep(ctx, backoff(failures)) {
				l.zc = nil
				return
			}
		}
		failures = 0
		l.stale = true
	}
}

// loader is the state of the following loop.
type loader struct {
	c  *Client
	zc *zk.Client
	// genEv and inEv are the watches the last load left on the generation
	// and the in-progress record.
	genEv, inEv <-chan gozk.Event
	stale       bool
}

// follow reloads at every generation and reports the session's state
// until the session expires (its error) or ctx ends.
func (l *loader) follow(ctx context.Context) error {
	failures := 0
	retry := (<-chan time.Time)(nil)
	for {
		st, changed := l.zc.WatchState()
		switch st {
		case zk.Expired, zk.Closed:
			return l.zc.Healthy()
		case zk.Connected:
			if l.stale {
				l.stale = false
				l.c.log.Info("the ZooKeeper session is connected again")
				l.c.emit(Update{Kind: Connected, Snapshot: l.c.Snapshot()})
				retry = time.After(0) // the generation may have moved
			}
		default:
			if !l.stale {
				l.stale = true
				l.c.log.Warn("the ZooKeeper session is disconnected: serving the last generation", "error", l.zc.Healthy())
				l.c.emit(Update{Kind: Stale, Snapshot: l.c.Snapshot(), Err: l.zc.Healthy()})
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			continue
		case <-l.genEv:
		case <-l.inEv:
		case <-retry:
		}
		retry = nil
		if err := l.load(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			l.c.log.Warn("reading the generation failed; trying again", "error", err, "attempt", failures)
			l.c.emit(Update{Kind: Failed, Snapshot: l.c.Snapshot(), Err: err})
			retry = time.After(backoff(failures))
			l.genEv, l.inEv = nil, nil
			continue
		}
		if failures > 0 {
			l.c.emit(Update{Kind: Connected, Snapshot: l.c.Snapshot()}) // readable again
		}
		failures = 0
	}
}

// maxLoadAttempts bounds the reads thrown away in one load because an
// apply moved the tree meanwhile.
const maxLoadAttempts = 20

// load brings the Snapshot to the current generation (see the package
// invariants) and leaves watches on the generation and the in-progress
// record in l.genEv and l.inEv.
func (l *loader) load(ctx context.Context) error {
	root := l.c.cfg.Root
	conn := l.zc.Conn()
	genPath, inPath := path.Join(root, state.GenerationPath), path.Join(root, state.InProgressPath)
	for range maxLoadAttempts {
		// The generation and the in-progress record, with watches.
		var (
			genData          []byte
			genErr, inErr    error
			inExists         bool
			genEv, inEv      <-chan gozk.Event
			wg               gosync.WaitGroup
			genStat, genMiss bool
		)
		wg.Go(func() {
			genData, _, genEv, genErr = conn.GetW(genPath)
			if errors.Is(genErr, gozk.ErrNoNode) {
				genMiss = true
				genStat, _, genEv, genErr = conn.ExistsW(genPath)
			}
		})
		wg.Go(func() { inExists, _, inEv, inErr = conn.ExistsW(inPath) })
		wg.Wait()
		if genErr != nil {
			return fmt.Errorf("read %s: %w", genPath, genErr)
		}
		if inErr != nil {
			return fmt.Errorf("read %s: %w", inPath, inErr)
		}
		l.genEv, l.inEv = genEv, inEv
		if genMiss && genStat {
			continue // created between the two requests
		}
		prev := l.c.Snapshot()
		if inExists && (prev != nil || l.applyRunning(inPath)) {
			// An apply is running (or was killed): its writes are not a
			// generation yet. Wait for the watches. (A Client that has no
			// Snapshot yet reads what a killed apply left: there is no
			// whole generation to serve instead.)
			return nil
		}
		var gen struct {
			Generation int64    `json:"generation"`
			Revision   string   `json:"revision"`
			Changed    []string `json:"changed"`
			ChangedAll bool     `json:"changedAll"`
		}
		if !genMiss {
			if err := json.Unmarshal(genData, &gen); err != nil {
				return fmt.Errorf("read %s: %w", genPath, err)
			}
		}
		if prev != nil && gen.Generation == prev.Generation {
			return nil
		}
		var next *Snapshot
		var err error
		if prev != nil && gen.Generation == prev.Generation+1 && !gen.ChangedAll {
			next, err = l.readChanged(ctx, prev, gen.Changed)
		} else {
			next, err = l.readAll(ctx)
		}
		if err != nil {
			return err
		}
		if fired(genEv) || fired(inEv) {
			continue // an apply moved the tree while it was read
		}
		next.Generation, next.Revision = gen.Generation, gen.Revision
		l.publish(prev, next)
		return nil
	}
	return fmt.Errorf("the tree kept changing during %d reads", maxLoadAttempts)
}

// applyRunning tells whether the apply that wrote the in-progress record
// at inPath still holds its lock (a killed one does not).
func (l *loader) applyRunning(inPath string) bool {
	n, err := l.zc.Get(context.Background(), inPath)
	if err != nil {
		return !errors.Is(err, gozk.ErrNoNode)
	}
	var rec struct {
		LockID string `json:"lockId"`
	}
	if json.Unmarshal(n.Data, &rec) != nil || state.CheckSegment(rec.LockID) != nil {
		return false
	}
	ok, _, err := l.zc.Conn().Exists(path.Join(l.c.cfg.Root, state.ApplyLock, rec.LockID))
	return err != nil || ok
}

// fired tells, without waiting, whether a watch has fired.
func fired(ev <-chan gozk.Event) bool {
	select {
	case <-ev:
		return true
	default:
		return false
	}
}

// readAll reads every flag and config entry.
func (l *loader) readAll(ctx context.Context) (*Snapshot, error) {
	next := &Snapshot{Flags: map[string][]byte{}, Config: map[string][]byte{}}
	for _, part := range []struct {
		dir  string
		into map[string][]byte
	}{{state.FlagsDir, next.Flags}, {state.ConfigDir, next.Config}} {
		nodes, err := l.zc.ReadTree(ctx, path.Join(l.c.cfg.Root, part.dir))
		if err != nil {
			return nil, err
		}
		for rel, n := range nodes {
			if len(n.Data) > 0 { // folders are structure
				part.into[rel] = n.Data
			}
		}
	}
	return next, nil
}

// readChanged reads the znodes a generation changed on top of prev.
func (l *loader) readChanged(ctx context.Context, prev *Snapshot, changed []string) (*Snapshot, error) {
	next := &Snapshot{Flags: maps.Clone(prev.Flags), Config: maps.Clone(prev.Config)}
	type read struct {
		into      map[string][]byte
		dir, name string
		data      []byte
		err       error
	}
	var reads []*read
	for _, p := range changed {
		if name, ok := strings.CutPrefix(p, state.FlagsDir+"/"); ok {
			reads = append(reads, &read{into: next.Flags, dir: state.FlagsDir, name: name})
		} else if name, ok := strings.CutPrefix(p, state.ConfigDir+"/"); ok {
			reads = append(reads, &read{into: next.Config, dir: state.ConfigDir, name: name})
		}
	}
	var wg gosync.WaitGroup
	for _, r := range reads {
		wg.Go(func() {
			n, err := l.zc.Get(ctx, path.Join(l.c.cfg.Root, r.dir, r.name))
			if err != nil {
				r.err = err
				return
			}
			r.data = n.Data
		})
	}
	wg.Wait()
	for _, r := range reads {
		switch {
		case errors.Is(r.err, gozk.ErrNoNode):
			delete(r.into, r.name)
		case r.err != nil:
			return nil, r.err
		case len(r.data) == 0:
			delete(r.into, r.name)
		default:
			r.into[r.name] = r.data
		}
	}
	return next, nil
}

// publish makes next the Snapshot and tells the listeners what changed.
func (l *loader) publish(prev, next *Snapshot) {
	l.c.snap.Store(next)
	u := Update{Kind: Loaded, Snapshot: next}
	if prev != nil {
		u.Flags, u.Config = changedKeys(prev.Flags, next.Flags), changedKeys(prev.Config, next.Config)
	} else {
		u.Flags, u.Config = state.SortedKeys(next.Flags), state.SortedKeys(next.Config)
	}
	l.c.log.Debug("generation loaded", "generation", next.Generation, "revision", next.Revision, "flags", len(u.Flags), "config", len(u.Config))
	l.c.emit(u)
}

// changedKeys names the keys added, changed or removed from a to b.
func changedKeys(a, b map[string][]byte) []string {
	var out []string
	for k, v := range b {
		if old, ok := a[k]; !ok || !bytes.Equal(old, v) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func backoff(failures int) time.Duration {
	return min(time.Duration(1<<min(failures, 6))*100*time.Millisecond, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
