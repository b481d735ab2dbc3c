package policies

import (
	"encoding/json"
	"reflect"

	"github.com/google/cel-go/common/types"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Resource kinds as user rules see them (resource.kind, state.Rule.Kinds).
const (
	ResourceKeyspace     = "Keyspace"
	ResourceTable        = "Table"
	ResourceFeatureFlag  = "FeatureFlag"
	ResourceNodeSettings = "NodeSettings"
	ResourceConfigEntry  = "ConfigEntry"
	ResourceZnode        = "Znode"
)

// knownKinds are the kinds a state.Rule's Kinds filter may name.
var knownKinds = map[string]bool{
	ResourceKeyspace: true, ResourceTable: true, ResourceFeatureFlag: true,
	ResourceNodeSettings: true, ResourceConfigEntry: true, ResourceZnode: true,
}

// resource is one object of the desired state as user rules see it.
type resource struct {
	kind   string
	id     string
	origin state.Origin
	shape  *shape
	src    any
}

// Field getters below return map[string]any, map[string]string, []any,
// []string, string, int64, float64, bool, nil or a lazy *object only:
// cel-go adapts those without reflection.

func originValue(o state.Origin) any { return o.String() }

var keyspaceShape = newShape(
	fieldOf("kind", func(*state.Keyspace) any { return ResourceKeyspace }),
	fieldOf("id", func(ks *state.Keyspace) any { return state.KeyspaceID(ks.Name) }),
	fieldOf("name", func(ks *state.Keyspace) any { return ks.Name }),
	fieldOf("origin", func(ks *state.Keyspace) any { return originValue(ks.Origin) }),
	fieldOf("replication", func(ks *state.Keyspace) any {
		factors := make(map[string]any, len(ks.Replication.Factors))
		for dc, rf := range ks.Replication.Factors {
			factors[dc] = int64(rf)
		}
		return map[string]any{"class": ks.Replication.Class, "factors": factors}
	}),
	fieldOf("durable_writes", func(ks *state.Keyspace) any { return ks.DurableWrites }),
	fieldOf("tables", func(ks *state.Keyspace) any { return state.SortedKeys(ks.Tables) }),
)

var tableShape = newShape(
	fieldOf("kind", func(*state.Table) any { return ResourceTable }),
	fieldOf("id", func(t *state.Table) any { return state.TableID(t.Keyspace, t.Name) }),
	fieldOf("name", func(t *state.Table) any { return t.Name }),
	fieldOf("origin", func(t *state.Table) any { return originValue(t.Origin) }),
	fieldOf("keyspace", func(t *state.Table) any { return t.Keyspace }),
	fieldOf("columns", func(t *state.Table) any {
		cols := make([]any, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = map[string]any{"name": c.Name, "type": c.Type, "static": c.Static}
		}
		return cols
	}),
	fieldOf("partition_key", func(t *state.Table) any { return t.PartitionKey }),
	fieldOf("clustering", func(t *state.Table) any {
		cl := make([]any, len(t.Clustering))
		for i, k := range t.Clustering {
			order := "ASC"
			if k.Descending {
				order = "DESC"
			}
			cl[i] = map[string]any{"name": k.Name, "order": order}
		}
		return cl
	}),
	fieldOf("options", func(t *state.Table) any {
		opts := make(map[string]any, len(t.Options))
		for name, v := range t.Options {
			if v.Map != nil {
				opts[name] = v.Map
			} else {
				opts[name] = v.Scalar
			}
		}
		return opts
	}),
)

var flagShape = newShape(
	fieldOf("kind", func(*state.FeatureFlag) any { return ResourceFeatureFlag }),
	fieldOf("id", func(f *state.FeatureFlag) any { return FeatureFlagID(f.Name) }),
	fieldOf("name", func(f *state.FeatureFlag) any { return f.Name }),
	fieldOf("origin", func(f *state.FeatureFlag) any { return originValue(f.Origin) }),
	fieldOf("state", func(f *state.FeatureFlag) any { return f.State }),
	fieldOf("variants", func(f *state.FeatureFlag) any {
		variants := make(map[string]any, len(f.Variants))
		for k, v := range f.Variants {
			variants[k] = jsonValue(v)
		}
		return variants
	}),
	fieldOf("defaultVariant", func(f *state.FeatureFlag) any { return f.DefaultVariant }),
	fieldOf("targeting", func(f *state.FeatureFlag) any {
		if f.Targeting == nil {
			return nil
		}
		return jsonValue(f.Targeting)
	}),
	fieldOf("fractional", func(f *state.FeatureFlag) any {
		frac := make([]any, len(f.Fractional))
		for i, sp := range f.Fractional {
			ws := make([]any, len(sp.Weights))
			for j, w := range sp.Weights {
				ws[j] = int64(w)
			}
			frac[i] = map[string]any{"variants": sp.Variants, "weights": ws}
		}
		return frac
	}),
)

var settingsShape = newShape(
	fieldOf("kind", func(*state.NodeSettings) any { return ResourceNodeSettings }),
	fieldOf("id", func(ns *state.NodeSettings) any { return NodeSettingsID(ns.Name) }),
	fieldOf("name", func(ns *state.NodeSettings) any { return ns.Name }),
	fieldOf("origin", func(ns *state.NodeSettings) any { return originValue(ns.Origin) }),
	fieldOf("scope", func(ns *state.NodeSettings) any { return ns.Scope }),
	fieldOf("values", func(ns *state.NodeSettings) any {
		values := make(map[string]any, len(ns.Values))
		for k, v := range ns.Values {
			values[k] = v.Number
		}
		return values
	}),
)

// znodeKind is the kind a znode presents to user rules: ConfigEntry for
// ConfigEntry payloads, Znode for everything else.
func znodeKind(z *state.Znode) string {
	if z.Kind == ResourceConfigEntry {
		return ResourceConfigEntry
	}
	return ResourceZnode
}

var znodeShape = newShape(
	fieldOf("kind", func(z *state.Znode) any { return znodeKind(z) }),
	fieldOf("id", func(z *state.Znode) any { return state.ZnodeID(z.Path) }),
	fieldOf("name", func(z *state.Znode) any { return z.Name }),
	fieldOf("origin", func(z *state.Znode) any { return originValue(z.Origin) }),
	fieldOf("manifest_kind", func(z *state.Znode) any { return z.Kind }),
	fieldOf("path", func(z *state.Znode) any { return z.Path }),
	fieldOf("size", func(z *state.Znode) any { return int64(len(z.Data)) }),
	fieldOf("data", func(z *state.Znode) any {
		var v any
		if len(z.Data) == 0 || json.Unmarshal(z.Data, &v) != nil {
			return nil
		}
		return jsonValue(v)
	}),
	fieldOf("text", func(z *state.Znode) any { return string(z.Data) }),
)

// jsonValue normalises a decoded JSON (or YAML) value to the types cel-go
// adapts cheaply: nested map[string]any and []any, and int64 for whole
// numbers so that `x == 3` holds for a JSON 3.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = jsonValue(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = jsonValue(x)
		}
		return l
	case []string:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = x
		}
		return l
	case float64:
		if v == float64(int64(v)) && v >= -1<<53 && v <= 1<<53 {
			return int64(v)
		}
		return v
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case float32:
		return jsonValue(float64(v))
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

