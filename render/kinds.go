package render

import (
	"bytes"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// origin converts a node position to a state.Origin.
func (p *problems) origin(file string, n *yaml.Node) state.Origin {
	f, l, c := p.pos(file, n)
	return state.Origin{File: f, Line: l, Column: c}
}

// builder accumulates one environment's rendered state.
type builder struct {
	p     *problems
	st    *state.State
	rules []state.Rule
	// tableRefs remembers each table's keyspace field, checked once every
	// keyspace is known.
	tableRefs []tableRef
	// droppedKeyspaces are keyspaces declared with drop: true.
	droppedKeyspaces map[string]bool
	settingsByScope  map[string]*scopeSettings
}

type tableRef struct {
	file string
	node *yaml.Node
	ks   string
	tbl  *state.Table
	drop bool
}

type scopeSettings struct {
	values map[string]state.SettingValue
	names  []string
	first  state.Origin
}

// keyspace parses a Keyspace manifest.
func (b *builder) keyspace(d *document) {
	f := mapping(b.p, d.file, "Keyspace "+d.name+" spec", d.spec)
	name := d.name
	b.checkCQLName(d.file, d.nameNode, "keyspace", name)
	drop := f.boolean("drop", false)
	ks := &state.Keyspace{Name: name, DurableWrites: f.boolean("durable_writes", true), Tables: map[string]*state.Table{}, Origin: b.p.origin(d.file, d.root)}
	if rep := f.sub("replication", "Keyspace "+name+" replication", !drop); rep != nil {
		ks.Replication = b.replication(rep)
	}
	b.allowDatacenterRemoval(d.file, f, ks)
	f.done("replication", "durable_writes", "drop", "allowDatacenterRemoval")
	if drop {
		b.st.AllowedDrops[state.KeyspaceID(name)] = ks.Origin
		b.droppedKeyspaces[name] = true
		return
	}
	b.st.Keyspaces[name] = ks
}

// allowDatacenterRemoval reads a Keyspace's spec.allowDatacenterRemoval:
// the datacenters whose removal from the replication the manifest allows
// (policy RM-POL-014 denies it otherwise). Each must be one of the
// environment's datacenters, listed once, and absent from the keyspace's
// replication: an allowance for a datacenter that is replicated to again
// must go, or it would let a later removal through unnoticed.
func (b *builder) allowDatacenterRemoval(file string, f *fields, ks *state.Keyspace) {
	dcs, nodes := f.strings("allowDatacenterRemoval")
	if len(dcs) == 0 {
		return
	}
	declared := b.st.Cluster.Datacenters
	ks.AllowDatacenterRemoval = map[string]state.Origin{}
	for i, dc := range dcs {
		n := nodes[i]
		switch {
		case !contains(declared, dc):
			b.p.at(file, n, "Keyspace %s: allowDatacenterRemoval names %q, which is not one of this environment's datacenters (%s)", ks.Name, dc, strings.Join(declared, ", "))
			continue
		case ks.AllowDatacenterRemoval[dc] != (state.Origin{}):
			b.p.at(file, n, "Keyspace %s: allowDatacenterRemoval lists %s twice", ks.Name, dc)
			continue
		case ks.Replication.Class == state.NetworkTopologyStrategy && ks.Replication.Factors[dc] > 0:
			b.p.at(file, n, "Keyspace %s: allowDatacenterRemoval names %s, which the replication still lists with factor %d: remove it from one of the two", ks.Name, dc, ks.Replication.Factors[dc])
			continue
		}
		ks.AllowDatacenterRemoval[dc] = b.p.origin(file, n)
	}
}

func (b *builder) replication(f *fields) state.Replication {
	class, classNode := f.str("class", true)
	class = strings.TrimPrefix(class, "org.apache.cassandra.locator.")
	r := state.Replication{Class: class, Factors: map[string]int{}}
	switch class {
	case state.NetworkTopologyStrategy:
		given, bad := 0, false
		for _, k := range f.order {
			if k == "class" {
				continue
			}
			given++
			rf, n, ok := f.integer(k, false)
			switch {
			case k == "replication_factor":
				b.p.at(f.file, f.key(k), "%s: with NetworkTopologyStrategy give each datacenter its factor (dc1: 3), not replication_factor", f.what)
				bad = true
			case !ok:
				bad = true // reported by integer
			case rf < 0:
				b.p.at(f.file, n, "%s: replication factor of %s is %d: want 0 (no replicas there) or more", f.what, k, rf)
				bad = true
			case rf == 0:
				// Cassandra stores no entry for a datacenter with factor 0:
				// writing dc2: 0 removes dc2 from the replication.
			default:
				r.Factors[k] = rf
			}
		}
		switch {
		case bad:
		case given == 0:
			b.p.at(f.file, f.node, "%s: NetworkTopologyStrategy needs at least one datacenter, like dc1: 3", f.what)
		case len(r.Factors) == 0:
			b.p.at(f.file, f.node, "%s: every datacenter has factor 0, so the keyspace would have no replicas: give at least one a factor above 0", f.what)
		}
	case state.SimpleStrategy:
		rf, _, _ := f.integer("replication_factor", true)
		r.Factors["replication_factor"] = rf
		f.done("class", "replication_factor")
	case "":
	default:
		b.p.at(f.file, classNode, "%s: unknown replication class %q (want NetworkTopologyStrategy or SimpleStrategy)", f.what, class)
	}
	return r
}

// table parses a Table manifest.
func (b *builder) table(d *document) {
	f := mapping(b.p, d.file, "Table "+d.name+" spec", d.spec)
	ks, ksNode := f.str("keyspace", true)
	name := d.name
	b.checkCQLName(d.file, d.nameNode, "table", name)
	t := &state.Table{Keyspace: ks, Name: name, Options: map[string]state.OptionValue{}, Origin: b.p.origin(d.file, d.root)}
	drop := f.boolean("drop", false)

	seen := map[string]*yaml.Node{}
	folded := map[string]string{}
	cols := map[string]tableColumn{}
	for _, cn := range f.list("columns") {
		cf := mapping(b.p, d.file, "Table "+name+" column", cn)
		cname, cnameNode := cf.str("name", true)
		ctype, ctypeNode := cf.str("type", true)
		static := cf.boolean("static", false)
		cdrop := cf.boolean("drop", false)
		cf.done("name", "type", "static", "drop")
		if cname == "" {
			continue
		}
		b.checkCQLName(d.file, cnameNode, "column", cname)
		if first, dup := seen[cname]; dup {
			b.p.at(d.file, cnameNode, "table %s.%s: duplicate column %q (first at line %d)", ks, name, cname, first.Line)
			continue
		}
		if first, clash := sameButCase(folded, cname, cdrop); clash {
			b.p.at(d.file, cnameNode, "table %s.%s: column %q differs from column %q (line %d) only by case: %s", ks, name, cname, first, seen[first].Line, caseClashMessage)
		}
		seen[cname] = cnameNode
		// A type Cassandra would refuse stays as written in the (partial,
		// never applied) state.
		typ, err := parseCQLType(ctype)
		norm := strings.ToLower(strings.TrimSpace(ctype))
		if err != nil && ctypeNode != nil {
			b.p.at(d.file, ctypeNode, "column %s: %v", cname, err)
		} else if err == nil {
			norm = typ.String()
		}
		cols[cname] = tableColumn{typ: typ, node: cnameNode}
		if cdrop {
			b.st.AllowedDrops[state.ColumnID(ks, name, cname)] = b.p.origin(d.file, cn)
			continue
		}
		t.Columns = append(t.Columns, state.Column{Name: cname, Type: norm, Static: static})
	}
	if len(t.Columns) == 0 && !drop {
		b.p.at(d.file, f.node, "table %s.%s: needs at least one column", ks, name)
	}

	inKey := map[string]bool{}
	useKeyColumn := func(col string, n *yaml.Node, role string) bool {
		c, ok := t.Column(col)
		switch {
		case !ok:
			b.p.at(d.file, n, "table %s.%s: %s column %q is not a declared column", ks, name, role, col)
			return false
		case inKey[col]:
			b.p.at(d.file, n, "table %s.%s: column %q appears twice in the primary key", ks, name, col)
			return false
		case c.Static:
			b.p.at(d.file, n, "table %s.%s: static column %q cannot be part of the primary key", ks, name, col)
		default:
			b.checkKeyColumn(d.file, n, t, col, role, cols[col].typ)
		}
		inKey[col] = true
		return true
	}
	if pk := f.sub("primaryKey", "Table "+name+" primaryKey", !drop); pk != nil {
		cols, nodes := pk.strings("partition")
		if len(cols) == 0 {
			b.p.at(d.file, pk.node, "table %s.%s: primaryKey.partition needs at least one column", ks, name)
		}
		for i, c := range cols {
			if useKeyColumn(c, nodes[i], "partition key") {
				t.PartitionKey = append(t.PartitionKey, c)
			}
		}
		for _, cn := range pk.list("clustering") {
			cf := mapping(b.p, d.file, "Table "+name+" clustering column", cn)
			col, colNode := cf.str("column", true)
			order, orderNode := cf.str("order", false)
			cf.done("column", "order")
			desc := false
			switch strings.ToLower(order) {
			case "", "asc":
			case "desc":
				desc = true
			default:
				b.p.at(d.file, orderNode, "clustering order %q: want asc or desc", order)
			}
			if col != "" && useKeyColumn(col, colNode, "clustering") {
				t.Clustering = append(t.Clustering, state.ClusteringColumn{Name: col, Descending: desc})
			}
		}
		pk.done("partition", "clustering")
	}
	opts := f.sub("options", "Table "+name+" options", false)
	if opts != nil {
		for _, k := range opts.order {
			b.tableOption(t, opts, k)
			b.checkTableOption(t, opts, k)
		}
		opts.done(tableOptionNames()...)
	}
	if !drop {
		b.checkTable(d.file, t, cols, opts)
	}
	f.done("keyspace", "columns", "primaryKey", "options", "drop")
	b.tableRefs = append(b.tableRefs, tableRef{file: d.file, node: ksNode, ks: ks, tbl: t, drop: drop})
}

func (b *builder) tableOption(t *state.Table, opts *fields, name string) {
	kind, known := state.TableOptions[name]
	if !known {
		return // reported by done as unknown
	}
	n := opts.get(name)
	bad := func(want string) {
		b.p.at(opts.file, n, "table %s.%s: option %s must be %s, not %s", t.Keyspace, t.Name, name, want, describe(n))
	}
	switch kind {
	case state.OptionMap:
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		m := map[string]string{}
		mf := mapping(b.p, opts.file, "option "+name, n)
		for _, k := range mf.order {
			v := mf.get(k)
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				b.p.at(opts.file, v, "table %s.%s: option %s.%s must be a scalar, not %s", t.Keyspace, t.Name, name, k, describe(v))
				continue
			}
			m[k] = v.Value
		}
		if pkg, ok := classPackages[name]; ok {
			if c, ok := m["class"]; ok && !strings.Contains(c, ".") {
				m["class"] = pkg + c
			} else if !ok && name == "compaction" {
				b.p.at(opts.file, n, "table %s.%s: option compaction needs a class", t.Keyspace, t.Name)
			}
		}
		t.Options[name] = state.OptionValue{Map: m}
	case state.OptionString:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			bad("a string")
			return
		}
		v := n.Value
		if name == "speculative_retry" || name == "additional_write_policy" {
			v = normalizeRetryPolicy(v)
		}
		t.Options[name] = state.OptionValue{Scalar: v, Quoted: true}
	case state.OptionInt:
		v, ok := intValue(n)
		if !ok || v < 0 {
			bad("a whole number ≥ 0")
			return
		}
		t.Options[name] = state.OptionValue{Scalar: strconv.Itoa(v)}
	case state.OptionFloat:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
			bad("a number")
			return
		}
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || v < 0 || v > 1 {
			b.p.at(opts.file, n, "table %s.%s: option %s must be between 0 and 1", t.Keyspace, t.Name, name)
			return
		}
		t.Options[name] = state.OptionValue{Scalar: strconv.FormatFloat(v, 'f', -1, 64)}
	case state.OptionBool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			bad("true or false")
			return
		}
		v, _ := strconv.ParseBool(n.Value)
		t.Options[name] = state.OptionValue{Scalar: strconv.FormatBool(v)}
	}
}

