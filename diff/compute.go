package diff

import (
	"bytes"
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Options tunes Compute. The zero value compares every object and option
// and treats every object on the "from" side as owned.
type Options struct {
	// Ignore lists glob patterns in path.Match syntax, matched against
	// change IDs ("znode/data/config/ingest/*", "table/events.*"). An
	// object whose ID matches produces no change and is not listed as
	// unmanaged; an ignored keyspace hides its tables too. As in
	// path.Match, "*" does not cross a "/". A malformed pattern matches
	// nothing: check patterns with Validate when they are read.
	Ignore []string
	// IgnoreTableOptions lists table option names (CQL names such as
	// "gc_grace_seconds") that are never compared.
	IgnoreTableOptions []string
	// Owned tells whether ringmaster owns an object, by ID. It is asked
	// only about objects present on the "from" side alone: an unowned one
	// is listed in ChangeSet.Unmanaged and never deleted. Nil means every
	// object is owned.
	Owned func(id string) bool
}

// Validate reports the first malformed Ignore pattern.
func (o Options) Validate() error {
	for _, p := range o.Ignore {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("ignore pattern %q: %w", p, err)
		}
	}
	return nil
}

// Summary counts a change set's changes by action.
type Summary struct {
	Create, Update, Delete int
}

// Summary counts the changes by action. A nil ChangeSet counts nothing.
func (cs *ChangeSet) Summary() Summary {
	var s Summary
	if cs == nil {
		return s
	}
	for _, c := range cs.Changes {
		switch c.Action() {
		case Create:
			s.Create++
		case Update:
			s.Update++
		case Delete:
			s.Delete++
		}
	}
	return s
}

// Compute returns the changes that turn from into to. It is pure and
// deterministic: the same inputs give the same ChangeSet, ordered as the
// ChangeSet invariant says.
//
// A nil from or to means an empty state; the returned ChangeSet's From and
// To are never nil. Cassandra's system keyspaces (state.SystemKeyspaces)
// are never compared. Rules, besides Options:
//   - a keyspace only in to gives AddKeyspace and an AddTable per table; only
//     in from, DropKeyspace (its tables go with it: no DropTable); in both,
//     ModifyKeyspace when replication or durable_writes differ, and the
//     changes of its tables;
//   - a table only in to gives AddTable, only in from DropTable, in both a
//     ModifyTable when anything differs (see ModifyTable for the order);
//   - a table option set only on the from side is not a change;
//   - a znode gives CreateZnode, DeleteZnode, or UpdateZnode when its bytes
//     differ.
func Compute(from, to *state.State, opts Options) *ChangeSet {
	if from == nil {
		env := ""
		if to != nil {
			env = to.Environment
		}
		from = state.New(env)
	}
	if to == nil {
		to = state.New(from.Environment)
	}
	c := &computer{opts: opts, skipOption: map[string]bool{}}
	for _, name := range opts.IgnoreTableOptions {
		c.skipOption[name] = true
	}
	c.keyspaces(from.Keyspaces, to.Keyspaces)
	c.znodes(from.Znodes, to.Znodes)
	slices.SortStableFunc(c.changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(group(a), group(b)), strings.Compare(a.ID(), b.ID()))
	})
	slices.Sort(c.unmanaged)
	return &ChangeSet{From: from, To: to, Changes: c.changes, Unmanaged: c.unmanaged}
}

// group is a change's rank in the ChangeSet order.
func group(c Change) int {
	switch c.(type) {
	case *AddKeyspace, *ModifyKeyspace:
		return 0
	case *AddTable, *ModifyTable:
		return 1
	case *CreateZnode, *UpdateZnode, *DeleteZnode:
		return 2
	case *DropTable:
		return 3
	case *DropKeyspace:
		return 4
	default:
		return 5
	}
}

type computer struct {
	opts       Options
	skipOption map[string]bool
	changes    []Change
	unmanaged  []string
}

func (c *computer) add(ch Change) { c.changes = append(c.changes, ch) }

// ignored tells whether an Ignore pattern matches id.
func (c *computer) ignored(id string) bool {
	for _, p := range c.opts.Ignore {
		if ok, err := path.Match(p, id); err == nil && ok {
			return true
		}
	}
	return false
}

// owned tells whether a from-only object may be deleted; when it may not,
// it records the object as unmanaged.
func (c *computer) owned(id string) bool {
	if c.opts.Owned == nil || c.opts.Owned(id) {
		return true
	}
	c.unmanaged = append(c.unmanaged, id)
	return false
}

