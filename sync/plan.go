package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

// PlanFormat identifies the plan file's schema.
const PlanFormat = "ringmaster.io/plan/v1"

// Target is what an apply aims at: an environment's rendered state, the
// policies in force, and the revision it came from.
type Target struct {
	Desired *state.State `json:"desired"`
	Rules   []state.Rule `json:"rules"`
	Commit  string       `json:"commit"`
	// Revision labels the Git revision for people ("main (3f2a9c1)").
	Revision string `json:"revision"`
}

// Root is the environment's absolute ZooKeeper root.
func (t *Target) Root() string { return t.Desired.Cluster.ZooKeeperRoot }

// Live is the live side as read: the managed data znodes and the schema,
// as a state.State, plus the meta nodes and the cluster's datacenters.
type Live struct {
	State         *state.State
	Meta          *Meta
	SchemaVersion string
	Datacenters   []string
}

// ReadLive reads the live state of the environment rooted at root.
func ReadLive(ctx context.Context, tree Tree, schema Schema, env, root string) (*Live, error) {
	meta, err := readMetaOf(ctx, tree, root)
	if err != nil {
		return nil, err
	}
	return readLiveWith(ctx, tree, schema, env, root, meta)
}

// readMetaOf reads and decodes root's meta/ folder.
func readMetaOf(ctx context.Context, tree Tree, root string) (*Meta, error) {
	nodes, err := tree.Read(ctx, path.Join(root, state.MetaDir))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(root, state.MetaDir), err)
	}
	m, err := readMeta(nodes)
	if err != nil {
		return nil, err
	}
	if m.Repairs, _, err = ReadRepairJobs(ctx, tree, root); err != nil {
		return nil, err
	}
	return m, nil
}

// readLiveWith reads the data znodes and, at the same time, the schema,
// with meta as read.
func readLiveWith(ctx context.Context, tree Tree, schema Schema, env, root string, meta *Meta) (*Live, error) {
	sch := startSchemaRead(ctx, schema)
	data, err := tree.Read(ctx, path.Join(root, state.DataDir))
	if err != nil {
		<-sch.done
		return nil, fmt.Errorf("read znodes under %s: %w", path.Join(root, state.DataDir), err)
	}
	live := &Live{State: liveOfData(env, data), Meta: meta}
	if err := sch.into(live); err != nil {
		return nil, err
	}
	return live, nil
}

// ReadLiveCached is ReadLive with the data znodes taken from data and
// meta/'s from meta (as watched caches of <root>/data and <root>/meta
// hold them, keyed relative to each) instead of read: only the schema is
// read. A cache that lags is safe: an apply reads meta/ again under its
// lock, and a write based on a version the cache had not seen yet fails
// its version check and is reported as a stale plan.
func ReadLiveCached(ctx context.Context, schema Schema, env string, data, meta map[string]*state.Znode) (*Live, error) {
	sch := startSchemaRead(ctx, schema)
	m, err := readMeta(meta)
	if err != nil {
		<-sch.done
		return nil, err
	}
	live := &Live{State: liveOfData(env, data), Meta: m}
	if err := sch.into(live); err != nil {
		return nil, err
	}
	return live, nil
}

// liveOfData is the live state of the data znodes read under <root>/data
// (keyed relative to it). Folders (empty nodes with children, such as
// data/flags, which Write creates as parents) are structure, not managed
// objects.
func liveOfData(env string, data map[string]*state.Znode) *state.State {
	st := state.New(env)
	parents := map[string]bool{}
	for rel := range data {
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			parents[d] = true
		}
	}
	for rel, z := range data {
		if len(z.Data) == 0 && parents[rel] {
			continue
		}
		z.Path = path.Join(state.DataDir, rel)
		z.Kind = state.ZnodeKind(z.Path)
		z.Origin = state.Origin{File: "zookeeper"}
		st.Znodes[z.Path] = z
	}
	return st
}

// schemaRead is a read of the schema running beside the ZooKeeper reads:
// the two servers answer at the same time.
type schemaRead struct {
	done chan struct{} // closed when the read ended
	got  *Live         // the schema part; valid after done
	err  error
}

func startSchemaRead(ctx context.Context, schema Schema) *schemaRead {
	r := &schemaRead{done: make(chan struct{}), got: &Live{State: &state.State{}}}
	go func() {
		defer close(r.done)
		r.err = readSchema(ctx, schema, r.got)
	}()
	return r
}