// normalizeRetryPolicy writes a speculative_retry or additional_write_policy
// value the way Cassandra stores it (see retryPolicy); a value Cassandra
// would refuse is returned unchanged, for checkTableOption to report.
func normalizeRetryPolicy(s string) string {
	if v, err := retryPolicy(s); err == nil {
		return v
	}
	return s
}

// resolveTables attaches tables to their keyspaces once all are parsed.
func (b *builder) resolveTables() {
	for _, r := range b.tableRefs {
		id := state.TableID(r.ks, r.tbl.Name)
		if r.drop || b.droppedKeyspaces[r.ks] {
			b.st.AllowedDrops[id] = r.tbl.Origin
			if !r.drop {
				b.p.at(r.file, r.node, "table %s.%s belongs to keyspace %s, which is marked drop: mark the table drop too, or remove it", r.ks, r.tbl.Name, r.ks)
			}
			continue
		}
		ks, ok := b.st.Keyspaces[r.ks]
		if !ok {
			if r.ks != "" {
				b.p.at(r.file, r.node, "table %s.%s: keyspace %q is not declared in this environment", r.ks, r.tbl.Name, r.ks)
			}
			continue
		}
		ks.Tables[r.tbl.Name] = r.tbl
	}
	b.checkNameCase()
}

// nodeSettings parses a NodeSettings manifest.
func (b *builder) nodeSettings(d *document) {
	f := mapping(b.p, d.file, "NodeSettings "+d.name+" spec", d.spec)
	var dc, rack, node string
	var dcNode *yaml.Node
	if sel := f.sub("selector", "NodeSettings "+d.name+" selector", false); sel != nil {
		var rackNode, nodeNode *yaml.Node
		dc, dcNode = sel.str("datacenter", false)
		rack, rackNode = sel.str("rack", false)
		node, nodeNode = sel.str("node", false)
		sel.done("datacenter", "rack", "node")
		unsafe := false
		for _, v := range []struct {
			what, value string
			n           *yaml.Node
		}{{"datacenter", dc, dcNode}, {"rack", rack, rackNode}, {"node", node, nodeNode}} {
			if v.n == nil {
				continue
			}
			if err := state.CheckSegment(v.value); err != nil {
				b.p.at(d.file, v.n, "NodeSettings %s: selector %s: %v", d.name, v.what, err)
				unsafe = true
			}
		}
		if unsafe {
			return
		}
	}
	scope, err := state.ScopeFor(dc, rack, node)
	if err != nil {
		b.p.at(d.file, f.get("selector"), "NodeSettings %s: %v", d.name, err)
		return
	}
	if dc != "" && len(b.st.Cluster.Datacenters) > 0 && !contains(b.st.Cluster.Datacenters, dc) {
		b.p.at(d.file, dcNode, "NodeSettings %s: datacenter %q is not one of this environment's datacenters (%s)", d.name, dc, strings.Join(b.st.Cluster.Datacenters, ", "))
	}
	ns := &state.NodeSettings{Name: d.name, Scope: scope, Values: map[string]state.SettingValue{}, Origin: b.p.origin(d.file, d.root)}
	settings := f.sub("settings", "NodeSettings "+d.name+" settings", true)
	f.done("selector", "settings")
	if settings == nil {
		return
	}
	known := state.SortedKeys(state.Settings)
	for _, k := range settings.order {
		n := settings.get(k)
		def, ok := state.Settings[k]
		if !ok {
			b.p.at(d.file, settings.key(k), "NodeSettings %s: unknown setting %q (known: %s)", d.name, k, strings.Join(known, ", "))
			continue
		}
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			b.p.at(d.file, n, "NodeSettings %s: setting %s must be a scalar, not %s", d.name, k, describe(n))
			continue
		}
		v, err := def.ParseSetting(n.Value)
		if err != nil {
			b.p.at(d.file, n, "NodeSettings %s: %v", d.name, err)
			continue
		}
		ns.Values[k] = state.SettingValue{Number: v, Text: n.Value, Origin: b.p.origin(d.file, n)}
	}
	b.st.Settings[d.name] = ns
	ss := b.settingsByScope[scope]
	if ss == nil {
		ss = &scopeSettings{values: map[string]state.SettingValue{}, first: ns.Origin}
		b.settingsByScope[scope] = ss
	}
	for _, k := range state.SortedKeys(ns.Values) {
		v := ns.Values[k]
		if prev, dup := ss.values[k]; dup {
			e := &Error{File: v.Origin.File, Line: v.Origin.Line, Column: v.Origin.Column,
				Message: fmt.Sprintf("NodeSettings %s: setting %s for scope %s is also set at %s", d.name, k, scope, prev.Origin)}
			b.p.add(e)
			continue
		}
		ss.values[k] = v
	}
	ss.names = append(ss.names, d.name)
}

