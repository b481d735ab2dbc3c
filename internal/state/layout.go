package state

import (
	"fmt"
	"path"
	"strings"
)

// An environment's ZooKeeper tree and the ids of the objects ringmaster
// manages are declared here, once: every other package asks for paths and
// ids instead of joining strings, and ParseID is the one parser of ids.

// Paths relative to an environment's root.
const (
	// DataDir holds the rendered payloads agents and applications read.
	DataDir     = "data"
	FlagsDir    = "data/flags"
	SettingsDir = "data/settings"
	ConfigDir   = "data/config"

	// MetaDir holds ringmaster's own records.
	MetaDir = "meta"
	// GenerationPath is bumped in the last transaction of every apply
	// that changed anything; readers watch only this node.
	GenerationPath = "meta/generation"
	InventoryPath  = "meta/inventory"
	// InventoryShardsDir holds the inventory's znode entries in shards.
	InventoryShardsDir = "meta/inventory-znodes"
	StatusPath         = "meta/status"
	SchemaPath         = "meta/schema"
	AttemptPath        = "meta/last-attempt"
	// InProgressPath holds the apply that began changing the environment
	// and has not finished.
	InProgressPath = "meta/in-progress"
	// SuspendPath holds a suspension of the controller: who, why, until.
	SuspendPath = "meta/suspend"
	// RolloutPath holds the staged rollout of node settings in progress.
	RolloutPath = "meta/rollout"

	// LocksDir holds one folder of contenders per lock.
	LocksDir = "locks"
	// ApplyLock is the lock every apply of an environment takes.
	ApplyLock = "locks/apply"
	// RepairLock serialises repair and cleanup jobs.
	RepairLock = "locks/repair"

	// ElectionDir holds one folder of contenders per election.
	ElectionDir = "election"
	// ControllerElection elects the controller that reconciles the
	// environment.
	ControllerElection = "election/controller"

	// AgentsDir holds the node agents' ephemeral membership nodes,
	// agents/<dc>/<rack>/<node>.
	AgentsDir = "agents"
	// RequestsDir holds reconcile requests (`ringmaster reconcile`).
	RequestsDir = "requests"
	// RepairsDir holds repair and cleanup jobs.
	RepairsDir = "repairs"
)

// ZnodeKind is the manifest kind whose objects live at rel (a path
// relative to the root): "FeatureFlag" under data/flags, "NodeSettings"
// under data/settings, "ConfigEntry" under data/config, "" elsewhere. A
// znode read from ZooKeeper carries no kind; this gives it the one its
// folder implies, so that a rule filtered by kind sees live objects too
// (the deletion of a ConfigEntry among them).
func ZnodeKind(rel string) string {
	for _, k := range []struct{ dir, kind string }{{FlagsDir, "FeatureFlag"}, {SettingsDir, "NodeSettings"}, {ConfigDir, "ConfigEntry"}} {
		if strings.HasPrefix(rel, k.dir+"/") {
			return k.kind
		}
	}
	return ""
}

// Under is rel below root, where rel is one of the layout's paths or a
// path below one.
func Under(root, rel string) string { return path.Join(root, rel) }

// AgentPath is where the agent of node (in dc and rack) registers.
func AgentPath(dc, rack, node string) string { return path.Join(AgentsDir, dc, rack, node) }

// ObjectKind is the kind of object an id names.
type ObjectKind string

// Object kinds, the first segment of an id.
const (
	KindKeyspace ObjectKind = "keyspace"
	KindTable    ObjectKind = "table"
	KindColumn   ObjectKind = "column"
	KindZnode    ObjectKind = "znode"
)

// KeyspaceID is "keyspace/<name>".
func KeyspaceID(ks string) string { return string(KindKeyspace) + "/" + ks }

// TableID is "table/<keyspace>.<table>".
func TableID(ks, table string) string { return string(KindTable) + "/" + ks + "." + table }

// ColumnID is "column/<keyspace>.<table>.<column>".
func ColumnID(ks, table, column string) string {
	return string(KindColumn) + "/" + ks + "." + table + "." + column
}

// ZnodeID is "znode/<path relative to the root>".
func ZnodeID(rel string) string { return string(KindZnode) + "/" + rel }

// ObjectID is an id taken apart. Invariant: String gives back the id it
// was parsed from.
type ObjectID struct {
	Kind                    ObjectKind
	Keyspace, Table, Column string // schema objects
	Path                    string // znodes: relative to the root
}

// Name is the id without its kind: "ks", "ks.t", "ks.t.c" or the
// znode's path.
func (o ObjectID) Name() string {
	_, name, _ := strings.Cut(o.String(), "/")
	return name
}

// String is the id.
func (o ObjectID) String() string {
	switch o.Kind {
	case KindKeyspace:
		return KeyspaceID(o.Keyspace)
	case KindTable:
		return TableID(o.Keyspace, o.Table)
	case KindColumn:
		return ColumnID(o.Keyspace, o.Table, o.Column)
	default:
		return ZnodeID(o.Path)
	}
}

// ParseID takes an id apart: "keyspace/ks", "table/ks.t", "column/ks.t.c"
// or "znode/<path>". Keyspace, table and column names cannot hold dots
// (CQL identifiers as render accepts them); a znode path may.
func ParseID(id string) (ObjectID, error) {
	kind, rest, ok := strings.Cut(id, "/")
	if !ok || rest == "" {
		return ObjectID{}, fmt.Errorf("object id %q: want kind/name", id)
	}
	parts := strings.Split(rest, ".")
	switch o := (ObjectID{Kind: ObjectKind(kind)}); o.Kind {
	case KindKeyspace:
		if len(parts) == 1 {
			o.Keyspace = rest
			return o, nil
		}
	case KindTable:
		if len(parts) == 2 && parts[0] != "" && parts[1] != "" {
			o.Keyspace, o.Table = parts[0], parts[1]
			return o, nil
		}
	case KindColumn:
		if len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "" {
			o.Keyspace, o.Table, o.Column = parts[0], parts[1], parts[2]
			return o, nil
		}
	case KindZnode:
		o.Path = rest
		return o, nil
	default:
		return ObjectID{}, fmt.Errorf("object id %q: unknown kind %q (want keyspace, table, column or znode)", id, kind)
	}
	return ObjectID{}, fmt.Errorf("object id %q: malformed %s id", id, kind)
}
