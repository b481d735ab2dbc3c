package zk

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"

	gozk "github.com/go-zookeeper/zk"
)

// Transaction sizes (estimated: path, data and opOverhead per op).
//
// Every ZooKeeper server keeps its last 500 committed transactions in
// memory to bring lagging followers up to date (ZKDatabase's committed
// log; zookeeper.commitLogCount cannot lower it below 500), and the leader
// holds each of them about three times over (the client's request, its
// parsed ops and the transaction: a 3.9.5 heap histogram after the soak
// test shows 390 MB of byte arrays for 500 transactions of 256 KiB). The
// size of the transactions a writer sends therefore decides how much heap
// a burst of writes pins on the ensemble: at ~1 MiB, 160 transactions
// (150 MB of writes) kill a leader with a 512 MB heap. Write fills
// transactions to a batch size well below ZooKeeper's limit
// (Config.MaxTxnBytes, default DefaultMaxTxnBytes), and sends a single op,
// or final ops, larger than that alone in a transaction of up to
// TxnCeiling.
const (
	// DefaultMaxTxnBytes is the batch size when Config.MaxTxnBytes is 0.
	// After many consecutive large applies at 128 KiB, the leader of an
	// ensemble with 512 MB heaps holds ~210 MB live (~390 MB at 256 KiB),
	// while a large write takes about 1.6 times as long as in ~1 MiB
	// batches, some 80 ms more for 7.5 MB (TestSoakLargeApplies,
	// BenchmarkWriteBatchDefault).
	DefaultMaxTxnBytes = 128 << 10
	// TxnCeiling is the most one transaction may hold: ZooKeeper's default
	// jute.maxbuffer (1 MiB) less 64 KiB of headroom. Config.MaxTxnBytes
	// may not exceed it.
	TxnCeiling = 1<<20 - 64<<10
)

// opOverhead is a generous estimate of one op's serialized size beyond its
// path and data (multi header, lengths, ACL, flags or version).
const opOverhead = 64

// OpKind is what an Op does. The zero OpKind is invalid.
type OpKind int

// Op kinds.
const (
	// OpCreate creates a persistent node with Data (and, through Write, its
	// missing parents).
	OpCreate OpKind = iota + 1
	// OpSet replaces the node's Data if its version is Version (-1: any).
	OpSet
	// OpDelete deletes the node if its version is Version (-1: any); it must
	// have no children.
	OpDelete
)

