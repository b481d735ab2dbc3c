package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Generation is meta/generation: bumped in the last transaction of every
// apply that changed anything; readers watch only this node.
//
// Changed lists the data znodes (paths relative to the root) that the
// generation created, set or deleted, sorted, so that a reader holding the
// previous generation reads only those; ChangedAll replaces it when more
// than MaxGenerationChanges changed (or the writer did not list them): a
// reader then reads the whole data tree. A reader whose generation is not
// the previous one always reads the whole tree.
type Generation struct {
	Generation int64     `json:"generation"`
	Revision   string    `json:"revision"`
	AppliedAt  time.Time `json:"appliedAt"`
	Changed    []string  `json:"changed,omitempty"`
	ChangedAll bool      `json:"changedAll,omitempty"`
}

// MaxGenerationChanges bounds Generation.Changed.
const MaxGenerationChanges = 256

// newGeneration is the generation after prev that changed the data
// znodes at paths (relative to the root); listable is false when other
// writes since prev may be live (an apply that failed or was killed).
func newGeneration(prev Generation, revision string, at time.Time, paths []string, listable bool) Generation {
	g := Generation{Generation: prev.Generation + 1, Revision: revision, AppliedAt: at}
	if !listable || len(paths) > MaxGenerationChanges {
		g.ChangedAll = true
		return g
	}
	g.Changed = append([]string{}, paths...)
	sort.Strings(g.Changed)
	return g
}

// Inventory is meta/inventory: what ringmaster manages, with the version
// (znodes) or fingerprints (keyspaces, tables) it left them at. Only
// objects listed here may be deleted; a live object that differs from its
// entry has drifted (see driftOf). An object without an entry of its own
// (an inventory written before KeyspaceOptions and TableFingerprints
// existed) is never said to have drifted: the next apply records it.
type Inventory struct {
	// Znodes maps each managed znode to the version ringmaster left it
	// at. Stored in shards under state.InventoryShardsDir (ZnodeShards of
	// them), not in meta/inventory itself; an inventory written by an
	// earlier release holds them inline, and is read either way.
	Znodes      map[string]int32 `json:"znodes,omitempty"`
	ZnodeShards int              `json:"znodeShards,omitempty"`
	// Keyspaces maps each managed keyspace to Fingerprint of the whole
	// keyspace, its tables included: what ownership reads, and what
	// releases before per-table drift compared.
	Keyspaces map[string]string `json:"keyspaces"`
	Tables    []string          `json:"tables"`
	// KeyspaceOptions maps a managed keyspace to OptionsFingerprint (its
	// replication and durable_writes only).
	KeyspaceOptions map[string]string `json:"keyspaceOptions,omitempty"`
	// TableFingerprints maps a managed table, "ks.table", to
	// TableFingerprint.
	TableFingerprints map[string]string `json:"tableFingerprints,omitempty"`
}

// Owns tells whether the inventory lists the object with change ID id.
func (inv *Inventory) Owns(id string) bool {
	if inv == nil {
		return false
	}
	o, err := state.ParseID(id)
	if err != nil {
		return false
	}
	switch o.Kind {
	case state.KindZnode:
		_, ok := inv.Znodes[o.Path]
		return ok
	case state.KindKeyspace:
		_, ok := inv.Keyspaces[o.Keyspace]
		return ok
	case state.KindTable:
		name := o.Name()
		for _, t := range inv.Tables {
			if t == name {
				return true
			}
		}
	}
	return false
}

// Condition is a Flux-style status condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"` // "True" or "False"
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Reasons of the Ready condition.
const (
	ReasonSucceeded    = "Succeeded"
	ReasonApplyFailed  = "ApplyFailed"
	ReasonStalePlan    = "StalePlan"
	ReasonPolicyDenied = "PolicyDenied"
	ReasonLockLost     = "LockLost"
	ReasonLockTimeout  = "LockTimeout"
	ReasonInterrupted  = "Interrupted"
	// ReasonRenderFailed: the revision does not render (or its rules do
	// not compile); nothing was attempted (recorded by the controller).
	ReasonRenderFailed = "RenderFailed"
	// ReasonUntrusted: the revision is not a commit signed by a trusted
	// key; nothing was attempted (recorded by the controller).
	ReasonUntrusted = "Untrusted"
)

// Result values of one change.
const (
	ResultApplied = "applied"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
	ResultPending = "not attempted"
	// ResultUnknown: the change was sent but its outcome is not known (it
	// ran while the lock may have been lost, or its answer was lost);
	// the next apply reads the live state and corrects it.
	ResultUnknown = "unknown"
)

