package cassandra

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// ErrUnsupported marks a change that has no DDL: a column type change or a
// primary key change (Cassandra cannot make them in place; policies deny
// them), or an unknown change type.
var ErrUnsupported = errors.New("no DDL for this change")

// Statements returns the DDL for one change, in the order to run it. Every
// statement ends with ";" and writes keyspace, table and column names with
// state.QuoteIdentifier: quoted when they hold upper-case letters or are
// reserved words, so that Cassandra stores exactly the model's names.
//
//   - AddKeyspace: CREATE KEYSPACE IF NOT EXISTS (state.Keyspace.CreateCQL).
//   - ModifyKeyspace: ALTER KEYSPACE with the full desired replication and
//     durable_writes. Cassandra replaces the replication map: a datacenter
//     left out loses its replicas.
//   - DropKeyspace: DROP KEYSPACE IF EXISTS.
//   - AddTable: CREATE TABLE IF NOT EXISTS (state.Table.CreateCQL).
//   - DropTable: DROP TABLE IF EXISTS.
//   - ModifyTable: one ALTER TABLE ... ADD per AddColumn and ALTER TABLE
//     ... DROP per DropColumn, in the change's order, then a single ALTER
//     TABLE ... WITH for all ModifyOption changes whose To is set. An
//     AlterColumnType or ChangePrimaryKey fails the whole change with
//     ErrUnsupported, and no statement is returned.
//   - Znode changes: no statements.
func Statements(ch diff.Change) ([]string, error) {
	switch c := ch.(type) {
	case *diff.AddKeyspace:
		return []string{c.Keyspace.CreateCQL()}, nil
	case *diff.ModifyKeyspace:
		ks := c.To
		return []string{fmt.Sprintf("ALTER KEYSPACE %s WITH replication = %s AND durable_writes = %t;",
			state.QuoteIdentifier(ks.Name), ks.Replication, ks.DurableWrites)}, nil
	case *diff.DropKeyspace:
		return []string{fmt.Sprintf("DROP KEYSPACE IF EXISTS %s;", state.QuoteIdentifier(c.Keyspace.Name))}, nil
	case *diff.AddTable:
		return []string{c.Table.CreateCQL()}, nil
	case *diff.DropTable:
		return []string{fmt.Sprintf("DROP TABLE IF EXISTS %s;", state.QualifiedCQL(c.Table.Keyspace, c.Table.Name))}, nil
	case *diff.ModifyTable:
		return modifyTable(c)
	case *diff.CreateZnode, *diff.UpdateZnode, *diff.DeleteZnode:
		return nil, nil
	case nil:
		return nil, fmt.Errorf("nil change: %w", ErrUnsupported)
	default:
		return nil, fmt.Errorf("%s: change type %T: %w", ch.ID(), ch, ErrUnsupported)
	}
}

func modifyTable(c *diff.ModifyTable) ([]string, error) {
	name := c.To.Keyspace + "." + c.To.Name
	qname := state.QualifiedCQL(c.To.Keyspace, c.To.Name)
	var out, with []string
	for _, tc := range c.Changes {
		switch x := tc.(type) {
		case *diff.AddColumn:
			s := fmt.Sprintf("ALTER TABLE %s ADD %s %s", qname, state.QuoteIdentifier(x.Column.Name), x.Column.Type)
			if x.Column.Static {
				s += " STATIC"
			}
			out = append(out, s+";")
		case *diff.DropColumn:
			out = append(out, fmt.Sprintf("ALTER TABLE %s DROP %s;", qname, state.QuoteIdentifier(x.Column.Name)))
		case *diff.ModifyOption:
			if x.To != nil {
				with = append(with, fmt.Sprintf("%s = %s", x.Name, *x.To))
			}
		case *diff.AlterColumnType:
			return nil, fmt.Errorf("table %s: column %s: changing %s to %s: %w", name, x.Name, describeColumn(x.From), describeColumn(x.To), ErrUnsupported)
		case *diff.ChangePrimaryKey:
			return nil, fmt.Errorf("table %s: changing the primary key from %s to %s: %w", name, x.From, x.To, ErrUnsupported)
		default:
			return nil, fmt.Errorf("table %s: table change %T: %w", name, tc, ErrUnsupported)
		}
	}
	if len(with) > 0 {
		out = append(out, fmt.Sprintf("ALTER TABLE %s WITH %s;", qname, strings.Join(with, " AND ")))
	}
	return out, nil
}
