package policies

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Guardrail describes one built-in check.
//
// Invariant: Code is stable across releases and never reused; Severity is
// the severity of a violation (some guardrails also emit Warn findings, as
// Summary says).
type Guardrail struct {
	Code     string
	Name     string
	Severity Severity
	Summary  string
}

// Built-in guardrail codes. They are stable: CI configurations and
// documentation refer to them.
const (
	CodeReplicationBounds = "RM-POL-001"
	CodeSimpleStrategy    = "RM-POL-002"
	CodeUnknownDC         = "RM-POL-003"
	CodeReplicationStep   = "RM-POL-004"
	CodeDrop              = "RM-POL-005"
	CodeColumnType        = "RM-POL-006"
	CodePrimaryKey        = "RM-POL-007"
	CodeSystemKeyspace    = "RM-POL-008"
	CodeZnodeSize         = "RM-POL-009"
	CodeFlagVariants      = "RM-POL-010"
	CodeNodeSetting       = "RM-POL-011"
	CodeRepair            = "RM-POL-012"
	CodeTableOption       = "RM-POL-013"
	CodeDatacenterRemoval = "RM-POL-014"
)

// Guardrails lists the built-in checks in code order. It is the source the
// tables in doc.go and README.md follow (a test keeps them in step).
var Guardrails = []Guardrail{
	{CodeReplicationBounds, "replication-factor-bounds", Deny,
		"a replication factor below 1, below the environment's minReplication or above its maxReplication; a NetworkTopologyStrategy keyspace with no datacenter"},
	{CodeSimpleStrategy, "simple-strategy-multi-dc", Deny,
		"SimpleStrategy in an environment with more than one datacenter"},
	{CodeUnknownDC, "unknown-datacenter", Deny,
		"NetworkTopologyStrategy names a datacenter the environment does not declare"},
	{CodeReplicationStep, "replication-step", Deny,
		"a datacenter's replication factor changes by more than 1 in one apply (an added datacenter counts from 0, a removed one to 0)"},
	{CodeDrop, "explicit-drop", Deny,
		"dropping a keyspace, table or column whose manifest does not mark it drop: true; an allowed drop is a warn"},
	{CodeColumnType, "column-type-change", Deny,
		"changing a column's type or static flag: needs a manual migration"},
	{CodePrimaryKey, "primary-key-change", Deny,
		"changing a table's partition key, clustering columns or clustering order: needs a new table and a copy"},
	{CodeSystemKeyspace, "system-keyspace", Deny,
		"declaring or changing a Cassandra system keyspace or its tables"},
	{CodeZnodeSize, "znode-size", Deny,
		"a znode payload above the environment's maxZnodeBytes (default 1,000,000; jute.maxbuffer is 1 MiB); warn above 80% of it"},
	{CodeFlagVariants, "flag-variants", Deny,
		"a feature flag whose default variant or fractional split names an unknown variant, or whose split has negative weights or weights not summing to 100"},
	{CodeNodeSetting, "node-setting-range", Deny,
		"a node setting that the catalogue does not know, or a value outside its range"},
	{CodeRepair, "repair-after-replication-change", Warn,
		"any replication change: run a full repair of the keyspace in the affected datacenters after apply (and cleanup where a factor shrank)"},
	{CodeTableOption, "table-option-caution", Warn,
		"gc_grace_seconds below 3 hours; default_time_to_live changed on an existing table; compaction class changed on an existing table"},
	{CodeDatacenterRemoval, "datacenter-removal", Deny,
		"a keyspace's replication drops a datacenter the environment still declares, unless the Keyspace lists it in allowDatacenterRemoval; an allowed removal is a warn"},
}

var guardrailNames = func() map[string]string {
	m := make(map[string]string, len(Guardrails))
	for _, g := range Guardrails {
		m[g.Code] = g.Name
	}
	return m
}()

