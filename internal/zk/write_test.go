package zk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestPlan checks the batching rules without a server.
func TestPlan(t *testing.T) {
	data := func(n int) []byte { return make([]byte, n) }
	op := func(k OpKind, p string, n int) Op { return Op{Kind: k, Path: p, Data: data(n), Version: -1} }
	fence := Fence{Path: "/l", Version: 0}         // 2 + 64 = 66 bytes
	small := op(OpSet, "/s/0000000001", 200-13-64) // 200 bytes each
	var ten []Op
	for i := range 10 {
		o := small
		o.Path = fmt.Sprintf("/s/%010d", i)
		ten = append(ten, o)
	}
	shape := func(ts []txn) string {
		var parts []string
		for _, t := range ts {
			var ops []string
			for i, o := range t.ops {
				s := o.Path
				if t.parent[i] {
					s = "+" + s
				}
				ops = append(ops, s)
			}
			parts = append(parts, fmt.Sprintf("%d:%s", t.caller, strings.Join(ops, ",")))
		}
		return strings.Join(parts, " | ")
	}
	tests := []struct {
		name    string
		fence   Fence
		ops     []Op
		final   []Op
		missing []string
		limit   int
		ceiling int    // 0: limit
		want    string // shape, or the error's start after "!"
		nTxn    int
	}{
		{name: "one txn", fence: fence, ops: ten[:3], limit: 1000, nTxn: 1},
		{name: "fence counts", fence: fence, ops: ten[:4], limit: 866, nTxn: 1},
		{name: "fence tips over", fence: fence, ops: ten[:4], limit: 865, nTxn: 2},
		{name: "no fence", ops: ten[:5], limit: 1000, nTxn: 1},
		{name: "ten in threes", fence: fence, ops: ten, limit: 666, nTxn: 4},
		{name: "final joins last", fence: fence, ops: ten[:2], final: []Op{op(OpSet, "/g", 10)}, limit: 1000,
			want: "3:/s/0000000000,/s/0000000001,/g"},
		{name: "final alone when full", fence: fence, ops: ten[:3], final: []Op{op(OpSet, "/g", 100)}, limit: 666,
			want: "3:/s/0000000000,/s/0000000001,/s/0000000002 | 1:/g"},
		{name: "final only", fence: fence, final: []Op{op(OpSet, "/g", 1)}, limit: 1000, want: "1:/g"},
		{name: "parents before child", ops: []Op{op(OpCreate, "/a/b/c", 1), op(OpCreate, "/a/b/d", 1), op(OpCreate, "/a/x", 1)},
			missing: []string{"/a", "/a/b"}, limit: 10000, want: "3:+/a,+/a/b,/a/b/c,/a/b/d,/a/x"},
		{name: "parents of final go with it", ops: []Op{op(OpSet, "/s", 1)}, final: []Op{op(OpCreate, "/m/g", 1)},
			missing: []string{"/m"}, limit: 10000, want: "2:/s,+/m,/m/g"},
		{name: "parent created by an earlier op", ops: []Op{op(OpCreate, "/a", 1), op(OpCreate, "/a/b", 1)},
			missing: []string{}, limit: 10000, want: "2:/a,/a/b"},
		{name: "child before its parent", ops: []Op{op(OpCreate, "/a/b", 1), op(OpCreate, "/a", 1)},
			limit: 10000, want: "!op 0 (create /a/b) comes before op 1, which creates its parent /a"},
		{name: "op too big", fence: fence, ops: []Op{op(OpSet, "/big", 1000)}, limit: 1000,
			want: "!op 0 (set /big) is about 1068 bytes, over the 934-byte transaction limit"},
		{name: "final too big", ops: []Op{op(OpSet, "/s", 1)}, final: []Op{op(OpSet, "/g", 600), op(OpSet, "/h", 600)}, limit: 1000,
			want: "!final ops are about 1332 bytes"},
		{name: "big op alone up to the ceiling", fence: fence, ops: []Op{ten[0], op(OpSet, "/big", 1000), ten[1]}, limit: 1000, ceiling: 2000,
			want: "1:/s/0000000000 | 1:/big | 1:/s/0000000001"},
		{name: "big op first", fence: fence, ops: []Op{op(OpSet, "/big", 1000), ten[0]}, limit: 1000, ceiling: 2000,
			want: "1:/big | 1:/s/0000000000"},
		{name: "op over the ceiling", fence: fence, ops: []Op{op(OpSet, "/big", 2000)}, limit: 1000, ceiling: 2000,
			want: "!op 0 (set /big) is about 2068 bytes, over the 1934-byte transaction limit"},
		{name: "big final alone up to the ceiling", fence: fence, ops: ten[:2], final: []Op{op(OpSet, "/g", 600), op(OpSet, "/h", 600)}, limit: 1000, ceiling: 2000,
			want: "2:/s/0000000000,/s/0000000001 | 2:/g,/h"},
		{name: "final after a big op", fence: fence, ops: []Op{op(OpSet, "/big", 1000)}, final: []Op{op(OpSet, "/g", 1)}, limit: 1000, ceiling: 2000,
			want: "1:/big | 1:/g"},
		{name: "final over the ceiling", ops: []Op{op(OpSet, "/s", 1)}, final: []Op{op(OpSet, "/g", 1000), op(OpSet, "/h", 1000)}, limit: 1000, ceiling: 2000,
			want: "!final ops are about 2132 bytes, over the 2000-byte transaction limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			missing := map[string]bool{}
			for _, m := range tc.missing {
				missing[m] = true
			}
			got, err := plan(tc.fence, tc.ops, tc.final, missing, tc.limit, tc.ceiling)
			if want, ok := strings.CutPrefix(tc.want, "!"); ok {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("plan error = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if tc.want != "" && shape(got) != tc.want {
				t.Errorf("plan = %s\nwant   %s", shape(got), tc.want)
			}
			if tc.nTxn != 0 && len(got) != tc.nTxn {
				t.Errorf("plan = %d txns (%s), want %d", len(got), shape(got), tc.nTxn)
			}
			budget, most := tc.limit, max(tc.limit, tc.ceiling)
			if tc.fence.Path != "" {
				budget -= len(tc.fence.Path) + opOverhead
				most -= len(tc.fence.Path) + opOverhead
			}
			callers := 0
			for i, tx := range got {
				// Over the batch size only alone (an op with its
				// parents, or the final ops), and never over the ceiling.
				if tx.size > most || tx.size > budget && tx.caller != 1 && i != len(got)-1 {
					t.Errorf("txn %d is %d bytes with %d caller ops, over %d (ceiling %d)", i, tx.size, tx.caller, budget, most)
				}
				callers += tx.caller
			}
			if callers != len(tc.ops)+len(tc.final) {
				t.Errorf("plan carries %d caller ops, want %d", callers, len(tc.ops)+len(tc.final))
			}
		})
	}
}

