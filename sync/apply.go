package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

// Applier applies targets to one environment's cluster. Its drivers are
// wired in cmd/ringmaster.
type Applier struct {
	Tree   Tree
	Schema Schema
	Locker Locker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Progress receives one line per step; nil discards.
	Progress func(format string, args ...any)
	// Holder names this process for status and the in-progress record
	// ("alice@build-7 pid 42"); "" is allowed.
	Holder string
	// Prefetched, when set, is the live state read before the lock (for
	// the plan shown): under the lock Apply then reads only meta/ and the
	// schema, not the whole tree again (see readUnderLock).
	Prefetched *Live
	// ACLs, when set, repairs ACLs that drifted from the environment's
	// policy (Cluster.ACL) at every apply; nil or no policy: ACLs are not
	// looked at.
	ACLs ACLKeeper
	// PrefetchedEvaluation, when set, is Prefetched evaluated against the
	// target Apply is given (the plan shown): under the lock it stands
	// instead of a second evaluation when nothing changed in between
	// (meta/ at the versions read and the same schema version; a data
	// znode changed since fails its transaction's version check).
	PrefetchedEvaluation *Evaluation
}

// Outcome is what an apply did.
type Outcome struct {
	// Interrupted is an earlier apply this one found unfinished (killed,
	// or it lost its lock), now recorded in history; nil if none.
	Interrupted *InProgress
	// AlreadyApplied is set when a stale plan's target was already live
	// (another apply of the same commit won the race): it says which.
	AlreadyApplied string
	Evaluation     *Evaluation
	Results        []ChangeResult
	Status         *Status
	// StatusRecorded is false when the status could not be written (the
	// lock was lost): the caller must say so, with StatusError, the why.
	StatusRecorded bool
	StatusError    error
	Generation     int64
	// ACLRepaired lists the znodes (relative to the root) whose ACL the
	// apply put back to the policy's.
	ACLRepaired []string
	// RepairJobs are the repair and cleanup jobs the apply left for the
	// agents (replication changes).
	RepairJobs []RepairJob
}

// ErrDenied means a policy denied the change set.
var ErrDenied = errors.New("denied by policy")

// ErrLockLost means the apply lost its lock and stopped.
var ErrLockLost = errors.New("lock lost")

// ErrInterrupted means the apply's context was cancelled (a signal) and it
// stopped between steps; its status says what was applied.
var ErrInterrupted = errors.New("interrupted")

// ErrOutsideRoot means a write addressed a znode outside the environment's
// root; nothing of that write was sent.
var ErrOutsideRoot = errors.New("znode outside the environment's root")

// statusTimeout bounds recording status after a failure or an interrupt.
const statusTimeout = 10 * time.Second

// confine checks that every write lies strictly below root.
func confine(root string, batches ...[]ZnodeOp) error {
	for _, ops := range batches {
		for _, op := range ops {
			if !state.Within(root, op.Path) {
				return fmt.Errorf("%w: refusing to write %q (root %s)", ErrOutsideRoot, op.Path, root)
			}
		}
	}
	return nil
}

func (a *Applier) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Applier) progress(format string, args ...any) {
	if a.Progress != nil {
		a.Progress(format, args...)
	}
}

