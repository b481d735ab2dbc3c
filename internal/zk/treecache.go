package zk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"

	gozk "github.com/go-zookeeper/zk"
)

// ErrCacheInvalid means a TreeCache can no longer be trusted: its session
// expired (its watches went with it) or it was closed.
var ErrCacheInvalid = errors.New("tree cache invalid")

// TreeCache keeps a copy of every node below a root current with
// ZooKeeper watches, as Curator's TreeCache does: a data watch and a child
// watch on every node, re-armed as they fire. A change made by anyone
// reaches it within a round trip of the event, and reading it costs no
// request.
//
// Invariants: Snapshot is a state the tree was in, or is on its way to
// (an event received and not yet applied is at most one round trip
// behind); once the session expires or Close is called, Snapshot fails
// with ErrCacheInvalid and Changed is closed. Watches survive a
// disconnection within the session (go-zookeeper re-registers them, and
// the server replays what changed meanwhile).
type TreeCache struct {
	c    *Client
	root string

	mu    gosync.Mutex
	nodes map[string]*Node // relative path → node
	queue []gozk.Event     // events received, not yet applied
	// dirty are the relative paths changed since TakeDirty last ran (nil
	// with overflow set once more than MaxDirty changed).
	dirty    map[string]struct{}
	overflow bool
	// queued counts the events received, applied those applied; advanced
	// is closed (and replaced) whenever applied grows.
	queued, applied int64
	advanced        chan struct{}
	err             error
	wake            chan struct{} // a new event or the end
	changed         chan struct{} // a change was applied (capacity 1)
	invalid         chan struct{} // closed with err
	done            chan struct{} // the loop ended
}

// WatchTree starts a TreeCache of root's subtree: it reads the subtree
// once, setting the watches as it goes, and returns when that read is
// done. A missing root is watched until it is created.
func (c *Client) WatchTree(ctx context.Context, root string) (*TreeCache, error) {
	if err := checkPath(root); err != nil {
		return nil, fmt.Errorf("watch tree: %w", err)
	}
	t := &TreeCache{c: c, root: root, nodes: map[string]*Node{}, wake: make(chan struct{}, 1), advanced: make(chan struct{}),
		changed: make(chan struct{}, 1), invalid: make(chan struct{}), done: make(chan struct{})}
	c.subscribe(t)
	if err := t.load(ctx, root); err != nil {
		c.unsubscribe(t)
		return nil, err
	}
	t.TakeDirty() // the first read is the baseline, not a change
	go t.loop()
	return t, nil
}

// MaxDirty bounds the paths TakeDirty keeps: past it, it reports only that
// everything may have changed.
const MaxDirty = 1024

// TakeDirty returns the paths (relative to the root) of the nodes that
// changed (data set, created, deleted) since its last call, and forgets
// them. complete is false when more than MaxDirty changed: the caller
// must then treat every node as possibly changed. A path may be listed
// that ended unchanged (set and set back); a node is listed when its
// data was set (even to the same bytes), or it was created or deleted.
func (t *TreeCache) TakeDirty() (paths []string, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	complete = !t.overflow
	for p := range t.dirty {
		paths = append(paths, p)
	}
	t.dirty, t.overflow = nil, false
	return paths, complete
}

// markLocked notes that the node at rel changed. t.mu is held.
func (t *TreeCache) markLocked(rel string) {
	if t.overflow {
		return
	}
	if t.dirty == nil {
		t.dirty = map[string]struct{}{}
	}
	t.dirty[rel] = struct{}{}
	if len(t.dirty) > MaxDirty {
		t.dirty, t.overflow = nil, true
	}
}

// Barrier returns once the cache holds every change ZooKeeper committed
// before it was called: a sync through the session's server, whose
// answer comes after the watch events of everything committed before it
// (ZooKeeper's ordering guarantee; go-zookeeper hands events to the cache
// before it reads the next answer), then a wait until the cache has
// applied the events it had received by then. A reader that acts on the
// cache's versions calls it first when it has just written itself.
func (t *TreeCache) Barrier(ctx context.Context) error {
	if _, err := t.c.conn.Sync(t.root); err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return t.c.opError("tree cache: sync", t.root, err)
	}
	t.mu.Lock()
	target := t.queued
	t.mu.Unlock()
	for {
		t.mu.Lock()
		if t.err != nil {
			err := t.err
			t.mu.Unlock()
			return err
		}
		if t.applied >= target {
			t.mu.Unlock()
			return nil
		}
		advanced := t.advanced
		t.mu.Unlock()
		select {
		case <-advanced:
		case <-t.invalid:
		case <-ctx.Done():
			return fmt.Errorf("tree cache barrier: %w", context.Cause(ctx))
		}
	}
}