const (
	// DefaultMaxZnodeBytes is the znode payload limit when the environment
	// sets none: ZooKeeper's jute.maxbuffer is 1 MiB (1,048,576 bytes) and a
	// request carries more than the payload, so leave headroom.
	DefaultMaxZnodeBytes = 1_000_000
	// znodeWarnPercent is the share of the limit above which RM-POL-009 warns.
	znodeWarnPercent = 80
	// minGCGraceSeconds is the gc_grace_seconds below which RM-POL-013 warns.
	minGCGraceSeconds = 3 * 3600
)

// FeatureFlagID is the object ID of a FeatureFlag resource in findings:
// "featureflag/<name>".
func FeatureFlagID(name string) string { return "featureflag/" + name }

// NodeSettingsID is the object ID of a NodeSettings resource in findings:
// "nodesettings/<name>".
func NodeSettingsID(name string) string { return "nodesettings/" + name }

// collector accumulates findings of built-in guardrails.
type collector struct{ fs []Finding }

func (c *collector) add(code string, sev Severity, object string, origin state.Origin, format string, args ...any) {
	c.fs = append(c.fs, Finding{
		Code: code, Rule: guardrailNames[code], Severity: sev,
		Message: fmt.Sprintf(format, args...), Object: object, Origin: origin,
	})
}

// checkResources runs the guardrails that look at the desired state alone.
func checkResources(to *state.State, c *collector) {
	for _, name := range state.SortedKeys(to.Keyspaces) {
		ks := to.Keyspaces[name]
		checkKeyspace(to, ks, c)
		for _, tn := range state.SortedKeys(ks.Tables) {
			checkTable(ks.Tables[tn], c)
		}
	}
	limit := to.Cluster.MaxZnodeBytes
	if limit <= 0 {
		limit = DefaultMaxZnodeBytes
	}
	for _, p := range state.SortedKeys(to.Znodes) {
		checkZnode(to.Znodes[p], limit, c)
	}
	for _, name := range state.SortedKeys(to.Flags) {
		checkFlag(to.Flags[name], c)
	}
	for _, name := range state.SortedKeys(to.Settings) {
		checkSettings(to.Settings[name], c)
	}
}

func factorLabel(key string) string {
	if key == "replication_factor" {
		return "replication_factor"
	}
	return "replication factor of " + key
}

func checkKeyspace(to *state.State, ks *state.Keyspace, c *collector) {
	id := state.KeyspaceID(ks.Name)
	if state.SystemKeyspaces[ks.Name] {
		c.add(CodeSystemKeyspace, Deny, id, ks.Origin,
			"keyspace %s: system keyspaces belong to Cassandra and are never managed by ringmaster", ks.Name)
	}
	r := ks.Replication
	cl := to.Cluster
	if r.Class == state.NetworkTopologyStrategy && len(r.Factors) == 0 {
		c.add(CodeReplicationBounds, Deny, id, ks.Origin,
			"keyspace %s: NetworkTopologyStrategy lists no datacenter, so the keyspace would have no replicas", ks.Name)
	}
	for _, dc := range state.SortedKeys(r.Factors) {
		rf := r.Factors[dc]
		switch {
		case rf < 1:
			c.add(CodeReplicationBounds, Deny, id, ks.Origin,
				"keyspace %s: %s is %d; every listed datacenter needs at least 1 replica (leave a datacenter out to place none there)", ks.Name, factorLabel(dc), rf)
		case cl.MinReplication > 0 && rf < cl.MinReplication:
			c.add(CodeReplicationBounds, Deny, id, ks.Origin,
				"keyspace %s: %s is %d, below the environment's minimum of %d", ks.Name, factorLabel(dc), rf, cl.MinReplication)
		case cl.MaxReplication > 0 && rf > cl.MaxReplication:
			c.add(CodeReplicationBounds, Deny, id, ks.Origin,
				"keyspace %s: %s is %d, above the environment's maximum of %d", ks.Name, factorLabel(dc), rf, cl.MaxReplication)
		}
	}
	switch r.Class {
	case state.SimpleStrategy:
		if len(cl.Datacenters) > 1 {
			c.add(CodeSimpleStrategy, Deny, id, ks.Origin,
				"keyspace %s: SimpleStrategy in environment %s with %d datacenters (%s) ignores datacenters when placing replicas; use NetworkTopologyStrategy with a factor per datacenter",
				ks.Name, to.Environment, len(cl.Datacenters), strings.Join(cl.Datacenters, ", "))
		}
	case state.NetworkTopologyStrategy:
		if len(cl.Datacenters) > 0 {
			for _, dc := range state.SortedKeys(r.Factors) {
				if !slices.Contains(cl.Datacenters, dc) {
					c.add(CodeUnknownDC, Deny, id, ks.Origin,
						"keyspace %s: replication names datacenter %s, which environment %s does not have (datacenters: %s)",
						ks.Name, dc, to.Environment, strings.Join(cl.Datacenters, ", "))
				}
			}
		}
	}
}

