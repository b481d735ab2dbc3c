package zk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type lockResult struct {
	l   *Lock
	err error
}

// lockAsync runs Lock in the background; the result arrives on the channel.
func lockAsync(ctx context.Context, c *Client, dir string, info HolderInfo) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		l, err := c.Lock(ctx, dir, info)
		ch <- lockResult{l, err}
	}()
	return ch
}

func TestLockMutualExclusion(t *testing.T) {
	z, a := zkTest(t)
	b := connect(t, z.Servers)
	ctx := ctxFor(t, time.Minute)
	dir := z.Path("locks", "apply")

	la, err := a.Lock(ctx, dir, HolderInfo{User: "alice", Host: "a", PID: 1, Command: "first"})
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	if !strings.HasPrefix(la.ID(), "_c_") || !strings.Contains(la.ID(), "-lock-") || la.Path() != dir+"/"+la.ID() {
		t.Errorf("lock id %q path %q: want a protected sequential node under %s", la.ID(), la.Path(), dir)
	}
	if f := la.Fence(); f.Path != la.Path() || f.Version != 0 {
		t.Errorf("Fence = %+v", f)
	}
	waiting := lockAsync(ctx, b, dir, HolderInfo{User: "bob", Host: "b", PID: 2, Command: "second"})
	// The second contender queues behind the first...
	awaitChildren(t, z.Conn, dir, 2, 30*time.Second)
	entries, err := a.Locks(ctx, dir)
	if err != nil || len(entries) != 2 || entries[0].ID != la.ID() {
		t.Fatalf("Locks = %+v, %v; want the holder first and one waiter", entries, err)
	}
	// ...and does not have the lock while the first holds it. Its
	// contender node exists, so Lock is past creating it: a result now
	// would be a second holder.
	select {
	case r := <-waiting:
		t.Fatalf("second Lock returned while the first holds it: %v, %v", r.l, r.err)
	default:
	}
	// A write under the holder's fence works.
	if _, err := a.Write(ctx, la.Fence(), []Op{{Kind: OpCreate, Path: z.Path("data", "x"), Data: []byte("a")}}, nil); err != nil {
		t.Fatalf("write under the held lock: %v", err)
	}

	if err := la.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	awaitClosed(t, la.Lost(), "Lost after Unlock", 5*time.Second)
	var r lockResult
	select {
	case r = <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("second Lock did not get the lock within 30s of Unlock")
	}
	if r.err != nil {
		t.Fatalf("second Lock: %v", r.err)
	}
	if r.l.ID() != entries[1].ID {
		t.Errorf("second holder is %s, want the waiter %s", r.l.ID(), entries[1].ID)
	}
	// The old holder's fence no longer lets anything through.
	_, err = a.Write(ctx, la.Fence(), []Op{{Kind: OpCreate, Path: z.Path("data", "late"), Data: []byte("a")}}, nil)
	if !errors.Is(err, ErrFenced) {
		t.Errorf("write under a released lock: %v, want ErrFenced", err)
	}
	select {
	case <-r.l.Lost():
		t.Errorf("new holder's lock reported lost: %v", r.l.Err())
	default:
	}
	if err := r.l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.l.Unlock(ctx); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
}

func TestLockTimeoutNamesHolder(t *testing.T) {
	z, a := zkTest(t)
	b := connect(t, z.Servers)
	ctx := ctxFor(t, time.Minute)
	dir := z.Path("locks", "apply")
	since := time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Second)
	holder := HolderInfo{User: "alice", Host: "build-7", PID: 4242, Command: "ringmaster apply --env prod", Since: since}
	la, err := a.Lock(ctx, dir, holder)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Unlock(ctx)

	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, err = b.Lock(short, dir, ThisProcess())
	var lte *LockTimeoutError
	if !errors.As(err, &lte) {
		t.Fatalf("Lock under a held lock: %v, want a *LockTimeoutError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not unwrap to the deadline: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"lock " + dir + " held by alice@build-7 (pid 4242, \"ringmaster apply --env prod\")",
		"since " + since.Format(time.RFC3339) + " (3m",
		"lock id " + la.ID(),
		"; waited ",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not contain %q", msg, want)
		}
	}
	if lte.HolderID != la.ID() || lte.Holder.PID != 4242 || lte.HolderSession != a.SessionID() {
		t.Errorf("error fields %+v", lte)
	}
	// The timed-out contender removed its node.
	entries, err := a.Locks(ctx, dir)
	if err != nil || len(entries) != 1 || entries[0].ID != la.ID() {
		t.Errorf("Locks after the timeout = %+v, %v; want only the holder", entries, err)
	}
}