// resources lists the objects of the desired state user resource rules
// run on: keyspaces, tables, feature flags, node settings, and the znodes
// that are not the payload of a FeatureFlag or NodeSettings resource of the
// same name.
func resources(to *state.State) []resource {
	n := len(to.Keyspaces) + len(to.Znodes) + len(to.Flags) + len(to.Settings)
	for _, ks := range to.Keyspaces {
		n += len(ks.Tables)
	}
	out := make([]resource, 0, n)
	for _, name := range state.SortedKeys(to.Keyspaces) {
		ks := to.Keyspaces[name]
		out = append(out, resource{ResourceKeyspace, state.KeyspaceID(ks.Name), ks.Origin, keyspaceShape, ks})
		for _, tn := range state.SortedKeys(ks.Tables) {
			t := ks.Tables[tn]
			out = append(out, resource{ResourceTable, state.TableID(t.Keyspace, t.Name), t.Origin, tableShape, t})
		}
	}
	for _, name := range state.SortedKeys(to.Flags) {
		f := to.Flags[name]
		out = append(out, resource{ResourceFeatureFlag, FeatureFlagID(f.Name), f.Origin, flagShape, f})
	}
	for _, name := range state.SortedKeys(to.Settings) {
		ns := to.Settings[name]
		out = append(out, resource{ResourceNodeSettings, NodeSettingsID(ns.Name), ns.Origin, settingsShape, ns})
	}
	for _, p := range state.SortedKeys(to.Znodes) {
		z := to.Znodes[p]
		if z.Kind == ResourceFeatureFlag && to.Flags[z.Name] != nil ||
			z.Kind == ResourceNodeSettings && to.Settings[z.Name] != nil {
			continue
		}
		out = append(out, resource{znodeKind(z), state.ZnodeID(z.Path), z.Origin, znodeShape, z})
	}
	return out
}