// Apply takes the environment's lock, re-reads the live state, refuses a
// stale plan (plan may be nil: apply what the target says now), refuses a
// policy deny, applies schema changes one statement at a time (each
// verified) and then the ZooKeeper changes in fenced transactions whose last
// one bumps meta/generation and records inventory and status. A failure
// partway stops the apply and records which changes were applied and which
// were not; running it again converges.
func (a *Applier) Apply(ctx context.Context, target *Target, plan *Plan) (*Outcome, error) {
	root := target.Root()
	lock, err := a.Locker.Lock(ctx, path.Join(root, state.ApplyLock))
	if err != nil {
		reason := ReasonLockTimeout
		if ctx.Err() != nil {
			reason = ReasonInterrupted
			err = fmt.Errorf("%w while waiting for the lock: %w", ErrInterrupted, err)
		}
		a.recordAttempt(ctx, root, target, reason, err)
		return nil, err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	a.progress("lock %s held (id %s)", path.Join(root, state.ApplyLock), lock.ID())

	live, unchanged, err := readUnderLock(ctx, a.Tree, a.Schema, target.Desired.Environment, root, a.Prefetched)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Status: &live.Meta.Status, Generation: live.Meta.Generation.Generation}
	out.Status.Environment = target.Desired.Environment
	if prev := unfinishedApply(live, lock.ID()); prev != nil {
		// An earlier apply began and never recorded its end: it was killed
		// or lost its lock. Record it; its writes are attributed to it.
		a.progress("an earlier apply did not finish: %s (planned %s); this apply completes or corrects it", prev, prev.Summary())
		out.Status.addHistory(HistoryEntry{Revision: prev.Revision, At: prev.StartedAt, Result: ReasonInterrupted,
			Message: fmt.Sprintf("did not finish (killed, or lost its lock): %s; planned %s", prev, prev.Summary())})
		out.Interrupted = prev
	}
	fail := func(reason string, err error) (*Outcome, error) {
		// Status is recorded even when ctx was cancelled (an interrupt):
		// the record of what was applied must outlive the signal.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
		defer cancel()
		out.StatusError = a.writeStatus(sctx, lock, root, live, target, out, reason, err)
		out.StatusRecorded = out.StatusError == nil
		return out, err
	}
	interrupted := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: stopped between steps: %w", ErrInterrupted, context.Cause(ctx))
		}
		return nil
	}
	var stale error
	if plan != nil {
		stale = checkBase(plan.Base, live)
	}
	var ev *Evaluation
	if unchanged && a.PrefetchedEvaluation != nil {
		live.State.Cluster = target.Desired.Cluster // as Evaluate leaves it
		ev = a.PrefetchedEvaluation
	} else {
		ev, err = Evaluate(ctx, live, target)
	}
	if err != nil && ctx.Err() != nil {
		return fail(ReasonInterrupted, fmt.Errorf("%w: %w", ErrInterrupted, err))
	}
	if err != nil {
		return fail(ReasonApplyFailed, err)
	}
	out.Evaluation = ev
	if plan != nil && stale == nil {
		stale = samePlannedChanges(plan, ev)
	}
	if stale != nil {
		if actionable(ev) > 0 || policies.Denied(ev.Findings) {
			return fail(ReasonStalePlan, stale)
		}
		// The plan is stale only because its target is already live (two
		// applies of one commit): nothing to do, and that is a success.
		out.AlreadyApplied = fmt.Sprintf("%s (generation %d, applied %s by %s)", orUnknown(live.Meta.Status.LastAppliedRevision),
			live.Meta.Generation.Generation, live.Meta.Status.LastAppliedAt.UTC().Format(time.RFC3339), orUnknown(live.Meta.Status.LastAppliedBy))
		a.progress("the plan is stale, but live already matches its target: already applied, %s", out.AlreadyApplied)
	}
	if policies.Denied(ev.Findings) {
		var denies []string
		for _, f := range ev.Findings {
			if f.Severity == policies.Deny {
				denies = append(denies, fmt.Sprintf("%s %s: %s", f.Code, f.Object, f.Message))
			}
		}
		return fail(ReasonPolicyDenied, fmt.Errorf("%w: %s", ErrDenied, joinLines(denies)))
	}

	// Results start as "not attempted"; each step updates its entries.
	index := map[string]int{}
	for _, ch := range ev.Changes.Changes {
		index[ch.ID()] = len(out.Results)
		r := ChangeResult{ID: ch.ID(), Action: string(ch.Action()), Result: ResultPending}
		if why, skip := ev.Skipped[ch.ID()]; skip {
			r.Result, r.Message = ResultSkipped, why
		}
		out.Results = append(out.Results, r)
	}
	set := func(id, result, msg string) {
		out.Results[index[id]].Result = result
		out.Results[index[id]].Message = msg
	}

	// The trace: before anything changes, record that this apply began,
	// so that a kill or a lost lock leaves more than silence.
	if n := actionable(ev); n > 0 {
		if err := a.beginInProgress(ctx, lock, root, live, target, ev); err != nil {
			if errors.Is(err, ErrLockLost) {
				return fail(ReasonLockLost, err)
			}
			return fail(ReasonApplyFailed, err)
		}
	}

	// Schema first: configuration that names a table must not reach the
	// agents before the table exists.
	var repair []string
	for _, ch := range ev.Changes.Changes {
		if ch.ObjectKind() == diff.KindZnode {
			continue
		}
		if err := interrupted(); err != nil {
			set(ch.ID(), ResultPending, "interrupted before this change")
			return fail(ReasonInterrupted, err)
		}
		// Cassandra has no conditional DDL: the closest fence is to prove,
		// with a round trip to ZooKeeper, that the lock is held right
		// before the statement, and again right after.
		if err := lock.Verify(ctx); err != nil {
			set(ch.ID(), ResultPending, "the lock could not be proven held before this change")
			return fail(ReasonLockLost, fmt.Errorf("%w: before %s: %w", ErrLockLost, ch.ID(), err))
		}
		stmts, err := a.Schema.Statements(ch)
		if err == nil {
			for _, stmt := range stmts {
				a.progress("cassandra: %s", firstLine(stmt))
				if err = a.Schema.Apply(ctx, stmt); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = a.Schema.Verify(ctx, ch)
		}
		if verr := lock.Verify(context.WithoutCancel(ctx)); verr != nil {
			// It ran, or may have, while another apply could hold the lock:
			// never "applied". The next apply reads the schema and corrects it.
			set(ch.ID(), ResultUnknown, "ran after the lock may have been lost: verify (the next apply reads the schema and corrects it)")
			return fail(ReasonLockLost, fmt.Errorf("%w: after %s, which ran and must be verified: %w", ErrLockLost, ch.ID(), verr))
		}
		if err != nil && ctx.Err() != nil {
			// The statement may have reached Cassandra before the
			// interrupt: say so rather than call it failed.
			set(ch.ID(), ResultUnknown, "interrupted while running, outcome unknown (diff shows whether it took effect): "+err.Error())
			return fail(ReasonInterrupted, fmt.Errorf("%w while applying %s: %w", ErrInterrupted, ch.ID(), err))
		}
		if err != nil {
			set(ch.ID(), ResultFailed, err.Error())
			return fail(ReasonApplyFailed, fmt.Errorf("%s: %w", ch.ID(), err))
		}
		set(ch.ID(), ResultApplied, "")
		if mk, ok := ch.(*diff.ModifyKeyspace); ok && mk.ReplicationChanged {
			repair = append(repair, mk.To.Name)
		}
	}

	// ACLs that drifted go back to the policy's before any data is
	// written: a znode open to anyone is not left open for another apply.
	if pol := target.Desired.Cluster.ACL; a.ACLs != nil && pol != nil {
		if err := interrupted(); err != nil {
			return fail(ReasonInterrupted, err)
		}
		fixed, err := a.ACLs.Repair(ctx, root, pol)
		out.ACLRepaired = fixed
		if err != nil {
			return fail(ReasonApplyFailed, fmt.Errorf("repair ACLs (%d repaired before the failure): %w", len(fixed), err))
		}
		if len(fixed) > 0 {
			a.progress("zookeeper: repaired the ACL of %d znode(s): %s", len(fixed), strings.Join(firstN(fixed, 5), ", "))
		}
	}

	// Then ZooKeeper: data changes in fenced batches, meta in the last one.
	var ops []ZnodeOp
	var zids, zpaths []string
	newInv := Inventory{Znodes: map[string]int32{}, Keyspaces: map[string]string{}}
	for p, v := range live.Meta.Inventory.Znodes {
		newInv.Znodes[p] = v
	}
	for _, ch := range ev.Changes.Changes {
		if _, skip := ev.Skipped[ch.ID()]; skip {
			continue
		}
		switch c := ch.(type) {
		case *diff.CreateZnode:
			ops = append(ops, ZnodeOp{Kind: OpCreate, Path: path.Join(root, c.Znode.Path), Data: c.Znode.Data})
			newInv.Znodes[c.Znode.Path] = 0
		case *diff.UpdateZnode:
			ops = append(ops, ZnodeOp{Kind: OpSet, Path: path.Join(root, c.To.Path), Data: c.To.Data, Version: c.From.Version})
			newInv.Znodes[c.To.Path] = c.From.Version + 1
		case *diff.DeleteZnode:
			ops = append(ops, ZnodeOp{Kind: OpDelete, Path: path.Join(root, c.Znode.Path), Version: c.Znode.Version})
			delete(newInv.Znodes, c.Znode.Path)
		default:
			continue
		}
		zids = append(zids, ch.ID())
		zpaths = append(zpaths, strings.TrimPrefix(ops[len(ops)-1].Path, root+"/"))
	}
	// Every desired znode is managed, changed or not.
	for p := range target.Desired.Znodes {
		if _, ok := newInv.Znodes[p]; !ok {
			if z, ok := live.State.Znodes[p]; ok {
				newInv.Znodes[p] = z.Version
			}
		}
	}
	schemaNow := live.State.Keyspaces
	if a.Schema != nil && len(ev.Changes.Changes) > len(zids) {
		if schemaNow, err = a.Schema.Read(ctx); err != nil {
			return fail(ReasonApplyFailed, fmt.Errorf("read schema after apply: %w", err))
		}
	}
	for name := range target.Desired.Keyspaces {
		newInv.Keyspaces[name] = Fingerprint(schemaNow[name])
		newInv.recordSchema(name, schemaNow[name], target.Desired.Keyspaces[name])
		for t := range target.Desired.Keyspaces[name].Tables {
			newInv.Tables = append(newInv.Tables, name+"."+t)
		}
	}
	sortStrings(newInv.Tables)

	now := a.now()
	for _, id := range zids {
		set(id, ResultApplied, "") // provisional: the write below decides
	}
	changed := len(ev.Changes.Changes)-len(ev.Skipped) > 0
	st := out.Status
	// What the success record replaces, for when its transaction fails.
	before := Status{LastAppliedRevision: st.LastAppliedRevision, LastAppliedAt: st.LastAppliedAt, LastAppliedBy: st.LastAppliedBy,
		Conditions: append([]Condition(nil), st.Conditions...), History: append([]HistoryEntry(nil), st.History...)}
	st.LastAttemptedRevision, st.LastAttemptedAt = target.Revision, now
	st.LastAppliedRevision, st.LastAppliedAt, st.LastAppliedBy = target.Revision, now, a.Holder
	st.Results, st.ResultsOmitted = boundResults(out.Results)
	// Replication changes leave repair jobs for the agents (made below,
	// once the generation is known); a keyspace whose nodes cannot be
	// listed is left "repair required".
	var repairNodes []RepairNode
	if len(repair) > 0 {
		if nl, ok := a.Schema.(NodeLister); ok {
			if repairNodes, err = nl.Nodes(ctx); err != nil {
				a.progress("cassandra: the nodes to repair could not be listed (%v): %s left repair required", err, strings.Join(repair, ", "))
				repairNodes = nil
			}
		}
	}
	if len(repairNodes) == 0 {
		st.RepairRequired = mergeRepairs(st.RepairRequired, repair)
	}
	msg := fmt.Sprintf("applied %d change(s) from %s", countResult(out.Results, ResultApplied), target.Revision)
	switch {
	case out.AlreadyApplied != "":
		msg = "already applied: live matches " + out.AlreadyApplied
	case !changed:
		msg = "no changes: live matches " + target.Revision
	}
	if n := len(out.ACLRepaired); n > 0 {
		msg += fmt.Sprintf("; repaired the ACL of %d znode(s)", n)
	}
	st.setReady(true, ReasonSucceeded, msg, now)
	st.addHistory(HistoryEntry{Revision: target.Revision, At: now, Result: ReasonSucceeded, Changes: countResult(out.Results, ResultApplied)})
	gen := live.Meta.Generation
	if changed {
		// After an apply that failed or was interrupted, writes that no
		// generation announced may be live: readers read everything.
		ready := before.Ready()
		gen = newGeneration(gen, target.Revision, now, zpaths, ready != nil && ready.Status == "True" && out.Interrupted == nil)
	}
	// The inventory's znode entries go in shards, written after the data
	// they describe and before the last transaction, which carries the
	// index, status, schema and generation: no bookkeeping of ringmaster's
	// grows that transaction with the environment.
	shardOps, invIndex, err := inventoryOps(root, live.Meta, newInv)
	if err != nil {
		return fail(ReasonApplyFailed, err)
	}
	ops = append(ops, shardOps...)
	final, err := metaOps(root, live.Meta, gen, invIndex, *st, SchemaRecord{
		Fingerprint: schemaFingerprint(pick(schemaNow, target.Desired.Keyspaces)), SchemaVersion: live.SchemaVersion, Revision: target.Revision, AppliedAt: now,
	})
	if err != nil {
		return fail(ReasonApplyFailed, err)
	}
	if len(repairNodes) > 0 {
		for _, ch := range ev.Changes.Changes {
			mk, ok := ch.(*diff.ModifyKeyspace)
			if !ok || out.Results[index[ch.ID()]].Result != ResultApplied {
				continue
			}
			for _, job := range RepairJobsFor(mk, repairNodes, target.Revision, gen.Generation, now) {
				raw, err := json.Marshal(job)
				if err != nil {
					return fail(ReasonApplyFailed, err)
				}
				final = append(final, ZnodeOp{Kind: OpCreate, Path: path.Join(root, state.RepairsDir, job.ID), Data: raw})
				out.RepairJobs = append(out.RepairJobs, job)
			}
		}
	}
	if ro := target.Desired.Cluster.Rollout; ro != nil && changed && settingsChanged(zpaths) {
		// Node settings changed: their rollout starts at stage 0.
		rec := RolloutRecord{Generation: gen.Generation, Revision: target.Revision, Spec: *ro, State: RolloutRolling, StartedAt: now, StageSince: now}
		rec.Trace = []StageTrace{{Name: rec.StageName(0), Started: now}}
		op, err := putOp(root, state.RolloutPath, live.Meta.rolloutVersion, rec)
		if err != nil {
			return fail(ReasonApplyFailed, err)
		}
		final = append([]ZnodeOp{op}, final...)
	}
	if err := checkLock(lock); err != nil {
		for _, id := range zids {
			set(id, ResultPending, "lock lost before ZooKeeper writes")
		}
		return fail(ReasonLockLost, err)
	}
	if err := interrupted(); err != nil {
		for _, id := range zids {
			set(id, ResultPending, "interrupted before ZooKeeper writes")
		}
		return fail(ReasonInterrupted, err)
	}
	// Defence in depth: render only produces paths below the root, and
	// nothing else may reach the writer.
	if err := confine(root, ops, final); err != nil {
		for _, id := range zids {
			set(id, ResultPending, "")
		}
		return fail(ReasonApplyFailed, err)
	}
	a.progress("zookeeper: %d write(s) under %s, generation %d", len(ops), root, gen.Generation)
	applied, err := a.Tree.Write(ctx, lock.Fence(), ops, final)
	if err != nil {
		for i, id := range zids {
			if i < applied {
				set(id, ResultApplied, "")
			} else {
				set(id, ResultPending, "")
			}
		}
		var unsure *UncertainError
		switch {
		case errors.As(err, &unsure):
			// Sent, answer lost: they all committed or none did.
			for i := applied; i < applied+unsure.N && i < len(zids); i++ {
				set(zids[i], ResultUnknown, "sent, but the answer was lost with the connection: committed all together or not at all; the next apply reads them and corrects")
			}
		case errors.Is(err, ErrLockLost) && applied < len(zids):
			set(zids[applied], ResultPending, "the lock was lost: not written")
		case errors.Is(err, ErrStalePlan) && applied < len(zids):
			set(zids[applied], ResultPending, "changed since it was read: not written")
		case applied < len(zids):
			set(zids[applied], ResultFailed, err.Error())
		}
		// The success record rode in the failed transaction: put back what
		// it replaced, and record the failure instead.
		st.LastAppliedRevision, st.LastAppliedAt, st.LastAppliedBy = before.LastAppliedRevision, before.LastAppliedAt, before.LastAppliedBy
		st.Conditions, st.History = before.Conditions, before.History
		switch {
		case errors.Is(err, ErrLockLost):
			return fail(ReasonLockLost, fmt.Errorf("zookeeper writes: %w", err))
		case errors.Is(err, ErrStalePlan):
			return fail(ReasonStalePlan, fmt.Errorf("zookeeper writes: a znode changed since it was read (run plan again): %w", err))
		case ctx.Err() != nil:
			return fail(ReasonInterrupted, fmt.Errorf("%w during zookeeper writes: %w", ErrInterrupted, err))
		}
		return fail(ReasonApplyFailed, fmt.Errorf("zookeeper writes: %w", err))
	}
	out.Generation = gen.Generation
	out.StatusRecorded = true
	return out, nil
}

