package render

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Result is one environment rendered.
type Result struct {
	// State is the target state; its Cluster comes from the Environment.
	State *state.State
	// Rules are the user policy rules in force for the environment, ready
	// for policies.Compile: each Name is "<policy>/<rule>", the declaring
	// Policy's name and the rule's; Severity and Match are filled in
	// (default state.SeverityDeny and state.MatchResource).
	Rules []state.Rule
}

// ErrUnknownEnvironment means the repository has no such environment.
var ErrUnknownEnvironment = errors.New("unknown environment")

// DefaultRoot is the ZooKeeper root of an environment that names none.
func DefaultRoot(env string) string { return "/ringmaster/" + env }

// Render renders environment env: base resources, the environment's own
// resources, patches, variables; then validates and builds the target
// state. Every problem is reported at once; a nil error means the state is
// complete and valid (policies are checked separately). With located
// problems the Result is still returned, partial: it holds what rendered,
// so that a caller can check policies over it and report those problems
// too; it must never be applied.
//
// Render stops with ctx's error when ctx ends.
func (r *Repository) Render(ctx context.Context, env string) (*Result, error) {
	ed, ok := r.envs[env]
	if !ok {
		return nil, fmt.Errorf("%w %q (this repository has: %s)", ErrUnknownEnvironment, env, strings.Join(r.Environments, ", "))
	}
	p := &problems{}
	st := state.New(env)
	vars := map[string]variable{}
	for k, v := range r.defaults {
		vars[k] = v
	}
	r.parseEnvironment(p, ed.environment, st, vars)

	// Substitution and patches work in place, and a Repository renders
	// many environments (possibly at once): a document with aliases or
	// variables is copied first, and a patched one when it is patched
	// (own). A plain document (most of them) is read where it is.
	var docs, patches []*document
	for _, group := range [][]*document{r.base, r.policies, ed.resources} {
		for _, d := range group {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("render %s stopped: %w", env, err)
			}
			c := *d
			if !c.plain {
				c.own(p) // and its spec is the copy's
			}
			if c.spec == nil {
				continue
			}
			if c.owned {
				substitute(p, c.file, c.spec, vars)
			}
			if c.kind == KindPatch {
				patches = append(patches, &c)
			} else {
				docs = append(docs, &c)
			}
		}
	}
	index := indexResources(p, docs)
	patched := map[string][]patchedField{}
	for _, pd := range patches {
		applyPatch(p, pd, index, patched)
	}

	b := &builder{p: p, st: st, droppedKeyspaces: map[string]bool{}, settingsByScope: map[string]*scopeSettings{}}
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("render %s stopped: %w", env, err)
		}
		switch d.kind {
		case KindKeyspace:
			b.keyspace(d)
		case KindTable:
			b.table(d)
		case KindNodeSettings:
			b.nodeSettings(d)
		case KindFeatureFlag:
			b.featureFlag(d)
		case KindConfigEntry:
			b.configEntry(d)
		case KindPolicy:
			b.policy(d)
		}
	}
	b.resolveTables()
	b.settingsZnodes()
	return &Result{State: st, Rules: b.rules}, p.err()
}

// own gives d its own deep copy of its nodes (aliases expanded), which
// substitution and patches may change; the Repository's stay untouched.
func (d *document) own(p *problems) {
	if d.owned {
		return
	}
	d.root = p.clone(d.root, "")
	d.spec = specOf(d.root)
	d.owned = true
}

func specOf(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "spec" {
			return root.Content[i+1]
		}
	}
	return nil
}

// resourceKey identifies a resource within an environment: kind and name,
// and for tables keyspace.name.
func resourceKey(p *problems, d *document) string {
	name := d.name
	if d.kind == KindTable {
		f := mapping(&problems{}, d.file, "", d.spec)
		if ks, _ := f.str("keyspace", false); ks != "" {
			name = ks + "." + name
		}
	}
	return d.kind + "/" + name
}