// into waits for the read and fills live's schema part from it.
func (r *schemaRead) into(live *Live) error {
	<-r.done
	if r.err != nil {
		return r.err
	}
	live.State.Keyspaces, live.SchemaVersion, live.Datacenters = r.got.State.Keyspaces, r.got.SchemaVersion, r.got.Datacenters
	return nil
}

// readSchema fills live's keyspaces, schema version and datacenters from
// schema (nothing when schema is nil).
func readSchema(ctx context.Context, schema Schema, live *Live) error {
	if schema == nil {
		return nil
	}
	var err error
	if live.State.Keyspaces, err = schema.Read(ctx); err != nil {
		return fmt.Errorf("read Cassandra schema: %w", err)
	}
	if live.SchemaVersion, err = schema.Version(ctx); err != nil {
		return fmt.Errorf("read Cassandra schema version: %w", err)
	}
	if live.Datacenters, err = schema.Datacenters(ctx); err != nil {
		return fmt.Errorf("read Cassandra datacenters: %w", err)
	}
	return nil
}

// readUnderLock returns the live state an apply acts on, read under its
// lock. With pre (the state read before the lock, for the plan the user
// saw) it reads only meta/ and the schema: when no apply ran in between
// (every meta node at the version read before), the data znodes read
// before stand, and a change to one of them since fails its
// transaction's version check and is reported as a stale plan. Otherwise
// it reads everything again.
//
// unchanged tells that live is pre's state again: every meta node at the
// version read before and the same Cassandra schema version, so that an
// evaluation of pre against the same target holds for live too.
func readUnderLock(ctx context.Context, tree Tree, schema Schema, env, root string, pre *Live) (live *Live, unchanged bool, err error) {
	if pre == nil {
		live, err := ReadLive(ctx, tree, schema, env, root)
		return live, false, err
	}
	sch := startSchemaRead(ctx, schema)
	meta, err := readMetaOf(ctx, tree, root)
	if err != nil {
		<-sch.done
		return nil, false, err
	}
	if !sameMeta(pre.Meta, meta) {
		<-sch.done
		live, err := readLiveWith(ctx, tree, schema, env, root, meta)
		return live, false, err
	}
	st := state.New(env)
	for p, z := range pre.State.Znodes {
		c := *z
		st.Znodes[p] = &c
	}
	live = &Live{State: st, Meta: meta}
	if err := sch.into(live); err != nil {
		return nil, false, err
	}
	return live, live.SchemaVersion == pre.SchemaVersion, nil
}

// sameMeta tells whether every meta node (inventory shards included) is
// at the version it was: then no apply ran in between.
func sameMeta(a, b *Meta) bool {
	if a == nil || b == nil || len(a.Versions) != len(b.Versions) || len(a.shards) != len(b.shards) {
		return false
	}
	for k, v := range a.Versions {
		if b.Versions[k] != v {
			return false
		}
	}
	for k, s := range a.shards {
		if b.shards[k].version != s.version {
			return false
		}
	}
	return true
}

// Evaluation is a change set with everything said about it.
type Evaluation struct {
	Changes  *diff.ChangeSet
	Findings []policies.Finding
	// Drift annotates changes whose live object was changed outside
	// ringmaster since the last apply.
	Drift map[string][]diff.Annotation
	// Skipped are deletions left alone because the environment does not
	// prune, by change ID.
	Skipped map[string]string
}

// Codes of findings sync itself reports.
const (
	// CodeUnknownDatacenter: replication names a datacenter the live
	// cluster does not have.
	CodeUnknownDatacenter = "RM-LIVE-001"
	// CodeDrift marks an object changed outside ringmaster.
	CodeDrift = "RM-DRIFT"
)

// Evaluate diffs live against the target, with ownership from the
// inventory, and runs the policies plus the live checks. When ctx ends
// during the policy evaluation, it returns an error wrapping ctx.Err().
func Evaluate(ctx context.Context, live *Live, target *Target) (*Evaluation, error) {
	inv := &live.Meta.Inventory
	desired := target.Desired
	// Unmanaged keyspaces and znodes (not declared, not in the inventory)
	// are reported and left alone.
	live.State.Cluster = desired.Cluster
	ev, compileErr, err := evaluate(ctx, live.State, target, diff.Options{Owned: func(id string) bool {
		return inv.Owns(id)
	}})
	if err != nil {
		return nil, err
	}
	if compileErr != nil {
		// The rules in force did not compile: nothing may be applied.
		return nil, compileErr
	}
	cs := ev.Changes
	ev.Findings = append(ev.Findings, datacenterFindings(cs, live.Datacenters)...)
	ev.Findings = append(ev.Findings, repairGate(cs, live.Meta.Repairs)...)
	for _, ch := range cs.Changes {
		if ch.Action() == diff.Delete && ch.ObjectKind() == diff.KindZnode && !desired.Cluster.Prune {
			ev.Skipped[ch.ID()] = "prune is off for this environment: left alone"
		}
		if msg := driftOf(ch, live, inv); msg != "" {
			ev.Drift[ch.ID()] = append(ev.Drift[ch.ID()], diff.Annotation{Code: CodeDrift, Severity: diff.SeverityInfo, Message: msg})
		}
	}
	attributeInterrupted(ev, live)
	return ev, nil
}

