package zk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// lockSuffix ends every contender name before ZooKeeper's sequence number:
// "_c_<guid>-lock-0000000007", the protected-node form of go-zookeeper and
// Curator (the guid finds the node again after an ambiguous create).
const (
	protectedPrefix = "_c_"
	lockSuffix      = "-lock-"
)

// HolderInfo describes a lock holder; it is the JSON payload of its lock
// node, written once at creation (the node's version stays 0: it is the
// fence).
type HolderInfo struct {
	// User and Host say who and where ("alice", "build-7").
	User string `json:"user"`
	Host string `json:"host"`
	// PID is the holder's process id on Host.
	PID int `json:"pid"`
	// Command is the holder's command line.
	Command string `json:"command"`
	// Since is when the holder asked for the lock (Lock sets it when it
	// is zero). A holder that had to wait has held the lock for less.
	Since time.Time `json:"since"`
}

// ThisProcess describes the current process: user, host, pid and command
// line.
func ThisProcess() HolderInfo {
	h := HolderInfo{PID: os.Getpid(), Command: strings.Join(os.Args, " ")}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	} else {
		h.User = os.Getenv("USER")
	}
	h.Host, _ = os.Hostname()
	return h
}

// String reads "alice@build-7 (pid 4242, "ringmaster apply --env prod")".
func (h HolderInfo) String() string {
	who := h.User
	if who == "" {
		who = "unknown"
	}
	if h.Host != "" {
		who += "@" + h.Host
	}
	return fmt.Sprintf("%s (pid %d, %q)", who, h.PID, h.Command)
}

// Lock is a held lock: the lowest of the ephemeral-sequential contender
// nodes under its directory. The lock node's version is 0 for as long as
// it is held; Fence gives it to Write.
type Lock struct {
	c    *Client
	dir  string
	path string
	id   string

	lost     chan struct{}
	lostOnce gosync.Once
	mu       gosync.Mutex
	lostErr  error

	stop     chan struct{}
	stopOnce gosync.Once
	done     chan struct{} // the monitor has returned
}

// ID is the lock node's name ("_c_<guid>-lock-0000000007"), what
// ReleaseLock takes.
func (l *Lock) ID() string { return l.id }

// Token is the lock's fencing token: its node's sequence number, larger
// for every acquisition of the lock than for those before it.
func (l *Lock) Token() (int64, error) {
	i := strings.LastIndex(l.id, lockSuffix)
	if i < 0 {
		return 0, fmt.Errorf("lock id %q has no sequence number", l.id)
	}
	return strconv.ParseInt(l.id[i+len(lockSuffix):], 10, 64)
}

// Path is the lock node's absolute path.
func (l *Lock) Path() string { return l.path }

// Fence is the lock node at version 0, for Write.
func (l *Lock) Fence() Fence { return Fence{Path: l.path, Version: 0} }

// ErrLockNotHeld means Verify found the lock node gone or changed: the
// lock is no longer held.
var ErrLockNotHeld = errors.New("lock not held")

// Verify proves, with a round trip through the ensemble's leader (a
// transaction holding only a version check of the lock node, which the
// quorum orders like any write), that the lock node still exists at its
// fence version at this moment, without trusting the client's cached
// session state. It returns nil when it does; an error wrapping
// ErrLockNotHeld when the node is gone or changed (and marks the lock
// lost); any other error when the answer could not be had, in which case
// the caller must treat the lock as possibly lost.
func (l *Lock) Verify(ctx context.Context) error {
	select {
	case <-l.lost:
		return fmt.Errorf("lock %s: %w: %v", l.path, ErrLockNotHeld, l.Err())
	default:
	}
	if err := l.c.awaitSession(ctx); err != nil {
		return fmt.Errorf("verify lock %s: %w", l.path, err)
	}
	_, err := call(ctx, func() ([]gozk.MultiResponse, error) {
		return l.c.conn.Multi(&gozk.CheckVersionRequest{Path: l.path, Version: 0})
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gozk.ErrNoNode), errors.Is(err, gozk.ErrBadVersion):
		err = fmt.Errorf("lock %s: %w: its node is gone or changed", l.path, ErrLockNotHeld)
		l.markLost(err)
		return err
	}
	return fmt.Errorf("verify lock %s: %w", l.path, l.c.opError("check", l.path, err))
}

// Lost is closed once the lock may no longer be held: the session expired,
// was in doubt past DisconnectGrace, or the Client closed; the lock node
// was deleted (someone released it) or modified; or Unlock was called. It
// tells the holder to stop early; the fence is what keeps a late writer
// out.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err is nil while the lock is held, then says why it was lost.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

func (l *Lock) markLost(err error) {
	l.lostOnce.Do(func() {
		l.mu.Lock()
		l.lostErr = err
		l.mu.Unlock()
		close(l.lost)
	})
}

