package render

import (
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// SchemaCQL returns the DDL that creates every keyspace and table of st, in
// dependency order (a keyspace before its tables), keyspaces and tables by
// name.
func SchemaCQL(st *state.State) []string {
	var out []string
	for _, name := range state.SortedKeys(st.Keyspaces) {
		ks := st.Keyspaces[name]
		out = append(out, ks.CreateCQL())
		for _, tn := range state.SortedKeys(ks.Tables) {
			out = append(out, ks.Tables[tn].CreateCQL())
		}
	}
	return out
}
