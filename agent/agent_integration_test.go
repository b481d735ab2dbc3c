package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	gosync "sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// recordingNode stands in for a Cassandra node where the node is not what
// a test is about: it keeps the values set, reports them back, and records
// every set. (The 100-agent simulation uses it as its apply step.)
type recordingNode struct {
	mu     gosync.Mutex
	values map[string]float64
	sets   []string
	gossip int64
	down   bool
}

func newRecordingNode() *recordingNode {
	return &recordingNode{values: map[string]float64{}, gossip: 1}
}

func (n *recordingNode) Info(context.Context) (cassandra.NodeInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return cassandra.NodeInfo{}, errors.New("connection refused")
	}
	return cassandra.NodeInfo{HostID: "h-1", Datacenter: "dc1", Rack: "r1", GossipGeneration: n.gossip, Status: "NORMAL"}, nil
}

func (n *recordingNode) Running(_ context.Context, names []string) (map[string]float64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]float64{}
	for _, name := range names {
		if v, ok := n.values[name]; ok {
			out[name] = v
		}
	}
	return out, nil
}

func (n *recordingNode) Set(_ context.Context, def state.SettingDef, v float64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.values[def.Name] = v
	n.sets = append(n.sets, fmt.Sprintf("%s=%v", def.Name, v))
	return nil
}

// restart loses the runtime settings, as a restarted node does.
func (n *recordingNode) restart() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.values = map[string]float64{}
	n.gossip++
}

func (n *recordingNode) setCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sets)
}

func settingsDoc(scope string, values map[string]float64) string {
	s := map[string]any{}
	for k, v := range values {
		s[k] = map[string]any{"value": v}
	}
	raw, _ := json.Marshal(map[string]any{"scope": scope, "settings": s})
	return string(raw)
}

// startAgent runs the agent of node n1 (dc1/r1) in this process until the
// test ends.
func startAgent(t testing.TB, g *itest.Generations, servers []string, node Node) func() error {
	t.Helper()
	return startAgentAs(t, g, servers, "n1", node)
}

// startAgentAs runs the agent of node id (dc1/r1) in this process until
// the test ends.
func startAgentAs(t testing.TB, g *itest.Generations, servers []string, id string, node Node) func() error {
	t.Helper()
	return startAgentIn(t, g, servers, "dc1", id, node)
}

// startAgentIn runs the agent of node id in datacenter dc (rack r1).
func startAgentIn(t testing.TB, g *itest.Generations, servers []string, dc, id string, node Node) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{ZooKeeper: zk.Config{Servers: servers, SessionTimeout: 4 * time.Second}, Root: g.Root,
			Node: id, Datacenter: dc, Rack: "r1", Cassandra: node, Version: "test", CheckInterval: 100 * time.Millisecond})
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// awaitMember waits with a watch until n1's record satisfies ok.
func awaitMember(t *testing.T, z *itest.ZK, root, what string, ok func(*Member) bool) *Member {
	t.Helper()
	return awaitAgent(t, z, root, "dc1/r1/n1", what, ok)
}

