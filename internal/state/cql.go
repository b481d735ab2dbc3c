package state

import (
	"fmt"
	"strings"
)

// CreateCQL is the DDL that creates the keyspace (not its tables).
func (ks *Keyspace) CreateCQL() string {
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = %t;",
		ks.Name, ks.Replication, ks.DurableWrites)
}

// PrimaryKeyCQL renders the table's primary key clause:
// "PRIMARY KEY ((a, b), c, d)".
func (t *Table) PrimaryKeyCQL() string {
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

// ClusteringOrderCQL renders "CLUSTERING ORDER BY (c DESC, d ASC)", or ""
// without clustering columns.
func (t *Table) ClusteringOrderCQL() string {
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

// CreateCQL is the DDL that creates the table, options sorted by name.
func (t *Table) CreateCQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", t.Keyspace, t.Name)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "    %s %s", c.Name, c.Type)
		if c.Static {
			b.WriteString(" STATIC")
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "    %s\n)", t.PrimaryKeyCQL())
	var with []string
	if o := t.ClusteringOrderCQL(); o != "" {
		with = append(with, o)
	}
	for _, name := range SortedKeys(t.Options) {
		with = append(with, fmt.Sprintf("%s = %s", name, t.Options[name]))
	}
	if len(with) > 0 {
		b.WriteString(" WITH ")
		b.WriteString(strings.Join(with, "\n    AND "))
	}
	b.WriteString(";")
	return b.String()
}