// indexResources maps resource keys to documents and reports duplicates.
func indexResources(p *problems, docs []*document) map[string]*document {
	index := map[string]*document{}
	for _, d := range docs {
		key := resourceKey(p, d)
		if prev, dup := index[key]; dup {
			p.at(d.file, d.nameNode, "duplicate %s %q: also declared at %s:%d (use a Patch to change a base resource in an environment)",
				d.kind, strings.TrimPrefix(key, d.kind+"/"), prev.file, prev.nameNode.Line)
			continue
		}
		index[key] = d
	}
	return index
}

// patchableKinds are the kinds a Patch may target: managed objects only.
// A Policy is not patchable: an environment must not be able to switch
// off the rule that denies its own change.
var patchableKinds = []string{KindKeyspace, KindTable, KindNodeSettings, KindFeatureFlag, KindConfigEntry}

// patchedField is one field a Patch sets (or deletes) in its target.
type patchedField struct {
	path  string // dotted, under spec: "replication.dc1"
	patch string // the Patch's name
	file  string
	node  *yaml.Node
}

// applyPatch merges a Patch's spec.merge into its target's spec. patched
// records, per target, the fields earlier patches set: two patches that
// set one field (or a field and a mapping around it) are an error naming
// both, not "last wins".
func applyPatch(p *problems, pd *document, index map[string]*document, patched map[string][]patchedField) {
	f := mapping(p, pd.file, "Patch "+pd.name+" spec", pd.spec)
	target := f.sub("target", "Patch "+pd.name+" target", true)
	merge := f.required("merge")
	f.done("target", "merge")
	if target == nil || merge == nil {
		return
	}
	kind, kindNode := target.str("kind", true)
	name, _ := target.str("name", true)
	target.done("kind", "name")
	if merge.Kind != yaml.MappingNode {
		p.at(pd.file, merge, "Patch %s: merge must be a mapping of spec fields", pd.name)
		return
	}
	if kind != "" && !contains(patchableKinds, kind) {
		p.at(pd.file, kindNode, "Patch %s: a %s cannot be patched: patches apply to managed objects only (%s)", pd.name, kind, strings.Join(patchableKinds, ", "))
		return
	}
	d, ok := index[kind+"/"+name]
	if !ok {
		if kind != "" && name != "" {
			p.at(pd.file, kindNode, "Patch %s: no %s named %q to patch (tables are named keyspace.table)", pd.name, kind, name)
		}
		return
	}
	key := kind + "/" + name
	conflict := false
	for _, f := range patchLeaves(merge, "") {
		f.patch, f.file = pd.name, pd.file
		for _, prev := range patched[key] {
			if prev.path == f.path || strings.HasPrefix(prev.path, f.path+".") || strings.HasPrefix(f.path, prev.path+".") {
				pf, pl, pc := p.pos(prev.file, prev.node)
				p.at(pd.file, f.node, "Patch %s sets spec.%s of %s %s, which Patch %s also sets (%s:%d:%d): a field may be patched by one Patch only", pd.name, f.path, kind, name, prev.patch, pf, pl, pc)
				conflict = true
			}
		}
		patched[key] = append(patched[key], f)
	}
	if conflict {
		return
	}
	d.own(p)
	newSpec := p.mergePatch(d.spec, merge, pd.file)
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		if d.root.Content[i].Value == "spec" {
			d.root.Content[i+1] = newSpec
		}
	}
	d.spec = newSpec
}

// patchLeaves lists the fields a merge patch sets: the paths of its
// non-mapping values (null, which deletes, included), mappings descended.
func patchLeaves(n *yaml.Node, prefix string) []patchedField {
	var out []patchedField
	n = resolveAlias(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			out = append(out, patchLeaves(v, p)...)
			continue
		}
		out = append(out, patchedField{path: p, node: k})
	}
	return out
}

