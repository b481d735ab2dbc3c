package itest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakGrace is how long goroutines may take to end after the test's
// cleanups: drivers wind down in the background (gocql's pool refill
// sleeps a second between connection attempts before it sees its session
// closed). A goroutine that is still there after it has leaked.
const leakGrace = 5 * time.Second

// NoLeaks checks, once everything else the test registered has been
// cleaned up (cleanups run last-registered first), that the test left no
// goroutine behind, other than those running when it was called. Call it
// first in the test. A server restarted by a test is reaped by a goroutine
// of testcluster that lives as long as the server: it is not a leak.
func NoLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/ringmaster-io/ringmaster/internal/testcluster.(*Cluster).startJVM.func1")}
	t.Cleanup(func() {
		deadline := time.Now().Add(leakGrace)
		for {
			err := goleak.Find(opts...) // itself retries for about a second
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left %s after the test: %v", leakGrace, err)
				return
			}
		}
	})
}
