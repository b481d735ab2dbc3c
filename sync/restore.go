package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Restore is the fast path of drift correction, for a controller that
// keeps watched copies of an environment's data/ and meta/ subtrees: given
// the data znodes that changed (from the watches), it puts back the bytes
// of the revision last applied, without reading the tree, the schema or
// evaluating policies again.
//
// Invariants:
//   - It writes only bytes that the last apply of the same revision wrote
//     and whose policies allowed them (status must say that revision is
//     applied and Ready); it never deletes, and never writes a value Git
//     did not render.
//   - Everything it writes goes in one transaction under the apply lock,
//     fenced by the lock node: the restored znodes (each checking the
//     version seen, or created when gone), the inventory shards that
//     record them, status (history: DriftCorrected) and the generation.
//     All of it commits or none does, so no trace of an unfinished restore
//     is needed. A node or meta record that moved since it was seen fails
//     the transaction (ErrStalePlan): nothing is written.
//   - When it cannot decide alone it writes nothing and returns an error
//     wrapping ErrNeedsReconcile; the caller then runs a full reconcile.

// ErrNeedsReconcile means Restore could not correct the drift alone (the
// environment is not at the revision's applied, Ready state; an apply is
// in progress or was interrupted; the environment is suspended; a znode
// the revision no longer declares came back; too much drifted): nothing
// was written, and a full evaluation and apply must run.
var ErrNeedsReconcile = errors.New("needs a full reconcile")

// Seen gives a znode as a watched cache of the environment last saw it,
// by its path relative to the environment's root ("data/config/x",
// "meta/status"), without a request; ok is false when it saw none.
type Seen func(rel string) (z *state.Znode, ok bool)

// Bounds of one Restore: past them, the full apply's batches are the
// right tool (ReasonDriftCorrected history entries name at most
// restoreNamed objects).
const (
	MaxRestoreZnodes = 256
	maxRestoreBytes  = 128 << 10
	restoreNamed     = 5
)

// ReasonDriftCorrected is the history result of a restore.
const ReasonDriftCorrected = "DriftCorrected"

// Restored is what Restore did.
type Restored struct {
	// Results has one entry per znode put back; empty when every path
	// given already held the revision's bytes (nothing was written).
	Results    []ChangeResult
	Generation int64
}

