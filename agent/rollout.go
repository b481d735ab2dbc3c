package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// A staged rollout is driven from outside the agents, by whoever runs it:
// the controller's leader, or `ringmaster apply --wait`. Step looks once;
// Drive steps until the rollout ends. Both may run at once: every change
// of meta/rollout checks the version read, so a stage advances once.

// StageProgress is one stage's agents, as a rollout sees them.
type StageProgress struct {
	Name    string
	Applied int
	Agents  int
	// Waiting: the rollout has not reached it yet.
	Waiting bool
}

// Progress describes each stage of r with the agents in members.
func Progress(r *rmsync.RolloutRecord, members []Member) []StageProgress {
	out := make([]StageProgress, r.Stages())
	for i := range out {
		out[i] = StageProgress{Name: r.StageName(i), Waiting: i > r.Stage}
	}
	for _, m := range members {
		i := r.Spec.Stage(m.Datacenter, m.Rack)
		out[i].Agents++
		if applied(r, &m) {
			out[i].Applied++
		}
	}
	return out
}

// DescribeProgress reads "dc1: 3/3 applied, dc2: waiting".
func DescribeProgress(p []StageProgress) string {
	var parts []string
	for _, s := range p {
		switch {
		case s.Agents == 0 && s.Name == "the rest":
			continue
		case s.Waiting:
			parts = append(parts, fmt.Sprintf("%s: waiting (%d agent(s))", s.Name, s.Agents))
		default:
			parts = append(parts, fmt.Sprintf("%s: %d/%d applied", s.Name, s.Applied, s.Agents))
		}
	}
	return strings.Join(parts, ", ")
}

// applied tells whether m applied r's generation (or a later one) with
// every setting applied, and its node up and NORMAL when r requires it.
func applied(r *rmsync.RolloutRecord, m *Member) bool {
	if m.Generation < r.Generation || m.Error != "" || m.Waiting != "" {
		return false
	}
	for _, res := range m.Results {
		if res.Result == Failed {
			return false
		}
	}
	return !r.Spec.RequireHealthy || m.State == "UN"
}

// halts says why m stops r at its stage, or "".
func halts(r *rmsync.RolloutRecord, m *Member) string {
	if r.Spec.RequireHealthy && m.State == "DOWN" {
		return fmt.Sprintf("node %s (%s/%s) is down: %s", m.Node, m.Datacenter, m.Rack, cmpOr(m.Error, "its agent reports it"))
	}
	if m.Generation < r.Generation {
		return ""
	}
	var failed []string
	for name, res := range m.Results {
		if res.Result == Failed {
			failed = append(failed, name+": "+res.Message)
		}
	}
	if len(failed) == 0 {
		return ""
	}
	sort.Strings(failed)
	return fmt.Sprintf("node %s (%s/%s) failed to apply %s", m.Node, m.Datacenter, m.Rack, strings.Join(failed, "; "))
}

