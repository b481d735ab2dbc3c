// Package diff owns ringmaster's change vocabulary: typed changes between
// two states, Compute(from, to), ignore rules, and the text, JSON and
// Markdown encoders that render a change set. Computing a change set and
// rendering it are separate; every consumer (encoders, policies, appliers)
// reads the same typed changes. The package does no I/O beyond writing to
// the io.Writer an encoder is given.
package diff

import (
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Action is what a change does to its object.
type Action string

// Actions.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Object kinds of changes.
const (
	KindKeyspace = "Keyspace"
	KindTable    = "Table"
	KindZnode    = "Znode"
)

// Change is one typed change to one object. The implementations are
// *AddKeyspace, *DropKeyspace, *ModifyKeyspace, *AddTable, *DropTable,
// *ModifyTable, *CreateZnode, *UpdateZnode and *DeleteZnode.
type Change interface {
	// ID names the object: state.KeyspaceID, state.TableID, or ZnodeID.
	ID() string
	// Action is create, update or delete.
	Action() Action
	// ObjectKind is KindKeyspace, KindTable or KindZnode.
	ObjectKind() string
	// Origin is where the desired side was declared (the "to" object, or
	// the "from" object of a deletion).
	Origin() state.Origin
}

// AddKeyspace creates a keyspace (its tables come as AddTable changes).
type AddKeyspace struct{ Keyspace *state.Keyspace }

// DropKeyspace drops a keyspace with all its tables.
type DropKeyspace struct{ Keyspace *state.Keyspace }

// ModifyKeyspace alters replication or durable_writes.
//
// Invariant: at least one of ReplicationChanged, DurableWritesChanged.
type ModifyKeyspace struct {
	From, To             *state.Keyspace
	ReplicationChanged   bool
	DurableWritesChanged bool
}

// AddTable creates a table.
type AddTable struct{ Table *state.Table }

// DropTable drops a table.
type DropTable struct{ Table *state.Table }

// ModifyTable alters a table. Changes is non-empty and ordered: primary key,
// columns in the "to" declaration order (drops after), options by name.
type ModifyTable struct {
	From, To *state.Table
	Changes  []TableChange
}

// TableChange is one change inside a ModifyTable: *AddColumn, *DropColumn,
// *AlterColumnType, *ChangePrimaryKey or *ModifyOption.
type TableChange interface{ tableChange() }

// AddColumn adds a regular or static column.
type AddColumn struct{ Column state.Column }

// DropColumn drops a column.
type DropColumn struct{ Column state.Column }

// AlterColumnType changes a column's type (or its static flag): Cassandra
// allows almost none of these, policies deny them.
type AlterColumnType struct {
	Name     string
	From, To state.Column
}

// ChangePrimaryKey changes the partition key, clustering columns or
// clustering order: impossible in place, policies deny it.
type ChangePrimaryKey struct {
	// From and To render the keys as CQL: "PRIMARY KEY ((a), b) ... ORDER BY (b DESC)".
	From, To string
}

// ModifyOption sets a table option. From is nil when the option was not
// set on the "from" side. Options only on the "from" side are not changes:
// removing an option from a manifest leaves the live value alone. A map
// option changes only when a key the "to" side sets differs: sub-options
// Cassandra fills in (compaction's min_threshold) are not changes.
type ModifyOption struct {
	Name     string
	From, To *state.OptionValue
}

func (*AddColumn) tableChange()        {}
func (*DropColumn) tableChange()       {}
func (*AlterColumnType) tableChange()  {}
func (*ChangePrimaryKey) tableChange() {}
func (*ModifyOption) tableChange()     {}

// CreateZnode writes a new managed znode.
type CreateZnode struct{ Znode *state.Znode }

// UpdateZnode replaces a znode's data.
type UpdateZnode struct{ From, To *state.Znode }

// DeleteZnode removes a znode.
type DeleteZnode struct{ Znode *state.Znode }

func (c *AddKeyspace) ID() string            { return state.KeyspaceID(c.Keyspace.Name) }
func (c *AddKeyspace) Action() Action        { return Create }
func (c *AddKeyspace) ObjectKind() string    { return KindKeyspace }
func (c *AddKeyspace) Origin() state.Origin  { return c.Keyspace.Origin }
func (c *DropKeyspace) ID() string           { return state.KeyspaceID(c.Keyspace.Name) }
func (c *DropKeyspace) Action() Action       { return Delete }
func (c *DropKeyspace) ObjectKind() string   { return KindKeyspace }
func (c *DropKeyspace) Origin() state.Origin { return c.Keyspace.Origin }
func (c *ModifyKeyspace) ID() string         { return state.KeyspaceID(c.To.Name) }
func (c *ModifyKeyspace) Action() Action     { return Update }
func (c *ModifyKeyspace) ObjectKind() string { return KindKeyspace }
func (c *ModifyKeyspace) Origin() state.Origin {
	return c.To.Origin
}
func (c *AddTable) ID() string            { return state.TableID(c.Table.Keyspace, c.Table.Name) }
func (c *AddTable) Action() Action        { return Create }
func (c *AddTable) ObjectKind() string    { return KindTable }
func (c *AddTable) Origin() state.Origin  { return c.Table.Origin }
func (c *DropTable) ID() string           { return state.TableID(c.Table.Keyspace, c.Table.Name) }
func (c *DropTable) Action() Action       { return Delete }
func (c *DropTable) ObjectKind() string   { return KindTable }
func (c *DropTable) Origin() state.Origin { return c.Table.Origin }
func (c *ModifyTable) ID() string         { return state.TableID(c.To.Keyspace, c.To.Name) }
func (c *ModifyTable) Action() Action     { return Update }
func (c *ModifyTable) ObjectKind() string { return KindTable }
func (c *ModifyTable) Origin() state.Origin {
	return c.To.Origin
}
func (c *CreateZnode) ID() string           { return state.ZnodeID(c.Znode.Path) }
func (c *CreateZnode) Action() Action       { return Create }
func (c *CreateZnode) ObjectKind() string   { return KindZnode }
func (c *CreateZnode) Origin() state.Origin { return c.Znode.Origin }
func (c *UpdateZnode) ID() string           { return state.ZnodeID(c.To.Path) }
func (c *UpdateZnode) Action() Action       { return Update }
func (c *UpdateZnode) ObjectKind() string   { return KindZnode }
func (c *UpdateZnode) Origin() state.Origin { return c.To.Origin }
func (c *DeleteZnode) ID() string           { return state.ZnodeID(c.Znode.Path) }
func (c *DeleteZnode) Action() Action       { return Delete }
func (c *DeleteZnode) ObjectKind() string   { return KindZnode }
func (c *DeleteZnode) Origin() state.Origin { return c.Znode.Origin }

// ChangeSet is the ordered result of Compute.
//
// Invariant: Changes are sorted for application: keyspace creations and
// modifications, then table changes, then znode changes, then table drops,
// then keyspace drops; within a group, by ID. IDs are unique.
type ChangeSet struct {
	// From and To are the compared states (From: live or older revision).
	From, To *state.State
	Changes  []Change
	// Unmanaged lists IDs present on the "from" side that the Owned option
	// says ringmaster does not own: reported, never changed.
	Unmanaged []string
}

// Empty tells whether there is nothing to change.
func (cs *ChangeSet) Empty() bool { return len(cs.Changes) == 0 }
