// Package controller is the reconcile daemon behind `ringmaster controller`:
// it follows a branch of the configuration repository and keeps each of its
// environments' live cluster equal to it, with the same evaluation,
// policies and apply as the CLI (package sync).
//
// Any number of replicas may run. For each environment they campaign in a
// ZooKeeper election (<root>/election/controller, ephemeral-sequential,
// each watching its predecessor): the one elected reconciles, the others
// wait. Leadership ends the moment the session is in doubt (disconnected,
// not only expired), as Curator advises; whatever the old leader still
// sends then is refused by the apply lock's fence, as every apply's writes
// are.
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	gosync "sync"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/policies"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Config is a controller's configuration.
type Config struct {
	// Source is the repository; Branch the ref followed ("" its default).
	Source *reposource.Source
	Branch string
	// Environments are the environments reconciled, each in its own loop.
	Environments []string
	// Interval is how often the branch is fetched (less up to a tenth at
	// random); 0 means a minute.
	Interval time.Duration
	// Backoff bounds the retries of a failing commit.
	Backoff Backoff
	// Connect reaches an environment's cluster (credentials and TLS are
	// the caller's).
	Connect func(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error)
	// Holder describes this replica in the election and lock nodes.
	Holder zk.HolderInfo
	// Drift is each environment's drift mode (absent: DriftCorrect).
	Drift map[string]DriftMode
	// LockTimeout bounds the wait for the apply lock (a person's apply
	// may hold it); 0 means 30 s. A timeout is retried with backoff.
	LockTimeout time.Duration
	// DryRun computes and reports, and writes nothing.
	DryRun bool
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, records what the controller does.
	Metrics *Metrics
}

// DriftMode is what a controller does about a change made outside it.
type DriftMode string

const (
	// DriftCorrect watches the managed subtree and restores Git's value
	// at once, recording the drift (the default).
	DriftCorrect DriftMode = "correct"
	// DriftWarn watches and reports, and corrects nothing until the next
	// commit is applied.
	DriftWarn DriftMode = "warn"
	// DriftOff sets no watch; a drifted object is corrected only when a
	// new commit is applied.
	DriftOff DriftMode = "off"
)

// ParseDriftMode checks a drift mode's name.
func ParseDriftMode(s string) (DriftMode, error) {
	switch m := DriftMode(s); m {
	case DriftCorrect, DriftWarn, DriftOff:
		return m, nil
	}
	return "", fmt.Errorf("drift mode %q: want correct, warn or off", s)
}

func (c *Controller) driftMode(env string) DriftMode {
	if m, ok := c.cfg.Drift[env]; ok && m != "" {
		return m
	}
	return DriftCorrect
}

// Controller runs Config's loops. Create it with New.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	mu       gosync.Mutex
	triggers map[string]chan string // environment → pending reconcile reason
	ready    map[string]bool        // environment → session up and repository read
}

