package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/testcluster"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// agentEnv is an environment whose nodes run agents, as real processes.
type agentEnv struct {
	t       *testing.T
	cl      *testcluster.Cluster
	z       *itest.ZK
	root    string
	dir     string
	devctl  string
	running map[string]*exec.Cmd
}

func newAgentEnv(t *testing.T, moreSpec string) *agentEnv {
	t.Helper()
	cl := itest.Cluster(t)
	z := itest.ZooKeeper(t)
	e := &agentEnv{t: t, cl: cl, z: z, root: z.Path("env"), dir: t.TempDir(), devctl: buildCommand(t, "../devcluster"), running: map[string]*exec.Cmd{}}
	e.write("ringmaster.yaml", itest.RepositoryManifest)
	e.write("environments/it/environment.yaml", itest.EnvironmentManifest(t, "it", e.root, moreSpec))
	t.Cleanup(func() {
		for _, cmd := range e.running {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return e
}

func (e *agentEnv) write(rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// settings writes a NodeSettings manifest.
func (e *agentEnv) settings(name, selector, settings string) {
	e.write("base/settings/"+name+".yaml", fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: NodeSettings\nmetadata: {name: %s}\nspec:\n  selector: %s\n  settings: %s\n", name, selector, settings))
}

// applyWait applies with --wait (driving a staged rollout) and returns
// the exit code, the output and the generation.
func (e *agentEnv) applyWait() (int, string, string, int64) {
	e.t.Helper()
	code, out, errOut := runTo(e.t, nil, "apply", "--repo", e.dir, "--env", "it", "--auto-approve", "--wait", "--wait-timeout", "2m")
	return code, out, errOut, e.generation()
}

func (e *agentEnv) generation() int64 {
	e.t.Helper()
	data, _, err := e.z.Synced(e.t).Get(path.Join(e.root, state.GenerationPath))
	if err != nil {
		e.t.Fatal(err)
	}
	var g struct{ Generation int64 }
	if err := json.Unmarshal(data, &g); err != nil {
		e.t.Fatal(err)
	}
	return g.Generation
}

// start runs the agent of a node (cass1, cass2) as a process.
func (e *agentEnv) start(name string) {
	e.t.Helper()
	node, ok := e.cl.Spec.CassandraByName(name)
	if !ok {
		e.t.Fatalf("no node %s", name)
	}
	cmd := exec.Command(binary(e.t), "agent", "--repo", e.dir, "--env", "it", "--node", name, "--cassandra", node.CQLAddress(),
		"--nodetool", fmt.Sprintf("%s -dir %s nodetool %s", e.devctl, e.cl.Dir, name), "--check-interval", "1s", "--repair-timeout", "45s", "--log-level", "debug")
	log, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		log.Close()
		if e.t.Failed() {
			out, _ := os.ReadFile(log.Name())
			e.t.Logf("agent %s log:\n%s", name, out)
		}
	})
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.running[name] = cmd
}

// kill ends a node's agent with SIGKILL: it removes nothing itself.
func (e *agentEnv) kill(name string) {
	e.t.Helper()
	cmd := e.running[name]
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	delete(e.running, name)
}

func (e *agentEnv) memberPath(name string) string {
	node, _ := e.cl.Spec.CassandraByName(name)
	return path.Join(e.root, state.AgentsDir, node.Datacenter, node.Rack, name)
}

// awaitMember waits, with a watch on its membership znode, until the
// node's agent record satisfies ok (m nil: no record), and returns it.
func (e *agentEnv) awaitMember(name, what string, ok func(m *agent.Member) bool) *agent.Member {
	e.t.Helper()
	p := e.memberPath(name)
	deadline := time.After(2 * time.Minute)
	for {
		_, _ = e.z.Conn.Sync(p)
		data, _, ev, err := e.z.Conn.GetW(p)
		var m *agent.Member
		if err == nil {
			m = &agent.Member{}
			if jerr := json.Unmarshal(data, m); jerr != nil {
				e.t.Fatal(jerr)
			}
		} else if errors.Is(err, gozk.ErrNoNode) {
			_, _, ev, err = e.z.Conn.ExistsW(p)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		select {
		case <-ev:
		case <-deadline:
			e.t.Fatalf("agent %s: no %s within 2 minutes; last record %+v", name, what, m)
		}
	}
}

// nodetool runs nodetool on a node, independently of the agents.
func (e *agentEnv) nodetool(name string, args ...string) string {
	e.t.Helper()
	node, _ := e.cl.Spec.CassandraByName(name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.cl.NodeTool(ctx, node, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// TestAgentsApplyNodeSettings runs an agent per Cassandra node as real
// processes, in an environment whose settings roll out by datacenter,
// dc1 then dc2, driven by apply --wait: a change for dc2 reaches the dc2
// node only (read back with nodetool, apart from the agents), after dc1's
// stage, and status counts both converged; a value the node refuses halts
// the rollout naming the node and the setting, while the other setting
// applies; a killed agent's membership goes, members says so, and the
// restarted agent catches up with what was applied meanwhile.
func TestAgentsApplyNodeSettings(t *testing.T) {
	e := newAgentEnv(t, "  rollout: {by: datacenter, order: [dc1, dc2]}\n")
	dc1Before := e.nodetool("cass1", "getcompactionthroughput")
	e.start("cass1")
	e.start("cass2")
	for _, n := range []string{"cass1", "cass2"} {
		e.awaitMember(n, "registration", func(m *agent.Member) bool { return m != nil })
	}
	// A value neither node runs now, so that the change is seen.
	v := 40 + time.Now().Nanosecond()%40
	e.settings("dc2", "{datacenter: dc2}", fmt.Sprintf("{compaction_throughput: %dMiB/s}", v))
	code, out, errOut, gen := e.applyWait()
	if code != exitOK || !strings.Contains(out, "Rollout complete") {
		t.Fatalf("apply --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, n := range []string{"cass1", "cass2"} {
		e.awaitMember(n, "convergence", func(m *agent.Member) bool { return m != nil && m.Converged(gen) })
	}
	// dc2's stage began once dc1's ended, and cass2 applied after that.
	data, _, err := e.z.Synced(t).Get(path.Join(e.root, state.RolloutPath))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := rmsync.DecodeRollout(data)
	if err != nil {
		t.Fatal(err)
	}
	m2 := e.awaitMember("cass2", "its record", func(m *agent.Member) bool { return m != nil })
	if len(ro.Trace) < 2 || ro.Trace[0].Name != "dc1" || ro.Trace[1].Name != "dc2" || ro.Trace[1].Started.Before(ro.Trace[0].Done) || m2.At.Before(ro.Trace[1].Started) {
		t.Fatalf("rollout trace %+v, cass2 applied at %s", ro.Trace, m2.At)
	}
	if got := e.nodetool("cass2", "getcompactionthroughput"); !strings.Contains(got, fmt.Sprintf(": %d MB/s", v)) {
		t.Fatalf("cass2 after the apply: %q, want %d MB/s", got, v)
	}
	if got := e.nodetool("cass1", "getcompactionthroughput"); got != dc1Before {
		t.Fatalf("cass1 (dc1) changed: %q, was %q", got, dc1Before)
	}
	code, out, errOut = runTo(t, nil, "status", "--repo", e.dir, "--env", "it")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("agents:             2/2 converged at generation %d", gen)) || !strings.Contains(out, "done") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}

	// The node refuses a value the catalogue allows: the rollout halts at
	// dc2 naming the node and the setting; the other setting of the same
	// generation still applies.
	e.settings("dc2", "{datacenter: dc2}", "{compaction_throughput: 2147483647MiB/s, concurrent_compactors: 3}")
	code, _, errOut, gen = e.applyWait()
	if code != exitError || !strings.Contains(errOut, "rollout halted: stage dc2: node cass2 (dc2/rack1) failed to apply compaction_throughput") {
		t.Fatalf("apply --wait of a refused value: exit %d\n%s", code, errOut)
	}
	m := e.awaitMember("cass2", "the refusal", func(m *agent.Member) bool { return m != nil && m.Generation == gen })
	if r := m.Results["compaction_throughput"]; r.Result != agent.Failed || !strings.Contains(r.Message, "too large") {
		t.Fatalf("the refused setting: %+v", r)
	}
	if r := m.Results["concurrent_compactors"]; r.Result != agent.Applied {
		t.Fatalf("the other setting: %+v", r)
	}
	if got := e.nodetool("cass2", "getcompactionthroughput"); !strings.Contains(got, fmt.Sprintf(": %d MB/s", v)) {
		t.Fatalf("cass2 after the refusal: %q, want its previous %d MB/s", got, v)
	}
	code, out, _ = runTo(t, nil, "members", "--repo", e.dir, "--env", "it")
	if code != exitOK || !strings.Contains(out, "converged: 1/2") || !strings.Contains(out, "too large") {
		t.Fatalf("members after the refusal: exit %d\n%s", code, out)
	}
	code, out, _ = runTo(t, nil, "status", "--repo", e.dir, "--env", "it")
	if code != exitOK || !strings.Contains(out, "halted: stage dc2: node cass2") {
		t.Fatalf("status after the halt: exit %d\n%s", code, out)
	}
	// The live diff with --agents shows what the node does not run.
	code, out, _ = runTo(t, nil, "diff", "--repo", e.dir, "--env", "it", "--agents", "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(out, "RM-DRIFT") || !strings.Contains(out, "compaction_throughput failed") {
		t.Fatalf("diff --agents after the refusal: exit %d\n%s", code, out)
	}

	// A killed agent: its membership goes with its session; what is
	// applied meanwhile reaches the node once the agent is back.
	e.kill("cass1")
	e.awaitMember("cass1", "its membership gone", func(m *agent.Member) bool { return m == nil })
	code, out, _ = runTo(t, nil, "members", "--repo", e.dir, "--env", "it")
	if code != exitOK || !strings.Contains(out, "no agent: node 127.0.0.1") {
		t.Fatalf("members with cass1's agent dead: exit %d\n%s", code, out)
	}
	w := 10 + time.Now().Nanosecond()%20
	e.settings("dc1", "{datacenter: dc1}", fmt.Sprintf("{compaction_throughput: %dMiB/s}", w))
	e.settings("dc2", "{datacenter: dc2}", fmt.Sprintf("{compaction_throughput: %dMiB/s}", v))
	if code, out, errOut, g := e.applyWait(); code != exitOK {
		t.Fatalf("apply --wait with cass1's agent dead (its stage has no agent): exit %d\n%s\n%s", code, out, errOut)
	} else {
		gen = g
	}
	e.start("cass1")
	for _, n := range []string{"cass1", "cass2"} {
		e.awaitMember(n, "convergence after the restart", func(m *agent.Member) bool { return m != nil && m.Converged(gen) })
	}
	if got := e.nodetool("cass1", "getcompactionthroughput"); !strings.Contains(got, fmt.Sprintf(": %d MB/s", w)) {
		t.Fatalf("cass1 after its agent came back: %q, want %d MB/s", got, w)
	}
}

// TestAgentReappliesAfterNodeRestart: with dc2's node stopped, its agent
// reports it down and a staged rollout halts at dc2 naming the node; the
// node restarted has lost its runtime settings: its agent notices the
// restart (a new gossip generation) and applies the current generation.
func TestAgentReappliesAfterNodeRestart(t *testing.T) {
	c := itest.Disruptive(t)
	e := newAgentEnv(t, "  rollout: {by: datacenter, order: [dc1, dc2]}\n")
	e.start("cass2")
	e.awaitMember("cass2", "registration", func(m *agent.Member) bool { return m != nil })
	v := 40 + time.Now().Nanosecond()%40
	e.settings("dc2", "{datacenter: dc2}", fmt.Sprintf("{compaction_throughput: %dMiB/s}", v))
	if code, out, errOut, _ := e.applyWait(); code != exitOK {
		t.Fatalf("apply --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	restart := itest.StopServer(t, c, "cass2")
	e.awaitMember("cass2", "the node reported down", func(m *agent.Member) bool { return m != nil && m.State == "DOWN" })
	v2 := v + 1
	e.settings("dc2", "{datacenter: dc2}", fmt.Sprintf("{compaction_throughput: %dMiB/s}", v2))
	code, _, errOut, gen := e.applyWait()
	if code != exitError || !strings.Contains(errOut, "rollout halted: stage dc2: node cass2 (dc2/rack1) is down") {
		t.Fatalf("apply --wait with dc2's node down: exit %d\n%s", code, errOut)
	}
	if code, out, _ := runTo(t, nil, "status", "--repo", e.dir, "--env", "it"); code != exitOK || !strings.Contains(out, "halted: stage dc2: node cass2 (dc2/rack1) is down") {
		t.Fatalf("status with the rollout halted: exit %d\n%s", code, out)
	}
	restart()
	e.awaitMember("cass2", "convergence after the restart", func(m *agent.Member) bool { return m != nil && m.Converged(gen) })
	if got := e.nodetool("cass2", "getcompactionthroughput"); !strings.Contains(got, fmt.Sprintf(": %d MB/s", v2)) {
		t.Fatalf("cass2 after its restart: %q, want %d MB/s (applied again)", got, v2)
	}
}
