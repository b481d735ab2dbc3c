package zk

// Benchmarks against the real ensemble (they skip, as integration tests do,
// without RINGMASTER_TEST_CLUSTER). Each compares this package with a bare
// go-zookeeper baseline doing the same work:
//
//	BenchmarkWrite10k          Client.Write: 10,000 ops (5,000 Sets of existing
//	                           nodes, 5,000 Creates under a new parent) + a final op
//	BenchmarkBareMulti10k      the same ops in zk.Multi batches of the same size
//	BenchmarkWriteBatchDefault Client.Write of large entries (3,000 Sets of 2.5 KB,
//	                           7.5 MB) at the default batch size, DefaultMaxTxnBytes
//	BenchmarkWriteBatch1MiB    the same at batches of TxnCeiling (~1 MiB), the size
//	                           before issue 14
//	BenchmarkBareSet10k        the same ops one Create/Set call at a time
//	BenchmarkReadTree10k       Client.ReadTree of a 10,000-node tree
//	BenchmarkBarePipelinedRead10k  the same tree read by a goroutine per node
//	BenchmarkReadAndDiff10k    ReadTree plus diff.Compute against a desired state
//
// Payloads are ~200 bytes (2.5 KB in WriteBatch*). Setup and deletion are
// not timed.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

const (
	benchSets    = 5000
	benchCreates = 5000
)

// writeBench prepares a root with benchSets existing nodes and a fence
// node, and deletes everything when the benchmark ends.
func writeBench(b *testing.B) (*itest.ZK, *Client, string, Fence) {
	b.Helper()
	z := itest.ZooKeeper(b)
	c := connect(b, z.Servers)
	ctx := ctxFor(b, 10*time.Minute)
	root := z.Path("w")
	ops := []Op{{Kind: OpCreate, Path: root + "/fence"}}
	for j := range benchSets {
		ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/existing/e%04d", root, j), Data: payload(j)})
	}
	if _, err := c.Write(ctx, Fence{}, ops, nil); err != nil {
		b.Fatalf("setup: %v", err)
	}
	b.Cleanup(func() {
		deleteAll(b, c, root)
		evictCommitLog(b, c, z.Root)
	})
	return z, c, root, Fence{Path: root + "/fence", Version: 0}
}

// writeOps is iteration it's work: Sets of every existing node, Creates
// under a fresh parent "new-<it>" (missing), and the final generation.
func writeOps(root string, it int) (ops, final []Op) {
	ops = make([]Op, 0, benchSets+benchCreates)
	for j := range benchSets {
		ops = append(ops, Op{Kind: OpSet, Path: fmt.Sprintf("%s/existing/e%04d", root, j), Data: payload(j + it), Version: -1})
	}
	for j := range benchCreates {
		ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/new-%d/n%04d", root, it, j), Data: payload(j)})
	}
	final = []Op{{Kind: OpCreate, Path: fmt.Sprintf("%s/gen-%d", root, it), Data: []byte(fmt.Sprintf(`{"generation":%d}`, it))}}
	return ops, final
}

func BenchmarkWrite10k(b *testing.B) {
	_, c, root, fence := writeBench(b)
	ctx := ctxFor(b, 10*time.Minute)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ops, final := writeOps(root, i)
		b.StartTimer()
		res, err := c.Write(ctx, fence, ops, final)
		if err != nil || res.Applied != len(ops)+len(final) {
			b.Fatalf("Write: %+v, %v", res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchSets+benchCreates)*b.N)/b.Elapsed().Seconds(), "znodes/s")
}

