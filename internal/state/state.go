// Package state is ringmaster's shared model of a cluster's managed
// configuration. Desired state (rendered from Git) and live state (read from
// ZooKeeper and Cassandra) are the same type; only their Origin differs.
// Every other package reads and writes this model; it imports only the
// standard library and does no I/O.
package state

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// State is the full managed configuration of one environment.
//
// Invariants: map keys equal the Name/Path of their values; Znodes paths are
// relative to the environment's ZooKeeper root, clean, without a leading
// slash ("data/flags/new-ingest-path").
type State struct {
	// Environment names the environment the state belongs to.
	Environment string
	// Cluster describes the environment's cluster (datacenters, addresses).
	Cluster Cluster
	// Keyspaces by name, each with its tables.
	Keyspaces map[string]*Keyspace
	// Znodes by path relative to the ZooKeeper root.
	Znodes map[string]*Znode
	// AllowedDrops holds the IDs (see KeyspaceID, TableID, ColumnID) of
	// schema objects whose deletion the repository declares explicitly.
	// Only desired state sets it.
	AllowedDrops map[string]Origin
	// Settings holds the NodeSettings resources, for policies that check
	// values against their definitions; their rendered payloads are Znodes.
	Settings map[string]*NodeSettings
	// Flags holds the FeatureFlag resources; their payloads are Znodes.
	Flags map[string]*FeatureFlag
}

// New returns an empty State for an environment.
func New(env string) *State {
	return &State{
		Environment:  env,
		Keyspaces:    map[string]*Keyspace{},
		Znodes:       map[string]*Znode{},
		AllowedDrops: map[string]Origin{},
		Settings:     map[string]*NodeSettings{},
		Flags:        map[string]*FeatureFlag{},
	}
}

// Cluster is what an environment says of its cluster. Addresses only:
// credentials never come from the repository.
type Cluster struct {
	// Datacenters are the Cassandra datacenter names, in declaration order.
	Datacenters []string
	// ZooKeeperServers are host:port client addresses.
	ZooKeeperServers []string
	// ZooKeeperRoot is the absolute managed root, e.g. "/ringmaster/prod".
	ZooKeeperRoot string
	// CassandraContactPoints are host or host:port addresses.
	CassandraContactPoints []string
	// LocalDatacenter is the datacenter clients prefer.
	LocalDatacenter string
	// Prune allows deleting managed objects that left the repository.
	Prune bool
	// Rollout, when set, stages node settings changes by topology.
	Rollout *Rollout
	// MinReplication and MaxReplication bound the replication factor of
	// each datacenter (0: no bound).
	MinReplication, MaxReplication int
	// MaxZnodeBytes bounds one znode payload (0: the default limit).
	MaxZnodeBytes int
	// ACL, when set, is who may do what to the environment's ZooKeeper
	// tree; nil leaves every node open to everyone (ZooKeeper's
	// world:anyone), as ZooKeeper does by default.
	ACL *ACLPolicy
	// MaxTransactionBytes is the size apply fills each ZooKeeper
	// transaction to (0: the client's default, 128 KiB); render keeps it
	// within MinTransactionBytes and MaxTransactionBytesLimit.
	MaxTransactionBytes int
}

// Bounds of Cluster.MaxTransactionBytes. The upper one is ZooKeeper's
// default jute.maxbuffer (1 MiB) less 64 KiB of headroom, the most one
// transaction may hold; below the lower one, transactions get many for
// little gain (every ZooKeeper server keeps its last 500 in memory, so it
// is their size that costs heap, not their number).
const (
	MinTransactionBytes      = 64 << 10
	MaxTransactionBytesLimit = 1<<20 - 64<<10
)

// Origin says where an object was declared or read. A zero Origin means
// unknown.
type Origin struct {
	// File is a path relative to the repository root, or a live source such
	// as "zookeeper" or "cassandra".
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
}

// String renders "file:line:col", "file:line" or "file".
func (o Origin) String() string {
	switch {
	case o.File == "":
		return ""
	case o.Line == 0:
		return o.File
	case o.Column == 0:
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", o.File, o.Line, o.Column)
	}
}

// Znode is one managed ZooKeeper node.
type Znode struct {
	// Path is relative to the ZooKeeper root.
	Path string
	// Data is the exact payload: canonical JSON for everything ringmaster
	// renders.
	Data []byte
	// Kind is the manifest kind that produced it ("FeatureFlag",
	// "NodeSettings", "ConfigEntry"), or "" for live nodes of unknown kind.
	Kind string
	// Name is the manifest's metadata.name.
	Name string
	// Origin is the declaring manifest, or the live source.
	Origin Origin
	// Version is the live znode's data version (-1 for desired state).
	Version int32
	// ModZxid is the zxid of the live znode's last change (0 for desired
	// state, and for stores that have none): it orders a node's last write
	// against other writes of the ensemble.
	ModZxid int64 `json:",omitempty"`
}

// Keyspace is a Cassandra keyspace and its tables.
type Keyspace struct {
	Name          string
	Replication   Replication
	DurableWrites bool
	// Tables by name.
	Tables map[string]*Table
	Origin Origin
	// AllowDatacenterRemoval holds the datacenters whose removal from the
	// replication the manifest allows explicitly
	// (spec.allowDatacenterRemoval), each with where it is written. Only
	// desired state sets it; it is not part of the keyspace's definition
	// (diffs and fingerprints ignore it).
	AllowDatacenterRemoval map[string]Origin `json:",omitempty"`
}

