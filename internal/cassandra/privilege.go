package cassandra

import (
	"fmt"
	"strings"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// RoleStatements are the CQL statements that make role the least-privilege
// role ringmaster works as: it logs in, is no superuser (so Cassandra's
// guardrails hold for it), and may create, alter and drop keyspaces and
// tables. It reads the schema through system_schema, which every role may
// read, and nothing else: no permission to read or write any table's data.
// The password is quoted for CQL; run them as a superuser.
func RoleStatements(role, password string) []string {
	r := quoteString(role)
	return []string{
		fmt.Sprintf("CREATE ROLE IF NOT EXISTS %s WITH LOGIN = true AND SUPERUSER = false AND PASSWORD = %s;", r, quoteString(password)),
		fmt.Sprintf("GRANT CREATE ON ALL KEYSPACES TO %s;", r),
		fmt.Sprintf("GRANT ALTER ON ALL KEYSPACES TO %s;", r),
		fmt.Sprintf("GRANT DROP ON ALL KEYSPACES TO %s;", r),
	}
}

// dataPermissions are the permissions on a keyspace or table that reach
// its data (Cassandra 5.0 adds the masking ones).
var dataPermissions = []string{"SELECT", "MODIFY", "UNMASK", "SELECT_MASKED"}

// GiveUpDataPermissions are the statements by which role, having made a
// keyspace or table in ch, gives back the permissions on its data that
// Cassandra grants the creator of a resource: ringmaster manages schema,
// never the rows. Other changes need none.
func GiveUpDataPermissions(ch diff.Change, role string) []string {
	var resource string
	switch c := ch.(type) {
	case *diff.AddKeyspace:
		resource = "KEYSPACE " + state.QuoteIdentifier(c.Keyspace.Name)
	case *diff.AddTable:
		resource = "TABLE " + state.QualifiedCQL(c.Table.Keyspace, c.Table.Name)
	default:
		return nil
	}
	out := make([]string, len(dataPermissions))
	for i, p := range dataPermissions {
		out[i] = fmt.Sprintf("REVOKE %s ON %s FROM %s;", p, resource, quoteString(role))
	}
	return out
}

// quoteString is s as a CQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