// Restore puts back target's bytes for the data znodes among paths
// (relative to the root, "data/...") that differ from it, as seen by
// seen. See the invariants above.
func (a *Applier) Restore(ctx context.Context, target *Target, seen Seen, paths []string) (*Restored, error) {
	root := target.Root()
	m, err := seenMeta(seen)
	if err != nil {
		return nil, err
	}
	st := m.status
	switch ready := st.Ready(); {
	case st.LastAppliedRevision != target.Revision:
		return nil, fmt.Errorf("%w: the last applied revision is %s, not %s", ErrNeedsReconcile, orUnknown(st.LastAppliedRevision), target.Revision)
	case ready == nil || ready.Status != "True":
		return nil, fmt.Errorf("%w: the environment is not Ready", ErrNeedsReconcile)
	case m.inProgress:
		return nil, fmt.Errorf("%w: an apply is in progress or was interrupted", ErrNeedsReconcile)
	case m.suspended:
		return nil, fmt.Errorf("%w: the environment is suspended", ErrNeedsReconcile)
	case m.index.ZnodeShards == 0:
		return nil, fmt.Errorf("%w: the inventory is not sharded yet", ErrNeedsReconcile)
	}

	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	shards := map[string]*seenShard{}
	shardFor := func(p string) (*seenShard, error) {
		name := shardName(shardOf(p, m.index.ZnodeShards))
		if s, ok := shards[name]; ok {
			return s, nil
		}
		s := &seenShard{name: name, version: -1, entries: map[string]int32{}}
		if z, ok := seen(path.Join(state.InventoryShardsDir, name)); ok {
			s.version = z.Version
			if len(z.Data) > 0 {
				if err := json.Unmarshal(z.Data, &s.entries); err != nil {
					return nil, fmt.Errorf("read %s/%s: %w", state.InventoryShardsDir, name, err)
				}
			}
		}
		shards[name] = s
		return s, nil
	}
	var ops []ZnodeOp
	var results []ChangeResult
	size := 0
	for _, p := range sorted {
		if !state.Within(state.DataDir, p) {
			continue
		}
		want := target.Desired.Znodes[p]
		live, exists := seen(p)
		if want == nil {
			s, err := shardFor(p)
			if err != nil {
				return nil, err
			}
			if _, managed := s.entries[p]; managed && exists {
				// The revision removed it and it came back: deleting is
				// the full apply's (prune and policies decide).
				return nil, fmt.Errorf("%w: %s is managed and no longer declared", ErrNeedsReconcile, p)
			}
			continue // unmanaged, or a folder: left alone
		}
		if exists && bytes.Equal(live.Data, want.Data) {
			continue
		}
		if len(ops) == MaxRestoreZnodes {
			return nil, fmt.Errorf("%w: more than %d znodes drifted", ErrNeedsReconcile, MaxRestoreZnodes)
		}
		s, err := shardFor(p)
		if err != nil {
			return nil, err
		}
		last, managed := s.entries[p]
		id := state.ZnodeID(p)
		if exists {
			ops = append(ops, ZnodeOp{Kind: OpSet, Path: path.Join(root, p), Data: want.Data, Version: live.Version})
			s.entries[p] = live.Version + 1
			msg := "drift: changed outside ringmaster, restored"
			if managed {
				msg = fmt.Sprintf("drift: changed outside ringmaster (version %d, last applied %d), restored", live.Version, last)
			}
			results = append(results, ChangeResult{ID: id, Action: "update", Result: ResultApplied, Message: msg})
		} else {
			ops = append(ops, ZnodeOp{Kind: OpCreate, Path: path.Join(root, p), Data: want.Data})
			s.entries[p] = 0
			results = append(results, ChangeResult{ID: id, Action: "create", Result: ResultApplied, Message: "drift: deleted outside ringmaster, restored"})
		}
		s.changed = true
		size += len(p) + len(want.Data)
	}
	if len(ops) == 0 {
		return &Restored{Generation: m.generation.Generation}, nil
	}
	for _, name := range state.SortedKeys(shards) {
		s := shards[name]
		if !s.changed {
			continue
		}
		raw, err := json.Marshal(s.entries)
		if err != nil {
			return nil, fmt.Errorf("encode inventory shard %s: %w", name, err)
		}
		p := path.Join(root, state.InventoryShardsDir, name)
		if s.version < 0 {
			ops = append(ops, ZnodeOp{Kind: OpCreate, Path: p, Data: raw})
		} else {
			ops = append(ops, ZnodeOp{Kind: OpSet, Path: p, Data: raw, Version: s.version})
		}
		size += len(raw)
	}
	if size > maxRestoreBytes {
		return nil, fmt.Errorf("%w: the restore would write %d bytes, more than one transaction's %d", ErrNeedsReconcile, size, maxRestoreBytes)
	}

	now := a.now()
	st.Environment = target.Desired.Environment
	st.LastAttemptedRevision, st.LastAttemptedAt = target.Revision, now
	st.LastAppliedAt, st.LastAppliedBy = now, a.Holder
	st.Results, st.ResultsOmitted = boundResults(results)
	msg := fmt.Sprintf("restored %d znode(s) changed outside ringmaster to %s", len(results), target.Revision)
	st.setReady(true, ReasonSucceeded, msg, now)
	st.addHistory(HistoryEntry{Revision: target.Revision, At: now, Result: ReasonDriftCorrected, Changes: len(results), Message: "restored " + namedIDs(results)})
	var restored []string
	for _, op := range ops[:len(results)] {
		restored = append(restored, strings.TrimPrefix(op.Path, root+"/"))
	}
	gen := newGeneration(m.generation, target.Revision, now, restored, true)
	for _, w := range []struct {
		rel string
		v   any
	}{{state.StatusPath, st}, {state.GenerationPath, gen}} {
		op, err := putOp(root, w.rel, m.versions[w.rel], w.v)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if err := confine(root, ops); err != nil {
		return nil, err
	}

	lock, err := a.Locker.Lock(ctx, path.Join(root, state.ApplyLock))
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	if err := checkLock(lock); err != nil {
		return nil, err
	}
	a.progress("zookeeper: restoring %d znode(s) under %s, generation %d", len(results), root, gen.Generation)
	if _, err := a.Tree.Write(ctx, lock.Fence(), nil, ops); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return &Restored{Results: results, Generation: gen.Generation}, nil
}

// seenShard is one inventory shard as seen, with the restore's entries.
type seenShard struct {
	name    string
	version int32
	entries map[string]int32
	changed bool
}

// restoreMeta is what Restore needs of meta/, decoded from what was seen.
type restoreMeta struct {
	status     Status
	generation Generation
	index      Inventory
	inProgress bool
	suspended  bool
	versions   map[string]int32 // status and generation; -1 absent
}

// seenMeta decodes the meta records Restore reads (not the inventory
// shards: only those of the restored znodes are read, by shardFor).
func seenMeta(seen Seen) (*restoreMeta, error) {
	m := &restoreMeta{versions: map[string]int32{state.StatusPath: -1, state.GenerationPath: -1}}
	for rel, into := range map[string]any{state.StatusPath: &m.status, state.GenerationPath: &m.generation, state.InventoryPath: &m.index} {
		z, ok := seen(rel)
		if !ok {
			continue
		}
		if _, tracked := m.versions[rel]; tracked {
			m.versions[rel] = z.Version
		}
		if len(z.Data) == 0 {
			continue
		}
		if err := json.Unmarshal(z.Data, into); err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
	}
	if z, ok := seen(state.InProgressPath); ok && len(z.Data) > 0 {
		m.inProgress = true
	}
	if z, ok := seen(state.SuspendPath); ok && len(z.Data) > 0 {
		m.suspended = true
	}
	return m, nil
}

// namedIDs names the first restoreNamed results' objects and counts the
// rest.
func namedIDs(rs []ChangeResult) string {
	var ids []string
	for i, r := range rs {
		if i == restoreNamed {
			ids = append(ids, fmt.Sprintf("and %d more", len(rs)-restoreNamed))
			break
		}
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ", ")
}