// Step looks at root's rollout once: it halts it when a node of the
// current stage failed (or is down, with requireHealthy), and resumes a
// halted one once none does; it notes when the stage converged, starts
// the next stage once the pause after that has passed, and ends the
// rollout after the last. It returns the record as
// it left it (nil: no rollout) and, when the pause is running, how long
// until it should look again.
func Step(ctx context.Context, zc *zk.Client, root string, now time.Time) (*rmsync.RolloutRecord, time.Duration, error) {
	p := path.Join(root, state.RolloutPath)
	for range 10 {
		n, err := zc.Get(ctx, p)
		if errors.Is(err, gozk.ErrNoNode) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		r, err := rmsync.DecodeRollout(n.Data)
		if err != nil || r == nil || r.State == rmsync.RolloutDone {
			return r, 0, err
		}
		members, err := ReadMembers(ctx, zc, root)
		if err != nil {
			return r, 0, err
		}
		next := *r
		// A halted rollout goes on by itself once what halted it is gone.
		next.State = rmsync.RolloutRolling
		var wait time.Duration
		done, total := 0, 0
		for _, m := range members {
			if r.Spec.Stage(m.Datacenter, m.Rack) != r.Stage {
				continue
			}
			total++
			if why := halts(r, &m); why != "" {
				next.State, next.Message = rmsync.RolloutHalted, fmt.Sprintf("stage %s: %s", r.StageName(r.Stage), why)
				break
			}
			if applied(r, &m) {
				done++
			}
		}
		switch {
		case next.State == rmsync.RolloutHalted:
		case done < total:
			next.Message = fmt.Sprintf("stage %s: %d/%d agent(s) applied", r.StageName(r.Stage), done, total)
		case r.ConvergedAt.IsZero() && r.Spec.Pause > 0:
			next.ConvergedAt, next.Message = now, fmt.Sprintf("stage %s applied; the next starts after %s", r.StageName(r.Stage), r.Spec.Pause)
			wait = r.Spec.Pause
		case now.Before(r.ConvergedAt.Add(r.Spec.Pause)):
			return r, r.ConvergedAt.Add(r.Spec.Pause).Sub(now), nil
		default:
			next.Stage, next.StageSince, next.ConvergedAt, next.Message = r.Stage+1, now, time.Time{}, ""
			next.Trace = append([]rmsync.StageTrace(nil), r.Trace...)
			if len(next.Trace) > 0 {
				next.Trace[len(next.Trace)-1].Done = now
			}
			if next.Stage >= r.Stages() {
				next.Stage, next.State, next.Message = r.Stages()-1, rmsync.RolloutDone, "every stage applied"
			} else {
				next.Trace = append(next.Trace, rmsync.StageTrace{Name: r.StageName(next.Stage), Started: now})
			}
		}
		if next.Message == r.Message && next.State == r.State && next.Stage == r.Stage && next.ConvergedAt.Equal(r.ConvergedAt) && len(next.Trace) == len(r.Trace) {
			return r, wait, nil
		}
		data, err := json.Marshal(next)
		if err != nil {
			return r, 0, err
		}
		if _, err := zc.Conn().Set(p, data, n.Stat.Version); errors.Is(err, gozk.ErrBadVersion) {
			continue // another driver moved it: look again
		} else if err != nil {
			return r, 0, fmt.Errorf("update %s: %w", p, err)
		}
		if next.State == rmsync.RolloutRolling && next.Stage != r.Stage {
			return Step(ctx, zc, root, now) // the new stage may have nothing to wait for
		}
		return &next, wait, nil
	}
	return nil, 0, fmt.Errorf("%s kept changing", p)
}

// Drive steps root's rollout whenever an agent's record or the rollout
// changes (and when a pause ends) until it is done or halted, or ctx
// ends, calling report with the record and each stage's progress after
// every step that changed something.
func Drive(ctx context.Context, zc *zk.Client, root string, report func(*rmsync.RolloutRecord, []StageProgress)) (*rmsync.RolloutRecord, error) {
	agents, err := zc.WatchTree(ctx, path.Join(root, state.AgentsDir))
	if err != nil {
		return nil, err
	}
	defer agents.Close()
	last := ""
	for {
		r, wait, err := Step(ctx, zc, root, time.Now().UTC())
		if err != nil {
			return r, err
		}
		if r != nil && report != nil {
			members, err := ReadMembers(ctx, zc, root)
			if err != nil {
				return r, err
			}
			p := Progress(r, members)
			if line := r.String() + DescribeProgress(p); line != last {
				last = line
				report(r, p)
			}
		}
		if r == nil || r.State != rmsync.RolloutRolling {
			return r, nil
		}
		_, _, roEv, err := zc.Conn().GetW(path.Join(root, state.RolloutPath))
		if err != nil {
			return r, err
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = time.After(wait)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-agents.Changed():
		case <-roEv:
		case <-timer:
		}
	}
}