func checkTable(t *state.Table, c *collector) {
	v, ok := t.Options["gc_grace_seconds"]
	if !ok || v.Map != nil {
		return
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Scalar), 10, 64)
	if err != nil || n >= minGCGraceSeconds {
		return
	}
	c.add(CodeTableOption, Warn, state.TableID(t.Keyspace, t.Name), t.Origin,
		"table %s.%s: gc_grace_seconds is %d, below 3 hours (%d); a replica that stays down or unrepaired for longer can resurrect deleted data",
		t.Keyspace, t.Name, n, minGCGraceSeconds)
}

func checkZnode(z *state.Znode, limit int, c *collector) {
	size := len(z.Data)
	what := "znode " + z.Path
	if z.Kind != "" && z.Name != "" {
		what += " (" + z.Kind + " " + z.Name + ")"
	}
	switch {
	case size > limit:
		c.add(CodeZnodeSize, Deny, state.ZnodeID(z.Path), z.Origin,
			"%s: payload is %d bytes, above the limit of %d (ZooKeeper's jute.maxbuffer is 1 MiB); split the resource", what, size, limit)
	case size*100 > limit*znodeWarnPercent:
		c.add(CodeZnodeSize, Warn, state.ZnodeID(z.Path), z.Origin,
			"%s: payload is %d bytes, %d%% of the limit of %d", what, size, size*100/limit, limit)
	}
}

func checkFlag(f *state.FeatureFlag, c *collector) {
	id := FeatureFlagID(f.Name)
	variants := strings.Join(state.SortedKeys(f.Variants), ", ")
	if f.DefaultVariant != "" {
		if _, ok := f.Variants[f.DefaultVariant]; !ok {
			c.add(CodeFlagVariants, Deny, id, f.Origin,
				"feature flag %s: default variant %s is not among the variants (%s)", f.Name, f.DefaultVariant, variants)
		}
	}
	for i, sp := range f.Fractional {
		n := i + 1
		if len(sp.Variants) != len(sp.Weights) {
			c.add(CodeFlagVariants, Deny, id, f.Origin,
				"feature flag %s: fractional split %d has %d variants and %d weights", f.Name, n, len(sp.Variants), len(sp.Weights))
		}
		if len(sp.Variants) == 0 {
			c.add(CodeFlagVariants, Deny, id, f.Origin, "feature flag %s: fractional split %d is empty", f.Name, n)
		}
		for _, v := range sp.Variants {
			if _, ok := f.Variants[v]; !ok {
				c.add(CodeFlagVariants, Deny, id, f.Origin,
					"feature flag %s: fractional split %d names variant %s, which is not among the variants (%s)", f.Name, n, v, variants)
			}
		}
		sum := 0
		for j, w := range sp.Weights {
			sum += w
			if w < 0 {
				v := "#" + strconv.Itoa(j+1)
				if j < len(sp.Variants) {
					v = sp.Variants[j]
				}
				c.add(CodeFlagVariants, Deny, id, f.Origin,
					"feature flag %s: fractional split %d gives variant %s the negative weight %d", f.Name, n, v, w)
			}
		}
		if len(sp.Weights) > 0 && sum != 100 {
			c.add(CodeFlagVariants, Deny, id, f.Origin,
				"feature flag %s: fractional split %d weights sum to %d, want 100", f.Name, n, sum)
		}
	}
}