// Unlock deletes the lock node and closes Lost. A node already gone (the
// session expired or was closed, or someone released the lock) is not an
// error: the lock is not held either way. Unlock is idempotent.
func (l *Lock) Unlock(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	l.markLost(fmt.Errorf("lock %s: %w by its holder", l.dir, errUnlocked))
	if st := l.c.State(); st == Expired || st == Closed {
		return nil // the node went with the session
	}
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, l.c.conn.Delete(l.path, -1) })
	if err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return l.c.opError("unlock: delete", l.path, err)
	}
	return nil
}

var errUnlocked = errors.New("unlocked")

// monitor closes Lost when the session or the node says the lock is gone.
func (l *Lock) monitor() {
	defer close(l.done)
	var ev <-chan gozk.Event
	for {
		st, changed := l.c.WatchState()
		switch st {
		case InDoubt, Expired, Closed:
			l.markLost(fmt.Errorf("lock %s: %w: %w", l.dir, ErrFenced, l.c.Healthy()))
			return
		}
		if ev == nil && st == Connected {
			ok, stat, w, err := l.c.conn.ExistsW(l.path)
			switch {
			case err != nil:
				// The connection dropped: the next state change says more.
			case !ok:
				l.markLost(fmt.Errorf("lock %s: %w: node %s was deleted (released by someone)", l.dir, ErrFenced, l.id))
				return
			case stat.Version != 0:
				l.markLost(fmt.Errorf("lock %s: %w: node %s was modified (version %d)", l.dir, ErrFenced, l.id, stat.Version))
				return
			default:
				ev = w
			}
		}
		select {
		case e := <-ev:
			switch e.Type {
			case gozk.EventNodeDeleted:
				l.markLost(fmt.Errorf("lock %s: %w: node %s was deleted (released by someone)", l.dir, ErrFenced, l.id))
				return
			case gozk.EventNodeDataChanged:
				l.markLost(fmt.Errorf("lock %s: %w: node %s was modified", l.dir, ErrFenced, l.id))
				return
			case gozk.EventNotWatching:
				l.markLost(fmt.Errorf("lock %s: %w: watch on %s ended: %w", l.dir, ErrFenced, l.id, e.Err))
				return
			}
			ev = nil
		case <-changed:
		case <-l.stop:
			return
		}
	}
}

// LockTimeoutError is Lock's error when ctx ends before the lock is held.
// It unwraps to ctx's error.
type LockTimeoutError struct {
	// Dir is the lock directory.
	Dir string
	// Holder describes the holder; HolderID is its node's name (what
	// ReleaseLock takes) and HolderSession its ephemeral owner. HolderID is
	// "" when the lock was free when Lock gave up.
	Holder        HolderInfo
	HolderID      string
	HolderSession int64
	// Held is how long the holder has had its node (since Holder.Since or,
	// without it, the node's creation).
	Held time.Duration
	// Waited is how long Lock waited.
	Waited time.Duration
	// Cleanup is set when Lock could not delete its own contender node;
	// the node then goes with the session.
	Cleanup error
	// Err is ctx's error.
	Err error
}