// Get returns a copy of the node at rel (relative to the root), as the
// cache holds it, without a request.
func (t *TreeCache) Get(rel string) (*Node, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return nil, false, t.err
	}
	n, ok := t.nodes[rel]
	if !ok {
		return nil, false, nil
	}
	c := *n
	return &c, true, nil
}

// Changed receives a value after the cache applied a change (changes in a
// burst may be coalesced into one); it is closed when the cache becomes
// invalid.
func (t *TreeCache) Changed() <-chan struct{} { return t.changed }

// Invalid is closed when the cache can no longer be trusted.
func (t *TreeCache) Invalid() <-chan struct{} { return t.invalid }

// Snapshot returns a copy of every node below the root, keyed by path
// relative to it, as ReadTree does.
func (t *TreeCache) Snapshot() (map[string]*Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return nil, t.err
	}
	out := make(map[string]*Node, len(t.nodes))
	for k, n := range t.nodes {
		c := *n
		out[k] = &c
	}
	return out, nil
}

// Visit calls f for every node below the root (keyed as Snapshot keys
// them), under the cache's lock: f must not call the cache, and must not
// change the node's Data (it is shared; the cache replaces it, never
// changes it). It saves Snapshot's copy of every node.
func (t *TreeCache) Visit(f func(rel string, n *Node)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	for k, n := range t.nodes {
		f(k, n)
	}
	return nil
}

// Close stops the cache and waits for its goroutine. Idempotent.
func (t *TreeCache) Close() {
	t.fail(fmt.Errorf("%w: closed", ErrCacheInvalid))
	<-t.done
	t.c.unsubscribe(t)
}

// deliver queues a watch event for the loop. It runs on go-zookeeper's
// goroutine and does not block.
func (t *TreeCache) deliver(ev gozk.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	if ev.Type == gozk.EventSession {
		if ev.State == gozk.StateExpired {
			t.failLocked(fmt.Errorf("%w: the session expired, and its watches with it", ErrCacheInvalid))
		}
		return
	}
	if ev.Path != t.root && !strings.HasPrefix(ev.Path, t.root+"/") {
		return
	}
	t.queue = append(t.queue, ev)
	t.queued++
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *TreeCache) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(err)
}