// TestWriteBatches writes many ops in several transactions: parents are
// created, everything lands, and the final ops land last, in one
// transaction.
func TestWriteBatches(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, 2*time.Minute)
	withTxnLimit(c, 4096)
	create(t, z.Conn, map[string]string{
		z.Path("lock"):         "",
		z.Path("old"):          "",
		z.Path("old", "keep"):  "v0",
		z.Path("old", "drop"):  "",
		z.Path("old", "touch"): "v0",
	})
	fence := Fence{Path: z.Path("lock"), Version: 0}
	var ops []Op
	for i := range 120 {
		ops = append(ops, Op{Kind: OpCreate, Path: z.Path("data", "flags", fmt.Sprintf("f%03d", i)), Data: payload(i)})
	}
	ops = append(ops,
		Op{Kind: OpSet, Path: z.Path("old", "keep"), Data: []byte("v1"), Version: 0},
		Op{Kind: OpSet, Path: z.Path("old", "touch"), Data: []byte("v1"), Version: -1},
		Op{Kind: OpDelete, Path: z.Path("old", "drop"), Version: 0},
		Op{Kind: OpCreate, Path: z.Path("data", "config", "x", "y"), Data: []byte("deep")},
	)
	final := []Op{{Kind: OpCreate, Path: z.Path("meta", "generation"), Data: []byte(`{"generation":1}`)}}

	res, err := c.Write(ctx, fence, ops, final)
	if err != nil {
		t.Fatalf("Write: %v (result %+v)", err, res)
	}
	if res.Planned < 5 || res.Batches != res.Planned {
		t.Errorf("result %+v: want several transactions, all committed", res)
	}
	// data, data/flags, data/config, data/config/x, meta.
	if res.Applied != len(ops)+len(final) || res.Parents != 5 || res.Uncertain != 0 {
		t.Errorf("result %+v: want %d applied and 5 parents", res, len(ops)+len(final))
	}

	got, err := c.ReadTree(ctx, z.Root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		n := got[fmt.Sprintf("data/flags/f%03d", i)]
		if n == nil || string(n.Data) != string(payload(i)) {
			t.Fatalf("data/flags/f%03d: %+v, want its payload", i, n)
		}
	}
	if n := got["old/keep"]; n == nil || string(n.Data) != "v1" || n.Stat.Version != 1 {
		t.Errorf("old/keep = %+v, want v1 at version 1", n)
	}
	if _, ok := got["old/drop"]; ok {
		t.Errorf("old/drop was not deleted")
	}
	if n := got["data/config/x/y"]; n == nil || string(n.Data) != "deep" {
		t.Errorf("data/config/x/y = %+v", n)
	}
	gen := got["meta/generation"]
	if gen == nil {
		t.Fatal("meta/generation missing")
	}
	// Each transaction commits under one zxid: the writes show exactly
	// Planned zxids, and the final op's is the last of them.
	zxids := map[int64]bool{}
	var last int64
	for p, n := range got {
		if p == "lock" || p == "old" || p == "old/drop" {
			continue
		}
		if p == "old/keep" || p == "old/touch" {
			zxids[n.Stat.Mzxid] = true
			last = max(last, n.Stat.Mzxid)
			continue
		}
		zxids[n.Stat.Czxid] = true
		last = max(last, n.Stat.Czxid)
	}
	if len(zxids) != res.Planned {
		t.Errorf("writes carry %d distinct zxids, want %d (one per transaction)", len(zxids), res.Planned)
	}
	if gen.Stat.Czxid != last {
		t.Errorf("final op committed at zxid %x, but writes went on to %x: final was not last", gen.Stat.Czxid, last)
	}
	if n := got["data/flags/f000"]; n.Stat.Czxid == gen.Stat.Czxid {
		t.Errorf("the first op committed with the final one although there are %d transactions", res.Planned)
	}

	// Nothing to write is no transaction.
	if res, err := c.Write(ctx, fence, nil, nil); err != nil || res != (WriteResult{}) {
		t.Errorf("empty Write = %+v, %v", res, err)
	}
}

