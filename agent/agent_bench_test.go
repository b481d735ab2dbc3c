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

// benchBareWriteBack is the floor of any agent fleet's report: n sessions
// watch one znode with bare go-zookeeper and, when it changes, each writes
// its own znode back (as an agent publishes its record); each op sets the
// znode and waits, watching every session's znode as benchFleet watches
// the agents' records, until all n wrote the new value.
func benchBareWriteBack(b *testing.B, n int) {
	z := itest.ZooKeeper(b)
	p := z.Path("gen")
	if _, err := z.Conn.Create(p, []byte("0"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		b.Fatal(err)
	}
	own := make([]string, n)
	for i := range own {
		own[i] = z.Path(fmt.Sprintf("m%03d", i))
		if _, err := z.Conn.Create(own[i], []byte("0"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
			b.Fatal(err)
		}
		conn := itest.Connect(b, z.Servers...)
		go func() {
			for {
				data, _, ev, err := conn.GetW(p)
				if err != nil {
					return // closed at the end of the benchmark
				}
				if _, err := conn.Set(own[i], data, -1); err != nil {
					return
				}
				if e := <-ev; e.Type == gozk.EventNotWatching {
					return
				}
			}
		}()
	}
	await := func(want string) {
		errs := make(chan error, n)
		for i := range n {
			go func() {
				for {
					data, _, ev, err := z.Conn.GetW(own[i])
					if err != nil {
						errs <- err
						return
					}
					if string(data) == want {
						errs <- nil
						return
					}
					select {
					case <-ev:
					case <-time.After(time.Minute):
						errs <- fmt.Errorf("session %d: no %s after a minute", i, want)
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
	v := 0
	for b.Loop() {
		v++
		if _, err := z.Conn.Set(p, []byte(strconv.Itoa(v)), -1); err != nil {
			b.Fatal(err)
		}
		await(strconv.Itoa(v))
	}
}

// BenchmarkBareWriteBack2 and BenchmarkBareWriteBack100: the floor of a
// 2 (100) agent fleet's convergence: a set until 2 (100) bare sessions
// have each written their own znode back, watched as benchFleet watches.
func BenchmarkBareWriteBack2(b *testing.B)   { benchBareWriteBack(b, 2) }
func BenchmarkBareWriteBack100(b *testing.B) { benchBareWriteBack(b, 100) }