func (t *TreeCache) failLocked(err error) {
	if t.err != nil {
		return
	}
	t.err = err
	close(t.invalid)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// loop applies queued events until the cache is invalid.
func (t *TreeCache) loop() {
	defer close(t.done)
	defer close(t.changed)
	ctx := context.Background()
	for range t.wake {
		t.mu.Lock()
		if t.err != nil {
			t.mu.Unlock()
			return
		}
		batch := t.queue
		t.queue = nil
		t.mu.Unlock()
		applied := false
		for _, ev := range batch {
			if err := t.apply(ctx, ev); err != nil {
				t.fail(fmt.Errorf("%w: %w", ErrCacheInvalid, err))
				return
			}
			applied = true
		}
		t.mu.Lock()
		t.applied += int64(len(batch))
		close(t.advanced)
		t.advanced = make(chan struct{})
		t.mu.Unlock()
		if applied {
			select {
			case t.changed <- struct{}{}:
			default:
			}
		}
	}
}

// apply brings the cache up to date after one event, re-arming the
// watch that fired.
func (t *TreeCache) apply(ctx context.Context, ev gozk.Event) error {
	switch ev.Type {
	case gozk.EventNodeDataChanged:
		return t.refresh(ev.Path)
	case gozk.EventNodeDeleted:
		t.remove(ev.Path)
		if ev.Path == t.root {
			return t.load(ctx, t.root)
		}
	case gozk.EventNodeCreated, gozk.EventNodeChildrenChanged:
		return t.load(ctx, ev.Path)
	}
	return nil
}

// refresh re-reads one node's data, with a new data watch.
func (t *TreeCache) refresh(p string) error {
	data, st, _, err := t.c.conn.GetW(p)
	if errors.Is(err, gozk.ErrNoNode) {
		t.remove(p)
		return nil
	}
	if err != nil {
		return t.c.opError("tree cache: get", p, err)
	}
	if p != t.root {
		t.put(&Node{Path: rel(t.root, p), Data: data, Stat: *st})
	}
	return nil
}

// load reads p's subtree with a data and a child watch on every node
// (only a child watch on the root), adding what it finds. A missing
// root gets an exists watch, so that its creation is seen.
func (t *TreeCache) load(ctx context.Context, p string) error {
	if p == t.root {
		ok, _, _, err := t.c.conn.ExistsW(p)
		if err != nil {
			return t.c.opError("tree cache: exists", p, err)
		}
		if !ok {
			return nil
		}
	}
	if p != t.root {
		if err := t.refresh(p); err != nil {
			return err
		}
	}
	kids, _, _, err := t.c.conn.ChildrenW(p)
	if errors.Is(err, gozk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return t.c.opError("tree cache: children", p, err)
	}
	var wg gosync.WaitGroup
	var mu gosync.Mutex
	var first error
	slots := make(chan struct{}, ReadConcurrency)
	for _, k := range kids {
		child := join(p, k)
		t.mu.Lock()
		_, known := t.nodes[rel(t.root, child)]
		t.mu.Unlock()
		if known {
			// A known child keeps its watches; only new ones are read.
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := t.loadChild(ctx, child); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// loadChild reads one node with a data watch, and its subtree with child
// watches. A node without children gets a child watch too: a folder made
// empty gets its children right after (a hand-made one, one request at a
// time), and a cache that watched only nodes with children would miss
// them.
func (t *TreeCache) loadChild(ctx context.Context, p string) error {
	data, st, _, err := t.c.conn.GetW(p)
	if errors.Is(err, gozk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return t.c.opError("tree cache: get", p, err)
	}
	t.put(&Node{Path: rel(t.root, p), Data: data, Stat: *st})
	return t.load(ctx, p)
}

func (t *TreeCache) put(n *Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.nodes[n.Path]; !ok || old.Stat.Mzxid != n.Stat.Mzxid || old.Stat.Czxid != n.Stat.Czxid {
		t.markLocked(n.Path)
	}
	t.nodes[n.Path] = n
}

// remove drops p and everything below it.
func (t *TreeCache) remove(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p == t.root {
		for k := range t.nodes {
			t.markLocked(k)
		}
		clear(t.nodes)
		return
	}
	r := rel(t.root, p)
	if _, ok := t.nodes[r]; ok {
		t.markLocked(r)
	}
	delete(t.nodes, r)
	for k := range t.nodes {
		if strings.HasPrefix(k, r+"/") {
			t.markLocked(k)
			delete(t.nodes, k)
		}
	}
}

// subscribe sends the session's events to t from now on.
func (c *Client) subscribe(t *TreeCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caches == nil {
		c.caches = map[*TreeCache]struct{}{}
	}
	c.caches[t] = struct{}{}
}

func (c *Client) unsubscribe(t *TreeCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.caches, t)
}

// AwaitData waits, with a data watch re-armed as it fires, until done
// holds for the node at p (data nil and exists false when there is none),
// and returns the data it held then. It fails when ctx ends first.
func (c *Client) AwaitData(ctx context.Context, p string, done func(data []byte, exists bool) bool) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, fmt.Errorf("await %s: %w", p, err)
	}
	for {
		data, _, ev, err := c.conn.GetW(p)
		exists := err == nil
		if errors.Is(err, gozk.ErrNoNode) {
			var ok bool
			ok, _, ev, err = c.conn.ExistsW(p)
			if err == nil && ok {
				continue // made between the two requests
			}
		}
		if err != nil {
			return nil, c.opError("await", p, err)
		}
		if done(data, exists) {
			if !exists {
				return nil, nil
			}
			return data, nil
		}
		select {
		case <-ev:
		case <-ctx.Done():
			return nil, fmt.Errorf("await %s: %w", p, context.Cause(ctx))
		}
	}
}