// settingsZnodes renders one znode per settings scope:
// {"scope": ..., "settings": {name: {"value": n, "unit": u}}, "sources": [...]}.
func (b *builder) settingsZnodes() {
	for _, scope := range state.SortedKeys(b.settingsByScope) {
		ss := b.settingsByScope[scope]
		settings := map[string]any{}
		for k, v := range ss.values {
			entry := map[string]any{"value": v.Number}
			if u := state.Settings[k].Unit; u != "" {
				entry["unit"] = u
			}
			settings[k] = entry
		}
		sort.Strings(ss.names)
		payload := map[string]any{"scope": scope, "settings": settings, "sources": ss.names}
		b.putZnode(path.Join(state.SettingsDir, scope), payload, KindNodeSettings, strings.Join(ss.names, ","), ss.first)
	}
}

// featureFlag parses a FeatureFlag manifest (the flagd flag model).
func (b *builder) featureFlag(d *document) {
	f := mapping(b.p, d.file, "FeatureFlag "+d.name+" spec", d.spec)
	st, stNode := f.str("state", true)
	if st != "" && st != "ENABLED" && st != "DISABLED" {
		b.p.at(d.file, stNode, "FeatureFlag %s: state %q: want ENABLED or DISABLED", d.name, st)
	}
	flag := &state.FeatureFlag{Name: d.name, State: st, Origin: b.p.origin(d.file, d.root)}
	variantsNode := f.required("variants")
	if variantsNode != nil {
		v, _ := toValue(b.p, d.file, variantsNode).(map[string]any)
		if variantsNode.Kind != yaml.MappingNode || len(v) == 0 {
			b.p.at(d.file, variantsNode, "FeatureFlag %s: variants must be a non-empty mapping of name to value", d.name)
		} else {
			flag.Variants = v
			b.checkVariantTypes(d, variantsNode, v)
		}
	}
	flag.DefaultVariant, _ = f.str("defaultVariant", true)
	if tn := f.get("targeting"); tn != nil {
		t, ok := toValue(b.p, d.file, tn).(map[string]any)
		if !ok {
			b.p.at(d.file, tn, "FeatureFlag %s: targeting must be a JSON-logic mapping", d.name)
		} else if len(t) > 0 {
			flag.Targeting = t
			flag.Fractional = collectFractional(t, func(format string, args ...any) {
				b.p.at(d.file, tn, "FeatureFlag %s: targeting: %s", d.name, fmt.Sprintf(format, args...))
			})
		}
	}
	f.has("metadata")
	md := f.get("metadata")
	f.done("state", "variants", "defaultVariant", "targeting", "metadata")
	b.st.Flags[d.name] = flag
	payload := map[string]any{"state": flag.State, "variants": flag.Variants, "defaultVariant": flag.DefaultVariant}
	if flag.Targeting != nil {
		payload["targeting"] = flag.Targeting
	}
	if md != nil {
		payload["metadata"] = toValue(b.p, d.file, md)
	}
	b.putZnode(path.Join(state.FlagsDir, d.name), payload, KindFeatureFlag, d.name, flag.Origin)
}

