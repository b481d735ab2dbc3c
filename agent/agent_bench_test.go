package agent

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// benchFleet: n agents, each with its own ZooKeeper session and watches,
// their apply step a recording node; each op writes a generation changing
// the cluster scope and waits until every agent reports it applied (a
// watch on each membership znode).
func benchFleet(b *testing.B, n int) {
	z := itest.ZooKeeper(b)
	g := itest.NewGenerations(b, z)
	scope := func(v int) map[string]string {
		return map[string]string{"data/settings/cluster": settingsDoc("cluster", map[string]float64{"concurrent_compactors": float64(v)})}
	}
	g.Apply(scope(1))
	for i := range n {
		startAgentAs(b, g, z.Servers, fmt.Sprintf("n%03d", i), newRecordingNode())
	}
	// Each agent's record is awaited by a watch of its own, all at once.
	awaitFleet := func(gen int64) {
		errs := make(chan error, n)
		for i := range n {
			go func() {
				p := path.Join(g.Root, state.AgentsDir, "dc1/r1", fmt.Sprintf("n%03d", i))
				for {
					data, _, ev, err := z.Conn.GetW(p)
					var m Member
					if err == nil && json.Unmarshal(data, &m) == nil && m.Converged(gen) {
						errs <- nil
						return
					}
					if err != nil {
						if _, _, ev, err = z.Conn.ExistsW(p); err != nil {
							errs <- err
							return
						}
					}
					select {
					case <-ev:
					case <-time.After(time.Minute):
						errs <- fmt.Errorf("agent n%03d: not at generation %d after a minute", i, gen)
						return
					}
				}
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
	awaitFleet(g.Gen)
	b.ResetTimer()
	for b.Loop() {
		g.Apply(scope(int(g.Gen%8) + 2))
		awaitFleet(g.Gen)
	}
}

// BenchmarkAgents2 and BenchmarkAgents100: a generation written until 2
// (100) agents report it applied.
func BenchmarkAgents2(b *testing.B)   { benchFleet(b, 2) }
func BenchmarkAgents100(b *testing.B) { benchFleet(b, 100) }

// BenchmarkBareWatchFanout100: the floor of telling 100 sessions: each
// watches one znode with bare go-zookeeper; a set, until all 100 events.
func BenchmarkBareWatchFanout100(b *testing.B) {
	z := itest.ZooKeeper(b)
	p := z.Path("w")
	if _, err := z.Conn.Create(p, []byte("0"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		b.Fatal(err)
	}
	conns := make([]*gozk.Conn, 100)
	for i := range conns {
		conns[i] = itest.Connect(b, z.Servers...)
	}
	i := 0
	for b.Loop() {
		i++
		evs := make([]<-chan gozk.Event, len(conns))
		for j, c := range conns {
			_, _, ev, err := c.GetW(p)
			if err != nil {
				b.Fatal(err)
			}
			evs[j] = ev
		}
		if _, err := z.Conn.Set(p, []byte(strconv.Itoa(i)), -1); err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			<-ev
		}
	}
}