func checkSettings(ns *state.NodeSettings, c *collector) {
	id := NodeSettingsID(ns.Name)
	for _, name := range state.SortedKeys(ns.Values) {
		v := ns.Values[name]
		origin := v.Origin
		if origin.File == "" {
			origin = ns.Origin
		}
		def, ok := state.Settings[name]
		if !ok {
			c.add(CodeNodeSetting, Deny, id, origin,
				"node settings %s (scope %s): unknown setting %s (known: %s)", ns.Name, ns.Scope, name, strings.Join(state.SortedKeys(state.Settings), ", "))
			continue
		}
		if err := def.CheckRange(v.Number); err != nil {
			c.add(CodeNodeSetting, Deny, id, origin, "node settings %s (scope %s): %v", ns.Name, ns.Scope, err)
		}
	}
}

// checkChanges runs the guardrails that look at the changes.
func checkChanges(cs *diff.ChangeSet, to *state.State, c *collector) {
	for _, ch := range cs.Changes {
		switch ch := ch.(type) {
		case *diff.ModifyKeyspace:
			if ch.ReplicationChanged {
				checkReplicationChange(to, ch, c)
			}
		case *diff.DropKeyspace:
			ks := ch.Keyspace
			systemChange(ch, ks.Name, c)
			checkDrop(to, state.KeyspaceID(ks.Name), ch.Origin(), "keyspace "+ks.Name, "all its tables and data", c)
		case *diff.AddTable:
			systemChange(ch, ch.Table.Keyspace, c)
		case *diff.DropTable:
			t := ch.Table
			systemChange(ch, t.Keyspace, c)
			if _, allowed := to.AllowedDrops[state.KeyspaceID(t.Keyspace)]; allowed && to.Keyspaces[t.Keyspace] == nil {
				continue // covered by the keyspace's allowed drop
			}
			checkDrop(to, state.TableID(t.Keyspace, t.Name), ch.Origin(), "table "+t.Keyspace+"."+t.Name, "all its data", c)
		case *diff.ModifyTable:
			systemChange(ch, ch.To.Keyspace, c)
			checkTableChanges(to, ch, c)
		}
	}
}

// systemChange reports a table change or keyspace drop in a system keyspace.
// Desired system keyspaces are reported once, by checkKeyspace.
func systemChange(ch diff.Change, keyspace string, c *collector) {
	if !state.SystemKeyspaces[keyspace] {
		return
	}
	c.add(CodeSystemKeyspace, Deny, ch.ID(), ch.Origin(),
		"%s %s: %s touches system keyspace %s, which belongs to Cassandra and is never managed by ringmaster",
		strings.ToLower(ch.ObjectKind()), objectName(ch.ID()), ch.Action(), keyspace)
}

// objectName is id without its kind ("ks.t").
func objectName(id string) string {
	if o, err := state.ParseID(id); err == nil {
		return o.Name()
	}
	return id
}

// checkDrop denies a drop the desired state does not allow, and warns of an
// allowed one.
func checkDrop(to *state.State, id string, origin state.Origin, what, loses string, c *collector) {
	if allowed, ok := to.AllowedDrops[id]; ok {
		where := ""
		if s := allowed.String(); s != "" {
			where = " (" + s + ")"
		}
		if allowed.File == "" {
			allowed = origin
		}
		c.add(CodeDrop, Warn, id, allowed, "%s: drop is explicitly allowed%s and destroys %s", what, where, loses)
		return
	}
	c.add(CodeDrop, Deny, id, origin,
		"%s: drop would destroy %s and is not allowed; to proceed, %s", what, loses, dropHint(id))
}

