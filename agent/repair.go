package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Repairer is what a Node may also be: it runs a repair job's work on the
// node (kind rmsync.RepairKindRepair: a full repair of the node's primary
// ranges of keyspace; rmsync.RepairKindCleanup: a cleanup). An agent
// whose node is not one takes no part in repair jobs.
type Repairer interface {
	Repair(ctx context.Context, kind, keyspace string) error
}

// Repair runs nodetool repair -full -pr KEYSPACE, or nodetool cleanup
// KEYSPACE, on the node.
func (n *CassandraNode) Repair(ctx context.Context, kind, keyspace string) error {
	args := []string{"repair", "-full", "-pr", keyspace}
	if kind == rmsync.RepairKindCleanup {
		args = []string{"cleanup", keyspace}
	}
	_, err := n.nodetool(ctx, args...)
	return err
}

// maxRepairBackoff caps the wait between two tries of a part.
const maxRepairBackoff = 30 * time.Second

// repairs takes this node's parts of the environment's repair jobs, one
// at a time, oldest job first, each under the repair lock, until ctx
// ends. It looks again when repairs/ changes and every check interval (a
// postponed part, a backoff ending, another agent releasing the lock).
func (a *agent) repairs(ctx context.Context, zc *zk.Client, r Repairer) {
	dir := path.Join(a.cfg.Root, state.RepairsDir)
	hostID := "" // the node's, as last seen: a down node does not say
	// One watch at a time: it is set again only once it fired (a watch
	// set at every look would pile up in the client until repairs/
	// changes).
	var ev <-chan gozk.Event
	for {
		if ev == nil {
			_, _, kidsEv, err := zc.Conn().ChildrenW(dir)
			if errors.Is(err, gozk.ErrNoNode) {
				_, _, kidsEv, err = zc.Conn().ExistsW(dir)
			}
			if err == nil {
				ev = kidsEv
			}
		}
		for a.repairOne(ctx, zc, r, &hostID) {
		}
		select {
		case <-ctx.Done():
			return
		case <-ev:
			ev = nil
		case <-time.After(a.cfg.CheckInterval):
		}
	}
}

// repairOne does the first part of this node's that is due; it tells
// whether it did one (so that the caller looks for the next at once). A
// node that is down, or not up and normal, has its due parts postponed.
func (a *agent) repairOne(ctx context.Context, zc *zk.Client, r Repairer, hostID *string) bool {
	jobs, _, err := rmsync.ReadRepairJobs(ctx, livestore.Tree{Client: zc}, a.cfg.Root)
	if err != nil {
		a.log.Warn("reading repair jobs failed", "error", err)
		return false
	}
	info, infoErr := a.cfg.Cassandra.Info(ctx)
	switch {
	case infoErr == nil && info.HostID == "":
		infoErr = errors.New("the node reports no host id")
	case infoErr == nil && !info.UpNormal():
		infoErr = fmt.Errorf("node is %s, not up and normal", info.Status)
	}
	if info.HostID != "" {
		*hostID = info.HostID
	}
	now := time.Now()
	for _, j := range jobs {
		if j.Due(*hostID, now) == nil {
			continue
		}
		if infoErr != nil {
			a.postpone(ctx, zc, j.ID, *hostID, infoErr)
			continue
		}
		return a.runPart(ctx, zc, r, j.ID, *hostID)
	}
	return false
}