// driftOf says how a changed object drifted from what the last apply left.
func driftOf(ch diff.Change, live *Live, inv *Inventory) string {
	switch c := ch.(type) {
	case *diff.UpdateZnode:
		if v, ok := inv.Znodes[c.To.Path]; ok && c.From.Version != v {
			return fmt.Sprintf("drift: changed outside ringmaster (version %d, last applied %d)", c.From.Version, v)
		}
	case *diff.DeleteZnode:
		if v, ok := inv.Znodes[c.Znode.Path]; ok && c.Znode.Version != v {
			return fmt.Sprintf("drift: changed outside ringmaster (version %d, last applied %d)", c.Znode.Version, v)
		}
	case *diff.ModifyKeyspace, *diff.ModifyTable, *diff.AddTable:
		return schemaDrift(ch, live.State, inv)
	case *diff.CreateZnode:
		if _, ok := inv.Znodes[c.Znode.Path]; ok {
			return "drift: deleted outside ringmaster"
		}
	case *diff.AddKeyspace:
		if _, ok := inv.Keyspaces[c.Keyspace.Name]; ok {
			return "drift: dropped outside ringmaster"
		}
	}
	return ""
}

// datacenterFindings denies replication to a datacenter the live cluster
// does not have.
func datacenterFindings(cs *diff.ChangeSet, dcs []string) []policies.Finding {
	if len(dcs) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, dc := range dcs {
		have[dc] = true
	}
	var out []policies.Finding
	check := func(ks *state.Keyspace) {
		if ks.Replication.Class != state.NetworkTopologyStrategy {
			return
		}
		for _, dc := range state.SortedKeys(ks.Replication.Factors) {
			if !have[dc] && ks.Replication.Factors[dc] > 0 {
				out = append(out, policies.Finding{
					Code: CodeUnknownDatacenter, Rule: "live-datacenters", Severity: policies.Deny,
					Object: state.KeyspaceID(ks.Name), Origin: ks.Origin,
					Message: fmt.Sprintf("keyspace %s: replication names datacenter %s, which the cluster does not have (it has %s)", ks.Name, dc, strings.Join(dcs, ", ")),
				})
			}
		}
	}
	for _, ch := range cs.Changes {
		switch c := ch.(type) {
		case *diff.AddKeyspace:
			check(c.Keyspace)
		case *diff.ModifyKeyspace:
			check(c.To)
		}
	}
	return out
}

// Base is what a plan was computed against; apply refuses the plan when
// any of it moved.
type Base struct {
	// Generation is meta/generation's counter (another apply moves it).
	Generation int64 `json:"generation"`
	// Znodes maps every managed or desired znode path to its version; -1:
	// absent.
	Znodes map[string]int32 `json:"znodes"`
	// Keyspaces maps every managed or desired keyspace to its fingerprint;
	// "": absent.
	Keyspaces map[string]string `json:"keyspaces"`
	// SchemaVersion is Cassandra's schema_version (for information: any
	// schema change in the cluster moves it).
	SchemaVersion string `json:"schemaVersion"`
}

// PlannedChange is one change as the plan file lists it.
type PlannedChange struct {
	ID         string   `json:"id"`
	Action     string   `json:"action"`
	Kind       string   `json:"kind"`
	Statements []string `json:"statements,omitempty"`
	Skipped    string   `json:"skipped,omitempty"`
}

// Plan is a saved change set: the target, the base it was computed
// against, and the changes. It is JSON (PlanFormat).
type Plan struct {
	Format      string             `json:"format"`
	Environment string             `json:"environment"`
	CreatedAt   time.Time          `json:"createdAt"`
	Target      Target             `json:"target"`
	Base        Base               `json:"base"`
	Changes     []PlannedChange    `json:"changes"`
	Findings    []policies.Finding `json:"findings"`
}