// checkVariantTypes requires all variants to have one type, as flagd does.
func (b *builder) checkVariantTypes(d *document, n *yaml.Node, variants map[string]any) {
	typeOf := func(v any) string {
		switch v.(type) {
		case bool:
			return "boolean"
		case string:
			return "string"
		case int64, float64:
			return "number"
		case map[string]any:
			return "object"
		}
		return "unsupported"
	}
	var first, firstName string
	for _, k := range state.SortedKeys(variants) {
		t := typeOf(variants[k])
		if t == "unsupported" {
			b.p.at(d.file, n, "FeatureFlag %s: variant %q must be a boolean, string, number or object", d.name, k)
			continue
		}
		if first == "" {
			first, firstName = t, k
		} else if t != first {
			b.p.at(d.file, n, "FeatureFlag %s: variant %q is a %s but %q is a %s; all variants must have one type", d.name, k, t, firstName, first)
		}
	}
}

// collectFractional finds every "fractional" operation in a JSON-logic
// rule. Its arguments are [variant, weight] pairs, optionally preceded by a
// bucketing expression. Weights are whole numbers of 0 or more, as flagd
// takes them; anything else is reported through bad, never truncated.
func collectFractional(v any, bad func(format string, args ...any)) []state.FractionalSplit {
	var out []state.FractionalSplit
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range state.SortedKeys(x) {
				if args, ok := x[k].([]any); ok && k == "fractional" {
					var split state.FractionalSplit
					for _, a := range args {
						pair, ok := a.([]any)
						if !ok {
							continue // the bucketing expression
						}
						if len(pair) >= 1 {
							name, ok := pair[0].(string)
							if !ok {
								bad("fractional: variant %v must be a variant name (a string)", pair[0])
							}
							if len(pair) > 2 {
								bad("fractional: [%v, ...] has %d elements: want [variant, weight]", pair[0], len(pair))
							}
							weight := 1 // flagd's default weight
							if len(pair) >= 2 {
								switch w := pair[1].(type) {
								case int64:
									if w < 0 || w > math.MaxInt32 {
										bad("fractional: weight %d of %q: want a whole number from 0 to %d", w, name, math.MaxInt32)
									}
									weight = int(w)
								case float64:
									bad("fractional: weight %v of %q is not a whole number (weights are relative whole numbers, as in flagd)", w, name)
								default:
									bad("fractional: weight of %q must be a whole number, not %v", name, w)
								}
							}
							split.Variants = append(split.Variants, name)
							split.Weights = append(split.Weights, weight)
						}
					}
					out = append(out, split)
					continue
				}
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// configEntry parses a ConfigEntry manifest. A plain document's payload
// was worked out while loading (entryPayloadOf); one that Render changed
// is worked out here.
func (b *builder) configEntry(d *document) {
	var e entryPayload
	if d.entry != nil && !d.owned {
		e = *d.entry
		for _, err := range e.errs {
			c := *err
			b.p.add(&c)
		}
		e.data = bytes.Clone(e.data)
	} else {
		e = entryPayloadOf(b.p, d)
	}
	if e.znode == "" {
		return
	}
	b.putZnodeData(e.znode, e.data, e.err, KindConfigEntry, d.name, b.p.origin(d.file, d.root))
}

// entryPayload is what a ConfigEntry renders to, before it is put in the
// state.
type entryPayload struct {
	errs  []*Error // the problems found, when worked out ahead
	znode string   // the znode's path; "" when nothing is to be put
	data  []byte
	err   error // CanonicalJSON's
}

// entryPayloadOf works out a ConfigEntry's payload, reporting problems to
// p. It depends on the document alone, not on the environment.
func entryPayloadOf(p *problems, d *document) entryPayload {
	f := mapping(p, d.file, "ConfigEntry "+d.name+" spec", d.spec)
	zp, pNode := f.str("path", false)
	if pNode == nil {
		zp = d.name
		pNode = d.nameNode
	}
	if err := state.CheckRelPath(zp); err != nil {
		p.at(d.file, pNode, "ConfigEntry %s: %v", d.name, err)
		zp = ""
	}
	vNode := f.required("value")
	f.done("path", "value")
	if vNode == nil || zp == "" {
		return entryPayload{}
	}
	e := entryPayload{znode: path.Join(state.ConfigDir, zp)}
	e.data, e.err = CanonicalJSON(toValue(p, d.file, vNode))
	return e
}

// policy parses a Policy manifest into rules, each named
// "<policy>/<rule>".
func (b *builder) policy(d *document) {
	f := mapping(b.p, d.file, "Policy "+d.name+" spec", d.spec)
	names := map[string]bool{}
	for _, rn := range f.list("rules") {
		rf := mapping(b.p, d.file, "Policy "+d.name+" rule", rn)
		r := state.Rule{Origin: b.p.origin(d.file, rn)}
		var nameNode, sevNode, matchNode *yaml.Node
		var name, severity string
		name, nameNode = rf.str("name", true)
		r.Name = d.name + "/" + name
		r.Expression, _ = rf.str("expression", true)
		r.Message, _ = rf.str("message", true)
		severity, sevNode = rf.str("severity", false)
		r.Severity = state.Severity(severity)
		r.Match, matchNode = rf.str("match", false)
		r.Kinds, _ = rf.strings("kinds")
		rf.done("name", "expression", "message", "severity", "match", "kinds")
		if r.Severity == "" {
			r.Severity = state.SeverityDeny
		} else if !r.Severity.Valid() {
			b.p.at(d.file, sevNode, "Policy %s rule %s: severity %q: want %s or %s", d.name, name, r.Severity, state.SeverityDeny, state.SeverityWarn)
		}
		if r.Match == "" {
			r.Match = state.MatchResource
		} else if r.Match != state.MatchResource && r.Match != state.MatchChange {
			b.p.at(d.file, matchNode, "Policy %s rule %s: match %q: want %s or %s", d.name, name, r.Match, state.MatchResource, state.MatchChange)
		}
		if names[name] {
			b.p.at(d.file, nameNode, "Policy %s: duplicate rule name %q", d.name, name)
		}
		names[name] = true
		b.rules = append(b.rules, r)
	}
	f.done("rules")
}

// putZnode renders payload as canonical JSON at p, reporting a clash.
// Invariant: p is relative to the environment's root and passes
// state.CheckRelPath; whatever a kind renders, nothing lands outside the
// root.
func (b *builder) putZnode(p string, payload any, kind, name string, origin state.Origin) {
	data, err := CanonicalJSON(payload)
	b.putZnodeData(p, data, err, kind, name, origin)
}

// putZnodeData is putZnode of a payload already encoded (data, or the
// encoding's error).
func (b *builder) putZnodeData(p string, data []byte, err error, kind, name string, origin state.Origin) {
	if err := state.CheckRelPath(p); err != nil {
		b.p.add(&Error{File: origin.File, Line: origin.Line, Column: origin.Column, Message: fmt.Sprintf("%s %s: znode %v", kind, name, err)})
		return
	}
	if err != nil {
		b.p.add(&Error{File: origin.File, Line: origin.Line, Column: origin.Column, Message: fmt.Sprintf("%s %s: %v", kind, name, err)})
		return
	}
	if prev, dup := b.st.Znodes[p]; dup {
		b.p.add(&Error{File: origin.File, Line: origin.Line, Column: origin.Column,
			Message: fmt.Sprintf("%s %s renders to znode %s, which %s %s at %s renders too", kind, name, p, prev.Kind, prev.Name, prev.Origin)})
		return
	}
	b.st.Znodes[p] = &state.Znode{Path: p, Data: data, Kind: kind, Name: name, Origin: origin, Version: -1}
}