func BenchmarkBareMulti10k(b *testing.B) {
	z, _, root, fence := writeBench(b)
	conn := z.Conn
	acl := gozk.WorldACL(gozk.PermAll)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ops, final := writeOps(root, i)
		b.StartTimer()
		// The same batching rule as Write: path + data + 64 bytes per op,
		// a fence check first in every batch, the final op in the last.
		check := &gozk.CheckVersionRequest{Path: fence.Path, Version: fence.Version}
		checkSize := len(fence.Path) + opOverhead
		batch := []any{check, &gozk.CreateRequest{Path: fmt.Sprintf("%s/new-%d", root, i), Acl: acl}}
		size := checkSize + len(root) + 10 + opOverhead
		send := func() {
			if _, err := conn.Multi(batch...); err != nil {
				b.Fatalf("Multi: %v", err)
			}
			batch, size = []any{check}, checkSize
		}
		for _, op := range append(ops, final...) {
			sz := len(op.Path) + len(op.Data) + opOverhead
			if size+sz > DefaultMaxTxnBytes {
				send()
			}
			if op.Kind == OpSet {
				batch = append(batch, &gozk.SetDataRequest{Path: op.Path, Data: op.Data, Version: -1})
			} else {
				batch = append(batch, &gozk.CreateRequest{Path: op.Path, Data: op.Data, Acl: acl})
			}
			size += sz
		}
		send()
	}
	b.StopTimer()
	b.ReportMetric(float64((benchSets+benchCreates)*b.N)/b.Elapsed().Seconds(), "znodes/s")
}

func BenchmarkBareSet10k(b *testing.B) {
	z, _, root, _ := writeBench(b)
	conn := z.Conn
	acl := gozk.WorldACL(gozk.PermAll)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ops, final := writeOps(root, i)
		b.StartTimer()
		if _, err := conn.Create(fmt.Sprintf("%s/new-%d", root, i), nil, 0, acl); err != nil {
			b.Fatal(err)
		}
		for _, op := range append(ops, final...) {
			var err error
			if op.Kind == OpSet {
				_, err = conn.Set(op.Path, op.Data, -1)
			} else {
				_, err = conn.Create(op.Path, op.Data, 0, acl)
			}
			if err != nil {
				b.Fatalf("%s: %v", op, err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchSets+benchCreates)*b.N)/b.Elapsed().Seconds(), "znodes/s")
}

// Large entries, as in the apply that took a ZooKeeper server down: 3,000
// entries of 2.5 KB, 7.5 MB per apply.
const (
	largeEntries = 3000
	largeBytes   = 2500
)

// largePayload is entry j's 2.5 KB payload in apply it.
func largePayload(it, j int) []byte {
	b := fmt.Appendf(make([]byte, 0, largeBytes), `{"apply":%d,"entry":%d,"pad":"`, it, j)
	for len(b) < largeBytes-2 {
		b = append(b, byte('a'+(len(b)+it+j)%26))
	}
	return append(b, '"', '}')
}

// largeApply is apply it's writes: a Set of every entry under dir, and a
// final generation plus an inventory (~40 bytes per entry, as sync's).
func largeApply(dir string, it int) (ops, final []Op) {
	ops = make([]Op, 0, largeEntries)
	var inv strings.Builder
	inv.WriteString(`{"znodes":{`)
	for j := range largeEntries {
		ops = append(ops, Op{Kind: OpSet, Path: fmt.Sprintf("%s/data/config/e%05d", dir, j), Data: largePayload(it, j), Version: -1})
		fmt.Fprintf(&inv, `"data/config/e%05d":%d,`, j, it+1)
	}
	inv.WriteString(`"_":0}}`)
	final = []Op{
		{Kind: OpSet, Path: dir + "/meta/inventory", Data: []byte(inv.String()), Version: -1},
		{Kind: OpSet, Path: dir + "/meta/generation", Data: fmt.Appendf(nil, `{"generation":%d}`, it+1), Version: -1},
	}
	return ops, final
}