// Error names the lock, its holder, since when and how long it has held
// it, its lock id and how long Lock waited:
//
//	lock /ringmaster/prod/locks/apply held by alice@build-7 (pid 4242, "ringmaster apply --env prod") since 2026-11-25T22:41:03Z (3m12s); lock id _c_…-lock-0000000007; waited 30s
//
// A cancellation (rather than a deadline) is said at the end.
func (e *LockTimeoutError) Error() string {
	var b strings.Builder
	if e.HolderID == "" {
		fmt.Fprintf(&b, "lock %s: not acquired and no holder now (released as we gave up); waited %s", e.Dir, roundDur(e.Waited))
	} else {
		fmt.Fprintf(&b, "lock %s held by %s since %s (%s); lock id %s; waited %s",
			e.Dir, e.Holder, e.Holder.Since.UTC().Format(time.RFC3339), roundDur(e.Held), e.HolderID, roundDur(e.Waited))
	}
	if e.Cleanup != nil {
		fmt.Fprintf(&b, "; our contender node remains until our session ends: %v", e.Cleanup)
	}
	if !errors.Is(e.Err, context.DeadlineExceeded) {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap is ctx's error (context.DeadlineExceeded or context.Canceled).
func (e *LockTimeoutError) Unwrap() error { return e.Err }

// Lock takes the lock whose contenders live under dir (created if
// missing), waiting as long as ctx allows. It creates a protected
// ephemeral-sequential node "<dir>/_c_<guid>-lock-<seq>" holding info as
// JSON (info.Since set to now when zero), and holds the lock when its node
// is the lowest; until then it watches only its immediate predecessor.
//
// When ctx ends first, Lock deletes its node and returns a
// *LockTimeoutError naming the current holder, its lock id and how long it
// has held it. Other failures (session lost, own node deleted while
// waiting) are plain errors.
func (c *Client) Lock(ctx context.Context, dir string, info HolderInfo) (*Lock, error) {
	start := time.Now()
	if err := checkPath(dir); err != nil || dir == "/" {
		return nil, fmt.Errorf("lock %q: not a lock directory", dir)
	}
	if err := c.confined(dir); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if info.Since.IsZero() {
		info.Since = start.UTC().Truncate(time.Millisecond)
	}
	data, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := c.awaitSession(ctx); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := c.EnsurePath(ctx, dir); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	var g [16]byte
	if _, err := rand.Read(g[:]); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	guid := hex.EncodeToString(g[:])
	p, err := c.createContender(ctx, dir, guid, data)
	if err != nil {
		c.abandon(ctx, dir, guid, "")
		if ctx.Err() != nil {
			return nil, c.timeoutError(ctx, dir, start, nil)
		}
		return nil, fmt.Errorf("lock %s: create contender node: %w", dir, err)
	}
	id := p[len(dir)+1:]
	for {
		kids, _, err := c.conn.Children(dir)
		if err != nil {
			cleanup := c.abandon(ctx, dir, guid, p)
			if ctx.Err() != nil {
				return nil, c.timeoutError(ctx, dir, start, cleanup)
			}
			return nil, c.opError("lock: list contenders", dir, err)
		}
		ids := contenders(kids)
		at := slices.Index(ids, id)
		if at < 0 {
			return nil, fmt.Errorf("lock %s: our contender node %s vanished while we waited (session expired or released by someone): %w", dir, id, ErrFenced)
		}
		if at == 0 {
			l := &Lock{c: c, dir: dir, path: p, id: id,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			go l.monitor()
			return l, nil
		}
		pred := join(dir, ids[at-1])
		ok, _, ev, err := c.conn.ExistsW(pred)
		if err != nil {
			cleanup := c.abandon(ctx, dir, guid, p)
			if ctx.Err() != nil {
				return nil, c.timeoutError(ctx, dir, start, cleanup)
			}
			return nil, c.opError("lock: watch predecessor", pred, err)
		}
		if !ok {
			continue
		}
		if err := c.awaitEvent(ctx, ev); err != nil {
			cleanup := c.abandon(ctx, dir, guid, p)
			if ctx.Err() != nil {
				return nil, c.timeoutError(ctx, dir, start, cleanup)
			}
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
	}
}

// awaitEvent waits for ev, the end of ctx (ctx's error), or a final
// session state (its error).
func (c *Client) awaitEvent(ctx context.Context, ev <-chan gozk.Event) error {
	for {
		st, changed := c.WatchState()
		switch st {
		case Expired, Closed:
			return c.Healthy()
		}
		select {
		case <-ev:
			return nil
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// createContender creates the protected contender node and returns its
// path. After a create whose answer was lost it looks for its guid before
// trying again, so it never leaves a second node of its own.
func (c *Client) createContender(ctx context.Context, dir, guid string, data []byte) (string, error) {
	prefix := join(dir, protectedPrefix+guid+lockSuffix)
	for {
		p, err := c.conn.Create(prefix, data, gozk.FlagEphemeral|gozk.FlagSequence, c.ACLOf(prefix))
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, gozk.ErrConnectionClosed) {
			return "", c.opError("create", prefix, err)
		}
		if err := c.awaitSession(ctx); err != nil {
			return "", err
		}
		p, found, err := c.findContender(dir, guid)
		if err != nil {
			return "", err
		}
		if found {
			return p, nil
		}
	}
}

// findContender looks for the contender node with guid under dir.
func (c *Client) findContender(dir, guid string) (string, bool, error) {
	kids, _, err := c.conn.Children(dir)
	if err != nil {
		return "", false, c.opError("list contenders", dir, err)
	}
	for _, k := range kids {
		if strings.HasPrefix(k, protectedPrefix+guid+lockSuffix) {
			return join(dir, k), true, nil
		}
	}
	return "", false, nil
}

// abandon deletes our contender node (p, or found by guid when p is ""),
// with a budget of its own since ctx may have ended. It returns why it
// could not.
func (c *Client) abandon(ctx context.Context, dir, guid, p string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	_, err := call(cctx, func() (struct{}, error) {
		if p == "" {
			found, ok, err := c.findContender(dir, guid)
			if err != nil || !ok {
				return struct{}{}, err
			}
			p = found
		}
		err := c.conn.Delete(p, -1)
		if errors.Is(err, gozk.ErrNoNode) {
			err = nil
		}
		return struct{}{}, err
	})
	if err != nil {
		return c.opError("delete own contender under", dir, err)
	}
	return nil
}

// timeoutError builds the LockTimeoutError, reading the current holder.
func (c *Client) timeoutError(ctx context.Context, dir string, start time.Time, cleanup error) error {
	e := &LockTimeoutError{Dir: dir, Waited: time.Since(start), Cleanup: cleanup, Err: ctx.Err()}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	if entries, err := c.Locks(rctx, dir); err == nil && len(entries) > 0 {
		h := entries[0]
		e.HolderID, e.Holder, e.HolderSession = h.ID, h.Holder, h.Owner
		if e.Holder.Since.IsZero() {
			e.Holder.Since = h.Ctime
		}
		e.Held = time.Since(e.Holder.Since)
	}
	return e
}

// LockEntry is one contender of a lock, as Locks lists them.
type LockEntry struct {
	// ID is the node's name, Path its absolute path.
	ID, Path string
	// Sequence is ZooKeeper's sequence number: the lowest holds the lock.
	Sequence int
	// Holder is the node's payload (zero if it is not HolderInfo JSON).
	Holder HolderInfo
	// Ctime is when the node was created.
	Ctime time.Time
	// Owner is the id of the session owning the (ephemeral) node.
	Owner int64
}

// Locks lists the contenders under dir, sorted by sequence: the first
// holds the lock, the others wait in that order. A missing dir gives none.
func (c *Client) Locks(ctx context.Context, dir string) ([]LockEntry, error) {
	if err := checkPath(dir); err != nil {
		return nil, fmt.Errorf("locks: %w", err)
	}
	// Contenders come from other sessions, possibly through other servers:
	// sync this session's server with the leader first, so the list is
	// not older than what those sessions were told.
	if _, err := retryRead(ctx, c, func() (string, error) { return c.conn.Sync(dir) }); err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return nil, c.opError("locks: sync", dir, err)
	}
	kids, err := call(ctx, func() ([]string, error) {
		kids, _, err := c.conn.Children(dir)
		return kids, err
	})
	if errors.Is(err, gozk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, c.opError("locks: list", dir, err)
	}
	ids := contenders(kids)
	entries := make([]*LockEntry, len(ids))
	err = forEach(ctx, len(ids), func(i int) error {
		p := join(dir, ids[i])
		data, stat, err := c.conn.Get(p)
		if errors.Is(err, gozk.ErrNoNode) {
			return nil // released meanwhile
		}
		if err != nil {
			return c.opError("locks: get", p, err)
		}
		seq, _ := sequence(ids[i])
		e := &LockEntry{ID: ids[i], Path: p, Sequence: seq, Ctime: time.UnixMilli(stat.Ctime).UTC(), Owner: stat.EphemeralOwner}
		_ = json.Unmarshal(data, &e.Holder)
		entries[i] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]LockEntry, 0, len(entries))
	for _, e := range entries {
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// ReleaseLock deletes exactly the contender id under dir, whoever holds
// it: its holder's Lost fires and the next contender gets the lock. An
// unknown id is an error listing the current ids.
func (c *Client) ReleaseLock(ctx context.Context, dir, id string) error {
	if err := checkPath(dir); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	if err := c.confined(dir); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	if _, ok := sequence(id); !ok || strings.Contains(id, "/") {
		return fmt.Errorf("release lock %s: %q is not a lock id (as %s)", dir, id, "_c_<guid>-lock-0000000007")
	}
	p := join(dir, id)
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, c.conn.Delete(p, -1) })
	if errors.Is(err, gozk.ErrNoNode) {
		entries, lerr := c.Locks(ctx, dir)
		if lerr != nil {
			return fmt.Errorf("release lock %s: no contender %s (and listing the others failed: %v): %w", dir, id, lerr, err)
		}
		if len(entries) == 0 {
			return fmt.Errorf("release lock %s: no contender %s; the lock is free: %w", dir, id, err)
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		return fmt.Errorf("release lock %s: no contender %s; current ids (holder first): %s: %w", dir, id, strings.Join(ids, ", "), err)
	}
	if err != nil {
		return c.opError("release lock: delete", p, err)
	}
	return nil
}

// contenders keeps the contender names among kids, sorted by sequence.
func contenders(kids []string) []string {
	type named struct {
		name string
		seq  int
	}
	var ns []named
	for _, k := range kids {
		if seq, ok := sequence(k); ok {
			ns = append(ns, named{k, seq})
		}
	}
	slices.SortFunc(ns, func(a, b named) int {
		if a.seq != b.seq {
			return a.seq - b.seq
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.name
	}
	return out
}

// sequence parses the sequence number that ends a contender name.
func sequence(name string) (int, bool) {
	i := strings.LastIndex(name, lockSuffix)
	if i < 0 {
		return 0, false
	}
	digits := name[i+len(lockSuffix):]
	if len(digits) != 10 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