func (c *computer) keyspaces(from, to map[string]*state.Keyspace) {
	for _, name := range unionKeys(from, to) {
		if state.SystemKeyspaces[name] {
			continue
		}
		id := state.KeyspaceID(name)
		if c.ignored(id) {
			continue
		}
		f, t := from[name], to[name]
		switch {
		case f == nil && t == nil:
		case f == nil:
			c.add(&AddKeyspace{Keyspace: t})
			for _, tn := range state.SortedKeys(t.Tables) {
				if tb := t.Tables[tn]; tb != nil && !c.ignored(state.TableID(name, tn)) {
					c.add(&AddTable{Table: tb})
				}
			}
		case t == nil:
			if c.owned(id) {
				c.add(&DropKeyspace{Keyspace: f})
			}
		default:
			repl := !sameReplication(f.Replication, t.Replication)
			dw := f.DurableWrites != t.DurableWrites
			if repl || dw {
				c.add(&ModifyKeyspace{From: f, To: t, ReplicationChanged: repl, DurableWritesChanged: dw})
			}
			c.tables(name, f.Tables, t.Tables)
		}
	}
}

func (c *computer) tables(ks string, from, to map[string]*state.Table) {
	for _, name := range unionKeys(from, to) {
		id := state.TableID(ks, name)
		if c.ignored(id) {
			continue
		}
		f, t := from[name], to[name]
		switch {
		case f == nil && t == nil:
		case f == nil:
			c.add(&AddTable{Table: t})
		case t == nil:
			if c.owned(id) {
				c.add(&DropTable{Table: f})
			}
		default:
			if ch := c.tableChanges(f, t); len(ch) > 0 {
				c.add(&ModifyTable{From: f, To: t, Changes: ch})
			}
		}
	}
}

// tableChanges lists the changes between two versions of a table in the
// ModifyTable order.
func (c *computer) tableChanges(f, t *state.Table) []TableChange {
	var out []TableChange
	if !sameKey(f, t) {
		out = append(out, &ChangePrimaryKey{From: primaryKeyCQL(f), To: primaryKeyCQL(t)})
	}
	for _, col := range t.Columns {
		old, ok := f.Column(col.Name)
		switch {
		case !ok:
			out = append(out, &AddColumn{Column: col})
		case old.Type != col.Type || old.Static != col.Static:
			out = append(out, &AlterColumnType{Name: col.Name, From: old, To: col})
		}
	}
	for _, col := range f.Columns {
		if _, ok := t.Column(col.Name); !ok {
			out = append(out, &DropColumn{Column: col})
		}
	}
	for _, name := range state.SortedKeys(t.Options) {
		if c.skipOption[name] {
			continue
		}
		to := t.Options[name]
		old, ok := f.Options[name]
		if ok && old.Covers(to) {
			continue
		}
		mo := &ModifyOption{Name: name, To: &to}
		if ok {
			mo.From = &old
		}
		out = append(out, mo)
	}
	return out
}

func (c *computer) znodes(from, to map[string]*state.Znode) {
	for _, p := range unionKeys(from, to) {
		id := state.ZnodeID(p)
		if c.ignored(id) {
			continue
		}
		f, t := from[p], to[p]
		switch {
		case f == nil && t == nil:
		case f == nil:
			c.add(&CreateZnode{Znode: t})
		case t == nil:
			if c.owned(id) {
				c.add(&DeleteZnode{Znode: f})
			}
		case !bytes.Equal(f.Data, t.Data):
			c.add(&UpdateZnode{From: f, To: t})
		}
	}
}

func sameReplication(a, b state.Replication) bool {
	if a.Class != b.Class || len(a.Factors) != len(b.Factors) {
		return false
	}
	for k, v := range a.Factors {
		if w, ok := b.Factors[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func sameKey(a, b *state.Table) bool {
	return slices.Equal(a.PartitionKey, b.PartitionKey) && slices.Equal(a.Clustering, b.Clustering)
}

// primaryKeyCQL renders a table's key as CQL:
// "PRIMARY KEY ((a, b), c, d) WITH CLUSTERING ORDER BY (c DESC, d ASC)";
// the WITH part only when the table has clustering columns.
func primaryKeyCQL(t *state.Table) string {
	if order := t.ClusteringOrderCQL(); order != "" {
		return t.PrimaryKeyCQL() + " WITH " + order
	}
	return t.PrimaryKeyCQL()
}

// unionKeys returns the keys of both maps, sorted, without duplicates.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