// dropHint says how a manifest allows the drop of object id.
func dropHint(id string) string {
	o, err := state.ParseID(id)
	if err != nil {
		return "mark it drop: true in its manifest"
	}
	name := o.Name()
	switch o.Kind {
	case state.KindKeyspace:
		return fmt.Sprintf("keep Keyspace %s in the repository with drop: true in its spec", name)
	case state.KindTable:
		return fmt.Sprintf("keep Table %s in the repository with drop: true in its spec", name)
	case state.KindColumn:
		return fmt.Sprintf("keep column %s in its Table's columns with drop: true", name)
	}
	return "mark it drop: true in its manifest"
}

// comparableFactors returns from's and to's factors keyed so they compare:
// a SimpleStrategy factor becomes the datacenter's when the other side is
// NetworkTopologyStrategy and there is a single datacenter to map it to.
func comparableFactors(from, to state.Replication, dcs []string) (map[string]int, map[string]int) {
	conv := func(r, other state.Replication) map[string]int {
		if r.Class != state.SimpleStrategy || other.Class != state.NetworkTopologyStrategy {
			return r.Factors
		}
		rf, ok := r.Factors["replication_factor"]
		if !ok {
			return r.Factors
		}
		switch {
		case len(dcs) == 1:
			return map[string]int{dcs[0]: rf}
		case len(dcs) == 0 && len(other.Factors) == 1:
			for dc := range other.Factors {
				return map[string]int{dc: rf}
			}
		}
		return r.Factors
	}
	return conv(from, to), conv(to, from)
}

func checkReplicationChange(to *state.State, ch *diff.ModifyKeyspace, c *collector) {
	name := ch.To.Name
	id := ch.ID()
	before, after := comparableFactors(ch.From.Replication, ch.To.Replication, to.Cluster.Datacenters)
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var repair, shrunk, steps []string
	for _, dc := range state.SortedKeys(keys) {
		a, b := before[dc], after[dc]
		if a == b {
			continue
		}
		steps = append(steps, fmt.Sprintf("%s %d → %d", dc, a, b))
		if b > 0 {
			repair = append(repair, dc)
		}
		if b < a {
			shrunk = append(shrunk, dc)
		}
		if a > 0 && b == 0 {
			checkDatacenterRemoval(to, ch, dc, a, c)
		}
		if d := b - a; d > 1 || d < -1 {
			c.add(CodeReplicationStep, Deny, id, ch.Origin(),
				"keyspace %s: %s changes %d → %d; change at most 1 per datacenter per apply", name, factorLabel(dc), a, b)
		}
	}
	if len(steps) == 0 {
		// Only the class changed, with the same placement.
		c.add(CodeRepair, Warn, id, ch.Origin(),
			"keyspace %s: replication changes %s → %s; repair required after apply: run `nodetool repair -full %s` on every node",
			name, ch.From.Replication, ch.To.Replication, name)
		return
	}
	var todo []string
	if len(repair) > 0 {
		todo = append(todo, fmt.Sprintf("repair required after apply: run `nodetool repair -full %s` on every node of %s", name, strings.Join(repair, ", ")))
	}
	if len(shrunk) > 0 {
		todo = append(todo, fmt.Sprintf("run `nodetool cleanup %s` on every node of %s to remove data they no longer own", name, strings.Join(shrunk, ", ")))
	}
	c.add(CodeRepair, Warn, id, ch.Origin(), "keyspace %s: replication changes %s; %s", name, strings.Join(steps, ", "), strings.Join(todo, ", then "))
}

