package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

// A replication change is not finished when Cassandra accepts it: new
// replicas hold nothing until a full repair streams the data to them, and
// replicas a decrease dropped keep theirs until a cleanup. Apply records
// that work as a repair job at <root>/repairs/<id>; node agents do it, one
// node at a time under the environment's repair lock, and record each
// node's part in the job. While a keyspace has an unfinished job, a
// further replication change to it is denied (CodeRepairGate).

// Repair job kinds.
const (
	RepairKindRepair  = "repair"  // nodetool repair -full -pr KEYSPACE on every node
	RepairKindCleanup = "cleanup" // nodetool cleanup KEYSPACE on the nodes that lost replicas
)

// Job and part states.
const (
	RepairPending   = "pending"   // not started (a part: waiting for its turn)
	RepairPostponed = "postponed" // a part whose node is down: taken when it is back
	RepairRunning   = "running"
	RepairSucceeded = "succeeded"
	RepairFailed    = "failed" // retries spent: the last error is kept
	RepairCancelled = "cancelled"
)

// RepairMaxAttempts is how often a part is tried before it is failed; the
// wait between tries doubles from RepairBackoff.
const (
	RepairMaxAttempts = 10
	RepairBackoff     = 2 * time.Second
)

// CodeRepairGate is the built-in policy that denies a replication change
// to a keyspace with an unfinished repair job.
const CodeRepairGate = "RM-POL-015"

// RepairJob is one keyspace's repair or cleanup after a replication
// change, as <root>/repairs/<ID> holds it (JSON). Apply creates it, in the
// transaction that records the change; agents update their parts
// (version-checked); `repair cancel` ends it.
type RepairJob struct {
	ID       string `json:"id"`
	Keyspace string `json:"keyspace"`
	Kind     string `json:"kind"`
	// Change is the replication change, per datacenter ("dc2: 0 → 1").
	Change     string    `json:"change"`
	Revision   string    `json:"revision"`
	Generation int64     `json:"generation"`
	CreatedAt  time.Time `json:"createdAt"`
	State      string    `json:"state"`
	Message    string    `json:"message,omitempty"`
	// Parts are the nodes to work on, by datacenter then address.
	Parts     []RepairPart `json:"parts"`
	UpdatedAt time.Time    `json:"updatedAt"`
}