// writeStatus records a failed attempt in meta/status under the lock.
func (a *Applier) writeStatus(ctx context.Context, lock Lock, root string, live *Live, target *Target, out *Outcome, reason string, cause error) error {
	now := a.now()
	st := out.Status
	st.Environment = target.Desired.Environment
	st.LastAttemptedRevision, st.LastAttemptedAt = target.Revision, now
	st.Results, st.ResultsOmitted = boundResults(out.Results)
	st.setReady(false, reason, cause.Error(), now)
	st.addHistory(HistoryEntry{Revision: target.Revision, At: now, Result: reason, Changes: countResult(out.Results, ResultApplied), Message: cause.Error()})
	// Status is written with the current meta version, re-read: an earlier
	// transaction of this apply may have moved it.
	meta, err := readMetaOf(ctx, a.Tree, root)
	if err != nil {
		return err
	}
	op, err := putOp(root, state.StatusPath, meta.Versions[state.StatusPath], st)
	if err != nil {
		return err
	}
	ops := []ZnodeOp{op}
	if v := meta.Versions[state.InProgressPath]; v >= 0 {
		// The end is recorded: the trace has served.
		ops = append(ops, ZnodeOp{Kind: OpDelete, Path: path.Join(root, state.InProgressPath), Version: v})
	}
	if err := checkLock(lock); err != nil {
		return err
	}
	_, err = a.Tree.Write(ctx, lock.Fence(), nil, ops)
	return err
}

