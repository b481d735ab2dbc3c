// Package policies checks a change set before it is planned or applied:
// built-in guardrails with stable codes, modelled on Cassandra's own
// guardrails (which superusers bypass, so ringmaster does not rely on them),
// and user rules written in CEL in Policy manifests. Every check yields
// Findings with a severity; a Deny finding blocks the change set (see
// Denied), a Warn finding is reported only.
//
// The package does no I/O. It reads the typed changes of package diff and
// the desired state (ChangeSet.To); for `ringmaster validate`, with no live
// side, the caller passes diff.Compute of an empty state to the desired one.
//
// # Built-in guardrails
//
// Resource guardrails run on every object of the desired state; change
// guardrails run on the changes. Codes never change meaning.
//
//	| code       | name                            | severity    | fires on                                                                                             |
//	|------------|---------------------------------|-------------|------------------------------------------------------------------------------------------------------|
//	| RM-POL-001 | replication-factor-bounds       | deny        | a keyspace's replication factor < 1, < environment minReplication or > maxReplication (when > 0); NetworkTopologyStrategy with no datacenter |
//	| RM-POL-002 | simple-strategy-multi-dc        | deny        | SimpleStrategy when the environment has more than one datacenter                                     |
//	| RM-POL-003 | unknown-datacenter              | deny        | NetworkTopologyStrategy names a datacenter the environment does not declare (when it declares any)   |
//	| RM-POL-004 | replication-step                | deny        | a datacenter's factor changes by more than 1 in one apply (added datacenter from 0, removed to 0)    |
//	| RM-POL-005 | explicit-drop                   | deny / warn | drop of a keyspace, table or column its manifest does not mark drop: true; warn when allowed |
//	| RM-POL-006 | column-type-change              | deny        | a column's type or static flag changes: needs a manual migration                                     |
//	| RM-POL-007 | primary-key-change              | deny        | partition key, clustering columns or clustering order change: new table and copy                     |
//	| RM-POL-008 | system-keyspace                 | deny        | a desired keyspace with a system keyspace's name, or any change in a system keyspace                  |
//	| RM-POL-009 | znode-size                      | deny / warn | znode payload > maxZnodeBytes (default 1,000,000; jute.maxbuffer is 1 MiB); warn above 80%           |
//	| RM-POL-010 | flag-variants                   | deny        | feature flag default variant or fractional variant unknown; negative weight; weights not summing to 100 |
//	| RM-POL-011 | node-setting-range              | deny        | node setting unknown to the catalogue (state.Settings) or outside its range                          |
//	| RM-POL-012 | repair-after-replication-change | warn        | any replication change: `nodetool repair -full <ks>` after apply (and `cleanup` where a factor shrank) |
//	| RM-POL-013 | table-option-caution            | warn        | gc_grace_seconds < 10800 (3 h); default_time_to_live or compaction class changed on an existing table |
//	| RM-POL-014 | datacenter-removal              | deny / warn | replication drops a datacenter the environment still declares; warn when allowDatacenterRemoval lists it |
//
// Notes on the guardrails:
//
//   - RM-POL-004 compares SimpleStrategy's replication_factor with the
//     datacenter's factor when the class changes to NetworkTopologyStrategy
//     and the environment has one datacenter, so that a single-datacenter
//     class switch with the same factor is not a step.
//   - RM-POL-005 reads state.State.AllowedDrops of the desired state, keyed
//     by state.KeyspaceID, state.TableID or state.ColumnID. A dropped table
//     inside an allowed, dropped keyspace needs no entry of its own. An
//     allowed drop's warn finding carries the allowance's Origin.
//   - RM-POL-014 fires when a datacenter's factor goes from above 0 to
//     none (absent, or written as 0: Cassandra keeps no entry for 0) in a
//     NetworkTopologyStrategy keyspace, and the environment's
//     cluster.datacenters still lists that datacenter. The escape is
//     state.Keyspace.AllowDatacenterRemoval, which render fills from the
//     Keyspace's spec.allowDatacenterRemoval; the warn finding of an allowed
//     removal carries the allowance's Origin.
//   - RM-POL-013: a gc_grace_seconds shorter than the time a node can stay
//     down or a repair can take lets tombstones expire before every replica
//     saw them (deleted data comes back); a new default_time_to_live applies
//     only to writes after the change; a new compaction class makes every
//     node recompact the table's SSTables.
//
// # User rules
//
// A user rule (a state.Rule) has an Expression in CEL (with the cel-go
// strings, lists, sets and optional-types extensions, and int/double
// comparison) that returns true when the object complies. A rule with Match "resource" runs once per
// resource of the desired state with the variables `resource` and `env`;
// a rule with Match "change" runs once per change with `change` and `env`.
// A false result yields a Finding with Code "RM-USR:<rule name>", the
// rule's severity and message, the object's ID and the object's Origin. An
// evaluation error (a missing key, a non-bool result) yields a Deny finding
// that names the rule, its Origin and the error; the Finding's Origin is the
// rule's then. A message may hold {{ expr }} placeholders (CEL over the same
// variables), e.g. "keyspace {{resource.name}} has RF {{resource.replication.factors}}".
//
// Variables (maps; numbers are int unless stated):
//
//	env       {name, datacenters: [string], min_replication, max_replication, max_znode_bytes}
//	resource  {kind, id, name, origin: "file:line", ...kind fields}
//	  Keyspace      replication: {class, factors: {dc: int}}, durable_writes: bool, tables: [name]
//	  Table         keyspace, columns: [{name, type, static}], partition_key: [name],
//	                clustering: [{name, order: "ASC"|"DESC"}], options: {name: CQL literal text | {key: value}}
//	  FeatureFlag   state, variants: {name: value}, defaultVariant, targeting: JSON value | null,
//	                fractional: [{variants: [string], weights: [int]}]
//	  NodeSettings  scope, values: {setting: double, in the catalogue's base unit}
//	  ConfigEntry   path, size, data: parsed JSON | null, text, manifest_kind
//	  Znode         (any other znode) as ConfigEntry
//	change    {id, action: "create"|"update"|"delete", kind: "Keyspace"|"Table"|"Znode", origin,
//	           before: resource | null, after: resource | null}
//
// Znodes that are the payload of a FeatureFlag or NodeSettings resource of
// the same name are not resources of their own (the flag or settings
// resource stands for them); every znode counts for RM-POL-009.
//
// Resource object IDs: state.KeyspaceID, state.TableID, state.ZnodeID,
// FeatureFlagID ("featureflag/<name>") and NodeSettingsID
// ("nodesettings/<name>").
//
// # Limits and cancellation
//
// Each Evaluate call bounds the user rules, all rules over all objects, by
// Limits (set with WithLimits at Compile): a cost budget per rule
// (DefaultRuleCost), a cost budget for all rules together
// (DefaultTotalCost), both in CEL cost units, and a wall-time limit
// (DefaultTime). A rule that spends its budget is stopped and yields one
// Deny finding with Object RuleID(name); the others go on. When the total
// budget or the time runs out, every rule stops and each rule that had
// objects left yields one. CEL calls that could do much more work in one
// call than CEL charges (join, replace, format, flatten, distinct, string
// +, the sets functions, matches) are checked before they run and refused
// past fixed bounds, stopping the rule the same way. Evaluate takes a
// context: when it ends, Evaluate returns promptly with no findings and an
// error wrapping ctx.Err().
package policies
