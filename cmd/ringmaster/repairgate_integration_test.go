package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// TestReplicationIncreaseIsRepairedNodeByNode: a keyspace replicated in
// dc1 only, with rows written at ONE, is extended to dc2 while dc2's node
// is down. The apply leaves a repair job naming both nodes; a further
// replication change is denied while the job is unfinished. dc2's part
// waits (postponed) for its node, dc1's for its replica; once the node is
// back both parts run, one at a time under the repair lock, the job
// succeeds, dc2 holds every row, and the change denied before is allowed.
func TestReplicationIncreaseIsRepairedNodeByNode(t *testing.T) {
	c := itest.Disruptive(t)
	session := itest.Cassandra(t, "dc1")
	ks := itest.Keyspace(t, session)
	e := newAgentEnv(t, "  guardrails: {minReplication: 1, maxReplication: 2}\n")
	schema := func(replication string) {
		e.write("base/schema.yaml", fmt.Sprintf(`apiVersion: ringmaster.io/v1
kind: Keyspace
metadata: {name: %s}
spec:
  replication: {class: NetworkTopologyStrategy, %s}
---
apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: events}
spec:
  keyspace: %s
  columns: [{name: id, type: int}, {name: body, type: text}]
  primaryKey: {partition: [id]}
`, ks, replication, ks))
	}
	apply := func() (int, string, string) {
		return runTo(t, nil, "apply", "--repo", e.dir, "--env", "it", "--auto-approve")
	}
	schema("dc1: 1")
	if code, out, errOut := apply(); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	const rows = 200
	for i := range rows {
		if err := session.Query("INSERT INTO "+ks+".events (id, body) VALUES (?, 'x')", i).Consistency(gocql.One).Exec(); err != nil {
			t.Fatal(err)
		}
	}

	// The agents run. The test holds the repair lock (as any operator's
	// job may, with lock run), so that no part starts before dc2's node is
	// down.
	e.start("cass1")
	e.start("cass2")
	for _, n := range []string{"cass1", "cass2"} {
		e.awaitMember(n, "registration", func(m *agent.Member) bool { return m != nil && m.HostID != "" })
	}
	held, release := path.Join(t.TempDir(), "held"), path.Join(t.TempDir(), "release")
	holder := exec.Command(binary(t), "lock", "run", "--repo", e.dir, "--env", "it", "repair", "--", "sh", "-c",
		"touch "+held+"; while [ ! -e "+release+" ]; do sleep 0.1; done")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	awaitFile(t, held, "")

	schema("dc1: 1, dc2: 1")
	code, out, errOut := apply()
	if code != exitOK || !strings.Contains(out, "Repair job "+ks+"-repair-g") || !strings.Contains(out, "(dc2: 0 → 1) on 2 node(s)") {
		t.Fatalf("apply of the increase: exit %d\n%s\n%s", code, out, errOut)
	}
	job := e.repairJob(t, ks)
	if code, out, _ := runTo(t, nil, "status", "--repo", e.dir, "--env", "it"); code != exitOK || !strings.Contains(out, "repair job:         "+job.ID+": repair of "+ks+" (dc2: 0 → 1): pending, 0/2 nodes") {
		t.Fatalf("status with the job pending: exit %d\n%s", code, out)
	}
	schema("dc1: 2, dc2: 1")
	code, out, errOut = runTo(t, nil, "plan", "--repo", e.dir, "--env", "it", "-out", path.Join(t.TempDir(), "plan.json"))
	if code != exitError || !strings.Contains(out+errOut, rmsync.CodeRepairGate) || !strings.Contains(out+errOut, job.ID) || !strings.Contains(out+errOut, "0/2 nodes") {
		t.Fatalf("plan of another change while the job is unfinished: exit %d\n%s\n%s", code, out, errOut)
	}
	restart := itest.StopServer(t, c, "cass2")
	e.awaitMember("cass2", "the node reported down", func(m *agent.Member) bool { return m != nil && m.State == "DOWN" })
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("lock run holding the repair lock: %v", err)
	}
	e.awaitJob(t, job.ID, "dc2's part postponed, dc1's tried", 3*time.Minute, func(j *rmsync.RepairJob) bool {
		return len(j.Parts) == 2 && j.Parts[1].State == rmsync.RepairPostponed && !j.Parts[0].StartedAt.IsZero()
	})
	restart()
	done := e.awaitJob(t, job.ID, "the job succeeded", 5*time.Minute, func(j *rmsync.RepairJob) bool { return !j.Unfinished() })
	if done.State != rmsync.RepairSucceeded {
		out, _ := json.MarshalIndent(done, "", "  ")
		t.Fatalf("the job ended %s:\n%s", done.State, out)
	}
	raw, _ := json.MarshalIndent(done, "", "  ")
	t.Logf("the job:\n%s", raw)
	a, b := done.Parts[0], done.Parts[1]
	if a.StartedAt.IsZero() || b.StartedAt.IsZero() || a.EndedAt.Before(a.StartedAt) || b.EndedAt.Before(b.StartedAt) {
		t.Fatalf("parts without times: %+v", done.Parts)
	}
	if a.StartedAt.Before(b.EndedAt) && b.StartedAt.Before(a.EndedAt) {
		t.Fatalf("two repairs overlapped: %s %s–%s and %s %s–%s", a.Address, a.StartedAt, a.EndedAt, b.Address, b.StartedAt, b.EndedAt)
	}
	if a.Token == b.Token || a.Token == 0 || b.Token == 0 {
		t.Fatalf("fencing tokens %d and %d: want two acquisitions of the lock", a.Token, b.Token)
	}
	// dc2 now holds every row: read from its node alone.
	dc2 := itest.Cassandra(t, "dc2")
	var n int
	if err := dc2.Query("SELECT count(*) FROM " + ks + ".events").Consistency(gocql.LocalOne).Scan(&n); err != nil || n != rows {
		t.Fatalf("rows in dc2 after the repair: %d (%v), want %d", n, err, rows)
	}
	if code, out, errOut := runTo(t, nil, "plan", "--repo", e.dir, "--env", "it", "-out", path.Join(t.TempDir(), "plan.json")); code != exitOK {
		t.Fatalf("plan of the change after the job: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runTo(t, nil, "repair", "show", "--repo", e.dir, "--env", "it", job.ID); code != exitOK || !strings.Contains(out, "succeeded") || strings.Count(out, "succeeded") < 3 {
		t.Fatalf("repair show: exit %d\n%s", code, out)
	}
	if code, out, _ := runTo(t, nil, "repair", "list", "--repo", e.dir, "--env", "it"); code != exitOK || !strings.Contains(out, job.ID) || !strings.Contains(out, "2/2") {
		t.Fatalf("repair list: exit %d\n%s", code, out)
	}
	// By hand: the same lock, each node in turn.
	code, out, errOut = runTo(t, nil, "repair", "run", "--repo", e.dir, "--env", "it", "--keyspace", ks,
		"--nodetool", fmt.Sprintf("%s -dir %s nodetool cass1", e.devctl, e.cl.Dir), "--nodetool", fmt.Sprintf("%s -dir %s nodetool cass2", e.devctl, e.cl.Dir))
	if code != exitOK || !strings.Contains(out, "Repair lock "+path.Join(e.root, state.RepairLock)+" held (fencing token") || !strings.Contains(out, "Repaired "+ks+" on 2 node(s)") {
		t.Fatalf("repair run: exit %d\n%s\n%s", code, out, errOut)
	}
}