// ChangeResult is what happened to one change in the last run.
type ChangeResult struct {
	ID      string `json:"id"`
	Action  string `json:"action"`
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// HistoryEntry is one past run.
type HistoryEntry struct {
	Revision string    `json:"revision"`
	At       time.Time `json:"at"`
	Result   string    `json:"result"`
	Changes  int       `json:"changes"`
	Message  string    `json:"message,omitempty"`
}

// MaxHistory bounds Status.History.
const MaxHistory = 10

// Bounds of what status keeps, so that faults cannot grow it until applies
// fail: a message is cut at MaxMessageBytes, and Results keeps at most
// MaxResults entries (every failed or unknown one first).
const (
	MaxMessageBytes = 1024
	MaxResults      = 200
)

// clip cuts s to at most n bytes at a rune boundary, saying how much was
// left out.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}

// boundResults keeps every result that is not applied, skipped or pending
// first, then others, up to MaxResults, and a count of what was left out.
func boundResults(rs []ChangeResult) ([]ChangeResult, int) {
	if len(rs) <= MaxResults {
		return rs, 0
	}
	out := make([]ChangeResult, 0, MaxResults)
	for _, r := range rs {
		if r.Result == ResultFailed || r.Result == ResultUnknown {
			if len(out) < MaxResults {
				out = append(out, r)
			}
		}
	}
	for _, r := range rs {
		if r.Result != ResultFailed && r.Result != ResultUnknown && len(out) < MaxResults {
			out = append(out, r)
		}
	}
	return out, len(rs) - len(out)
}

// Status is meta/status.
type Status struct {
	Environment         string    `json:"environment"`
	LastAppliedRevision string    `json:"lastAppliedRevision"`
	LastAppliedAt       time.Time `json:"lastAppliedAt"`
	// LastAppliedBy names the process of the last successful apply.
	LastAppliedBy         string      `json:"lastAppliedBy,omitempty"`
	LastAttemptedRevision string      `json:"lastAttemptedRevision"`
	LastAttemptedAt       time.Time   `json:"lastAttemptedAt"`
	Conditions            []Condition `json:"conditions"`
	// Results of the last run, bounded (MaxResults); ResultsOmitted
	// counts those left out (applied ones go first).
	Results        []ChangeResult `json:"results"`
	ResultsOmitted int            `json:"resultsOmitted,omitempty"`
	// RepairRequired lists keyspaces whose replication changed: run
	// `nodetool repair -full <keyspace>` in the affected datacenters.
	RepairRequired []string       `json:"repairRequired"`
	History        []HistoryEntry `json:"history"`
}

// Ready returns the Ready condition, or nil.
func (s *Status) Ready() *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == "Ready" {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setReady sets the Ready condition, keeping the transition time when the
// status does not change.
func (s *Status) setReady(ok bool, reason, message string, now time.Time) {
	st := "False"
	if ok {
		st = "True"
	}
	c := Condition{Type: "Ready", Status: st, Reason: reason, Message: clip(message, MaxMessageBytes), LastTransitionTime: now}
	if prev := s.Ready(); prev != nil {
		if prev.Status == st {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		*prev = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}

func (s *Status) addHistory(e HistoryEntry) {
	e.Message = clip(e.Message, MaxMessageBytes)
	s.History = append([]HistoryEntry{e}, s.History...)
	if len(s.History) > MaxHistory {
		s.History = s.History[:MaxHistory]
	}
}

// SchemaRecord is meta/schema: the fingerprint of the managed schema and
// the revision that left it so.
type SchemaRecord struct {
	Fingerprint   string    `json:"fingerprint"`
	SchemaVersion string    `json:"schemaVersion"`
	Revision      string    `json:"revision"`
	AppliedAt     time.Time `json:"appliedAt"`
}

// Meta is the meta/ subtree as read, with each node's version (-1 absent).
type Meta struct {
	Generation Generation
	Inventory  Inventory
	Status     Status
	// LastAttempt is the last apply that could not take the lock.
	LastAttempt HistoryEntry
	// InProgress is the apply that began changing the environment and
	// has not finished, or nil: while its lock is held it is running;
	// otherwise it was killed or lost its lock.
	InProgress *InProgress
	// Suspension is the controller's suspension (meta/suspend), or nil.
	// It is not part of Versions: suspending does not make a plan stale.
	Suspension *Suspension
	// Rollout is the staged rollout of node settings (meta/rollout), or
	// nil; not part of Versions either (a rollout advancing does not make
	// a plan stale). rolloutVersion is its node's version (-1 absent).
	Rollout        *RolloutRecord
	rolloutVersion int32
	// Repairs are the repair jobs under repairs/, oldest first; not part
	// of Versions (agents update them as they work).
	Repairs []*RepairJob
	// shards are the inventory shards as read, by name.
	shards   map[string]shardState
	Versions map[string]int32
}

// readMeta decodes meta nodes from a tree read of the root's meta/ folder
// (paths relative to meta/).
func readMeta(nodes map[string]*state.Znode) (*Meta, error) {
	m := &Meta{Versions: map[string]int32{}, Inventory: Inventory{Znodes: map[string]int32{}, Keyspaces: map[string]string{}}, shards: map[string]shardState{}}
	for _, p := range []string{state.GenerationPath, state.InventoryPath, state.StatusPath, state.SchemaPath, state.AttemptPath, state.InProgressPath} {
		m.Versions[p] = -1
	}
	decode := func(p string, into any) error {
		z, ok := nodes[strings.TrimPrefix(p, state.MetaDir+"/")]
		if !ok {
			return nil
		}
		m.Versions[p] = z.Version
		if len(z.Data) == 0 {
			return nil
		}
		if err := json.Unmarshal(z.Data, into); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		return nil
	}
	for p, into := range map[string]any{state.GenerationPath: &m.Generation, state.InventoryPath: &m.Inventory, state.StatusPath: &m.Status, state.AttemptPath: &m.LastAttempt} {
		if err := decode(p, into); err != nil {
			return nil, err
		}
	}
	if z, ok := nodes[strings.TrimPrefix(state.SchemaPath, state.MetaDir+"/")]; ok {
		m.Versions[state.SchemaPath] = z.Version
	}
	if z, ok := nodes[strings.TrimPrefix(state.InProgressPath, state.MetaDir+"/")]; ok && len(z.Data) > 0 {
		m.InProgress = &InProgress{}
		if err := decode(state.InProgressPath, m.InProgress); err != nil {
			return nil, err
		}
		m.InProgress.Zxid = z.ModZxid
	}
	var err error
	if m.Suspension, err = suspensionOf(nodes); err != nil {
		return nil, err
	}
	m.rolloutVersion = -1
	if z, ok := nodes[strings.TrimPrefix(state.RolloutPath, state.MetaDir+"/")]; ok {
		m.rolloutVersion = z.Version
		if m.Rollout, err = DecodeRollout(z.Data); err != nil {
			return nil, err
		}
	}
	if m.Inventory.Znodes == nil {
		m.Inventory.Znodes = map[string]int32{}
	}
	if err := readShards(nodes, m); err != nil {
		return nil, err
	}
	if m.Inventory.Keyspaces == nil {
		m.Inventory.Keyspaces = map[string]string{}
	}
	return m, nil
}

// putOp writes v as JSON at root/rel: a create when the node is absent
// (version -1), else a set checking the version read.
func putOp(root, rel string, version int32, v any) (ZnodeOp, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ZnodeOp{}, fmt.Errorf("encode %s: %w", rel, err)
	}
	p := path.Join(root, rel)
	if version < 0 {
		return ZnodeOp{Kind: OpCreate, Path: p, Data: data}, nil
	}
	return ZnodeOp{Kind: OpSet, Path: p, Data: data, Version: version}, nil
}

// Fingerprint is a stable hash of a keyspace's definition (origin
// ignored): equal definitions have equal fingerprints.
func Fingerprint(ks *state.Keyspace) string {
	if ks == nil {
		return ""
	}
	c := *ks
	c.Origin = state.Origin{}
	tables := map[string]state.Table{}
	for name, t := range ks.Tables {
		tc := *t
		tc.Origin = state.Origin{}
		tables[name] = tc
	}
	raw, _ := json.Marshal(struct {
		K      state.Keyspace
		Tables map[string]state.Table
	}{K: state.Keyspace{Name: c.Name, Replication: c.Replication, DurableWrites: c.DurableWrites}, Tables: tables})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// schemaFingerprint hashes the fingerprints of the given keyspaces.
func schemaFingerprint(keyspaces map[string]*state.Keyspace) string {
	h := sha256.New()
	for _, name := range state.SortedKeys(keyspaces) {
		fmt.Fprintf(h, "%s=%s\n", name, Fingerprint(keyspaces[name]))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func sortStrings(s []string) { sort.Strings(s) }
