package sync

import (
	"context"
	"encoding/json"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

func TestRepairJobsFor(t *testing.T) {
	nodes := []RepairNode{{"h1", "10.0.0.1", "dc1"}, {"h2", "10.0.1.1", "dc2"}, {"h3", "10.0.0.2", "dc1"}}
	ks := func(f map[string]int) *state.Keyspace {
		return &state.Keyspace{Name: "ks", Replication: state.Replication{Class: state.NetworkTopologyStrategy, Factors: f}}
	}
	now := time.Unix(1000, 0)
	jobs := RepairJobsFor(&diff.ModifyKeyspace{From: ks(map[string]int{"dc1": 1}), To: ks(map[string]int{"dc1": 1, "dc2": 1}), ReplicationChanged: true}, nodes, "r1", 7, now)
	if len(jobs) != 1 || jobs[0].ID != "ks-repair-g7" || jobs[0].Change != "dc2: 0 → 1" || len(jobs[0].Parts) != 3 || jobs[0].Parts[0].Address != "10.0.0.1" || jobs[0].Parts[2].Datacenter != "dc2" {
		t.Fatalf("an increase: %+v", jobs)
	}
	jobs = RepairJobsFor(&diff.ModifyKeyspace{From: ks(map[string]int{"dc1": 2, "dc2": 1}), To: ks(map[string]int{"dc1": 1, "dc2": 2}), ReplicationChanged: true}, nodes, "r1", 8, now)
	if len(jobs) != 2 || jobs[0].Kind != RepairKindRepair || len(jobs[0].Parts) != 3 || jobs[1].Kind != RepairKindCleanup || len(jobs[1].Parts) != 2 || jobs[1].Parts[1].HostID != "h3" {
		t.Fatalf("an increase and a decrease: %+v", jobs)
	}
	if jobs := RepairJobsFor(&diff.ModifyKeyspace{From: ks(map[string]int{"dc1": 1}), To: ks(map[string]int{"dc1": 1}), DurableWritesChanged: true}, nodes, "r1", 9, now); len(jobs) != 0 {
		t.Fatalf("no replication change: %+v", jobs)
	}
	job := RepairJobsFor(&diff.ModifyKeyspace{From: ks(map[string]int{"dc1": 1}), To: ks(map[string]int{"dc1": 2}), ReplicationChanged: true}, nodes, "r1", 10, now)[0]
	job.Parts[0].State = RepairSucceeded
	job.Settle()
	if job.State != RepairRunning || !job.Unfinished() {
		t.Fatalf("one part done: %s", job.Summary())
	}
	job.Parts[1].State = RepairSucceeded
	job.Settle()
	if job.State != RepairSucceeded || job.Unfinished() || !strings.Contains(job.Summary(), "succeeded, 2/2 nodes") {
		t.Fatalf("all done: %s", job.Summary())
	}
	job.Parts[0].State, job.Parts[0].Message = RepairFailed, "nodetool: exit 2"
	job.Settle()
	if job.State != RepairFailed || !strings.Contains(job.Message, "10.0.0.1 (dc1): nodetool: exit 2") || len(job.Parts) != 2 {
		t.Fatalf("a part failed: %s", job.Summary())
	}
}

// TestReplicationChangeLeavesARepairJobThatGates: apply of a replication
// increase leaves a repair job naming every node; while it is unfinished
// another replication change to the keyspace is denied (RM-POL-015,
// naming the job), once it succeeded it is allowed.
func TestReplicationChangeLeavesARepairJobThatGates(t *testing.T) {
	ctx := context.Background()
	a, tree := appliedInMemory(t)
	wider := applyTarget()
	wider.Desired.Keyspaces["a1"].Replication.Factors["dc1"] = 2
	out, err := a.Apply(ctx, wider, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.RepairJobs) != 1 || len(out.Status.RepairRequired) != 0 {
		t.Fatalf("jobs %+v, repair required %v", out.RepairJobs, out.Status.RepairRequired)
	}
	jobs, versions, err := ReadRepairJobs(ctx, tree, "/rm/it")
	if err != nil || len(jobs) != 1 || jobs[0].Keyspace != "a1" || jobs[0].State != RepairPending || len(jobs[0].Parts) != 2 {
		t.Fatalf("jobs read back: %+v, %v", jobs, err)
	}
	wider2 := applyTarget()
	wider2.Desired.Keyspaces["a1"].Replication.Factors["dc1"] = 3
	_, err = a.Apply(ctx, wider2, nil)
	if err == nil || !strings.Contains(err.Error(), CodeRepairGate) || !strings.Contains(err.Error(), jobs[0].ID) || !strings.Contains(err.Error(), "pending, 0/2 nodes") {
		t.Fatalf("a second change while the job is pending: %v", err)
	}
	// Another keyspace is not held back.
	other := applyTarget()
	other.Desired.Keyspaces["a1"].Replication.Factors["dc1"] = 2
	other.Desired.Keyspaces["a2"].Replication.Factors["dc1"] = 2
	live, _ := ReadLive(ctx, tree, a.Schema, "it", "/rm/it")
	ev, err := Evaluate(ctx, live, other)
	if err != nil || policies.Denied(ev.Findings) {
		t.Fatalf("a change to another keyspace: %v %+v", err, ev.Findings)
	}
	// The agents finish it.
	job := jobs[0]
	for i := range job.Parts {
		job.Parts[i].State = RepairSucceeded
	}
	job.Settle()
	raw, _ := json.Marshal(job)
	if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpSet, Path: path.Join("/rm/it", state.RepairsDir, job.ID), Data: raw, Version: versions[job.ID]}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, wider2, nil); err != nil {
		t.Fatalf("the change after the job succeeded: %v", err)
	}
}