// RecordFailure records, under the apply lock, that revision failed
// before any change could be attempted (it does not render, or its rules
// do not compile): Ready turns False with reason and cause, the attempt
// goes in history, and nothing else changes (an earlier apply's
// in-progress trace stays for the next apply to record).
func (a *Applier) RecordFailure(ctx context.Context, root, env, revision, reason string, cause error) error {
	return a.updateStatus(ctx, root, func(st *Status) error {
		now := a.now()
		st.Environment = env
		st.LastAttemptedRevision, st.LastAttemptedAt = revision, now
		st.Results, st.ResultsOmitted = nil, 0
		st.setReady(false, reason, cause.Error(), now)
		st.addHistory(HistoryEntry{Revision: revision, At: now, Result: reason, Message: cause.Error()})
		return nil
	})
}

// updateStatus takes the apply lock, reads meta/status, lets change edit
// it (an error from change writes nothing) and writes it back, fenced and
// checking the version read.
func (a *Applier) updateStatus(ctx context.Context, root string, change func(*Status) error) error {
	lock, err := a.Locker.Lock(ctx, path.Join(root, state.ApplyLock))
	if err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	meta, err := readMetaOf(ctx, a.Tree, root)
	if err != nil {
		return err
	}
	st := meta.Status
	if err := change(&st); err != nil {
		return err
	}
	op, err := putOp(root, state.StatusPath, meta.Versions[state.StatusPath], st)
	if err != nil {
		return err
	}
	if err := checkLock(lock); err != nil {
		return err
	}
	if _, err := a.Tree.Write(ctx, lock.Fence(), nil, []ZnodeOp{op}); err != nil {
		return fmt.Errorf("record the status: %w", err)
	}
	return nil
}

