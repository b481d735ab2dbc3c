package controller

import (
	"errors"
	"fmt"
	"testing"
	"time"

	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runs is how often each randomised delay is drawn.
const runs = 200

// TestBackoffDelay checks that retry n waits Min·2ⁿ capped at Max, less at
// most a fifth, and that the jitter actually varies.
func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for n := 0; n <= 10; n++ {
		expected := min(b.Min<<n, b.Max)
		lo := expected - expected/5
		seen := map[time.Duration]bool{}
		for range runs {
			d := b.Delay(n)
			if d < lo || d > expected {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, lo, expected)
			}
			if d > b.Max {
				t.Fatalf("Delay(%d) = %v exceeds Max %v", n, d, b.Max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%d) gave the same value %d times: no jitter", n, runs)
		}
	}
}

// TestBackoffDelayLargeN checks that many retries neither overflow nor
// exceed Max.
func TestBackoffDelayLargeN(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for _, n := range []int{30, 62, 63, 64, 1000} {
		for range runs {
			if d := b.Delay(n); d < b.Max-b.Max/5 || d > b.Max {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", n, d, b.Max-b.Max/5, b.Max)
			}
		}
	}
}

// TestBackoffZeroDefaults checks that the zero Backoff uses 1 s and 5 min.
func TestBackoffZeroDefaults(t *testing.T) {
	var b Backoff
	for range runs {
		if d := b.Delay(0); d < 800*time.Millisecond || d > time.Second {
			t.Fatalf("Backoff{}.Delay(0) = %v, want within [800ms, 1s]", d)
		}
		if d := b.Delay(20); d > 5*time.Minute || d < 4*time.Minute {
			t.Fatalf("Backoff{}.Delay(20) = %v, want within [4m, 5m]", d)
		}
	}
}

// TestJitter checks that jitter(d) stays within [0.9·d, d].
func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 10, time.Millisecond, time.Second, time.Minute, time.Hour} {
		lo := d - d/10
		for range runs {
			if got := jitter(d); got < lo || got > d {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, got, lo, d)
			}
		}
	}
}

// TestClassify checks that errors are classed by what should happen next.
func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		rendered bool
		want     Class
	}{
		{"not rendered", errors.New("parse environments/prod.yaml: bad"), false, Stalled},
		{"not rendered, stale plan", fmt.Errorf("x: %w", rmsync.ErrStalePlan), false, Stalled},
		{"denied", fmt.Errorf("apply prod: %w", rmsync.ErrDenied), true, Stalled},
		{"stale plan", fmt.Errorf("apply prod: %w", rmsync.ErrStalePlan), true, Retry},
		{"lock lost", fmt.Errorf("apply prod: %w", rmsync.ErrLockLost), true, Retry},
		{"lock lost, wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", rmsync.ErrLockLost)), true, Retry},
		{"unreachable", errors.New("dial tcp: refused"), true, Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err, tt.rendered); got != tt.want {
				t.Errorf("classify(%v, %v) = %q, want %q", tt.err, tt.rendered, got, tt.want)
			}
		})
	}
}