// awaitAgent waits with a watch until the record at agents/<rel>
// satisfies ok.
func awaitAgent(t *testing.T, z *itest.ZK, root, rel, what string, ok func(*Member) bool) *Member {
	t.Helper()
	p := path.Join(root, state.AgentsDir, rel)
	deadline := time.After(30 * time.Second)
	for {
		_, _ = z.Conn.Sync(p)
		data, _, ev, err := z.Conn.GetW(p)
		var m *Member
		if err == nil {
			m = &Member{}
			if err := json.Unmarshal(data, m); err != nil {
				t.Fatal(err)
			}
		} else if errors.Is(err, gozk.ErrNoNode) {
			_, _, ev, err = z.Conn.ExistsW(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		select {
		case <-ev:
		case <-deadline:
			t.Fatalf("no %s within 30 s; record %+v", what, m)
		}
	}
}

// TestAgentFollowsGenerations: scopes merge most specific first; only
// what differs is set; an apply in progress is not applied half; a
// restart of the node applies again; a setting changed on the node by
// hand is reported as drift and put back by the next generation; a clean
// stop removes the membership at once, and leaves no goroutine.
func TestAgentFollowsGenerations(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	g := itest.NewGenerations(t, z)
	g.Apply(map[string]string{
		"data/settings/cluster":     settingsDoc("cluster", map[string]float64{"compaction_throughput": 64, "concurrent_compactors": 2}),
		"data/settings/dc/dc1":      settingsDoc("dc/dc1", map[string]float64{"compaction_throughput": 96}),
		"data/settings/dc/dc2":      settingsDoc("dc/dc2", map[string]float64{"compaction_throughput": 32}),
		"data/settings/node/n1":     settingsDoc("node/n1", map[string]float64{"trace_probability": 0.5}),
		"data/settings/node/other":  settingsDoc("node/other", map[string]float64{"trace_probability": 0.9}),
		"data/settings/rack/dc1/r2": settingsDoc("rack/dc1/r2", map[string]float64{"concurrent_compactors": 8}),
	})
	node := newRecordingNode()
	stop := startAgent(t, g, z.Servers, node)
	m := awaitMember(t, z, g.Root, "generation 1", func(m *Member) bool { return m != nil && m.Converged(1) })
	want := map[string]float64{"compaction_throughput": 96, "concurrent_compactors": 2, "trace_probability": 0.5}
	for k, v := range want {
		if got, _ := node.Running(context.Background(), []string{k}); got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if m.Results["compaction_throughput"].Scope != "dc/dc1" || m.HostID != "h-1" || m.State != "UN" {
		t.Fatalf("record %+v", m)
	}
	sets := node.setCount()

	// An apply in progress: its writes wait for its generation.
	g.Begin("_c_x-lock-0000000002")
	g.Write(map[string]string{"data/settings/dc/dc1": settingsDoc("dc/dc1", map[string]float64{"compaction_throughput": 128})})
	g.Write(map[string]string{"data/settings/cluster": settingsDoc("cluster", map[string]float64{"compaction_throughput": 64, "concurrent_compactors": 4})})
	g.Finish([]string{"data/settings/cluster", "data/settings/dc/dc1"}, false)
	m = awaitMember(t, z, g.Root, "generation 2", func(m *Member) bool { return m != nil && m.Converged(2) })
	if got := node.setCount() - sets; got != 2 {
		t.Fatalf("%d sets for generation 2, want 2 (what changed): %v", got, node.sets)
	}
	if m.Results["trace_probability"].Result != Unchanged || m.Results["compaction_throughput"].Result != Applied {
		t.Fatalf("results %+v", m.Results)
	}

	// The node restarts: its runtime settings are gone, and applied again.
	sets = node.setCount()
	node.restart()
	awaitMember(t, z, g.Root, "the settings applied again", func(m *Member) bool {
		return m != nil && m.Converged(2) && node.setCount()-sets == 3
	})
	// A setting changed on the node by hand is reported as drift, and
	// the next generation puts it back.
	n := node
	n.mu.Lock()
	n.values["compaction_throughput"] = 500
	n.mu.Unlock()
	m = awaitMember(t, z, g.Root, "the drift reported", func(m *Member) bool {
		return m != nil && m.Results["compaction_throughput"].Result == Drifted
	})
	if !strings.Contains(m.Results["compaction_throughput"].Message, "runs 500MiB/s") || m.Converged(2) {
		t.Fatalf("drift record %+v", m)
	}
	g.Apply(map[string]string{"data/settings/node/n1": settingsDoc("node/n1", map[string]float64{"trace_probability": 0.25})})
	awaitMember(t, z, g.Root, "generation 3 put it back", func(m *Member) bool { return m != nil && m.Converged(3) })
	if got, _ := node.Running(context.Background(), []string{"compaction_throughput"}); got["compaction_throughput"] != 128 {
		t.Fatalf("after generation 3: %v", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := z.Synced(t).Exists(path.Join(g.Root, state.AgentsDir, "dc1/r1/n1")); ok {
		t.Fatal("the membership outlived a clean stop")
	}
}

// TestAgentThroughSessionLoss: cut off from ZooKeeper, the agent leaves
// the node as it is; a generation applied meanwhile reaches the node when
// the session is back, and again after the session expired (a new one,
// a new membership).
func TestAgentThroughSessionLoss(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	g := itest.NewGenerations(t, z)
	g.Apply(map[string]string{"data/settings/cluster": settingsDoc("cluster", map[string]float64{"concurrent_compactors": 2})})
	proxy := itest.StartProxy(t, z.Servers[0], nil)
	node := newRecordingNode()
	startAgent(t, g, []string{proxy.Addr()}, node)
	first := awaitMember(t, z, g.Root, "generation 1", func(m *Member) bool { return m != nil && m.Converged(1) })

	for i, outage := range []time.Duration{time.Second, 10 * time.Second} {
		sets := node.setCount()
		proxy.Cut()
		g.Apply(map[string]string{"data/settings/cluster": settingsDoc("cluster", map[string]float64{"concurrent_compactors": float64(3 + i)})})
		if node.setCount() != sets {
			t.Fatal("the node was changed while the agent was cut off")
		}
		if outage > time.Second {
			// Past the session timeout: the session expires, and its
			// membership with it.
			awaitMember(t, z, g.Root, "the membership gone with the session", func(m *Member) bool { return m == nil })
		} else {
			time.Sleep(outage) // an outage of a given length is what is tested
		}
		proxy.Restore()
		m := awaitMember(t, z, g.Root, fmt.Sprintf("generation %d after the outage", g.Gen), func(m *Member) bool { return m != nil && m.Converged(g.Gen) })
		if got, _ := node.Running(context.Background(), []string{"concurrent_compactors"}); got["concurrent_compactors"] != float64(3+i) {
			t.Fatalf("after outage %d: %v", i, got)
		}
		if outage > time.Second && !m.Since.After(first.Since) {
			t.Fatalf("after the session expired the record is the old one: %+v", m)
		}
	}
}

// TestRolloutStagesAndHalts: a rollout by datacenter (dc1, then dc2)
// keeps dc2's agent at its settings until Step has seen dc1's applied and
// started dc2; a dc2 node that is down halts it naming the node, and once
// the node is back Step resumes it to the end.
func TestRolloutStagesAndHalts(t *testing.T) {
	itest.NoLeaks(t)
	z := itest.ZooKeeper(t)
	g := itest.NewGenerations(t, z)
	g.Apply(map[string]string{"data/settings/cluster": settingsDoc("cluster", map[string]float64{"concurrent_compactors": 2})})
	n1, n2 := newRecordingNode(), newRecordingNode()
	startAgentIn(t, g, z.Servers, "dc1", "n1", n1)
	startAgentIn(t, g, z.Servers, "dc2", "n2", n2)
	for _, rel := range []string{"dc1/r1/n1", "dc2/r1/n2"} {
		awaitAgent(t, z, g.Root, rel, "generation 1", func(m *Member) bool { return m != nil && m.Converged(1) })
	}
	zc, err := zk.Connect(context.Background(), zk.Config{Servers: z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	rollout := func(values map[string]float64) {
		t.Helper()
		g.Begin("_c_x-lock-0000000009")
		g.Write(map[string]string{"data/settings/cluster": settingsDoc("cluster", values)})
		rec, _ := json.Marshal(rmsync.RolloutRecord{Generation: g.Gen + 1, Spec: state.Rollout{By: "datacenter", Order: []string{"dc1", "dc2"}, RequireHealthy: true}, State: rmsync.RolloutRolling,
			Trace: []rmsync.StageTrace{{Name: "dc1", Started: time.Now()}}})
		g.Write(map[string]string{state.RolloutPath: string(rec)})
		g.Finish([]string{"data/settings/cluster"}, false)
	}
	step := func() *rmsync.RolloutRecord {
		t.Helper()
		r, _, err := Step(context.Background(), zc, g.Root, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rollout(map[string]float64{"concurrent_compactors": 4})
	awaitAgent(t, z, g.Root, "dc1/r1/n1", "stage dc1 applied", func(m *Member) bool { return m != nil && m.Converged(2) })
	m2 := awaitAgent(t, z, g.Root, "dc2/r1/n2", "dc2 waiting", func(m *Member) bool { return m != nil && m.Waiting != "" })
	if got, _ := n2.Running(context.Background(), []string{"concurrent_compactors"}); got["concurrent_compactors"] != 2 || m2.Generation != 1 {
		t.Fatalf("dc2 applied before its stage: %v, record %+v", got, m2)
	}
	// One step starts dc2 (and may see it applied at once, and end).
	if r := step(); r.State == rmsync.RolloutHalted || (r.State == rmsync.RolloutRolling && r.Stage != 1) {
		t.Fatalf("after dc1 applied: %s", r)
	}
	awaitAgent(t, z, g.Root, "dc2/r1/n2", "stage dc2 applied", func(m *Member) bool { return m != nil && m.Converged(2) })
	r := step()
	if r.State != rmsync.RolloutDone || len(r.Trace) < 2 || r.Trace[0].Name != "dc1" || r.Trace[1].Name != "dc2" || r.Trace[1].Started.Before(r.Trace[0].Done) {
		t.Fatalf("after dc2 applied: %s, trace %+v", r, r.Trace)
	}

	// dc2's node down: the next rollout halts at dc2, naming it.
	n2.mu.Lock()
	n2.down = true
	n2.mu.Unlock()
	awaitAgent(t, z, g.Root, "dc2/r1/n2", "n2 down", func(m *Member) bool { return m != nil && m.State == "DOWN" })
	rollout(map[string]float64{"concurrent_compactors": 6})
	awaitAgent(t, z, g.Root, "dc1/r1/n1", "stage dc1 applied", func(m *Member) bool { return m != nil && m.Converged(3) })
	if r := step(); r.State != rmsync.RolloutHalted || !strings.Contains(r.Message, "node n2 (dc2/r1) is down") {
		t.Fatalf("with n2 down: %s", r)
	}
	n2.mu.Lock()
	n2.down = false
	n2.mu.Unlock()
	awaitAgent(t, z, g.Root, "dc2/r1/n2", "n2 back and applied", func(m *Member) bool { return m != nil && m.Converged(3) })
	if r := step(); r.State != rmsync.RolloutDone {
		t.Fatalf("once n2 is back: %s", r)
	}
}
