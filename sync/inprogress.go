package sync

import (
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
)

// InProgress is meta/in-progress: written under the lock before an apply
// changes anything, removed in the transaction that records its end
// (success or failure). A record whose lock is no longer held is the trace
// of an apply that was killed or lost its lock: status shows it, and the
// next apply records it in history and attributes its writes to it.
type InProgress struct {
	// LockID is the apply's lock id (as `lock list` shows it).
	LockID string `json:"lockId"`
	// Holder names the process: user@host, pid, command.
	Holder    string    `json:"holder"`
	Revision  string    `json:"revision"`
	StartedAt time.Time `json:"startedAt"`
	// Changes counts the planned changes by object kind.
	Changes map[string]int `json:"changes"`
	// Zxid is the zxid of the record's write (filled when read, from the
	// node's ModZxid): every write of that apply comes after it.
	Zxid int64 `json:"-"`
}

// String reads "main (3f2a9c1) by alice@build-7 pid 42, started 2026-...,
// lock id ...".
func (p *InProgress) String() string {
	return fmt.Sprintf("%s by %s, started %s, lock id %s", p.Revision, p.Holder, p.StartedAt.UTC().Format(time.RFC3339), p.LockID)
}

// Summary reads "2 keyspace, 1 table, 300 znode change(s)".
func (p *InProgress) Summary() string {
	var parts []string
	for _, k := range []string{diff.KindKeyspace, diff.KindTable, diff.KindZnode} {
		if n := p.Changes[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(k)))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ") + " change(s)"
}

// CodeInterruptedWrite annotates a change to an object that an interrupted
// apply wrote: ringmaster's own unfinished write, not drift.
const CodeInterruptedWrite = "RM-INTERRUPTED"

// unfinishedApply returns the in-progress record of an earlier apply that did
// not finish, or nil: a record that is not this apply's own (ownLockID).
func unfinishedApply(live *Live, ownLockID string) *InProgress {
	p := live.Meta.InProgress
	if p == nil || p.LockID == ownLockID {
		return nil
	}
	return p
}

// attributeInterrupted replaces the drift annotation of every znode that an
// interrupted apply wrote (changed after its record, with the apply lock
// held by it) with one that says so: those are ringmaster's own unfinished
// writes, not changes made outside it.
func attributeInterrupted(ev *Evaluation, live *Live) {
	p := live.Meta.InProgress
	if p == nil || p.Zxid == 0 {
		return
	}
	for _, ch := range ev.Changes.Changes {
		var path string
		switch c := ch.(type) {
		case *diff.UpdateZnode:
			path = c.From.Path
		case *diff.DeleteZnode:
			path = c.Znode.Path
		default:
			continue
		}
		z, ok := live.State.Znodes[path]
		if !ok || z.ModZxid <= p.Zxid {
			continue
		}
		var kept []diff.Annotation
		for _, a := range ev.Drift[ch.ID()] {
			if a.Code != CodeDrift {
				kept = append(kept, a)
			}
		}
		ev.Drift[ch.ID()] = append(kept, diff.Annotation{Code: CodeInterruptedWrite, Severity: diff.SeverityInfo,
			Message: "written by an apply that did not finish (" + p.String() + "), not outside ringmaster"})
	}
}