func TestLocksAndReleaseLock(t *testing.T) {
	z, a := zkTest(t)
	b := connect(t, z.Servers)
	admin := connect(t, z.Servers)
	ctx := ctxFor(t, time.Minute)
	dir := z.Path("locks", "apply")

	if entries, err := admin.Locks(ctx, dir); err != nil || len(entries) != 0 {
		t.Fatalf("Locks on a missing dir = %v, %v; want none", entries, err)
	}
	la, err := a.Lock(ctx, dir, HolderInfo{User: "alice", Host: "h1", PID: 11, Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	waiting := lockAsync(ctx, b, dir, HolderInfo{User: "bob", Host: "h2", PID: 22, Command: "apply"})
	awaitChildren(t, z.Conn, dir, 2, 30*time.Second)

	entries, err := admin.Locks(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("Locks = %+v, want 2", entries)
	}
	e0, e1 := entries[0], entries[1]
	if e0.ID != la.ID() || e0.Path != la.Path() || e0.Holder.User != "alice" || e0.Holder.PID != 11 || e0.Owner != a.SessionID() {
		t.Errorf("holder entry %+v, want alice's lock %s owned by session %x", e0, la.ID(), a.SessionID())
	}
	if e1.Holder.User != "bob" || e1.Owner != b.SessionID() || e1.Sequence <= e0.Sequence {
		t.Errorf("waiter entry %+v, want bob's after alice's", e1)
	}
	if e0.Ctime.IsZero() || time.Since(e0.Ctime) > time.Minute || e0.Holder.Since.IsZero() {
		t.Errorf("holder entry times: ctime %v since %v", e0.Ctime, e0.Holder.Since)
	}

	// An unknown id lists the current ones.
	err = admin.ReleaseLock(ctx, dir, "_c_00000000000000000000000000000000-lock-0000009999")
	if err == nil || !strings.Contains(err.Error(), e0.ID) || !strings.Contains(err.Error(), e1.ID) {
		t.Errorf("ReleaseLock(unknown) = %v, want an error listing %s and %s", err, e0.ID, e1.ID)
	}
	if err := admin.ReleaseLock(ctx, dir, "../../etc"); err == nil {
		t.Errorf("ReleaseLock accepted a non-id")
	}

	// Releasing the holder's node: its Lost fires, the waiter gets it.
	if err := admin.ReleaseLock(ctx, dir, e0.ID); err != nil {
		t.Fatalf("ReleaseLock: %v", err)
	}
	awaitClosed(t, la.Lost(), "released holder's Lost", 10*time.Second)
	if err := la.Err(); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("Lost reason = %v, want a deleted node", err)
	}
	var r lockResult
	select {
	case r = <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("waiter did not get the lock after the release")
	}
	if r.err != nil || r.l.ID() != e1.ID {
		t.Fatalf("waiter's Lock = %v, %v; want %s", r.l, r.err, e1.ID)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Errorf("Unlock of a released lock: %v (want nil: it is not held either way)", err)
	}
	if entries, _ := admin.Locks(ctx, dir); len(entries) != 1 || entries[0].ID != e1.ID {
		t.Errorf("Locks = %+v, want only %s", entries, e1.ID)
	}
	if err := r.l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