// parseEnvironment reads an Environment manifest into st.Cluster and vars.
func (r *Repository) parseEnvironment(p *problems, d *document, st *state.State, vars map[string]variable) {
	f := mapping(p, d.file, "Environment "+d.name+" spec", d.spec)
	c := &st.Cluster
	c.ZooKeeperRoot = DefaultRoot(d.name)
	if cl := f.sub("cluster", "Environment "+d.name+" cluster", true); cl != nil {
		var dcNodes []*yaml.Node
		c.Datacenters, dcNodes = cl.strings("datacenters")
		seen := map[string]bool{}
		for i, dc := range c.Datacenters {
			if seen[dc] {
				p.at(d.file, dcNodes[i], "Environment %s: datacenter %q listed twice", d.name, dc)
			}
			seen[dc] = true
		}
		if len(c.Datacenters) == 0 {
			p.at(d.file, cl.node, "Environment %s: cluster.datacenters needs at least one datacenter", d.name)
		}
		if zk := cl.sub("zookeeper", "Environment "+d.name+" cluster.zookeeper", false); zk != nil {
			var serverNodes []*yaml.Node
			c.ZooKeeperServers, serverNodes = zk.strings("servers")
			refuseCredentials(p, d, "cluster.zookeeper.servers", c.ZooKeeperServers, serverNodes)
			if root, n := zk.str("root", false); n != nil {
				if err := state.CheckRoot(root); err != nil {
					p.at(d.file, n, "Environment %s: %v", d.name, err)
				}
				c.ZooKeeperRoot = root
			}
			if n, node, ok := zk.integer("maxTransactionBytes", false); ok {
				if n < state.MinTransactionBytes || n > state.MaxTransactionBytesLimit {
					p.at(d.file, node, "Environment %s: cluster.zookeeper.maxTransactionBytes is %d: want %d (64 KiB) to %d (1 MiB less 64 KiB, under ZooKeeper's jute.maxbuffer)",
						d.name, n, state.MinTransactionBytes, state.MaxTransactionBytesLimit)
				} else {
					c.MaxTransactionBytes = n
				}
			}
			if a := zk.sub("acl", "Environment "+d.name+" cluster.zookeeper.acl", false); a != nil {
				c.ACL = parseACLPolicy(p, d, a)
			}
			zk.done("servers", "root", "maxTransactionBytes", "acl")
		}
		if cs := cl.sub("cassandra", "Environment "+d.name+" cluster.cassandra", false); cs != nil {
			var cpNodes []*yaml.Node
			c.CassandraContactPoints, cpNodes = cs.strings("contactPoints")
			refuseCredentials(p, d, "cluster.cassandra.contactPoints", c.CassandraContactPoints, cpNodes)
			var ldcNode *yaml.Node
			c.LocalDatacenter, ldcNode = cs.str("localDatacenter", false)
			if c.LocalDatacenter != "" && len(c.Datacenters) > 0 && !contains(c.Datacenters, c.LocalDatacenter) {
				p.at(d.file, ldcNode, "Environment %s: localDatacenter %q is not among datacenters %s", d.name, c.LocalDatacenter, strings.Join(c.Datacenters, ", "))
			}
			cs.done("contactPoints", "localDatacenter")
		}
		cl.done("datacenters", "zookeeper", "cassandra")
	}
	if g := f.sub("guardrails", "Environment "+d.name+" guardrails", false); g != nil {
		var nodes [3]*yaml.Node
		c.MinReplication, nodes[0], _ = g.integer("minReplication", false)
		c.MaxReplication, nodes[1], _ = g.integer("maxReplication", false)
		c.MaxZnodeBytes, nodes[2], _ = g.integer("maxZnodeBytes", false)
		for i, v := range []*int{&c.MinReplication, &c.MaxReplication, &c.MaxZnodeBytes} {
			if *v < 0 {
				p.at(d.file, nodes[i], "Environment %s: guardrails.%s is %d: want 0 (no limit) or more", d.name, []string{"minReplication", "maxReplication", "maxZnodeBytes"}[i], *v)
				*v = 0
			}
		}
		g.done("minReplication", "maxReplication", "maxZnodeBytes")
		if c.MaxReplication > 0 && c.MinReplication > c.MaxReplication {
			p.at(d.file, g.node, "Environment %s: minReplication %d is above maxReplication %d", d.name, c.MinReplication, c.MaxReplication)
		}
	}
	c.Prune = f.boolean("prune", false)
	if r := f.sub("rollout", "Environment "+d.name+" rollout", false); r != nil {
		c.Rollout = parseRollout(p, d, r, c.Datacenters)
	}
	if v := f.sub("variables", "Environment "+d.name+" variables", false); v != nil {
		for _, k := range v.order {
			checkVariable(p, d.file, k, v.get(k))
			vars[k] = variable{node: v.get(k), file: d.file}
		}
	}
	f.done("cluster", "guardrails", "prune", "rollout", "variables")
}