// Replication is a keyspace's replication in CQL terms.
//
// Invariant: Class is the short name ("NetworkTopologyStrategy" or
// "SimpleStrategy"); for NetworkTopologyStrategy Factors maps datacenter to
// replication factor, for SimpleStrategy it holds the single key
// "replication_factor".
type Replication struct {
	Class   string
	Factors map[string]int
}

// Strategy short names.
const (
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
	SimpleStrategy          = "SimpleStrategy"
)

// String renders the replication as a CQL map literal with sorted keys.
func (r Replication) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{'class': '%s'", r.Class)
	for _, k := range SortedKeys(r.Factors) {
		fmt.Fprintf(&b, ", '%s': %d", k, r.Factors[k])
	}
	b.WriteString("}")
	return b.String()
}

// Table is a Cassandra table.
type Table struct {
	Keyspace string
	Name     string
	// Columns in declaration order; names unique.
	Columns []Column
	// PartitionKey lists column names, in order; at least one.
	PartitionKey []string
	// Clustering lists the clustering columns, in order.
	Clustering []ClusteringColumn
	// Options maps a table option's CQL name to its value.
	Options map[string]OptionValue
	Origin  Origin
}

// Column is a table column.
type Column struct {
	Name string
	// Type is the CQL type in canonical lower-case form ("map<text, int>").
	Type   string
	Static bool
}

// ClusteringColumn is a clustering column and its order.
type ClusteringColumn struct {
	Name string
	// Descending is true for CLUSTERING ORDER ... DESC.
	Descending bool
}

// OptionValue is a table option's value: a scalar, or a map (compaction,
// compression, caching).
//
// Invariant: exactly one of Map != nil or the scalar form holds. Scalars
// keep their CQL literal text: Quoted tells whether CQL needs quotes.
type OptionValue struct {
	Scalar string
	Quoted bool
	Map    map[string]string
}

// String renders the value as a CQL literal.
func (v OptionValue) String() string {
	if v.Map != nil {
		parts := make([]string, 0, len(v.Map))
		for _, k := range SortedKeys(v.Map) {
			parts = append(parts, fmt.Sprintf("'%s': '%s'", escapeCQL(k), escapeCQL(v.Map[k])))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if v.Quoted {
		return "'" + escapeCQL(v.Scalar) + "'"
	}
	return v.Scalar
}

// Equal compares two values.
func (v OptionValue) Equal(o OptionValue) bool {
	if (v.Map == nil) != (o.Map == nil) {
		return false
	}
	if v.Map == nil {
		return v.Scalar == o.Scalar
	}
	if len(v.Map) != len(o.Map) {
		return false
	}
	for k, x := range v.Map {
		if y, ok := o.Map[k]; !ok || x != y {
			return false
		}
	}
	return true
}

// Covers tells whether v already holds everything o sets: equal scalars,
// or, for maps, every key of o with the same value (v may hold more:
// Cassandra fills in sub-options such as compaction's min_threshold).
func (v OptionValue) Covers(o OptionValue) bool {
	if v.Map == nil || o.Map == nil {
		return v.Equal(o)
	}
	for k, x := range o.Map {
		if y, ok := v.Map[k]; !ok || x != y {
			return false
		}
	}
	return true
}

func escapeCQL(s string) string { return strings.ReplaceAll(s, "'", "''") }

// Column returns the named column.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Rollout stages a generation's node settings by topology: the agents of
// one stage apply it, and the next stage's wait until every agent of the
// stage reports it applied (and, with RequireHealthy, its node up and
// NORMAL), then Pause.
type Rollout struct {
	// By is "datacenter" or "rack".
	By string `json:"by"`
	// Order lists the stages' keys: datacenter names, or "dc/rack".
	// Nodes of keys not listed form a last stage.
	Order          []string      `json:"order"`
	Pause          time.Duration `json:"pause"`
	RequireHealthy bool          `json:"requireHealthy"`
}

// Stage is the stage index of a node in dc and rack: its key's place in
// Order, or len(Order) for a key not listed.
func (r *Rollout) Stage(dc, rack string) int {
	key := dc
	if r.By == "rack" {
		key = dc + "/" + rack
	}
	for i, k := range r.Order {
		if k == key {
			return i
		}
	}
	return len(r.Order)
}

// NodeSettings is one NodeSettings resource: runtime settings for the nodes
// its scope selects.
type NodeSettings struct {
	Name string
	// Scope is "cluster", "dc/<dc>", "rack/<dc>/<rack>" or "node/<id>".
	Scope string
	// Values maps a setting name to its value in the setting's base unit.
	Values map[string]SettingValue
	Origin Origin
}

// SettingValue is a setting's normalised value and where it was written.
type SettingValue struct {
	// Number holds numeric and boolean (0/1) settings in the base unit.
	Number float64
	// Text is the value as the user wrote it, for messages.
	Text   string
	Origin Origin
}

// FeatureFlag is one flag in the flagd model.
type FeatureFlag struct {
	Name string
	// State is "ENABLED" or "DISABLED".
	State          string
	Variants       map[string]any
	DefaultVariant string
	// Targeting is the flagd JSON-logic rule, nil when none.
	Targeting map[string]any
	// Fractional lists every fractional split found in Targeting.
	Fractional []FractionalSplit
	Origin     Origin
}

// FractionalSplit is one "fractional" operation: variants and weights.
type FractionalSplit struct {
	Variants []string
	Weights  []int
}

// SystemKeyspaces are Cassandra's own keyspaces, never managed.
var SystemKeyspaces = map[string]bool{
	"system": true, "system_schema": true, "system_auth": true, "system_distributed": true,
	"system_traces": true, "system_views": true, "system_virtual_schema": true, "system_cluster_metadata": true,
}

// SortedKeys returns a map's keys in ascending order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
