package openfeature

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/ringmaster-io/ringmaster/client"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// evalsPerOp is how many evaluations one benchmark op runs: make bench
// runs few ops, and one evaluation is far below a timer's resolution.
const evalsPerOp = 100_000

// benchEvaluations reports the cost of one evaluation: ns/eval, and
// allocs/eval measured apart.
func benchEvaluations(b *testing.B, eval func(i int)) {
	allocs := testing.AllocsPerRun(1000, func() { eval(0) })
	for b.Loop() {
		for i := range evalsPerOp {
			eval(i)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*evalsPerOp), "ns/eval")
	b.ReportMetric(allocs, "allocs/eval")
}

// BenchmarkProviderStaticBool: a boolean flag without targeting, through
// the provider (the SDK's own overhead aside).
func BenchmarkProviderStaticBool(b *testing.B) {
	p := New(client.Config{})
	p.install(&client.Snapshot{Generation: 1, Flags: testFlags}, nil)
	ctx := context.Background()
	benchEvaluations(b, func(int) {
		if r := p.BooleanEvaluation(ctx, "dark-mode", false, nil); !r.Value {
			b.Fatal(r)
		}
	})
}

// BenchmarkProviderFractional: checkout-v2 (an email rule, then a 25/75
// fractional split) for rotating users.
func BenchmarkProviderFractional(b *testing.B) {
	p := New(client.Config{})
	p.install(&client.Snapshot{Generation: 1, Flags: testFlags}, nil)
	ctx := context.Background()
	users := make([]of.FlattenedContext, 256)
	for i := range users {
		users[i] = of.FlattenedContext{"targetingKey": "user-" + strconv.Itoa(i), "email": fmt.Sprintf("u%d@elsewhere.example", i)}
	}
	benchEvaluations(b, func(i int) {
		if r := p.BooleanEvaluation(ctx, "checkout-v2", false, users[i%len(users)]); r.Reason != of.SplitReason {
			b.Fatal(r)
		}
	})
}

// BenchmarkBareWatchSetToEvent is the floor of hearing a change: one
// session sets a znode another watches, with bare go-zookeeper; from the
// set to the event, the watch re-armed each time.
func BenchmarkBareWatchSetToEvent(b *testing.B) {
	z := itest.ZooKeeper(b)
	other := itest.Connect(b, z.Servers...)
	p := z.Path("w")
	if _, err := z.Conn.Create(p, []byte("0"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		_, _, ev, err := other.GetW(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := z.Conn.Set(p, []byte(strconv.Itoa(i)), -1); err != nil {
			b.Fatal(err)
		}
		<-ev
	}
}

// BenchmarkApplyToConfigChanged: an apply's last transaction (a flag's new
// value and the generation that lists it) until an application's
// provider, through the SDK, hands out PROVIDER_CONFIGURATION_CHANGED.
func BenchmarkApplyToConfigChanged(b *testing.B) {
	z := itest.ZooKeeper(b)
	root := z.Path("env")
	acl := gozk.WorldACL(gozk.PermAll)
	for _, p := range []string{"", "/data", "/data/flags", "/meta"} {
		if _, err := z.Conn.Create(root+p, nil, 0, acl); err != nil {
			b.Fatal(err)
		}
	}
	flagPath, genPath := path.Join(root, state.FlagsDir, "dark-mode"), path.Join(root, state.GenerationPath)
	flag := func(v string) []byte {
		return fmt.Appendf(nil, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":%q}`, v)
	}
	gen := func(n int) []byte {
		return fmt.Appendf(nil, `{"generation":%d,"revision":"r%d","changed":["data/flags/dark-mode"]}`, n, n)
	}
	if _, err := z.Conn.Multi(&gozk.CreateRequest{Path: flagPath, Data: flag("off"), Acl: acl}, &gozk.CreateRequest{Path: genPath, Data: gen(1), Acl: acl}); err != nil {
		b.Fatal(err)
	}
	p := New(client.Config{Servers: z.Servers, Root: root})
	api := newAPI(b, p)
	changed := make(chan of.EventDetails, 16)
	cb := func(d of.EventDetails) { changed <- d }
	api.AddHandler(of.ProviderConfigChange, &cb)
	n := 1
	for b.Loop() {
		n++
		v := "off"
		if n%2 == 0 {
			v = "on"
		}
		if _, err := z.Conn.Multi(&gozk.SetDataRequest{Path: flagPath, Data: flag(v), Version: -1}, &gozk.SetDataRequest{Path: genPath, Data: gen(n), Version: -1}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			b.Fatalf("no PROVIDER_CONFIGURATION_CHANGED within 10 s of generation %d", n)
		}
	}
}
