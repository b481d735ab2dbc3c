package render

import (
	"fmt"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// CreateKeyspaceCQL is the DDL that creates ks.
func CreateKeyspaceCQL(ks *state.Keyspace) string {
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = %t;",
		ks.Name, ks.Replication, ks.DurableWrites)
}

// PrimaryKeyCQL renders a table's primary key clause.
func PrimaryKeyCQL(t *state.Table) string {
	var b strings.Builder
	b.WriteString("PRIMARY KEY ((")
	b.WriteString(strings.Join(t.PartitionKey, ", "))
	b.WriteString(")")
	for _, c := range t.Clustering {
		b.WriteString(", ")
		b.WriteString(c.Name)
	}
	b.WriteString(")")
	return b.String()
}

// ClusteringOrderCQL renders "CLUSTERING ORDER BY (a DESC, b ASC)", or ""
// without clustering columns.
func ClusteringOrderCQL(t *state.Table) string {
	if len(t.Clustering) == 0 {
		return ""
	}
	parts := make([]string, len(t.Clustering))
	for i, c := range t.Clustering {
		order := "ASC"
		if c.Descending {
			order = "DESC"
		}
		parts[i] = c.Name + " " + order
	}
	return "CLUSTERING ORDER BY (" + strings.Join(parts, ", ") + ")"
}

// CreateTableCQL is the DDL that creates t, options sorted by name.
func CreateTableCQL(t *state.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", t.Keyspace, t.Name)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "    %s %s", c.Name, c.Type)
		if c.Static {
			b.WriteString(" STATIC")
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "    %s\n)", PrimaryKeyCQL(t))
	var with []string
	if o := ClusteringOrderCQL(t); o != "" {
		with = append(with, o)
	}
	for _, name := range state.SortedKeys(t.Options) {
		with = append(with, fmt.Sprintf("%s = %s", name, t.Options[name]))
	}
	if len(with) > 0 {
		b.WriteString(" WITH ")
		b.WriteString(strings.Join(with, "\n    AND "))
	}
	b.WriteString(";")
	return b.String()
}

// SchemaCQL returns the DDL that creates every keyspace and table of st, in
// dependency order (a keyspace before its tables), keyspaces and tables by
// name.
func SchemaCQL(st *state.State) []string {
	var out []string
	for _, name := range state.SortedKeys(st.Keyspaces) {
		ks := st.Keyspaces[name]
		out = append(out, CreateKeyspaceCQL(ks))
		for _, tn := range state.SortedKeys(ks.Tables) {
			out = append(out, CreateTableCQL(ks.Tables[tn]))
		}
	}
	return out
}