// checkDatacenterRemoval denies a replication change that leaves a
// datacenter the environment declares with no replicas (factor was > 0,
// now absent: Cassandra stores no entry for factor 0), unless the
// keyspace's manifest allows it explicitly, then warns. A datacenter the
// environment no longer declares may be dropped freely; a switch to
// SimpleStrategy is RM-POL-002's business.
func checkDatacenterRemoval(to *state.State, ch *diff.ModifyKeyspace, dc string, was int, c *collector) {
	ks := ch.To
	if ks.Replication.Class != state.NetworkTopologyStrategy || !slices.Contains(to.Cluster.Datacenters, dc) {
		return
	}
	id := ch.ID()
	if allowed, ok := ks.AllowDatacenterRemoval[dc]; ok {
		where := ""
		if s := allowed.String(); s != "" {
			where = " (" + s + ")"
		}
		if allowed.File == "" {
			allowed = ch.Origin()
		}
		c.add(CodeDatacenterRemoval, Warn, id, allowed,
			"keyspace %s: removing datacenter %s from the replication (%d → 0) is explicitly allowed%s; %s keeps no replicas of it: clients there at LOCAL_ consistency levels fail, and the data left on its nodes is no longer updated",
			ks.Name, dc, was, where, dc)
		return
	}
	c.add(CodeDatacenterRemoval, Deny, id, ch.Origin(),
		"keyspace %s: replication drops datacenter %s (%d → 0), which environment %s still declares: the data there stops being replicated and clients there at LOCAL_ consistency levels fail; if that is intended, list %s in the Keyspace's spec.allowDatacenterRemoval",
		ks.Name, dc, was, to.Environment, dc)
}

func checkTableChanges(to *state.State, ch *diff.ModifyTable, c *collector) {
	t := ch.To
	tname := t.Keyspace + "." + t.Name
	id := ch.ID()
	for _, tc := range ch.Changes {
		switch tc := tc.(type) {
		case *diff.DropColumn:
			checkDrop(to, state.ColumnID(t.Keyspace, t.Name, tc.Column.Name), ch.Origin(),
				"table "+tname+": column "+tc.Column.Name, "its data in every row", c)
		case *diff.AlterColumnType:
			what := fmt.Sprintf("changes type %s → %s", tc.From.Type, tc.To.Type)
			if tc.From.Type == tc.To.Type {
				what = fmt.Sprintf("changes from %s to %s", staticWord(tc.From.Static), staticWord(tc.To.Static))
			}
			c.add(CodeColumnType, Deny, id, ch.Origin(),
				"table %s: column %s %s; Cassandra cannot change this in place: add a new column, migrate the data manually, then drop the old column", tname, tc.Name, what)
		case *diff.ChangePrimaryKey:
			c.add(CodePrimaryKey, Deny, id, ch.Origin(),
				"table %s: primary key changes %s → %s; a primary key cannot change in place: create a new table, copy the data, then drop the old table", tname, tc.From, tc.To)
		case *diff.ModifyOption:
			checkOptionChange(tname, id, ch.Origin(), tc, c)
		}
	}
}

func staticWord(static bool) string {
	if static {
		return "static"
	}
	return "regular"
}

func optionText(v *state.OptionValue, unset string) string {
	if v == nil {
		return unset
	}
	return v.String()
}

// compactionClass returns a compaction map's class without its package.
func compactionClass(v *state.OptionValue) string {
	if v == nil || v.Map == nil {
		return ""
	}
	cls := v.Map["class"]
	return cls[strings.LastIndex(cls, ".")+1:]
}

func checkOptionChange(tname, id string, origin state.Origin, tc *diff.ModifyOption, c *collector) {
	switch tc.Name {
	case "default_time_to_live":
		c.add(CodeTableOption, Warn, id, origin,
			"table %s: default_time_to_live changes %s → %s; only data written after the change gets the new TTL, existing rows keep theirs",
			tname, optionText(tc.From, "unset (0)"), optionText(tc.To, "unset (0)"))
	case "compaction":
		from, to := compactionClass(tc.From), compactionClass(tc.To)
		if from == to {
			return
		}
		if tc.From == nil {
			from = "the default"
		}
		c.add(CodeTableOption, Warn, id, origin,
			"table %s: compaction class changes %s → %s; Cassandra recompacts the table's existing SSTables, which costs disk I/O and temporary space on every node",
			tname, from, to)
	}
}