// New checks cfg and returns a controller ready to Run.
func New(cfg Config) (*Controller, error) {
	if cfg.Source == nil || cfg.Connect == nil || len(cfg.Environments) == 0 {
		return nil, errors.New("controller: a source, a connect function and at least one environment are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{cfg: cfg, log: log, triggers: map[string]chan string{}, ready: map[string]bool{}}
	for _, env := range cfg.Environments {
		if _, dup := c.triggers[env]; dup {
			return nil, fmt.Errorf("controller: environment %s given twice", env)
		}
		c.triggers[env] = make(chan string, 1)
	}
	return c, nil
}

// Trigger requests a reconcile of every environment now (a webhook); a
// request made while one is pending joins it.
func (c *Controller) Trigger(reason string) {
	for _, ch := range c.triggers {
		select {
		case ch <- reason:
		default:
		}
	}
}

// Ready tells whether every environment's loop has read the repository
// and holds a ZooKeeper session.
func (c *Controller) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, env := range c.cfg.Environments {
		if !c.ready[env] {
			return false
		}
	}
	return true
}

func (c *Controller) setReady(env string, ok bool) {
	c.mu.Lock()
	c.ready[env] = ok
	c.mu.Unlock()
}

// Run runs every environment's loop until ctx ends, then returns once each
// has stopped at its current step, released its lock and its leadership.
func (c *Controller) Run(ctx context.Context) error {
	var wg gosync.WaitGroup
	for _, env := range c.cfg.Environments {
		wg.Go(func() { c.runEnvironment(ctx, env) })
	}
	wg.Wait()
	return nil
}

// runEnvironment campaigns for env and, while elected, reconciles it;
// after a lost leadership or an error it starts over, after a backoff.
func (c *Controller) runEnvironment(ctx context.Context, env string) {
	log := c.log.With("environment", env)
	failures := 0
	for ctx.Err() == nil {
		err := c.campaign(ctx, env, log)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			d := c.cfg.Backoff.Delay(failures - 1)
			log.Warn("environment loop failed; starting over", "error", err, "retry_in", d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		failures = 0
	}
}

// campaign connects to env's cluster (as the followed branch describes
// it), waits to be elected, then leads until leadership is lost or ctx
// ends.
func (c *Controller) campaign(ctx context.Context, env string, log *slog.Logger) error {
	if err := c.cfg.Source.Fetch(ctx); err != nil {
		return err
	}
	target, err := c.cfg.Source.Target(ctx, c.cfg.Branch, env)
	if err != nil {
		return fmt.Errorf("render %s at %s: %w", env, refName(c.cfg.Branch), err)
	}
	d, err := c.cfg.Connect(ctx, target.Desired.Cluster)
	if err != nil {
		return err
	}
	defer d.Close()
	c.setReady(env, true)
	defer c.setReady(env, false)
	root := target.Root()
	log.Info("campaigning", "election", path.Join(root, state.ControllerElection))
	lead, err := d.ZK.Lock(ctx, path.Join(root, state.ControllerElection), c.cfg.Holder)
	if err != nil {
		return fmt.Errorf("election: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lead.Unlock(uctx)
		c.cfg.Metrics.leading(env, false)
	}()
	log.Info("elected: leading", "id", lead.ID())
	c.cfg.Metrics.leading(env, true)

	// Everything done as leader stops the moment leadership may be lost.
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lead.Lost():
			cancel(fmt.Errorf("leadership lost: %w", lead.Err()))
		case <-lctx.Done():
		}
	}()
	var cache *zk.TreeCache
	if c.driftMode(env) != DriftOff {
		// Hand edits are seen within a round trip, and a steady-state
		// reconcile reads no data znode: the cache holds them.
		if cache, err = d.ZK.WatchTree(lctx, path.Join(root, state.DataDir)); err != nil {
			return fmt.Errorf("watch %s: %w", path.Join(root, state.DataDir), err)
		}
		defer cache.Close()
	}
	c.lead(lctx, env, d, cache, log)
	if ctx.Err() == nil {
		log.Warn("leadership lost: stopped leading", "cause", context.Cause(lctx))
	}
	return nil
}

// failing is the commit whose reconcile failed, and when to try it again.
type failing struct {
	commit   string
	class    Class
	attempts int
	next     time.Time
}

// lead reconciles env at every poll, trigger and retry until ctx ends.
func (c *Controller) lead(ctx context.Context, env string, d *livestore.Drivers, cache *zk.TreeCache, log *slog.Logger) {
	var fail *failing
	var changed, invalid <-chan struct{} // nil without a cache: never ready
	if cache != nil {
		changed, invalid = cache.Changed(), cache.Invalid()
	}
	reason := "elected"
	timer := time.NewTimer(0) // the first reconcile runs at once
	defer timer.Stop()
	<-timer.C
	for {
		if ctx.Err() != nil {
			return
		}
		fail = c.reconcileOnce(ctx, env, d, cache, log, reason, fail)
		wait := jitter(c.cfg.Interval)
		if fail != nil && fail.class != Stalled {
			wait = min(wait, time.Until(fail.next))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case reason = <-c.triggers[env]:
		case <-timer.C:
			reason = "interval"
		case <-changed:
			reason = "watch"
		case <-invalid:
			log.Warn("the watched cache is invalid: leading again from the start", "error", cacheErr(cache))
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// reconcileOnce fetches the branch and, unless the commit is one that
// failed and is not yet due again, makes env's live state match it. It
// returns the failure to remember (nil after a success).
func (c *Controller) reconcileOnce(ctx context.Context, env string, d *livestore.Drivers, cache *zk.TreeCache, log *slog.Logger, reason string, fail *failing) *failing {
	start := time.Now()
	if err := c.cfg.Source.Fetch(ctx); err != nil {
		log.Warn("fetch failed", "error", err)
		c.cfg.Metrics.failed(env, Transient)
		return fail
	}
	target, renderErr := c.cfg.Source.Target(ctx, c.cfg.Branch, env)
	commit := ""
	if target != nil {
		commit = target.Commit
	}
	if fail != nil && fail.commit == commit && commit != "" {
		// The same commit failed before: a stalled one waits for a new
		// commit; a retryable one for its backoff. A new commit
		// supersedes it at once.
		if fail.class == Stalled || time.Now().Before(fail.next) {
			return fail
		}
	}
	log = log.With("revision", revisionOf(target), "reason", reason)
	if renderErr != nil {
		return c.failed(env, log, fail, commit, Stalled, fmt.Errorf("does not render: %w", renderErr), start)
	}
	live, err := c.readLive(ctx, env, d, cache, target.Root())
	if err != nil {
		return c.failed(env, log, fail, commit, Transient, err, start)
	}
	ev, err := rmsync.Evaluate(ctx, live, target)
	if err != nil {
		return c.failed(env, log, fail, commit, Stalled, err, start)
	}
	drift := len(ev.Drift)
	if ev.Changes.Empty() {
		log.Debug("reconciled: no change")
		c.cfg.Metrics.reconciled(env, "no_change", time.Since(start).Seconds())
		c.cfg.Metrics.succeeded(env, float64(time.Now().Unix()), drift)
		c.cfg.Metrics.environment(env, revisionOf(target), true, false)
		return nil
	}
	if mode := c.driftMode(env); mode != DriftCorrect && live.Meta.Status.LastAppliedRevision == target.Revision {
		// Nothing new in Git: what differs was changed by hand, and this
		// environment does not correct drift.
		if mode == DriftWarn {
			log.Warn("drift: live differs from the applied revision; not corrected (drift mode warn)", "objects", len(ev.Changes.Changes))
		}
		c.cfg.Metrics.succeeded(env, float64(time.Now().Unix()), len(ev.Changes.Changes))
		c.cfg.Metrics.reconciled(env, "drift_reported", time.Since(start).Seconds())
		return nil
	}
	if policies.Denied(ev.Findings) && c.cfg.DryRun {
		return c.failed(env, log, fail, commit, Stalled, rmsync.ErrDenied, start)
	}
	if c.cfg.DryRun {
		log.Info("dry run: changes not applied", "changes", len(ev.Changes.Changes))
		c.cfg.Metrics.reconciled(env, "dry_run", time.Since(start).Seconds())
		return nil
	}
	applier := &rmsync.Applier{
		Tree:       d.Tree(),
		Schema:     d.Schema(),
		Locker:     boundedLocker{l: d.Locker(c.cfg.Holder), timeout: c.cfg.LockTimeout},
		Holder:     fmt.Sprintf("controller %s@%s pid %d", c.cfg.Holder.User, c.cfg.Holder.Host, c.cfg.Holder.PID),
		Prefetched: live,
		Progress:   func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
	}
	out, err := applier.Apply(ctx, target, nil)
	if err != nil {
		return c.failed(env, log, fail, commit, classify(err, true), err, start)
	}
	log.Info("applied", "generation", out.Generation, "changes", len(out.Results), "drift_corrected", drift, "already_applied", out.AlreadyApplied != "")
	c.cfg.Metrics.reconciled(env, "success", time.Since(start).Seconds())
	c.cfg.Metrics.succeeded(env, float64(time.Now().Unix()), drift)
	c.cfg.Metrics.environment(env, revisionOf(target), true, false)
	return nil
}

// failed records a failed reconcile of commit and when to try it again.
func (c *Controller) failed(env string, log *slog.Logger, prev *failing, commit string, class Class, err error, start time.Time) *failing {
	attempts := 1
	if prev != nil && prev.commit == commit {
		attempts = prev.attempts + 1
	}
	delay := c.cfg.Backoff.Delay(attempts - 1)
	log.Warn("reconcile failed", "class", string(class), "error", err, "attempt", attempts, "retry_in", delay)
	result := "failure"
	if class == Stalled {
		result = "stalled"
	}
	c.cfg.Metrics.reconciled(env, result, time.Since(start).Seconds())
	c.cfg.Metrics.failed(env, class)
	c.cfg.Metrics.environment(env, commit, false, false)
	return &failing{commit: commit, class: class, attempts: attempts, next: time.Now().Add(delay)}
}

// readLive reads env's live state: the data znodes from the watched cache
// when there is one (only meta/ and the schema are read), else from
// ZooKeeper.
func (c *Controller) readLive(ctx context.Context, env string, d *livestore.Drivers, cache *zk.TreeCache, root string) (*rmsync.Live, error) {
	if cache == nil {
		return rmsync.ReadLive(ctx, d.Tree(), d.Schema(), env, root)
	}
	snap, err := cache.Snapshot()
	if err != nil {
		return nil, err
	}
	data := make(map[string]*state.Znode, len(snap))
	for rel, n := range snap {
		data[rel] = &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version, ModZxid: n.Stat.Mzxid}
	}
	return rmsync.ReadLiveCached(ctx, d.Tree(), d.Schema(), env, root, data)
}

func cacheErr(cache *zk.TreeCache) error {
	_, err := cache.Snapshot()
	return err
}

// boundedLocker bounds the wait for a lock.
type boundedLocker struct {
	l       rmsync.Locker
	timeout time.Duration
}

func (b boundedLocker) Lock(ctx context.Context, dir string) (rmsync.Lock, error) {
	lctx, cancel := context.WithTimeout(ctx, cmp.Or(b.timeout, 30*time.Second))
	defer cancel()
	return b.l.Lock(lctx, dir)
}

func revisionOf(t *rmsync.Target) string {
	if t == nil {
		return ""
	}
	return t.Revision
}

func refName(ref string) string {
	if ref == "" {
		return "the default branch"
	}
	return ref
}

// sleep waits d or until ctx ends; false when ctx ended.
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