// RepairPart is one node's share of a job.
type RepairPart struct {
	HostID     string `json:"hostId"`
	Address    string `json:"address"`
	Datacenter string `json:"datacenter"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	// NextAttemptAt holds a failed try's backoff.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	StartedAt     time.Time `json:"startedAt,omitzero"`
	EndedAt       time.Time `json:"endedAt,omitzero"`
	DurationMs    int64     `json:"durationMs,omitempty"`
	// Token is the repair lock's fencing token the last try held.
	Token int64 `json:"token,omitempty"`
	// By is the agent that last worked on the part.
	By      string `json:"by,omitempty"`
	Message string `json:"message,omitempty"`
}

// RepairNode is a node a job may name: Cassandra's host id, address and
// datacenter.
type RepairNode struct{ HostID, Address, Datacenter string }

// Unfinished tells whether the job still has work to do.
func (j *RepairJob) Unfinished() bool {
	return j.State == RepairPending || j.State == RepairRunning
}

// Progress counts the parts done (succeeded) of all.
func (j *RepairJob) Progress() (done, total int) {
	for _, p := range j.Parts {
		if p.State == RepairSucceeded {
			done++
		}
	}
	return done, len(j.Parts)
}

// Summary is one line: "repair of ks (dc2: 0 → 1): running, 1/2 nodes".
func (j *RepairJob) Summary() string {
	done, total := j.Progress()
	s := fmt.Sprintf("%s of %s (%s): %s, %d/%d nodes", j.Kind, j.Keyspace, j.Change, j.State, done, total)
	if j.Message != "" {
		s += ": " + j.Message
	}
	return s
}

// Part returns the part of the node with hostID, or nil.
func (j *RepairJob) Part(hostID string) *RepairPart {
	for i := range j.Parts {
		if j.Parts[i].HostID == hostID {
			return &j.Parts[i]
		}
	}
	return nil
}

// Due returns the part of the node with hostID when it is to be worked on
// at now: the job unfinished, the part neither done nor failed, and past
// its backoff; else nil.
func (j *RepairJob) Due(hostID string, now time.Time) *RepairPart {
	p := j.Part(hostID)
	if hostID == "" || !j.Unfinished() || p == nil || p.State == RepairSucceeded || p.State == RepairFailed || p.NextAttemptAt.After(now) {
		return nil
	}
	return p
}

// Settle sets the job's state from its parts: succeeded when every part
// did, failed when one failed for good, running when one is under way or
// done, else pending. A cancelled job stays cancelled.
func (j *RepairJob) Settle() {
	if j.State == RepairCancelled {
		return
	}
	done, total := j.Progress()
	started := false
	for _, p := range j.Parts {
		switch p.State {
		case RepairFailed:
			j.State, j.Message = RepairFailed, fmt.Sprintf("node %s (%s): %s", p.Address, p.Datacenter, p.Message)
			return
		case RepairRunning, RepairSucceeded:
			started = true
		}
		if p.Attempts > 0 {
			started = true
		}
	}
	switch {
	case done == total:
		j.State, j.Message = RepairSucceeded, ""
	case started:
		j.State = RepairRunning
	default:
		j.State = RepairPending
	}
}

// factor is a datacenter's replication factor; SimpleStrategy's applies
// to every datacenter.
func factor(r state.Replication, dc string) int {
	if r.Class == state.SimpleStrategy || strings.HasSuffix(r.Class, "."+state.SimpleStrategy) {
		return r.Factors["replication_factor"]
	}
	return r.Factors[dc]
}

// RepairJobsFor are the jobs a replication change calls for, given the
// cluster's nodes: a repair on every node of the datacenters that
// replicate the keyspace afterwards when a datacenter's factor grew, and
// a cleanup on the nodes of the datacenters whose factor shrank. IDs are
// "<keyspace>-<kind>-g<generation>".
func RepairJobsFor(ch *diff.ModifyKeyspace, nodes []RepairNode, revision string, gen int64, now time.Time) []RepairJob {
	if ch == nil || !ch.ReplicationChanged || ch.From == nil || ch.To == nil {
		return nil
	}
	dcs := map[string]bool{}
	for _, n := range nodes {
		dcs[n.Datacenter] = true
	}
	var grew, shrank, changes []string
	for _, dc := range slices.Sorted(func(yield func(string) bool) {
		for dc := range dcs {
			if !yield(dc) {
				return
			}
		}
	}) {
		from, to := factor(ch.From.Replication, dc), factor(ch.To.Replication, dc)
		switch {
		case to > from:
			grew = append(grew, dc)
		case to < from:
			shrank = append(shrank, dc)
		default:
			continue
		}
		changes = append(changes, fmt.Sprintf("%s: %d → %d", dc, from, to))
	}
	change := strings.Join(changes, ", ")
	job := func(kind string, in func(dc string) bool) []RepairJob {
		j := RepairJob{ID: fmt.Sprintf("%s-%s-g%d", ch.To.Name, kind, gen), Keyspace: ch.To.Name, Kind: kind, Change: change,
			Revision: revision, Generation: gen, CreatedAt: now, UpdatedAt: now, State: RepairPending}
		for _, n := range nodes {
			if in(n.Datacenter) {
				j.Parts = append(j.Parts, RepairPart{HostID: n.HostID, Address: n.Address, Datacenter: n.Datacenter, State: RepairPending})
			}
		}
		sort.Slice(j.Parts, func(a, b int) bool {
			if j.Parts[a].Datacenter != j.Parts[b].Datacenter {
				return j.Parts[a].Datacenter < j.Parts[b].Datacenter
			}
			return j.Parts[a].Address < j.Parts[b].Address
		})
		if len(j.Parts) == 0 {
			return nil
		}
		return []RepairJob{j}
	}
	var out []RepairJob
	if len(grew) > 0 {
		out = append(out, job(RepairKindRepair, func(dc string) bool { return factor(ch.To.Replication, dc) > 0 })...)
	}
	if len(shrank) > 0 {
		out = append(out, job(RepairKindCleanup, func(dc string) bool { return slices.Contains(shrank, dc) })...)
	}
	return out
}

// ReadRepairJobs reads every job under root's repairs/, oldest first, with
// each node's version (for a version-checked update).
func ReadRepairJobs(ctx context.Context, tree Tree, root string) ([]*RepairJob, map[string]int32, error) {
	nodes, err := tree.Read(ctx, path.Join(root, state.RepairsDir))
	if err != nil {
		return nil, nil, fmt.Errorf("read repair jobs: %w", err)
	}
	var jobs []*RepairJob
	versions := map[string]int32{}
	for rel, z := range nodes {
		if strings.Contains(rel, "/") || len(z.Data) == 0 {
			continue
		}
		var j RepairJob
		if err := json.Unmarshal(z.Data, &j); err != nil {
			return nil, nil, fmt.Errorf("repair job %s: %w", path.Join(root, state.RepairsDir, rel), err)
		}
		jobs = append(jobs, &j)
		versions[j.ID] = z.Version
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].CreatedAt.Equal(jobs[b].CreatedAt) {
			return jobs[a].CreatedAt.Before(jobs[b].CreatedAt)
		}
		return jobs[a].ID < jobs[b].ID
	})
	return jobs, versions, nil
}

// repairGate denies each replication change to a keyspace that has an
// unfinished repair job, naming the job and its state.
func repairGate(cs *diff.ChangeSet, jobs []*RepairJob) []policies.Finding {
	var out []policies.Finding
	for _, ch := range cs.Changes {
		mk, ok := ch.(*diff.ModifyKeyspace)
		if !ok || !mk.ReplicationChanged {
			continue
		}
		for _, j := range jobs {
			if j.Keyspace != mk.To.Name || !j.Unfinished() {
				continue
			}
			out = append(out, policies.Finding{Code: CodeRepairGate, Severity: policies.Deny, Object: ch.ID(), Origin: mk.To.Origin,
				Message: fmt.Sprintf("replication of %s changes again while repair job %s is unfinished: %s; let it finish, or cancel it (ringmaster repair cancel %s)", mk.To.Name, j.ID, j.Summary(), j.ID)})
		}
	}
	return out
}
