package sync

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Rollout states.
const (
	RolloutRolling = "rolling"
	RolloutHalted  = "halted"
	RolloutDone    = "done"
)

// RolloutRecord is meta/rollout: the staged rollout of a generation's node
// settings (an environment with rollout: set). An apply that changes node
// settings writes it in its last transaction, at stage 0; the driver
// (package agent: the controller, or apply --wait) advances it stage by
// stage. Agents of a stage past Stage do not apply settings while the
// rollout is rolling or halted.
type RolloutRecord struct {
	Generation int64         `json:"generation"`
	Revision   string        `json:"revision"`
	Spec       state.Rollout `json:"spec"`
	// Stage is the stage whose agents may apply (0-based; stage
	// len(Spec.Order) holds the nodes of keys not listed).
	Stage int    `json:"stage"`
	State string `json:"state"`
	// Message says why a rollout halted, or what it waits for.
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	StageSince time.Time `json:"stageSince"`
	// ConvergedAt is when every agent of the stage reported the
	// generation applied; the next stage starts Spec.Pause later.
	ConvergedAt time.Time `json:"convergedAt,omitzero"`
	// Trace has one entry per stage begun: when it started and ended.
	Trace []StageTrace `json:"trace"`
}

// StageTrace is when one stage of a rollout ran.
type StageTrace struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Done    time.Time `json:"done,omitzero"`
}

// Stages is how many stages the rollout has.
func (r *RolloutRecord) Stages() int { return len(r.Spec.Order) + 1 }

// StageName names stage i: its key, or "the rest".
func (r *RolloutRecord) StageName(i int) string {
	if i < len(r.Spec.Order) {
		return r.Spec.Order[i]
	}
	return "the rest"
}

// Gates tells whether the rollout keeps a node of dc and rack from
// applying settings now: it is rolling or halted, at a stage before the
// node's.
func (r *RolloutRecord) Gates(dc, rack string) bool {
	return r != nil && r.State != RolloutDone && r.Spec.Stage(dc, rack) > r.Stage
}

// String reads "generation 7 by datacenter: stage 1 of 3 (dc2), rolling".
func (r *RolloutRecord) String() string {
	s := fmt.Sprintf("generation %d by %s: stage %d of %d (%s), %s", r.Generation, r.Spec.By, min(r.Stage, r.Stages()-1)+1, r.Stages(), r.StageName(min(r.Stage, r.Stages()-1)), r.State)
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// DecodeRollout decodes meta/rollout (nil data: none).
func DecodeRollout(data []byte) (*RolloutRecord, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var r RolloutRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", state.RolloutPath, err)
	}
	return &r, nil
}

// settingsChanged tells whether any of paths is a node settings znode.
func settingsChanged(paths []string) bool {
	for _, p := range paths {
		if strings.HasPrefix(p, state.SettingsDir+"/") {
			return true
		}
	}
	return false
}