// objects builds and shares the lazy CEL objects of one evaluation, so a
// state object seen as a resource and again in a change is converted once.
type objects struct {
	adapter types.Adapter
	byKey   map[any]*object
}

func (c *objects) get(s *shape, src any) any {
	if reflect.ValueOf(src).IsNil() {
		return nil
	}
	if o, ok := c.byKey[src]; ok {
		return o
	}
	o := newObject(s, src, c.adapter)
	c.byKey[src] = o
	return o
}

// sides returns a change's before and after objects (nil for none) and
// the manifest kind used to match its Kinds filter.
func (c *objects) sides(ch diff.Change) (before, after any, kind string) {
	kind = ch.ObjectKind()
	switch ch := ch.(type) {
	case *diff.AddKeyspace:
		after = c.get(keyspaceShape, ch.Keyspace)
	case *diff.DropKeyspace:
		before = c.get(keyspaceShape, ch.Keyspace)
	case *diff.ModifyKeyspace:
		before, after = c.get(keyspaceShape, ch.From), c.get(keyspaceShape, ch.To)
	case *diff.AddTable:
		after = c.get(tableShape, ch.Table)
	case *diff.DropTable:
		before = c.get(tableShape, ch.Table)
	case *diff.ModifyTable:
		before, after = c.get(tableShape, ch.From), c.get(tableShape, ch.To)
	case *diff.CreateZnode:
		after, kind = c.get(znodeShape, ch.Znode), ch.Znode.Kind
	case *diff.UpdateZnode:
		before, after, kind = c.get(znodeShape, ch.From), c.get(znodeShape, ch.To), ch.To.Kind
	case *diff.DeleteZnode:
		before, kind = c.get(znodeShape, ch.Znode), ch.Znode.Kind
	}
	return before, after, kind
}

// change is a diff.Change with its sides, the source of a change object.
type change struct {
	ch            diff.Change
	before, after any
}

var changeShape = newShape(
	fieldOf("id", func(c *change) any { return c.ch.ID() }),
	fieldOf("action", func(c *change) any { return string(c.ch.Action()) }),
	fieldOf("kind", func(c *change) any { return c.ch.ObjectKind() }),
	fieldOf("origin", func(c *change) any { return originValue(c.ch.Origin()) }),
	fieldOf("before", func(c *change) any { return c.before }),
	fieldOf("after", func(c *change) any { return c.after }),
)

func envValue(to *state.State) map[string]any {
	dcs := make([]any, len(to.Cluster.Datacenters))
	for i, dc := range to.Cluster.Datacenters {
		dcs[i] = dc
	}
	maxZ := to.Cluster.MaxZnodeBytes
	if maxZ <= 0 {
		maxZ = DefaultMaxZnodeBytes
	}
	return map[string]any{
		"name":            to.Environment,
		"datacenters":     dcs,
		"min_replication": int64(to.Cluster.MinReplication),
		"max_replication": int64(to.Cluster.MaxReplication),
		"max_znode_bytes": int64(maxZ),
	}
}