// beginInProgress writes meta/in-progress for this apply under its lock
// and notes the record's version in live.Meta, so that the transaction that
// records the end removes it.
func (a *Applier) beginInProgress(ctx context.Context, lock Lock, root string, live *Live, target *Target, ev *Evaluation) error {
	rec := InProgress{LockID: lock.ID(), Holder: a.Holder, Revision: target.Revision, StartedAt: a.now(), Changes: map[string]int{}}
	for _, ch := range ev.Changes.Changes {
		if _, skip := ev.Skipped[ch.ID()]; !skip {
			rec.Changes[ch.ObjectKind()]++
		}
	}
	v := live.Meta.Versions[state.InProgressPath]
	op, err := putOp(root, state.InProgressPath, v, rec)
	if err != nil {
		return err
	}
	if err := checkLock(lock); err != nil {
		return err
	}
	if _, err := a.Tree.Write(ctx, lock.Fence(), nil, []ZnodeOp{op}); err != nil {
		return fmt.Errorf("record the apply in progress: %w", err)
	}
	live.Meta.Versions[state.InProgressPath] = v + 1 // a create makes version 0
	return nil
}

// actionable counts the changes an apply would make (skipped ones aside).
func actionable(ev *Evaluation) int {
	return len(ev.Changes.Changes) - len(ev.Skipped)
}

