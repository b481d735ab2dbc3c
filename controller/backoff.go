package controller

import (
	"errors"
	"math/rand/v2"
	"time"

	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Class is what a failed reconcile calls for next, as Flux classes its
// errors.
type Class string

const (
	// Stalled needs a new commit: the revision does not render, or a
	// policy denies it. Retrying the same commit cannot help.
	Stalled Class = "stalled"
	// Retry is worth retrying after a backoff: a stale plan, a lost or
	// busy lock, a Cassandra statement that failed.
	Retry Class = "retry"
	// Transient is the cluster or the repository out of reach for now.
	Transient Class = "transient"
)

// classify tells what a reconcile error calls for.
func classify(err error, rendered bool) Class {
	switch {
	case !rendered:
		// The revision did not render (and the repository was reached).
		return Stalled
	case errors.Is(err, rmsync.ErrDenied):
		return Stalled
	case errors.Is(err, rmsync.ErrStalePlan), errors.Is(err, rmsync.ErrLockLost):
		return Retry
	default:
		return Transient
	}
}

// Backoff bounds the waits between retries of a failing commit: the n-th
// retry waits Min·2ⁿ, at most Max, less up to a fifth at random, so that
// replicas and environments do not retry in step.
type Backoff struct {
	Min, Max time.Duration
}

// Delay is the wait before retry n (0 for the first).
func (b Backoff) Delay(n int) time.Duration {
	minD, maxD := b.Min, b.Max
	if minD <= 0 {
		minD = time.Second
	}
	switch {
	case maxD <= 0:
		maxD = max(5*time.Minute, minD)
	case maxD < minD:
		maxD = minD
	}
	d := minD
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// jitter is d less up to a tenth at random: the poll interval of several
// replicas and environments drifts apart.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/10+1))
}
