package state

import (
	"fmt"
	"strings"
)

// reservedKeywords are the words Cassandra 5.0 reserves in CQL
// (org/apache/cassandra/cql3/reserved_keywords.txt of cassandra-all 5.0),
// lower case: used as an identifier, each must be quoted. Every other
// keyword of the grammar (key, type, static, text, ...) is accepted
// unquoted as a keyspace, table or column name.
var reservedKeywords = map[string]bool{
	"add": true, "allow": true, "alter": true, "and": true, "apply": true, "asc": true,
	"authorize": true, "batch": true, "begin": true, "by": true, "columnfamily": true,
	"create": true, "delete": true, "desc": true, "describe": true, "drop": true,
	"entries": true, "execute": true, "from": true, "full": true, "grant": true, "if": true,
	"in": true, "index": true, "infinity": true, "insert": true, "into": true, "is": true,
	"keyspace": true, "limit": true, "materialized": true, "modify": true, "nan": true,
	"norecursive": true, "not": true, "null": true, "of": true, "on": true, "or": true,
	"order": true, "primary": true, "rename": true, "revoke": true, "schema": true,
	"select": true, "set": true, "table": true, "to": true, "token": true, "truncate": true,
	"unlogged": true, "update": true, "use": true, "using": true, "view": true,
	"where": true, "with": true,
}

// ReservedKeywords returns the CQL reserved words (lower case, sorted)
// that QuoteIdentifier quotes.
func ReservedKeywords() []string { return SortedKeys(reservedKeywords) }

// IsReservedKeyword tells whether name, in any case, is a CQL reserved
// word.
func IsReservedKeyword(name string) bool { return reservedKeywords[strings.ToLower(name)] }

// QuoteIdentifier writes a keyspace, table or column name as a CQL
// identifier that Cassandra reads back as exactly name: unquoted when it
// is a lower-case letter followed by lower-case letters, digits and '_'
// and not a reserved word, otherwise in double quotes (a double quote
// inside doubled). This is Cassandra's own rule (ColumnIdentifier.maybeQuote),
// so CQL ringmaster writes quotes exactly what cqlsh's DESCRIBE quotes.
// Names in the model are always the names as system_schema stores them,
// never quoted.
func QuoteIdentifier(name string) string {
	if plainIdentifier(name) && !reservedKeywords[name] {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// plainIdentifier matches [a-z][a-z0-9_]*: the identifiers CQL reads
// unquoted as themselves.
func plainIdentifier(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// QualifiedCQL writes "keyspace.table" with each part quoted as needed.
func QualifiedCQL(keyspace, table string) string {
	return QuoteIdentifier(keyspace) + "." + QuoteIdentifier(table)
}

// CreateCQL is the DDL that creates the keyspace (not its tables).
func (ks *Keyspace) CreateCQL() string {
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = %t;",
		QuoteIdentifier(ks.Name), ks.Replication, ks.DurableWrites)
}

// PrimaryKeyCQL renders the table's primary key clause:
// "PRIMARY KEY ((a, b), c, d)", names quoted as needed.
func (t *Table) PrimaryKeyCQL() string {
	var b strings.Builder
	b.WriteString("PRIMARY KEY ((")
	for i, c := range t.PartitionKey {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(QuoteIdentifier(c))
	}
	b.WriteString(")")
	for _, c := range t.Clustering {
		b.WriteString(", ")
		b.WriteString(QuoteIdentifier(c.Name))
	}
	b.WriteString(")")
	return b.String()
}

// ClusteringOrderCQL renders "CLUSTERING ORDER BY (c DESC, d ASC)", or ""
// without clustering columns; names quoted as needed.
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
		parts[i] = QuoteIdentifier(c.Name) + " " + order
	}
	return "CLUSTERING ORDER BY (" + strings.Join(parts, ", ") + ")"
}

// CreateCQL is the DDL that creates the table, options sorted by name,
// names quoted as needed.
func (t *Table) CreateCQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", QualifiedCQL(t.Keyspace, t.Name))
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "    %s %s", QuoteIdentifier(c.Name), c.Type)
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
