package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// ErrNotFound means the current generation has no config entry at the
// path asked for.
var ErrNotFound = errors.New("no such config entry")

// Get decodes the config entry at p (its path below data/config, as
// spec.path names it: "ingest/pipeline") of the current generation into
// a T. It makes no request.
func Get[T any](c *Client, p string) (T, error) {
	var v T
	snap := c.Snapshot()
	raw, ok := snap.Config[p]
	if !ok {
		return v, fmt.Errorf("config %s at generation %d: %w", p, snap.Generation, ErrNotFound)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("config %s at generation %d: %w", p, snap.Generation, err)
	}
	return v, nil
}

// Watch calls f with the config entry at p now, then again in each
// generation that changes it (value nil when the entry is gone), until ctx
// ends. Values come whole generations at a time, as the Snapshot does. f
// runs on the Client's goroutine (the first call on the caller's): it must
// return quickly.
func (c *Client) Watch(ctx context.Context, p string, f func(value json.RawMessage)) error {
	if err := state.CheckRelPath(p); err != nil {
		return fmt.Errorf("watch config %q: %w", p, err)
	}
	// Updates are taken from the moment of the first read, and the
	// generation read first is skipped if an update repeats it.
	first := make(chan int64, 1)
	stop := c.Listen(func(u Update) {
		if u.Kind != Loaded || !slices.Contains(u.Config, p) {
			return
		}
		gen := <-first
		first <- gen
		if u.Snapshot.Generation <= gen {
			return
		}
		f(u.Snapshot.Config[p])
	})
	snap := c.Snapshot()
	f(snap.Config[p])
	first <- snap.Generation
	go func() {
		select {
		case <-ctx.Done():
		case <-c.done:
		}
		stop()
	}()
	return nil
}