// createLarge creates the entries and meta nodes largeApply sets, and a
// fence node, under dir.
func createLarge(tb testing.TB, c *Client, dir string) Fence {
	tb.Helper()
	ctx := ctxFor(tb, 5*time.Minute)
	ops := []Op{
		{Kind: OpCreate, Path: dir + "/fence"},
		{Kind: OpCreate, Path: dir + "/meta/inventory"},
		{Kind: OpCreate, Path: dir + "/meta/generation"},
	}
	for j := range largeEntries {
		ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/data/config/e%05d", dir, j), Data: largePayload(-1, j)})
	}
	if _, err := c.Write(ctx, Fence{}, ops, nil); err != nil {
		tb.Fatalf("create %d large entries: %v", largeEntries, err)
	}
	return Fence{Path: dir + "/fence", Version: 0}
}

// benchLarge times Client.Write of large applies at batch size limit.
func benchLarge(b *testing.B, limit int) {
	z := itest.ZooKeeper(b)
	c := connect(b, z.Servers, func(cfg *Config) { cfg.MaxTxnBytes = limit })
	dir := z.Path("w")
	fence := createLarge(b, c, dir)
	b.Cleanup(func() {
		deleteAll(b, c, dir)
		evictCommitLog(b, c, z.Root)
	})
	ctx := ctxFor(b, 10*time.Minute)
	var txns int
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ops, final := largeApply(dir, i)
		b.StartTimer()
		res, err := c.Write(ctx, fence, ops, final)
		if err != nil || res.Applied != len(ops)+len(final) {
			b.Fatalf("Write: %+v, %v", res, err)
		}
		txns += res.Batches
	}
	b.StopTimer()
	b.ReportMetric(float64(largeEntries*largeBytes*b.N)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(txns)/float64(b.N), "txns/op")
}

// BenchmarkWriteBatchDefault writes large applies at DefaultMaxTxnBytes;
// its baseline is BenchmarkWriteBatch1MiB.
func BenchmarkWriteBatchDefault(b *testing.B) { benchLarge(b, DefaultMaxTxnBytes) }

// BenchmarkWriteBatch1MiB writes large applies at TxnCeiling, the batch
// size before issue 14.
func BenchmarkWriteBatch1MiB(b *testing.B) { benchLarge(b, TxnCeiling) }

// readBench builds a 10,000-node tree (100 directories of 99 leaves) and
// deletes it when the benchmark ends.
func readBench(b *testing.B) (*itest.ZK, *Client, string) {
	b.Helper()
	z := itest.ZooKeeper(b)
	c := connect(b, z.Servers)
	ctx := ctxFor(b, 10*time.Minute)
	root := z.Path("r")
	var ops []Op
	for d := range 100 {
		ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/d%02d", root, d), Data: payload(d)})
		for n := range 99 {
			ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/d%02d/n%02d", root, d, n), Data: payload(n)})
		}
	}
	if _, err := c.Write(ctx, Fence{}, ops, nil); err != nil {
		b.Fatalf("setup: %v", err)
	}
	// z.Conn is another session, perhaps on a follower that has not
	// applied the last transactions yet: let it catch up.
	if _, err := z.Conn.Sync(root); err != nil {
		b.Fatalf("setup: sync: %v", err)
	}
	b.Cleanup(func() {
		deleteAll(b, c, root)
		evictCommitLog(b, c, z.Root)
	})
	return z, c, root
}

