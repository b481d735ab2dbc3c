package sync

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	gosync "sync"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// memTree is a ZooKeeper tree in memory with Tree's contract: versions,
// fenced all-or-nothing transactions, parents created as needed.
type memTree struct {
	mu     gosync.Mutex
	nodes  map[string]*memNode // absolute path → node
	writes []ZnodeOp           // every op committed, in order
	zxid   int64               // of the last committed transaction
	// failWrites, when set, is returned by every Write from then on (a
	// writer that died).
	failWrites error
}

type memNode struct {
	data    []byte
	version int32
	mzxid   int64
}

func newMemTree() *memTree { return &memTree{nodes: map[string]*memNode{}} }

func (m *memTree) Read(_ context.Context, root string) (map[string]*state.Znode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*state.Znode{}
	for p, n := range m.nodes {
		if strings.HasPrefix(p, root+"/") {
			rel := strings.TrimPrefix(p, root+"/")
			out[rel] = &state.Znode{Path: rel, Data: n.data, Version: n.version, ModZxid: n.mzxid}
		}
	}
	return out, nil
}

// Write commits ops and final in one transaction (the in-memory tree has
// no size limit), after the fence check; nothing commits on any failure.
func (m *memTree) Write(_ context.Context, fence Fence, ops, final []ZnodeOp) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrites != nil {
		return 0, m.failWrites
	}
	if fence.Path != "" {
		if n, ok := m.nodes[fence.Path]; !ok || n.version != fence.Version {
			return 0, fmt.Errorf("fence %s: %w", fence.Path, ErrLockLost)
		}
	}
	next := map[string]*memNode{}
	for p, n := range m.nodes {
		next[p] = &memNode{data: n.data, version: n.version, mzxid: n.mzxid}
	}
	zxid := m.zxid + 1
	all := append(append([]ZnodeOp{}, ops...), final...)
	for _, op := range all {
		n, exists := next[op.Path]
		switch op.Kind {
		case OpCreate:
			if exists {
				return 0, fmt.Errorf("create %s: node exists: %w", op.Path, ErrStalePlan)
			}
			for d := path.Dir(op.Path); d != "/"; d = path.Dir(d) {
				if _, ok := next[d]; !ok {
					next[d] = &memNode{mzxid: zxid}
				}
			}
			next[op.Path] = &memNode{data: op.Data, mzxid: zxid}
		case OpSet:
			if !exists || (op.Version != -1 && n.version != op.Version) {
				return 0, fmt.Errorf("set %s: bad version: %w", op.Path, ErrStalePlan)
			}
			next[op.Path] = &memNode{data: op.Data, version: n.version + 1, mzxid: zxid}
		case OpDelete:
			if !exists || (op.Version != -1 && n.version != op.Version) {
				return 0, fmt.Errorf("delete %s: bad version: %w", op.Path, ErrStalePlan)
			}
			delete(next, op.Path)
		}
	}
	m.nodes = next
	m.zxid = zxid
	m.writes = append(m.writes, all...)
	return len(all), nil
}

// paths lists every node's path, sorted.
func (m *memTree) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.nodes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// memLocker hands out a lock whose fence node it creates in the tree.
// memLocker hands out locks with growing sequence numbers (each apply its
// own lock id); it does not make a second contender wait.
type memLocker struct {
	tree *memTree
	last *memLock // the lock handed out last
}

func newMemLocker(tree *memTree) *memLocker { return &memLocker{tree: tree} }

func (l *memLocker) Lock(_ context.Context, dir string) (Lock, error) {
	l.tree.mu.Lock()
	seq := l.tree.zxid + 1
	l.tree.mu.Unlock()
	p := fmt.Sprintf("%s/lock-%010d", dir, seq)
	if _, err := l.tree.Write(context.Background(), Fence{}, []ZnodeOp{{Kind: OpCreate, Path: p}}, nil); err != nil {
		return nil, err
	}
	l.last = &memLock{tree: l.tree, path: p, lost: make(chan struct{})}
	return l.last, nil
}

type memLock struct {
	tree *memTree
	path string
	lost chan struct{}
}

func (l *memLock) ID() string { return path.Base(l.path) }

// Verify looks at the tree itself, as the real lock asks the ensemble.
func (l *memLock) Verify(context.Context) error {
	l.tree.mu.Lock()
	defer l.tree.mu.Unlock()
	if n, ok := l.tree.nodes[l.path]; !ok || n.version != 0 {
		return fmt.Errorf("%w: %s is gone", ErrLockLost, l.path)
	}
	return nil
}

// release deletes the lock node as another process (lock release) would.
func (l *memLock) release() {
	l.tree.mu.Lock()
	delete(l.tree.nodes, l.path)
	l.tree.mu.Unlock()
}
func (l *memLock) Fence() Fence          { return Fence{Path: l.path, Version: 0} }
func (l *memLock) Lost() <-chan struct{} { return l.lost }
func (l *memLock) Unlock(context.Context) error {
	_, err := l.tree.Write(context.Background(), Fence{}, nil, []ZnodeOp{{Kind: OpDelete, Path: l.path, Version: -1}})
	return err
}

// memSchema is Cassandra's schema in memory: keyspaces only, one statement
// per change. onApply, when set, runs before each statement is applied.
type memSchema struct {
	mu        gosync.Mutex
	keyspaces map[string]*state.Keyspace
	applied   []string
	pending   map[string]diff.Change
	onApply   func(stmt string)
}

func (s *memSchema) Read(context.Context) (map[string]*state.Keyspace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*state.Keyspace{}
	for k, v := range s.keyspaces {
		c := *v
		out[k] = &c
	}
	return out, nil
}
func (s *memSchema) Version(context.Context) (string, error) { return "v1", nil }
func (s *memSchema) Datacenters(context.Context) ([]string, error) {
	return []string{"dc1", "dc2"}, nil
}
func (s *memSchema) Statements(ch diff.Change) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stmt := "-- " + ch.ID()
	if s.pending == nil {
		s.pending = map[string]diff.Change{}
	}
	s.pending[stmt] = ch
	return []string{stmt}, nil
}

// Apply applies the change behind stmt (keyspace additions only).
func (s *memSchema) Apply(ctx context.Context, stmt string) error {
	if s.onApply != nil {
		s.onApply(stmt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = append(s.applied, stmt)
	if ak, ok := s.pending[stmt].(*diff.AddKeyspace); ok {
		s.keyspaces[ak.Keyspace.Name] = ak.Keyspace
	}
	return nil
}

func (s *memSchema) Verify(context.Context, diff.Change) error { return nil }
