package zk

import (
	"errors"
	"testing"
	"time"
)

// TestLockVerify: Verify answers from the ensemble, not from the client's
// cached state: it holds while the node is there, and fails with
// ErrLockNotHeld (marking the lock lost) the moment another process
// releases it, before any watch could have told the holder.
func TestLockVerify(t *testing.T) {
	z, a := zkTest(t)
	b := connect(t, z.Servers)
	ctx := ctxFor(t, time.Minute)
	dir := z.Path("locks", "apply")
	l, err := a.Lock(ctx, dir, HolderInfo{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx)
	if err := l.Verify(ctx); err != nil {
		t.Fatalf("Verify of a held lock: %v", err)
	}
	if err := b.ReleaseLock(ctx, dir, l.ID()); err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(ctx); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Verify after the release: %v, want ErrLockNotHeld", err)
	}
	select {
	case <-l.Lost():
	default:
		t.Fatal("Verify found the lock gone but Lost is open")
	}
	if err := l.Verify(ctx); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Verify of a lost lock: %v", err)
	}
}