// TestWriteFenced: a wrong fence version commits nothing and says the lock
// was lost; a later failing transaction leaves exactly the earlier ones.
func TestWriteFenced(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	withTxnLimit(c, 2048)
	create(t, z.Conn, map[string]string{z.Path("lock"): ""})
	if _, err := z.Conn.Set(z.Path("lock"), []byte("moved"), 0); err != nil {
		t.Fatal(err)
	}
	var ops []Op
	for i := range 40 {
		ops = append(ops, Op{Kind: OpCreate, Path: z.Path("data", fmt.Sprintf("n%02d", i)), Data: payload(i)})
	}
	final := []Op{{Kind: OpCreate, Path: z.Path("generation"), Data: []byte("1")}}

	for _, fence := range []Fence{{Path: z.Path("lock"), Version: 0}, {Path: z.Path("no-such-lock"), Version: 0}} {
		res, err := c.Write(ctx, fence, ops, final)
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("Write with fence %+v: %v, want ErrFenced", fence, err)
		}
		if !strings.Contains(err.Error(), "transaction 1 of") || !strings.Contains(err.Error(), "lock lost") || !strings.Contains(err.Error(), fence.Path) {
			t.Errorf("error %q should name the transaction, the fence and say the lock was lost", err)
		}
		if res.Batches != 0 || res.Applied != 0 || res.Planned < 2 {
			t.Errorf("result %+v: want nothing committed out of several transactions", res)
		}
		got, err := c.ReadTree(ctx, z.Root)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("after a fenced write the tree holds %d nodes, want only the lock", len(got))
		}
	}

	// A good fence, and a Set with a stale version in a later
	// transaction: the transactions before it land, nothing after.
	if _, err := z.Conn.Create(z.Path("stale"), []byte("s"), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		t.Fatal(err)
	}
	bad := append([]Op(nil), ops[:20]...)
	bad = append(bad, Op{Kind: OpSet, Path: z.Path("stale"), Data: []byte("x"), Version: 5})
	bad = append(bad, ops[20:]...)
	res, err := c.Write(ctx, Fence{Path: z.Path("lock"), Version: 1}, bad, final)
	if err == nil || errors.Is(err, ErrFenced) || !errors.Is(err, gozk.ErrBadVersion) {
		t.Fatalf("Write with a stale OpSet: %v, want a version conflict", err)
	}
	if !strings.Contains(err.Error(), "set "+z.Path("stale")+" (version 5)") {
		t.Errorf("error %q should name the failing op", err)
	}
	if res.Batches < 1 || res.Batches >= res.Planned || res.Applied > 20 {
		t.Fatalf("result %+v: want some transactions committed before the failing one", res)
	}
	got, err := c.ReadTree(ctx, z.Root)
	if err != nil {
		t.Fatal(err)
	}
	for i, op := range bad {
		_, landed := got[op.Path[len(z.Root)+1:]]
		if op.Kind == OpSet {
			continue
		}
		if landed != (i < res.Applied) {
			t.Errorf("op %d (%s) landed=%v, but Applied=%d", i, op, landed, res.Applied)
		}
	}
	if _, ok := got["generation"]; ok {
		t.Errorf("final op landed after a failed transaction")
	}
}