func BenchmarkReadTree10k(b *testing.B) {
	_, c, root := readBench(b)
	ctx := ctxFor(b, 10*time.Minute)
	b.ResetTimer()
	for range b.N {
		got, err := c.ReadTree(ctx, root)
		if err != nil || len(got) != 10000 {
			b.Fatalf("ReadTree: %d nodes, %v", len(got), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "znodes/s")
}

func BenchmarkBarePipelinedRead10k(b *testing.B) {
	z, _, root := readBench(b)
	b.ResetTimer()
	for range b.N {
		got, err := bareRead(z.Conn, root)
		if err != nil || len(got) != 10000 {
			b.Fatalf("bare read: %d nodes, %v", len(got), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "znodes/s")
}

// bareRead is a minimal pipelined tree read: a goroutine per node, Get for
// its data, Children when it has any.
func bareRead(conn *gozk.Conn, root string) (map[string][]byte, error) {
	var (
		mu    gosync.Mutex
		out   = map[string][]byte{}
		first error
		wg    gosync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	var visit func(p string, get bool)
	visit = func(p string, get bool) {
		defer wg.Done()
		if get {
			data, stat, err := conn.Get(p)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			out[p] = data
			mu.Unlock()
			if stat.NumChildren == 0 {
				return
			}
		}
		kids, _, err := conn.Children(p)
		if err != nil {
			fail(err)
			return
		}
		for _, k := range kids {
			wg.Add(1)
			go visit(p+"/"+k, true)
		}
	}
	wg.Add(1)
	visit(root, false)
	wg.Wait()
	return out, first
}

// evictCommitLog sends 600 tiny transactions. Every ZooKeeper server keeps
// its last 500 committed transactions in memory to sync followers (the
// leader about three times over): after a benchmark or the soak test they
// are up to ~1 MiB each (BenchmarkWriteBatch1MiB), which the test
// ensemble's 512 MB heaps hold only as long as nothing else large comes.
// Tiny transactions push them out.
func evictCommitLog(tb testing.TB, c *Client, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := dir + "/evict"
	if _, err := c.Conn().Create(p, nil, 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		tb.Errorf("evict commit log: %v", err)
		return
	}
	err := forEach(ctx, 600, func(int) error {
		_, err := c.Conn().Set(p, nil, -1)
		return err
	})
	if err != nil {
		tb.Errorf("evict commit log: %v", err)
	}
	_ = c.Conn().Delete(p, -1)
}

// deleteAll removes root and everything below it in batched transactions
// (a node-by-node delete of tens of thousands of nodes takes minutes).
func deleteAll(tb testing.TB, c *Client, root string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes, err := c.ReadTree(ctx, root)
	if err != nil {
		tb.Errorf("delete %s: %v", root, err)
		return
	}
	paths := make([]string, 0, len(nodes))
	for p := range nodes {
		paths = append(paths, p)
	}
	// Deepest first, so children go before their parents.
	sort.Slice(paths, func(i, j int) bool { return strings.Count(paths[i], "/") > strings.Count(paths[j], "/") })
	ops := make([]Op, 0, len(paths)+1)
	for _, p := range paths {
		ops = append(ops, Op{Kind: OpDelete, Path: root + "/" + p, Version: -1})
	}
	ops = append(ops, Op{Kind: OpDelete, Path: root, Version: -1})
	if _, err := c.Write(ctx, Fence{}, ops, nil); err != nil {
		tb.Errorf("delete %s: %v", root, err)
	}
}

// BenchmarkReadAndDiff10k is what a live diff does with the managed tree:
// ReadTree of the 10,000-node tree, then diff.Compute against a desired
// state of the same znodes with one payload changed. Its baseline is
// BenchmarkBarePipelinedRead10k (target: at most 1.5x).
func BenchmarkReadAndDiff10k(b *testing.B) {
	_, c, root := readBench(b)
	ctx := ctxFor(b, 10*time.Minute)
	desired := state.New("bench")
	for d := range 100 {
		p := fmt.Sprintf("d%02d", d)
		desired.Znodes[p] = &state.Znode{Path: p, Data: payload(d), Version: -1}
		for n := range 99 {
			p := fmt.Sprintf("d%02d/n%02d", d, n)
			desired.Znodes[p] = &state.Znode{Path: p, Data: payload(n), Version: -1}
		}
	}
	desired.Znodes["d00/n00"].Data = []byte(`{"changed":true}`)
	b.ResetTimer()
	for range b.N {
		nodes, err := c.ReadTree(ctx, root)
		if err != nil {
			b.Fatal(err)
		}
		live := state.New("bench")
		for rel, n := range nodes {
			live.Znodes[rel] = &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version}
		}
		if cs := diff.Compute(live, desired, diff.Options{}); len(cs.Changes) != 1 {
			b.Fatalf("%d changes, want 1", len(cs.Changes))
		}
	}
}