// captureBase records the versions of everything the plan depends on.
func captureBase(live *Live, desired *state.State) Base {
	b := Base{Generation: live.Meta.Generation.Generation, Znodes: map[string]int32{}, Keyspaces: map[string]string{}, SchemaVersion: live.SchemaVersion}
	for p := range desired.Znodes {
		b.Znodes[p] = -1
	}
	for p := range live.Meta.Inventory.Znodes {
		b.Znodes[p] = -1
	}
	for p := range b.Znodes {
		if z, ok := live.State.Znodes[p]; ok {
			b.Znodes[p] = z.Version
		}
	}
	for name := range desired.Keyspaces {
		b.Keyspaces[name] = ""
	}
	for name := range live.Meta.Inventory.Keyspaces {
		b.Keyspaces[name] = ""
	}
	for id := range desired.AllowedDrops {
		if o, err := state.ParseID(id); err == nil && o.Kind == state.KindKeyspace {
			b.Keyspaces[o.Keyspace] = ""
		}
	}
	for name := range b.Keyspaces {
		b.Keyspaces[name] = Fingerprint(live.State.Keyspaces[name])
	}
	return b
}

// NewPlan evaluates the target against live and records the base.
func NewPlan(ctx context.Context, live *Live, target *Target, schema Schema) (*Plan, *Evaluation, error) {
	ev, err := Evaluate(ctx, live, target)
	if err != nil {
		return nil, nil, err
	}
	p := &Plan{
		Format: PlanFormat, Environment: target.Desired.Environment, CreatedAt: time.Now().UTC(),
		Target: *target, Base: captureBase(live, target.Desired), Findings: ev.Findings,
	}
	for _, ch := range ev.Changes.Changes {
		pc := PlannedChange{ID: ch.ID(), Action: string(ch.Action()), Kind: ch.ObjectKind(), Skipped: ev.Skipped[ch.ID()]}
		if ch.ObjectKind() != diff.KindZnode && schema != nil {
			stmts, err := schema.Statements(ch)
			if err != nil && !policies.Denied(ev.Findings) {
				return nil, ev, fmt.Errorf("%s: %w", ch.ID(), err)
			}
			pc.Statements = stmts
		}
		p.Changes = append(p.Changes, pc)
	}
	return p, ev, nil
}

// StaleError says what moved between a plan and the live state.
type StaleError struct{ Moved []string }

// maxMovedNamed bounds how many moved objects a StaleError names.
const maxMovedNamed = 5

func (e *StaleError) Error() string {
	named := e.Moved
	more := ""
	if len(named) > maxMovedNamed {
		named = named[:maxMovedNamed]
		more = fmt.Sprintf("; and %d more", len(e.Moved)-maxMovedNamed)
	}
	return "stale plan: the live state moved since it was planned (" + strings.Join(named, "; ") + more + "); run plan again"
}

// ErrStalePlan is wrapped by every StaleError check.
var ErrStalePlan = errors.New("stale plan")

func (e *StaleError) Unwrap() error { return ErrStalePlan }

// checkBase compares a plan's base with what live holds now.
func checkBase(base Base, live *Live) error {
	var moved []string
	if g := live.Meta.Generation.Generation; g != base.Generation {
		moved = append(moved, fmt.Sprintf("generation %d at plan time, now %d (another apply ran)", base.Generation, g))
	}
	paths := make([]string, 0, len(base.Znodes))
	for p := range base.Znodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		now := int32(-1)
		if z, ok := live.State.Znodes[p]; ok {
			now = z.Version
		}
		if was := base.Znodes[p]; was != now {
			moved = append(moved, fmt.Sprintf("znode %s: %s at plan time, now %s", p, versionText(was), versionText(now)))
		}
	}
	for _, name := range state.SortedKeys(base.Keyspaces) {
		if now := Fingerprint(live.State.Keyspaces[name]); now != base.Keyspaces[name] {
			moved = append(moved, fmt.Sprintf("keyspace %s changed in Cassandra", name))
		}
	}
	if len(moved) > 0 {
		return &StaleError{Moved: moved}
	}
	return nil
}

func versionText(v int32) string {
	if v < 0 {
		return "absent"
	}
	return fmt.Sprintf("version %d", v)
}

// Save writes the plan as indented JSON to file.
func (p *Plan) Save(file string) error {
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if err := os.WriteFile(file, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// LoadPlan reads a plan file.
func LoadPlan(file string) (*Plan, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("plan %s is not a ringmaster plan: %w", file, err)
	}
	if p.Format != PlanFormat {
		return nil, fmt.Errorf("plan %s has format %q, want %s", file, p.Format, PlanFormat)
	}
	if p.Target.Desired == nil {
		return nil, fmt.Errorf("plan %s has no target state", file)
	}
	return &p, nil
}
