package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Drift is measured per object: a keyspace against the fingerprint of its
// own options, each table against its own fingerprint, so that a hand
// change to one table marks that table alone.

// OptionsFingerprint is a stable hash of a keyspace's own options
// (replication and durable_writes; not its tables, not its origin): equal
// options have equal fingerprints. "" for an absent keyspace.
func OptionsFingerprint(ks *state.Keyspace) string {
	if ks == nil {
		return ""
	}
	return shortHash(struct {
		Name          string
		Replication   state.Replication
		DurableWrites bool
	}{ks.Name, ks.Replication, ks.DurableWrites})
}

// TableFingerprint is a stable hash of a table's definition (columns, key,
// options; origin ignored): equal definitions have equal fingerprints. ""
// for an absent table.
func TableFingerprint(t *state.Table) string {
	if t == nil {
		return ""
	}
	c := *t
	c.Origin = state.Origin{}
	return shortHash(c)
}

// shortHash hashes v's JSON encoding (map keys sorted) to 24 hex digits,
// as Fingerprint does.
func shortHash(v any) string {
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// recordSchema records the per-object fingerprints of keyspace name as the
// apply left it (live, read after the apply): its options, and each table
// the target declares (desired) that live has.
func (inv *Inventory) recordSchema(name string, live, desired *state.Keyspace) {
	if live == nil || desired == nil {
		return
	}
	if inv.KeyspaceOptions == nil {
		inv.KeyspaceOptions = map[string]string{}
	}
	if inv.TableFingerprints == nil {
		inv.TableFingerprints = map[string]string{}
	}
	inv.KeyspaceOptions[name] = OptionsFingerprint(live)
	for tn := range desired.Tables {
		if t := live.Tables[tn]; t != nil {
			inv.TableFingerprints[name+"."+tn] = TableFingerprint(t)
		}
	}
}

// schemaDrift says how a schema change's live object drifted from what the
// last apply left, or "" when it did not or the inventory cannot tell (no
// entry for the object: an inventory written before per-object
// fingerprints, or an object the last apply did not manage).
func schemaDrift(ch diff.Change, live *state.State, inv *Inventory) string {
	switch c := ch.(type) {
	case *diff.ModifyKeyspace:
		if fp, ok := inv.KeyspaceOptions[c.To.Name]; ok && fp != OptionsFingerprint(live.Keyspaces[c.To.Name]) {
			return "drift: keyspace replication or durable_writes changed outside ringmaster since the last apply"
		}
	case *diff.ModifyTable:
		if fp, ok := inv.TableFingerprints[c.To.Keyspace+"."+c.To.Name]; ok && fp != TableFingerprint(c.From) {
			return "drift: table changed outside ringmaster since the last apply"
		}
	case *diff.AddTable:
		// A table dropped with its keyspace is told on the keyspace.
		t := c.Table
		if live.Keyspaces[t.Keyspace] != nil && inv.Owns(state.TableID(t.Keyspace, t.Name)) {
			return "drift: dropped outside ringmaster"
		}
	}
	return ""
}