// runPart takes the repair lock and, if the part is still due, runs it
// and records the outcome.
func (a *agent) runPart(ctx context.Context, zc *zk.Client, r Repairer, id, hostID string) bool {
	host, _ := os.Hostname()
	lock, err := zc.Lock(ctx, path.Join(a.cfg.Root, state.RepairLock), zk.HolderInfo{User: "agent " + a.cfg.Node, Host: host, PID: os.Getpid(),
		Command: "repair job " + id})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("taking the repair lock failed", "job", id, "error", err)
		}
		return false
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	token, _ := lock.Token()
	var kind, keyspace string
	started := time.Now().UTC()
	due := false
	err = a.updateJob(ctx, zc, id, func(j *rmsync.RepairJob) {
		p := j.Due(hostID, time.Now())
		if p == nil {
			return // done by the time the lock was ours
		}
		due, kind, keyspace = true, j.Kind, j.Keyspace
		p.State, p.Attempts, p.StartedAt, p.EndedAt, p.DurationMs, p.Token, p.By, p.Message = rmsync.RepairRunning, p.Attempts+1, started, time.Time{}, 0, token, a.cfg.Node, ""
		p.NextAttemptAt = time.Time{}
	})
	if err != nil || !due {
		if err != nil {
			a.log.Warn("recording a repair's start failed", "job", id, "error", err)
		}
		return false
	}
	a.log.Info("repairing", "job", id, "kind", kind, "keyspace", keyspace, "fencing_token", token)
	rctx, cancel := context.WithTimeout(ctx, a.cfg.RepairTimeout)
	runErr := r.Repair(rctx, kind, keyspace)
	timedOut := rctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case ctx.Err() != nil:
		runErr = fmt.Errorf("interrupted: the agent stopped: %w", ctx.Err())
	case timedOut:
		runErr = fmt.Errorf("no end within %s (--repair-timeout): nodetool stopped", a.cfg.RepairTimeout)
	}
	ended := time.Now().UTC()
	// A node that went down is not a failed try: its part waits for it.
	_, infoErr := a.cfg.Cassandra.Info(context.WithoutCancel(ctx))
	err = a.updateJob(context.WithoutCancel(ctx), zc, id, func(j *rmsync.RepairJob) {
		p := j.Part(hostID)
		if p == nil {
			return
		}
		p.EndedAt, p.DurationMs = ended, ended.Sub(started).Milliseconds()
		switch {
		case runErr == nil:
			p.State, p.Message = rmsync.RepairSucceeded, ""
		case infoErr != nil || ctx.Err() != nil:
			p.State, p.Attempts, p.Message = rmsync.RepairPostponed, p.Attempts-1, firstLine(runErr.Error())
		case strings.Contains(runErr.Error(), "Endpoint not alive"):
			// Another replica is down: not this node's failure. Try
			// again later without spending a try.
			p.State, p.Attempts, p.Message = rmsync.RepairPostponed, p.Attempts-1, "a replica is down: "+firstLine(runErr.Error())
			p.NextAttemptAt = ended.Add(maxRepairBackoff / 3)
		case p.Attempts >= rmsync.RepairMaxAttempts:
			p.State, p.Message = rmsync.RepairFailed, firstLine(runErr.Error())
		default:
			p.State, p.Message = rmsync.RepairPending, firstLine(runErr.Error())
			p.NextAttemptAt = ended.Add(min(rmsync.RepairBackoff<<(p.Attempts-1), maxRepairBackoff))
		}
	})
	if err != nil {
		a.log.Warn("recording a repair's outcome failed", "job", id, "error", err)
	}
	if runErr != nil {
		a.log.Warn("repair failed", "job", id, "keyspace", keyspace, "error", runErr)
	} else {
		a.log.Info("repaired", "job", id, "keyspace", keyspace, "duration", ended.Sub(started).Round(time.Millisecond))
	}
	return runErr == nil
}

// postpone marks this node's part of job id postponed (its node is down),
// once.
func (a *agent) postpone(ctx context.Context, zc *zk.Client, id, hostID string, why error) {
	_ = a.updateJob(ctx, zc, id, func(j *rmsync.RepairJob) {
		if p := j.Part(hostID); p != nil && p.State == rmsync.RepairPending {
			p.State, p.Message = rmsync.RepairPostponed, "waiting for the node: "+why.Error()
		}
	})
}

// updateJob applies change to job id and writes it back, checking its
// version; another agent's write in between makes it read and apply
// change again.
func (a *agent) updateJob(ctx context.Context, zc *zk.Client, id string, change func(*rmsync.RepairJob)) error {
	p := path.Join(a.cfg.Root, state.RepairsDir, id)
	for range 20 {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, st, err := zc.Conn().Get(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		var j rmsync.RepairJob
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		before, _ := json.Marshal(j)
		change(&j)
		j.Settle()
		after, _ := json.Marshal(j)
		if string(before) == string(after) {
			return nil
		}
		j.UpdatedAt = time.Now().UTC()
		after, _ = json.Marshal(j)
		_, err = zc.Conn().Set(p, after, st.Version)
		if errors.Is(err, gozk.ErrBadVersion) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	}
	return fmt.Errorf("write %s: changed by others 20 times in a row", p)
}

// firstLine is s up to its first line break, at most 400 bytes: what a
// job records of an error (nodetool's can run to pages).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
