package itest

import (
	"testing"

	"go.uber.org/goleak"
)

// NoLeaks checks, once everything else the test registered has been
// cleaned up (cleanups run last-registered first), that the test left no
// goroutine behind, other than those running when it was called. Call it
// first in the test. A server restarted by a test is reaped by a goroutine
// of testcluster that lives as long as the server: it is not a leak.
func NoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/ringmaster-io/ringmaster/internal/testcluster.(*Cluster).startJVM.func1"))
	})
}
