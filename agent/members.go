package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// ReadMembers reads every agent's membership record under root, sorted by
// datacenter, rack and node.
func ReadMembers(ctx context.Context, zc *zk.Client, root string) ([]Member, error) {
	nodes, err := zc.ReadTree(ctx, path.Join(root, state.AgentsDir))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(root, state.AgentsDir), err)
	}
	var out []Member
	for rel, n := range nodes {
		if strings.Count(rel, "/") != 2 || len(n.Data) == 0 {
			continue // <dc> and <dc>/<rack> folders
		}
		var m Member
		if err := json.Unmarshal(n.Data, &m); err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", path.Join(root, state.AgentsDir), rel, err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Datacenter+"/"+a.Rack+"/"+a.Node < b.Datacenter+"/"+b.Rack+"/"+b.Node
	})
	return out, nil
}

// Convergence counts the members at generation gen, converged, and says
// why each other one is not.
func Convergence(members []Member, gen int64) (converged int, behind []string) {
	for _, m := range members {
		if m.Converged(gen) {
			converged++
			continue
		}
		why := ""
		switch {
		case m.State == "DOWN":
			why = "node down"
			if m.Error != "" {
				why += ": " + m.Error
			}
		case m.Error != "":
			why = m.Error
		case m.Waiting != "":
			why = m.Waiting
		case m.Generation != gen:
			why = fmt.Sprintf("at generation %d", m.Generation)
		default:
			var failed []string
			for name, r := range m.Results {
				if r.Result == Failed || r.Result == Drifted {
					failed = append(failed, name+" "+r.Result+": "+r.Message)
				}
			}
			sort.Strings(failed)
			why = strings.Join(failed, "; ")
			if len(failed) == 0 {
				why = "node " + m.State + " " + m.Status
			}
		}
		behind = append(behind, fmt.Sprintf("%s (%s/%s): %s", m.Node, m.Datacenter, m.Rack, why))
	}
	return converged, behind
}