// mergeRepairs keeps every keyspace that still needs a repair and adds the
// new ones: a repair need ends only when it is recorded done, never by a
// later apply.
func mergeRepairs(had, added []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range append(append([]string{}, had...), added...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// recordAttempt notes an attempt that could not take the lock in
// meta/last-attempt (unfenced, informational: the status belongs to the
// lock holder).
func (a *Applier) recordAttempt(ctx context.Context, root string, target *Target, reason string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
	defer cancel()
	meta, err := readMetaOf(ctx, a.Tree, root)
	if err != nil {
		return
	}
	op, err := putOp(root, state.AttemptPath, meta.Versions[state.AttemptPath], HistoryEntry{
		Revision: target.Revision, At: a.now(), Result: reason, Message: cause.Error(),
	})
	if err != nil {
		return
	}
	_, _ = a.Tree.Write(ctx, Fence{}, nil, []ZnodeOp{op})
}

// metaOps builds the final transaction's writes.
func metaOps(root string, m *Meta, gen Generation, inv Inventory, st Status, sr SchemaRecord) ([]ZnodeOp, error) {
	var ops []ZnodeOp
	for _, w := range []struct {
		rel string
		v   any
	}{{state.InventoryPath, inv}, {state.StatusPath, st}, {state.SchemaPath, sr}, {state.GenerationPath, gen}} {
		op, err := putOp(root, w.rel, m.Versions[w.rel], w.v)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if v := m.Versions[state.InProgressPath]; v >= 0 {
		// The apply's end is recorded in this transaction: so goes its trace.
		ops = append(ops[:len(ops)-1], ZnodeOp{Kind: OpDelete, Path: path.Join(root, state.InProgressPath), Version: v}, ops[len(ops)-1])
	}
	return ops, nil
}

func checkLock(l Lock) error {
	select {
	case <-l.Lost():
		return fmt.Errorf("%w (id %s): stopped, nothing more is written", ErrLockLost, l.ID())
	default:
		return nil
	}
}

// samePlannedChanges checks that live still yields the planned changes.
func samePlannedChanges(p *Plan, ev *Evaluation) error {
	want := map[string]string{}
	for _, c := range p.Changes {
		want[c.ID] = c.Action
	}
	var moved []string
	got := map[string]bool{}
	for _, ch := range ev.Changes.Changes {
		got[ch.ID()] = true
		if a, ok := want[ch.ID()]; !ok || a != string(ch.Action()) {
			moved = append(moved, fmt.Sprintf("%s %s is not in the plan", ch.Action(), ch.ID()))
		}
	}
	for _, c := range p.Changes {
		if !got[c.ID] {
			moved = append(moved, fmt.Sprintf("planned %s %s is no longer needed", c.Action, c.ID))
		}
	}
	if len(moved) > 0 {
		return &StaleError{Moved: moved}
	}
	return nil
}

func countResult(rs []ChangeResult, result string) int {
	n := 0
	for _, r := range rs {
		if r.Result == result {
			n++
		}
	}
	return n
}

func pick(all, names map[string]*state.Keyspace) map[string]*state.Keyspace {
	out := map[string]*state.Keyspace{}
	for n := range names {
		out[n] = all[n]
	}
	return out
}

// firstN is at most the first n of s, with "..." after when there are more.
func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), "...")
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i] + " …"
		}
	}
	return s
}

func joinLines(lines []string) string { return strings.Join(lines, "; ") }
