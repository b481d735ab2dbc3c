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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	gosync "sync"
	"time"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/gitsource"
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
	// Notify are the receivers of the controller's events (applied,
	// failed, stalled, drift corrected, suspended).
	Notify []Notifier
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
	leaders  map[string]*leading    // environment → this replica's leadership, while it leads
	notes    *notifications
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
	c := &Controller{cfg: cfg, log: log, triggers: map[string]chan string{}, ready: map[string]bool{}, leaders: map[string]*leading{},
		notes: newNotifications(cfg.Notify, log)}
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

func (c *Controller) setLeader(env string, l *leading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l == nil {
		delete(c.leaders, env)
		return
	}
	c.leaders[env] = l
}

// leader is this replica's leadership of env, nil when it does not lead.
func (c *Controller) leader(env string) *leading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaders[env]
}

// setReady records whether env's loop holds a session and has read the
// repository.
func (c *Controller) setReady(env string, ok bool) {
	c.mu.Lock()
	c.ready[env] = ok
	c.mu.Unlock()
	c.cfg.Metrics.connected(env, ok)
}

// Run runs every environment's loop until ctx ends, then returns once each
// has stopped at its current step, released its lock and its leadership.
func (c *Controller) Run(ctx context.Context) error {
	var wg gosync.WaitGroup
	if len(c.cfg.Notify) > 0 {
		wg.Go(func() { c.notes.run(ctx) })
	}
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
	cluster, err := c.clusterOf(ctx, env, log)
	if err != nil {
		return err
	}
	d, err := c.cfg.Connect(ctx, cluster)
	if err != nil {
		return err
	}
	defer d.Close()
	// Readiness and the session gauge follow the session, short
	// disconnections included.
	follow, stopFollowing := context.WithCancel(ctx)
	var following gosync.WaitGroup
	following.Go(func() { c.followSession(follow, env, d.ZK) })
	defer func() {
		stopFollowing()
		following.Wait()
		c.setReady(env, false)
	}()
	root := cluster.ZooKeeperRoot
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
	l := &leading{env: env, root: root, d: d, log: log}
	if c.driftMode(env) != DriftOff {
		// Hand edits are seen within a round trip, and a steady-state
		// reconcile reads no data znode: the cache holds them.
		if l.data, err = d.ZK.WatchTree(lctx, path.Join(root, state.DataDir)); err != nil {
			return fmt.Errorf("watch %s: %w", path.Join(root, state.DataDir), err)
		}
		defer l.data.Close()
		if l.meta, err = d.ZK.WatchTree(lctx, path.Join(root, state.MetaDir)); err != nil {
			return fmt.Errorf("watch %s: %w", path.Join(root, state.MetaDir), err)
		}
		defer l.meta.Close()
	}
	if l.requests, err = d.ZK.WatchTree(lctx, path.Join(root, state.RequestsDir)); err != nil {
		return fmt.Errorf("watch %s: %w", path.Join(root, state.RequestsDir), err)
	}
	defer l.requests.Close()
	if l.agents, err = d.ZK.WatchTree(lctx, path.Join(root, state.AgentsDir)); err != nil {
		return fmt.Errorf("watch %s: %w", path.Join(root, state.AgentsDir), err)
	}
	defer l.agents.Close()
	c.setLeader(env, l)
	defer c.setLeader(env, nil)
	c.lead(lctx, l)
	if ctx.Err() == nil {
		log.Warn("leadership lost: stopped leading", "cause", context.Cause(lctx))
	}
	return nil
}