// loseAnswer writes 60 creates in transactions of 4 KiB through a proxy
// and loses the answer to the second transaction after the server
// committed it: it holds the answers and cuts the connection once the
// transaction shows on the server. With restore, the proxy lets the client
// back at once; otherwise only after Write returned.
func loseAnswer(t *testing.T, restore bool) (z *itest.ZK, dir string, ops []Op, res WriteResult, err error) {
	t.Helper()
	z = itest.ZooKeeper(t)
	p := itest.StartProxy(t, z.Servers[0], nil)
	c := connect(t, []string{p.Addr()})
	ctx := ctxFor(t, time.Minute)
	withTxnLimit(c, 4096)
	dir = z.Path("d")
	for i := range 60 {
		ops = append(ops, Op{Kind: OpCreate, Path: fmt.Sprintf("%s/n%02d", dir, i), Data: payload(i)})
	}
	cut := make(chan struct{})
	c.afterBatch = func(i int) {
		if i != 0 {
			return
		}
		kids, _, err := z.Synced(t).Children(dir)
		if err != nil {
			t.Errorf("children after the first transaction: %v", err)
			return
		}
		before := len(kids)
		p.HoldAnswers()
		go func() {
			defer close(cut)
			for {
				kids, _, ev, err := z.Conn.ChildrenW(dir)
				if err != nil || len(kids) > before {
					p.Cut()
					if restore {
						p.Restore()
					}
					return
				}
				select {
				case <-ev:
				case <-time.After(30 * time.Second):
					p.Cut()
					return
				}
			}
		}()
	}
	res, err = c.Write(ctx, Fence{}, ops, nil)
	<-cut
	p.Restore()
	return z, dir, ops, res, err
}

// TestWriteOutcomeUnknown loses the answer to a transaction the server
// committed and keeps the client cut off past its grace: Write cannot
// know, says so, and WriteResult tells the committed prefix and the
// uncertain transaction apart.
func TestWriteOutcomeUnknown(t *testing.T) {
	noLeaks(t)
	z, dir, _, res, err := loseAnswer(t, false)
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "transaction 2 of") {
		t.Fatalf("Write with a lost answer: %v, want an unknown outcome of transaction 2", err)
	}
	if res.Batches != 1 || res.Applied == 0 || res.Uncertain == 0 || res.Planned < 3 {
		t.Fatalf("result %+v: want 1 transaction committed, the second uncertain", res)
	}
	kids, _, err := z.Synced(t).Children(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kids)
	// Here the uncertain transaction did commit, whole; nothing after it
	// was sent.
	if len(kids) != res.Applied+res.Uncertain {
		t.Errorf("%d nodes landed, want the %d applied and the %d uncertain", len(kids), res.Applied, res.Uncertain)
	}
	for i, k := range kids {
		if k != fmt.Sprintf("n%02d", i) {
			t.Fatalf("landed %v: not a prefix of the ops", kids)
		}
	}
}