// String names the kind in lower case.
func (k OpKind) String() string {
	switch k {
	case OpCreate:
		return "create"
	case OpSet:
		return "set"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one write of a Write.
type Op struct {
	// Kind is OpCreate, OpSet or OpDelete.
	Kind OpKind
	// Path is absolute and clean.
	Path string
	// Data is the payload of OpCreate and OpSet.
	Data []byte
	// Version is the version OpSet and OpDelete expect; -1 accepts any. OpCreate
	// ignores it.
	Version int32
}

// String reads "set /a/b (version 3)", or "create /a/b".
func (op Op) String() string {
	if op.Kind != OpCreate && op.Version != -1 {
		return fmt.Sprintf("%s %s (version %d)", op.Kind, op.Path, op.Version)
	}
	return fmt.Sprintf("%s %s", op.Kind, op.Path)
}

// size estimates op's serialized size in a transaction.
func (op Op) size() int { return len(op.Path) + len(op.Data) + opOverhead }

// Fence is the node whose version every transaction of a Write checks
// first: the writer's lock node at version 0 (see Lock.Fence). The zero
// Fence (Path "") checks nothing.
type Fence struct {
	// Path is the absolute path of the fence node; "" for no fence.
	Path string
	// Version is the version the node must have.
	Version int32
}

// WriteResult says what a Write committed. The committed caller ops are
// always a prefix of ops followed by final: Applied counts them.
type WriteResult struct {
	// Planned is the number of transactions the write was split into.
	Planned int
	// Batches is the number of transactions committed.
	Batches int
	// Applied is the number of the caller's ops committed (ops, then
	// final). After an error, ops[:Applied] are committed and the rest
	// are not, except the Uncertain ones.
	Applied int
	// Parents is the number of parent nodes Write added and committed.
	Parents int
	// Uncertain is the number of caller ops, right after the Applied ones,
	// in a transaction sent whose answer was lost with the connection: they
	// all committed or none did (the error wraps ErrOutcomeUnknown).
	Uncertain int
}

// txn is one planned transaction (without its fence check).
type txn struct {
	ops    []Op
	parent []bool // ops[i] is a parent Write added
	caller int    // caller ops in it
	size   int
}

// Write commits ops, then final, in order, in ZooKeeper transactions
// (Multi) filled up to the client's batch size (Config.MaxTxnBytes); an op
// larger than that goes alone, up to TxnCeiling. Each transaction starts
// with a check that fence.Path has version fence.Version (unless
// fence.Path is ""), so a writer that lost its lock commits nothing. final
// (the generation bump) goes whole in the last transaction, alone when it
// does not fit the batch size with the ops before it (up to TxnCeiling).
//
// Create ops get their missing parents: Write checks (pipelined) which
// ancestors exist and creates the others, empty and persistent, in the
// transaction of the first op that needs them, right before it. A Create
// whose parent a later op of the same Write creates is refused before
// anything is sent.
//
// Before each transaction Write waits for the session to be Connected:
// while it is Disconnected within DisconnectGrace it waits for the
// reconnection; InDoubt, Expired, Closed or the end of ctx stop the write
// with nothing more sent. The first failed transaction stops it too; the
// error names the transaction, the op (path) and ZooKeeper's error, and
// wraps ErrFenced when the fence check failed ("lock lost"). When the
// answer to a transaction is lost with its connection (a server died),
// Write waits for the session, checks whether the transaction committed
// (it commits whole or not at all) and goes on, resending it if it did
// not; only when that cannot be found out does the error wrap
// ErrOutcomeUnknown. WriteResult says what was committed before.
func (c *Client) Write(ctx context.Context, fence Fence, ops, final []Op) (WriteResult, error) {
	var res WriteResult
	all := make([]Op, 0, len(ops)+len(final))
	all = append(append(all, ops...), final...)
	if fence.Path != "" {
		if err := checkPath(fence.Path); err != nil {
			return res, fmt.Errorf("write: fence: %w", err)
		}
	}
	for i, op := range all {
		if err := checkOp(op); err != nil {
			return res, fmt.Errorf("write: op %d: %w", i, err)
		}
		if err := c.confined(op.Path); err != nil {
			return res, fmt.Errorf("write: op %d (%s): nothing sent: %w", i, op.Kind, err)
		}
	}
	if len(all) == 0 {
		return res, nil
	}
	if err := c.awaitSession(ctx); err != nil {
		return res, fmt.Errorf("write: nothing sent: %w", err)
	}
	missing, err := c.missingParents(ctx, all)
	if err != nil {
		return res, fmt.Errorf("write: %w", err)
	}
	txns, err := plan(fence, ops, final, missing, c.maxTxn, TxnCeiling)
	if err != nil {
		return res, fmt.Errorf("write: %w", err)
	}
	res.Planned = len(txns)
	var check *gozk.CheckVersionRequest
	if fence.Path != "" {
		check = &gozk.CheckVersionRequest{Path: fence.Path, Version: fence.Version}
	}
	for i, t := range txns {
		where := fmt.Sprintf("write: transaction %d of %d", i+1, len(txns))
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("%s not sent: %w", where, err)
		}
		if err := c.awaitSession(ctx); err != nil {
			return res, fmt.Errorf("%s not sent: %w", where, err)
		}
		reqs := make([]any, 0, len(t.ops)+1)
		if check != nil {
			reqs = append(reqs, check)
		}
		for _, op := range t.ops {
			reqs = append(reqs, c.request(op))
		}
		server := c.conn.Server()
		resp, err := c.conn.Multi(reqs...)
		for attempt := 1; err != nil && attempt <= maxResends; attempt++ {
			terr := c.txnError(where, server, fence, t, check != nil, resp, err, &res)
			if !errors.Is(terr, ErrOutcomeUnknown) {
				return res, terr
			}
			// The answer was lost with the connection (a server died). Once
			// the session is back, find out whether the transaction
			// committed: all of it did or none. Resending is safe either
			// way: every op carries the fence check and its version.
			committed, perr := c.committed(ctx, fence, t)
			if perr != nil {
				return res, fmt.Errorf("%w; finding out whether it committed: %w", terr, perr)
			}
			res.Uncertain = 0
			if committed {
				err = nil
				break
			}
			server = c.conn.Server()
			resp, err = c.conn.Multi(reqs...)
		}
		if err != nil {
			return res, c.txnError(where, server, fence, t, check != nil, resp, err, &res)
		}
		res.Batches++
		res.Applied += t.caller
		res.Parents += len(t.ops) - t.caller
		if c.afterBatch != nil {
			c.afterBatch(i)
		}
	}
	return res, nil
}

// maxResends bounds how often Write resends a transaction whose outcome
// was lost and which turned out not to have committed.
const maxResends = 3

// committed waits for the session and tells whether transaction t
// committed, by checking the effect of its last op (a transaction commits
// whole or not at all). With a fence, a fence node that is gone means the
// lock was lost: nothing of ours can have committed after that.
func (c *Client) committed(ctx context.Context, fence Fence, t txn) (bool, error) {
	if err := c.awaitSession(ctx); err != nil {
		return false, err
	}
	last := t.ops[len(t.ops)-1]
	data, stat, err := c.getNode(ctx, last.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return false, c.opError("check", last.Path, err)
	}
	switch last.Kind {
	case OpDelete:
		return !exists, nil
	case OpSet:
		if !exists {
			return false, nil
		}
		if last.Version >= 0 {
			return stat.Version == last.Version+1 && string(data) == string(last.Data), nil
		}
		return string(data) == string(last.Data), nil
	default:
		return exists && string(data) == string(last.Data), nil
	}
}

// txnError explains a failed transaction and records an unknown outcome in
// res.
func (c *Client) txnError(where, server string, fence Fence, t txn, fenced bool, resp []gozk.MultiResponse, err error, res *WriteResult) error {
	if len(resp) > 0 {
		// The server answered: nothing of the transaction committed. The
		// first op with an error is the one that failed (the ones before
		// it succeeded, the ones after were not tried).
		for i, r := range resp {
			if r.Error == nil {
				continue
			}
			if fenced {
				if i == 0 {
					return fmt.Errorf("%s: %w: fence %s version %d: %w", where, ErrFenced, fence.Path, fence.Version, r.Error)
				}
				i--
			}
			if i >= len(t.ops) {
				break
			}
			what := t.ops[i].String()
			if t.parent[i] {
				what = "create parent " + t.ops[i].Path
			}
			return fmt.Errorf("%s: %s: %w", where, what, r.Error)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	switch {
	case errors.Is(err, gozk.ErrNoServer), errors.Is(err, gozk.ErrSessionExpired), errors.Is(err, gozk.ErrShortBuffer):
		return fmt.Errorf("%s not sent (zookeeper %s): %w", where, server, err)
	default:
		res.Uncertain = t.caller
		return fmt.Errorf("%s (%d ops from %s): %w: the connection to zookeeper %s was lost while it was in flight: %w",
			where, len(t.ops), t.ops[0].Path, ErrOutcomeUnknown, server, err)
	}
}

// request is op as go-zookeeper's Multi takes it.
func (c *Client) request(op Op) any {
	switch op.Kind {
	case OpCreate:
		return &gozk.CreateRequest{Path: op.Path, Data: op.Data, Acl: c.ACLOf(op.Path)}
	case OpSet:
		return &gozk.SetDataRequest{Path: op.Path, Data: op.Data, Version: op.Version}
	default:
		return &gozk.DeleteRequest{Path: op.Path, Version: op.Version}
	}
}

func checkOp(op Op) error {
	if op.Kind < OpCreate || op.Kind > OpDelete {
		return fmt.Errorf("%s: unknown kind %d", op.Path, int(op.Kind))
	}
	if err := checkPath(op.Path); err != nil {
		return err
	}
	if op.Path == "/" {
		return fmt.Errorf("%s /: the root node cannot be written", op.Kind)
	}
	return nil
}

// missingParents returns the ancestors of Create ops that exist neither in
// ZooKeeper nor as the path of a Create op, checked with pipelined Exists.
func (c *Client) missingParents(ctx context.Context, all []Op) (map[string]bool, error) {
	created := map[string]bool{}
	for _, op := range all {
		if op.Kind == OpCreate {
			created[op.Path] = true
		}
	}
	seen := map[string]bool{}
	var check []string
	for _, op := range all {
		if op.Kind != OpCreate {
			continue
		}
		for _, a := range ancestors(op.Path) {
			if !seen[a] && !created[a] {
				seen[a] = true
				check = append(check, a)
			}
		}
	}
	missing := map[string]bool{}
	var mu gosync.Mutex
	err := forEach(ctx, len(check), func(i int) error {
		ok, err := c.exists(ctx, check[i])
		if err != nil {
			return c.opError("check parent", check[i], err)
		}
		if !ok {
			mu.Lock()
			missing[check[i]] = true
			mu.Unlock()
		}
		return nil
	})
	return missing, err
}

// plan splits ops and final into transactions of at most limit estimated
// bytes (the fence check included), adding Create ops for the missing
// parents, and puts final whole in the last transaction. An op larger than
// limit, and final when it does not fit limit with the ops before it, go
// alone in a transaction of at most ceiling bytes (ceiling below limit
// counts as limit).
func plan(fence Fence, ops, final []Op, missing map[string]bool, limit, ceiling int) ([]txn, error) {
	budget, most := limit, max(ceiling, limit)
	if fence.Path != "" {
		budget -= len(fence.Path) + opOverhead
		most -= len(fence.Path) + opOverhead
	}
	// Where each caller Create is, to refuse a child created before its
	// parent (reordering would break the prefix promise of Applied).
	createdAt := map[string]int{}
	for i, op := range append(append([]Op(nil), ops...), final...) {
		if op.Kind == OpCreate {
			if _, dup := createdAt[op.Path]; !dup {
				createdAt[op.Path] = i
			}
		}
	}
	added := map[string]bool{}
	// expand returns op preceded by the parents it needs that nothing
	// before it creates.
	expand := func(i int, op Op) ([]Op, error) {
		var out []Op
		if op.Kind == OpCreate {
			for _, a := range ancestors(op.Path) {
				if j, ok := createdAt[a]; ok {
					if j > i {
						return nil, fmt.Errorf("op %d (%s) comes before op %d, which creates its parent %s: order parents first", i, op, j, a)
					}
					continue
				}
				if missing[a] && !added[a] {
					added[a] = true
					out = append(out, Op{Kind: OpCreate, Path: a})
				}
			}
		}
		return append(out, op), nil
	}
	var txns []txn
	var cur txn
	flush := func() {
		if len(cur.ops) > 0 {
			txns = append(txns, cur)
		}
		cur = txn{}
	}
	for i, op := range ops {
		group, err := expand(i, op)
		if err != nil {
			return nil, err
		}
		for k, g := range group {
			sz := g.size()
			if sz > most {
				return nil, fmt.Errorf("op %d (%s) is about %d bytes, over the %d-byte transaction limit", i, op, sz, most)
			}
			// An op over budget goes alone: the one before it is
			// flushed, and it fills its transaction for the next.
			if cur.size+sz > budget {
				flush()
			}
			cur.ops = append(cur.ops, g)
			cur.parent = append(cur.parent, k < len(group)-1)
			cur.size += sz
		}
		cur.caller++
	}
	flush()
	if len(final) == 0 {
		return txns, nil
	}
	var last txn
	for i, op := range final {
		group, err := expand(len(ops)+i, op)
		if err != nil {
			return nil, err
		}
		for k, g := range group {
			last.ops = append(last.ops, g)
			last.parent = append(last.parent, k < len(group)-1)
			last.size += g.size()
		}
		last.caller++
	}
	if last.size > most {
		return nil, fmt.Errorf("final ops are about %d bytes, over the %d-byte transaction limit", last.size, most)
	}
	if n := len(txns); n > 0 && txns[n-1].size+last.size <= budget {
		t := &txns[n-1]
		t.ops = append(t.ops, last.ops...)
		t.parent = append(t.parent, last.parent...)
		t.caller += last.caller
		t.size += last.size
		return txns, nil
	}
	return append(txns, last), nil
}

// forEach calls f(0..n-1) from up to ReadConcurrency goroutines; the first
// error (or the end of ctx) stops it.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	var (
		mu    gosync.Mutex
		next  int
		first error
		wg    gosync.WaitGroup
	)
	for range min(max(ReadConcurrency, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first == nil {
					first = ctx.Err()
				}
				if first != nil || next == n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