// clusterOf is the cluster env's cluster is reached at, as the followed
// branch describes it. When the branch head does not render, the
// environment's own manifests (ringmaster.yaml and environments/<env>/)
// still name it: the controller then campaigns, leads, and records in
// status why the head cannot be applied.
func (c *Controller) clusterOf(ctx context.Context, env string, log *slog.Logger) (state.Cluster, error) {
	target, err := c.cfg.Source.Target(ctx, c.cfg.Branch, env)
	if err == nil {
		return target.Desired.Cluster, nil
	}
	renderErr := fmt.Errorf("render %s at %s: %w", env, refName(c.cfg.Branch), err)
	cl, cerr := c.cfg.Source.Cluster(ctx, c.cfg.Branch, env)
	if cerr != nil || cl.ZooKeeperRoot == "" {
		return state.Cluster{}, renderErr
	}
	log.Warn("the branch head does not render; campaigning with the cluster its environment manifests name, to record why", "error", renderErr)
	return cl, nil
}

// followSession keeps env's readiness and session gauge equal to whether
// the session is Connected, until ctx ends.
func (c *Controller) followSession(ctx context.Context, env string, client *zk.Client) {
	for {
		st, changed := client.WatchState()
		c.setReady(env, st == zk.Connected)
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// failing is the commit whose reconcile failed, and when to try it again.
type failing struct {
	commit   string
	class    Class
	attempts int
	next     time.Time
}

// leading is what a leader works with.
type leading struct {
	env, root string
	d         *livestore.Drivers
	// data and meta watch <root>/data and <root>/meta (both nil when
	// drift is off), requests <root>/requests, agents <root>/agents (for
	// the fleet's metrics).
	data, meta, requests, agents *zk.TreeCache
	log                          *slog.Logger
	// applied is the target of the last reconcile that left the
	// environment equal to it (nil after a failure): what a hand edit is
	// restored to without a full reconcile.
	applied *rmsync.Target
	// generation is the environment's generation as last read or written.
	generation int64
	// rolloutState is the staged rollout's state as last logged.
	rolloutState string
}

// seen is a znode as the watched caches hold it (rel relative to the
// root: "data/...", "meta/..."), for sync's Restore.
func (l *leading) seen(rel string) (*state.Znode, bool) {
	cache, sub := l.data, strings.TrimPrefix(rel, state.DataDir+"/")
	if after, ok := strings.CutPrefix(rel, state.MetaDir+"/"); ok {
		cache, sub = l.meta, after
	}
	n, ok, err := cache.Get(sub)
	if err != nil || !ok {
		return nil, false
	}
	return &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version, ModZxid: n.Stat.Mzxid}, true
}

// pendingRequests are the reconcile requests not yet answered, from the
// watched cache of requests/.
func (l *leading) pendingRequests() []*rmsync.Request {
	snap, err := l.requests.Snapshot()
	if err != nil {
		return nil
	}
	var out []*rmsync.Request
	for id, n := range snap {
		if strings.Contains(id, "/") {
			continue
		}
		r, err := rmsync.DecodeRequest(id, n.Data)
		if err != nil || r.Handled() {
			continue
		}
		r.SetVersion(n.Stat.Version)
		out = append(out, r)
	}
	return out
}

// lead reconciles env at every poll, trigger, watch event and retry until
// ctx ends or the cache fails.
func (c *Controller) lead(ctx context.Context, l *leading) {
	var fail *failing
	var changed, invalid, metaInvalid <-chan struct{} // nil without the caches: never ready
	if l.data != nil {
		changed, invalid, metaInvalid = l.data.Changed(), l.data.Invalid(), l.meta.Invalid()
	}
	reason := "elected"
	timer := time.NewTimer(0) // the first reconcile runs at once
	defer timer.Stop()
	<-timer.C
	for {
		if ctx.Err() != nil {
			return
		}
		if reason != "" {
			fail = c.reconcileOnce(ctx, l, reason, fail)
		}
		c.fleetMetrics(l)
		var rolloutTimer <-chan time.Time
		if d := c.stepRollout(ctx, l); d > 0 {
			rolloutTimer = time.After(d)
		}
		wait := jitter(c.cfg.Interval)
		if fail != nil && fail.class != Stalled {
			wait = min(wait, time.Until(fail.next))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case reason = <-c.triggers[l.env]:
		case <-timer.C:
			reason = "interval"
		case <-changed:
			reason = "watch"
			if c.restore(ctx, l) {
				reason = ""
			}
		case <-l.requests.Changed():
			// Answers change requests/ too: only a pending request
			// asks for a reconcile.
			reason = ""
			if len(l.pendingRequests()) > 0 {
				reason = "request"
			}
		case <-invalid:
			l.log.Warn("the watched cache is invalid: leading again from the start", "error", cacheErr(l.data))
			return
		case <-l.agents.Changed():
			reason = ""
		case <-rolloutTimer:
			reason = ""
		case <-l.requests.Invalid():
			return
		case <-l.agents.Invalid():
			return
		case <-metaInvalid:
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

// fleetMetrics exports the node agents' convergence on l's generation,
// from the watched cache of agents/.
func (c *Controller) fleetMetrics(l *leading) {
	if c.cfg.Metrics == nil {
		return
	}
	var members []agent.Member
	_ = l.agents.Visit(func(rel string, n *zk.Node) {
		var m agent.Member
		if strings.Count(rel, "/") == 2 && json.Unmarshal(n.Data, &m) == nil {
			members = append(members, m)
		}
	})
	converged, down := 0, 0
	lag := int64(0)
	for _, m := range members {
		switch {
		case m.Converged(l.generation):
			converged++
		case m.State == "DOWN":
			down++
		}
		lag = max(lag, l.generation-m.Generation)
	}
	c.cfg.Metrics.fleet(l.env, converged, len(members)-converged-down, down, lag)
}

// stepRollout advances the environment's staged rollout of node settings,
// if one is running (agent.Step), and returns when to look again for a
// pause to end (0: at the next change). With drift watches on, the meta
// cache tells whether one runs; a stale cache at worst costs one look.
func (c *Controller) stepRollout(ctx context.Context, l *leading) time.Duration {
	if c.cfg.DryRun {
		return 0
	}
	if l.meta != nil {
		// The watched meta/ says whether a rollout runs: no round trip at
		// every wake of the loop when none does.
		n, ok, err := l.meta.Get(strings.TrimPrefix(state.RolloutPath, state.MetaDir+"/"))
		if err == nil && !ok {
			return 0
		}
		if err == nil {
			if r, derr := rmsync.DecodeRollout(n.Data); derr == nil && r != nil && r.State == rmsync.RolloutDone {
				return 0
			}
		}
	}
	r, wait, err := agent.Step(ctx, l.d.ZK, l.root, time.Now().UTC())
	switch {
	case err != nil:
		l.log.Warn("stepping the rollout failed", "error", err)
	case r != nil && r.State != l.rolloutState:
		l.log.Info("rollout", "rollout", r.String())
		l.rolloutState = r.State
	}
	return wait
}

// restore is the fast path of a hand edit in drift mode correct: the data
// znodes the watches saw change are put back to the last applied
// revision's bytes (sync's Restore: one fenced transaction, no tree read,
// no evaluation). It returns false when a full reconcile must run instead
// (nothing applied yet, too much changed, or Restore could not decide).
func (c *Controller) restore(ctx context.Context, l *leading) bool {
	paths, complete := l.data.TakeDirty()
	if !complete || l.applied == nil || c.cfg.DryRun || c.driftMode(l.env) != DriftCorrect {
		return false
	}
	start := time.Now()
	// The meta cache may not have seen this leader's own last write yet:
	// Restore's version checks start from what the server holds now.
	if err := l.meta.Barrier(ctx); err != nil {
		return false
	}
	rel := make([]string, len(paths))
	for i, p := range paths {
		rel[i] = path.Join(state.DataDir, p)
	}
	applier := &rmsync.Applier{
		Tree:   l.d.Tree(),
		Locker: boundedLocker{l: l.d.Locker(c.cfg.Holder), timeout: c.cfg.LockTimeout},
		Holder: c.holder(),
	}
	out, err := applier.Restore(ctx, l.applied, l.seen, rel)
	if err != nil {
		l.log.Debug("drift: a full reconcile corrects it", "why", err)
		return false
	}
	if len(out.Results) == 0 {
		return true // the change was ours, or was undone
	}
	revision := l.applied.Revision
	l.generation = out.Generation
	l.log.Info("drift corrected: restored to the applied revision", "revision", revision, "znodes", len(out.Results), "generation", out.Generation)
	c.event("drift_corrected", l.env, revision, out.Generation, fmt.Sprintf("%d object(s) restored to the applied revision", len(out.Results)))
	c.cfg.Metrics.reconciled(l.env, "applied", time.Since(start).Seconds())
	c.cfg.Metrics.succeeded(l.env, float64(time.Now().Unix()), len(out.Results))
	return true
}

func (c *Controller) holder() string {
	return fmt.Sprintf("controller %s@%s pid %d", c.cfg.Holder.User, c.cfg.Holder.Host, c.cfg.Holder.PID)
}

// reconcileOnce runs one reconcile and answers the reconcile requests
// pending when it began. It returns the failure to remember (nil after a
// success).
func (c *Controller) reconcileOnce(ctx context.Context, l *leading, reason string, fail *failing) *failing {
	pending := l.pendingRequests()
	fail, answer := c.reconcile(ctx, l, reason, fail, len(pending) > 0)
	if len(pending) > 0 {
		answer.HandledAt = time.Now().UTC()
		answer.HandledBy = fmt.Sprintf("%s@%s pid %d", c.cfg.Holder.User, c.cfg.Holder.Host, c.cfg.Holder.PID)
		if err := rmsync.AnswerRequests(context.WithoutCancel(ctx), l.d.Tree(), l.root, pending, answer); err != nil {
			l.log.Warn("answering reconcile requests failed", "error", err)
		}
	}
	return fail
}

// reconcile fetches the branch and, unless the commit is one that failed
// and is not yet due again (forced: a request asks for it anyway), makes
// env's live state match it. It returns the failure to remember and the
// answer for requests.
func (c *Controller) reconcile(ctx context.Context, l *leading, reason string, fail *failing, forced bool) (*failing, rmsync.Request) {
	env, d, log := l.env, l.d, l.log
	start := time.Now()
	if l.data != nil {
		l.data.TakeDirty() // this reconcile reads every node
	}
	l.applied = nil // until this reconcile succeeds
	// A watch event is a change in ZooKeeper, not in Git: the branch is
	// not fetched for it (the interval, webhooks and requests fetch).
	if reason != "watch" {
		if err := c.cfg.Source.Fetch(ctx); err != nil {
			log.Warn("fetch failed", "error", err)
			c.cfg.Metrics.failed(env, Transient)
			return fail, rmsync.Request{Result: "failed", Message: err.Error()}
		}
	}
	target, renderErr := c.cfg.Source.Target(ctx, c.cfg.Branch, env)
	commit, label := "", ""
	if target != nil {
		commit, label = target.Commit, target.Revision
	} else if renderErr != nil {
		// Named, so that a commit that does not render is stalled until
		// the next one, and status says which it was.
		commit, label, _ = c.cfg.Source.Head(ctx, c.cfg.Branch)
	}
	if fail != nil && fail.commit == commit && commit != "" && !forced {
		// The same commit failed before: a stalled one waits for a new
		// commit; a retryable one for its backoff. A new commit
		// supersedes it at once.
		if fail.class == Stalled || time.Now().Before(fail.next) {
			return fail, rmsync.Request{}
		}
	}
	log = log.With("revision", label, "reason", reason)
	failed := func(class Class, err error) (*failing, rmsync.Request) {
		result := "failed"
		if class == Stalled {
			result = "stalled"
		}
		c.event(result, env, label, 0, err.Error())
		return c.failed(env, log, fail, commit, class, err, start), rmsync.Request{Result: result, Message: err.Error(), Revision: label}
	}
	// stalledBefore records in status, under the apply lock, a revision
	// that failed before any change could be attempted.
	stalledBefore := func(err error) (*failing, rmsync.Request) {
		if !c.cfg.DryRun {
			reason := rmsync.ReasonRenderFailed
			if errors.Is(err, gitsource.ErrUntrusted) {
				reason = rmsync.ReasonUntrusted
			}
			applier := &rmsync.Applier{Tree: d.Tree(), Locker: boundedLocker{l: d.Locker(c.cfg.Holder), timeout: c.cfg.LockTimeout}, Holder: c.holder()}
			if rerr := applier.RecordFailure(ctx, l.root, env, cmp.Or(label, "unknown"), reason, err); rerr != nil {
				log.Warn("recording the failure in status failed", "error", rerr)
			}
		}
		return failed(Stalled, err)
	}
	if renderErr != nil {
		return stalledBefore(fmt.Errorf("does not render: %w", renderErr))
	}
	live, err := c.readLive(ctx, l, target.Root())
	if err != nil {
		return failed(Transient, err)
	}
	l.generation = live.Meta.Generation.Generation
	if s := live.Meta.Suspension; s != nil {
		if !s.Expired(time.Now()) {
			log.Info("suspended: nothing applied", "suspension", s.String())
			c.event("suspended", env, revisionOf(target), 0, s.String())
			c.cfg.Metrics.reconciled(env, "suspended", time.Since(start).Seconds())
			c.cfg.Metrics.environment(env, revisionOf(target), isReady(&live.Meta.Status), true)
			return nil, rmsync.Request{Result: "suspended", Message: "suspended " + s.String(), Revision: revisionOf(target)}
		}
		if _, err := rmsync.Resume(ctx, d.Tree(), target.Root()); err != nil {
			return failed(Transient, fmt.Errorf("end the expired suspension: %w", err))
		}
		log.Info("the suspension expired and ended: reconciling again", "suspension", s.String())
	}
	ev, err := rmsync.Evaluate(ctx, live, target)
	if err != nil && ctx.Err() != nil {
		return failed(Transient, err)
	}
	if err != nil {
		return stalledBefore(err)
	}
	drift := len(ev.Drift)
	ok := func(result, msg string, gen int64) (*failing, rmsync.Request) {
		if result == "no_change" || result == "applied" {
			l.applied = target
		}
		c.cfg.Metrics.reconciled(env, result, time.Since(start).Seconds())
		c.cfg.Metrics.succeeded(env, float64(time.Now().Unix()), drift)
		c.cfg.Metrics.environment(env, revisionOf(target), true, false)
		return nil, rmsync.Request{Result: result, Message: msg, Revision: revisionOf(target), Generation: gen}
	}
	if ev.Changes.Empty() {
		log.Debug("reconciled: no change")
		return ok("no_change", "live matches the revision", live.Meta.Generation.Generation)
	}
	if mode := c.driftMode(env); mode != DriftCorrect && live.Meta.Status.LastAppliedRevision == target.Revision {
		// Nothing new in Git: what differs was changed by hand, and this
		// environment does not correct drift.
		if mode == DriftWarn {
			log.Warn("drift: live differs from the applied revision; not corrected (drift mode warn)", "objects", len(ev.Changes.Changes))
		}
		drift = len(ev.Changes.Changes)
		return ok("drift_reported", fmt.Sprintf("%d object(s) differ from the applied revision; drift mode %s", drift, mode), live.Meta.Generation.Generation)
	}
	if policies.Denied(ev.Findings) && c.cfg.DryRun {
		return failed(Stalled, rmsync.ErrDenied)
	}
	if c.cfg.DryRun {
		log.Info("dry run: changes not applied", "changes", len(ev.Changes.Changes))
		return ok("dry_run", fmt.Sprintf("%d change(s) computed, none applied (dry run)", len(ev.Changes.Changes)), live.Meta.Generation.Generation)
	}
	applier := &rmsync.Applier{
		Tree:                 d.Tree(),
		Schema:               d.Schema(),
		ACLs:                 d.ACLs(),
		Locker:               boundedLocker{l: d.Locker(c.cfg.Holder), timeout: c.cfg.LockTimeout},
		Holder:               c.holder(),
		Prefetched:           live,
		PrefetchedEvaluation: ev,
		Progress:             func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
	}
	out, err := applier.Apply(ctx, target, nil)
	if err != nil {
		return failed(classify(err, true), err)
	}
	l.generation = out.Generation
	log.Info("applied", "generation", out.Generation, "changes", len(out.Results), "drift_corrected", drift, "already_applied", out.AlreadyApplied != "")
	if live.Meta.Status.LastAppliedRevision == target.Revision {
		c.event("drift_corrected", env, revisionOf(target), out.Generation, fmt.Sprintf("%d object(s) restored to the applied revision", len(out.Results)))
	} else {
		c.event("applied", env, revisionOf(target), out.Generation, fmt.Sprintf("%d change(s) applied", len(out.Results)))
	}
	return ok("applied", fmt.Sprintf("%d change(s) applied", len(out.Results)), out.Generation)
}

// failed records a failed reconcile of commit and when to try it again.
func (c *Controller) failed(env string, log *slog.Logger, prev *failing, commit string, class Class, err error, start time.Time) *failing {
	attempts := 1
	if prev != nil && prev.commit == commit {
		attempts = prev.attempts + 1
	}
	delay := c.cfg.Backoff.Delay(attempts - 1)
	log.Warn("reconcile failed", "class", string(class), "error", err, "attempt", attempts, "retry_in", delay)
	result := "failed"
	if class == Stalled {
		result = "stalled"
	}
	c.cfg.Metrics.reconciled(env, result, time.Since(start).Seconds())
	c.cfg.Metrics.failed(env, class)
	c.cfg.Metrics.environment(env, commit, false, false)
	return &failing{commit: commit, class: class, attempts: attempts, next: time.Now().Add(delay)}
}

// event notifies the receivers (deduplicated and rate-limited).
func (c *Controller) event(kind, env, revision string, generation int64, msg string) {
	c.notes.notify(Event{Kind: kind, Environment: env, Revision: revision, Generation: generation, Message: msg,
		Controller: fmt.Sprintf("%s@%s pid %d", c.cfg.Holder.User, c.cfg.Holder.Host, c.cfg.Holder.PID)})
}

// readLive reads env's live state: the data znodes from the watched cache
// when there is one (only meta/ and the schema are read), else from
// ZooKeeper. The caches first catch up with everything committed before
// (Barrier): right after an apply they are still taking in its writes,
// and a diff against them would redo them.
func (c *Controller) readLive(ctx context.Context, l *leading, root string) (*rmsync.Live, error) {
	if l.data == nil {
		return rmsync.ReadLive(ctx, l.d.Tree(), l.d.Schema(), l.env, root)
	}
	for _, cache := range []*zk.TreeCache{l.data, l.meta} {
		if err := cache.Barrier(ctx); err != nil {
			return nil, err
		}
	}
	data, err := znodesOf(l.data)
	if err != nil {
		return nil, err
	}
	meta, err := znodesOf(l.meta)
	if err != nil {
		return nil, err
	}
	return rmsync.ReadLiveCached(ctx, l.d.Schema(), l.env, data, meta)
}

// znodesOf is a cache's snapshot as sync's Tree.Read returns it.
func znodesOf(cache *zk.TreeCache) (map[string]*state.Znode, error) {
	var out map[string]*state.Znode
	err := cache.Visit(func(rel string, n *zk.Node) {
		if out == nil {
			out = map[string]*state.Znode{}
		}
		out[rel] = &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version, ModZxid: n.Stat.Mzxid}
	})
	if out == nil {
		out = map[string]*state.Znode{}
	}
	return out, err
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

// isReady tells whether st's Ready condition is True.
func isReady(st *rmsync.Status) bool {
	r := st.Ready()
	return r != nil && r.Status == "True"
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
