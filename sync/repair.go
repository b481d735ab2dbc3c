package sync

import (
	"context"
	"fmt"
	"strings"
)

// ReasonRepairAcknowledged is the history result of a repair need that
// someone recorded as done (or not needed) by hand.
const ReasonRepairAcknowledged = "RepairAcknowledged"

// AcknowledgeRepair records, under the environment's apply lock, that the
// repair of each keyspace is done (or not needed), by whom and why: the
// keyspaces leave RepairRequired and one history entry keeps the record.
// A keyspace that does not need a repair is an error naming those that do.
func (a *Applier) AcknowledgeRepair(ctx context.Context, env, root string, keyspaces []string, who, why string) error {
	if strings.TrimSpace(why) == "" {
		return fmt.Errorf("say why the repair need ends (a repair ran, or none is needed)")
	}
	return a.updateStatus(ctx, root, func(st *Status) error {
		need := map[string]bool{}
		for _, k := range st.RepairRequired {
			need[k] = true
		}
		for _, k := range keyspaces {
			if !need[k] {
				listed := strings.Join(st.RepairRequired, ", ")
				if listed == "" {
					listed = "none"
				}
				return fmt.Errorf("keyspace %s does not need a repair in %s (those that do: %s)", k, env, listed)
			}
			delete(need, k)
		}
		var left []string
		for _, k := range st.RepairRequired {
			if need[k] {
				left = append(left, k)
			}
		}
		st.RepairRequired = left
		st.addHistory(HistoryEntry{Revision: st.LastAppliedRevision, At: a.now(), Result: ReasonRepairAcknowledged,
			Message: fmt.Sprintf("repair of %s recorded done by %s: %s", strings.Join(keyspaces, ", "), who, why)})
		return nil
	})
}