// parseACLPolicy reads cluster.zookeeper.acl: the identities of the
// writers (at least one), agents and readers roles.
func parseACLPolicy(p *problems, d *document, a *fields) *state.ACLPolicy {
	pol := &state.ACLPolicy{}
	writers := 0
	for _, role := range []struct {
		key string
		to  *[]state.ACLIdentity
	}{{"writers", &pol.Writers}, {"agents", &pol.Agents}, {"readers", &pol.Readers}} {
		vals, nodes := a.strings(role.key)
		if role.key == "writers" {
			writers = len(vals)
		}
		for i, v := range vals {
			id, err := state.ParseACLIdentity(v)
			if err != nil {
				p.at(d.file, nodes[i], "Environment %s: cluster.zookeeper.acl.%s: %v", d.name, role.key, err)
				continue
			}
			id.Origin = state.Origin{File: d.file, Line: nodes[i].Line, Column: nodes[i].Column}
			*role.to = append(*role.to, id)
		}
	}
	if writers == 0 {
		p.at(d.file, a.node, "Environment %s: cluster.zookeeper.acl needs at least one writer (the identity ringmaster and its controller use), or no acl at all", d.name)
	}
	a.done("writers", "agents", "readers")
	return pol
}

// refuseCredentials reports an address that carries credentials
// ("user:password@host"): secrets never come from the repository.
func refuseCredentials(p *problems, d *document, field string, addrs []string, nodes []*yaml.Node) {
	for i, a := range addrs {
		if strings.Contains(a, "@") {
			p.at(d.file, nodes[i], "Environment %s: %s entry %q looks like it holds a credential (user:password@host): credentials never come from the repository; give them with --zk-auth-file or --cassandra-password-file (or their environment variables)", d.name, field, redactUserinfo(a))
		}
	}
}

// redactUserinfo hides what precedes the last "@" of an address.
func redactUserinfo(a string) string {
	return "xxxxx" + a[strings.LastIndex(a, "@"):]
}

// parseRollout reads an Environment's rollout: by datacenter or rack, the
// order of the stages (datacenters the cluster declares, or "dc/rack"), a
// pause between stages and whether a stage's nodes must be up and NORMAL.
func parseRollout(p *problems, d *document, r *fields, datacenters []string) *state.Rollout {
	ro := &state.Rollout{RequireHealthy: r.boolean("requireHealthy", true)}
	by, byNode := r.str("by", true)
	switch by {
	case "datacenter", "rack":
		ro.By = by
	case "":
	default:
		p.at(d.file, byNode, "Environment %s: rollout.by is %q: want datacenter or rack", d.name, by)
	}
	order, nodes := r.strings("order")
	seen := map[string]bool{}
	for i, key := range order {
		dc, rack, isRack := strings.Cut(key, "/")
		switch {
		case seen[key]:
			p.at(d.file, nodes[i], "Environment %s: rollout.order lists %q twice", d.name, key)
		case ro.By == "datacenter" && isRack, ro.By == "rack" && (!isRack || rack == ""):
			p.at(d.file, nodes[i], "Environment %s: rollout.order entry %q: by %s wants %s", d.name, key, ro.By, map[string]string{"datacenter": "a datacenter name", "rack": "datacenter/rack"}[ro.By])
		case len(datacenters) > 0 && !contains(datacenters, dc):
			p.at(d.file, nodes[i], "Environment %s: rollout.order entry %q: datacenter %s is not among %s", d.name, key, dc, strings.Join(datacenters, ", "))
		}
		seen[key] = true
	}
	ro.Order = order
	if pause, n := r.str("pause", false); n != nil {
		v, err := time.ParseDuration(pause)
		if err != nil || v < 0 {
			p.at(d.file, n, "Environment %s: rollout.pause %q: want a duration such as 30s or 5m", d.name, pause)
		}
		ro.Pause = v
	}
	r.done("by", "order", "pause", "requireHealthy")
	return ro
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