// TestWriteResolvesLostAnswer loses the answer to a committed transaction
// but lets the connection come back at once: Write finds out that the
// transaction committed and goes on, and everything lands exactly once.
func TestWriteResolvesLostAnswer(t *testing.T) {
	noLeaks(t)
	z, dir, ops, res, err := loseAnswer(t, true)
	if err != nil {
		t.Fatalf("Write with a lost answer and a quick reconnect: %v", err)
	}
	if res.Applied != len(ops) || res.Uncertain != 0 {
		t.Fatalf("result %+v: want all %d ops applied", res, len(ops))
	}
	kids, _, err := z.Synced(t).Children(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != len(ops) {
		t.Fatalf("%d nodes landed, want %d", len(kids), len(ops))
	}
}

// TestTxnError classifies failed transactions without a server.
func TestTxnError(t *testing.T) {
	c := &Client{}
	fence := Fence{Path: "/lock", Version: 0}
	tx := txn{ops: []Op{{Kind: OpCreate, Path: "/a"}, {Kind: OpSet, Path: "/b", Version: 2}}, parent: []bool{true, false}, caller: 1}
	inconsistent := errors.New("unknown error: -2")
	tests := []struct {
		name      string
		fenced    bool
		resp      []gozk.MultiResponse
		err       error
		is        error
		contains  string
		uncertain int
	}{
		{"fence", true, []gozk.MultiResponse{{Error: gozk.ErrBadVersion}, {Error: inconsistent}, {Error: inconsistent}}, gozk.ErrBadVersion,
			ErrFenced, "w: lock lost: fence /lock version 0: zk: version conflict", 0},
		{"fence gone", true, []gozk.MultiResponse{{Error: gozk.ErrNoNode}, {Error: inconsistent}, {Error: inconsistent}}, gozk.ErrNoNode,
			ErrFenced, "fence /lock version 0: zk: node does not exist", 0},
		{"op", true, []gozk.MultiResponse{{}, {}, {Error: gozk.ErrBadVersion}}, gozk.ErrBadVersion,
			gozk.ErrBadVersion, "w: set /b (version 2): zk: version conflict", 0},
		{"parent", false, []gozk.MultiResponse{{Error: gozk.ErrNoNode}, {Error: inconsistent}}, gozk.ErrNoNode,
			gozk.ErrNoNode, "w: create parent /a: zk: node does not exist", 0},
		{"lost answer", true, nil, gozk.ErrConnectionClosed, ErrOutcomeUnknown, "outcome unknown: the connection to zookeeper s1 was lost", 1},
		{"never sent", true, nil, gozk.ErrNoServer, gozk.ErrNoServer, "w not sent (zookeeper s1)", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res WriteResult
			err := c.txnError("w", "s1", fence, tx, tc.fenced, tc.resp, tc.err, &res)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("txnError = %v, want %v containing %q", err, tc.is, tc.contains)
			}
			if res.Uncertain != tc.uncertain {
				t.Errorf("Uncertain = %d, want %d", res.Uncertain, tc.uncertain)
			}
		})
	}
}

// TestTxnBounds: the batch size's bounds agree with what render accepts
// in an environment, and Connect refuses a size over the ceiling before
// dialing anything.
func TestTxnBounds(t *testing.T) {
	if TxnCeiling != state.MaxTransactionBytesLimit {
		t.Errorf("TxnCeiling %d, state.MaxTransactionBytesLimit %d", TxnCeiling, state.MaxTransactionBytesLimit)
	}
	if DefaultMaxTxnBytes < state.MinTransactionBytes || DefaultMaxTxnBytes > TxnCeiling {
		t.Errorf("DefaultMaxTxnBytes %d outside %d..%d", DefaultMaxTxnBytes, state.MinTransactionBytes, TxnCeiling)
	}
	for _, n := range []int{-1, TxnCeiling + 1} {
		_, err := Connect(t.Context(), Config{Servers: []string{"127.0.0.1:1"}, MaxTxnBytes: n})
		if err == nil || !strings.Contains(err.Error(), "transaction size") {
			t.Errorf("Connect with MaxTxnBytes %d: %v, want a refusal", n, err)
		}
	}
}