// repairJob returns the one job of keyspace ks.
func (e *agentEnv) repairJob(t *testing.T, ks string) *rmsync.RepairJob {
	t.Helper()
	dir := path.Join(e.root, state.RepairsDir)
	kids, _, err := e.z.Synced(t).Children(dir)
	if err != nil || len(kids) != 1 || !strings.HasPrefix(kids[0], ks+"-repair-") {
		t.Fatalf("repair jobs under %s: %v (%v)", dir, kids, err)
	}
	return e.readJob(t, kids[0])
}

func (e *agentEnv) readJob(t *testing.T, id string) *rmsync.RepairJob {
	t.Helper()
	raw, _, err := e.z.Synced(t).Get(path.Join(e.root, state.RepairsDir, id))
	if err != nil {
		t.Fatal(err)
	}
	var j rmsync.RepairJob
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	return &j
}

// awaitJob waits, with a watch on the job, until ok holds.
func (e *agentEnv) awaitJob(t *testing.T, id, what string, within time.Duration, ok func(*rmsync.RepairJob) bool) *rmsync.RepairJob {
	t.Helper()
	p := path.Join(e.root, state.RepairsDir, id)
	deadline := time.After(within)
	for {
		_, _ = e.z.Conn.Sync(p)
		raw, _, ev, err := e.z.Conn.GetW(p)
		if err != nil {
			t.Fatal(err)
		}
		var j rmsync.RepairJob
		if err := json.Unmarshal(raw, &j); err != nil {
			t.Fatal(err)
		}
		if ok(&j) {
			return &j
		}
		select {
		case <-ev:
		case <-deadline:
			t.Fatalf("%s: not within %s; job:\n%s", what, within, raw)
		}
	}
}
