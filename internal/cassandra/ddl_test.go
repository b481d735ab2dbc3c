package cassandra

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

func testKeyspace() *state.Keyspace {
	return &state.Keyspace{
		Name:          "events",
		Replication:   state.Replication{Class: state.NetworkTopologyStrategy, Factors: map[string]int{"dc2": 3, "dc1": 3}},
		DurableWrites: true,
		Tables:        map[string]*state.Table{},
	}
}

func testTable() *state.Table {
	return &state.Table{
		Keyspace: "events",
		Name:     "by_user",
		Columns: []state.Column{
			{Name: "user_id", Type: "uuid"},
			{Name: "at", Type: "timestamp"},
			{Name: "owner", Type: "text", Static: true},
			{Name: "tags", Type: "set<text>"},
		},
		PartitionKey: []string{"user_id"},
		Clustering:   []state.ClusteringColumn{{Name: "at", Descending: true}},
		Options: map[string]state.OptionValue{
			"gc_grace_seconds": {Scalar: "3600"},
			"comment":          {Scalar: "it's", Quoted: true},
		},
	}
}

func opt(v state.OptionValue) *state.OptionValue { return &v }

func TestStatements(t *testing.T) {
	ks := testKeyspace()
	ks2 := testKeyspace()
	ks2.Replication.Factors["dc2"] = 1
	ks2.DurableWrites = false
	simple := testKeyspace()
	simple.Replication = state.Replication{Class: state.SimpleStrategy, Factors: map[string]int{"replication_factor": 1}}
	tbl := testTable()

	tests := []struct {
		name   string
		change diff.Change
		want   []string
	}{
		{"add keyspace", &diff.AddKeyspace{Keyspace: ks}, []string{
			"CREATE KEYSPACE IF NOT EXISTS events WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3} AND durable_writes = true;",
		}},
		{"add keyspace simple", &diff.AddKeyspace{Keyspace: simple}, []string{
			"CREATE KEYSPACE IF NOT EXISTS events WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = true;",
		}},
		{"modify keyspace", &diff.ModifyKeyspace{From: ks, To: ks2, ReplicationChanged: true, DurableWritesChanged: true}, []string{
			"ALTER KEYSPACE events WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1} AND durable_writes = false;",
		}},
		{"modify keyspace durable writes only", &diff.ModifyKeyspace{From: ks2, To: ks, DurableWritesChanged: true}, []string{
			"ALTER KEYSPACE events WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3} AND durable_writes = true;",
		}},
		{"drop keyspace", &diff.DropKeyspace{Keyspace: ks}, []string{"DROP KEYSPACE IF EXISTS events;"}},
		{"add table", &diff.AddTable{Table: tbl}, []string{
			"CREATE TABLE IF NOT EXISTS events.by_user (\n" +
				"    user_id uuid,\n" +
				"    at timestamp,\n" +
				"    owner text STATIC,\n" +
				"    tags set<text>,\n" +
				"    PRIMARY KEY ((user_id), at)\n" +
				") WITH CLUSTERING ORDER BY (at DESC)\n" +
				"    AND comment = 'it''s'\n" +
				"    AND gc_grace_seconds = 3600;",
		}},
		{"drop table", &diff.DropTable{Table: tbl}, []string{"DROP TABLE IF EXISTS events.by_user;"}},
		{"modify table", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.AddColumn{Column: state.Column{Name: "score", Type: "map<text, int>"}},
			&diff.AddColumn{Column: state.Column{Name: "region", Type: "text", Static: true}},
			&diff.DropColumn{Column: state.Column{Name: "tags", Type: "set<text>"}},
			&diff.ModifyOption{Name: "caching", To: opt(state.OptionValue{Map: map[string]string{"rows_per_partition": "10", "keys": "ALL"}})},
			&diff.ModifyOption{Name: "comment", From: opt(state.OptionValue{Scalar: "old", Quoted: true}), To: opt(state.OptionValue{Scalar: "new", Quoted: true})},
			&diff.ModifyOption{Name: "crc_check_chance", To: nil},
			&diff.ModifyOption{Name: "gc_grace_seconds", To: opt(state.OptionValue{Scalar: "60"})},
		}}, []string{
			"ALTER TABLE events.by_user ADD score map<text, int>;",
			"ALTER TABLE events.by_user ADD region text STATIC;",
			"ALTER TABLE events.by_user DROP tags;",
			"ALTER TABLE events.by_user WITH caching = {'keys': 'ALL', 'rows_per_partition': '10'} AND comment = 'new' AND gc_grace_seconds = 60;",
		}},
		{"modify table options only", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.ModifyOption{Name: "bloom_filter_fp_chance", To: opt(state.OptionValue{Scalar: "0.1"})},
		}}, []string{"ALTER TABLE events.by_user WITH bloom_filter_fp_chance = 0.1;"}},
		{"modify table nil option only", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.ModifyOption{Name: "comment"},
		}}, nil},
		{"create znode", &diff.CreateZnode{Znode: &state.Znode{Path: "data/flags/x"}}, nil},
		{"update znode", &diff.UpdateZnode{From: &state.Znode{Path: "data/flags/x"}, To: &state.Znode{Path: "data/flags/x"}}, nil},
		{"delete znode", &diff.DeleteZnode{Znode: &state.Znode{Path: "data/flags/x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Statements(tt.change)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Statements:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestStatementsUnsupported(t *testing.T) {
	tbl := testTable()
	tests := []struct {
		name   string
		change diff.Change
		want   string
	}{
		{"alter column type", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.AddColumn{Column: state.Column{Name: "score", Type: "int"}},
			&diff.AlterColumnType{Name: "tags", From: state.Column{Name: "tags", Type: "set<text>"}, To: state.Column{Name: "tags", Type: "list<text>"}},
		}}, "table events.by_user: column tags: changing tags set<text> to tags list<text>: no DDL for this change"},
		{"change primary key", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.ChangePrimaryKey{From: "PRIMARY KEY ((user_id), at)", To: "PRIMARY KEY ((user_id))"},
			&diff.ModifyOption{Name: "comment", To: opt(state.OptionValue{Scalar: "x", Quoted: true})},
		}}, "table events.by_user: changing the primary key from PRIMARY KEY ((user_id), at) to PRIMARY KEY ((user_id)): no DDL for this change"},
		{"nil change", nil, "nil change: no DDL for this change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Statements(tt.change)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant %q", err, tt.want)
			}
			if got != nil {
				t.Errorf("statements = %q, want none", got)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	got := oneLine(testTable().CreateCQL())
	if strings.Contains(got, "\\n") || !strings.HasPrefix(got, `"CREATE TABLE IF NOT EXISTS events.by_user ( user_id uuid,`) {
		t.Errorf("oneLine = %s", got)
	}
}

// TestStatementsQuoteNames: names with upper-case letters, reserved words
// and names that start with a digit are quoted in every statement, so that
// Cassandra stores them exactly; plain names stay unquoted.
func TestStatementsQuoteNames(t *testing.T) {
	ks := testKeyspace()
	ks.Name = "Events"
	tbl := &state.Table{
		Keyspace: "Events",
		Name:     "select",
		Columns: []state.Column{
			{Name: "where", Type: "uuid"},
			{Name: "At", Type: "timestamp"},
			{Name: "1st", Type: "text", Static: true},
			{Name: "key", Type: "text"},
		},
		PartitionKey: []string{"where"},
		Clustering:   []state.ClusteringColumn{{Name: "At", Descending: true}},
		Options:      map[string]state.OptionValue{"comment": {Scalar: "x", Quoted: true}},
	}
	tests := []struct {
		name   string
		change diff.Change
		want   []string
	}{
		{"add keyspace", &diff.AddKeyspace{Keyspace: ks}, []string{
			`CREATE KEYSPACE IF NOT EXISTS "Events" WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3} AND durable_writes = true;`,
		}},
		{"modify keyspace", &diff.ModifyKeyspace{From: ks, To: ks, DurableWritesChanged: true}, []string{
			`ALTER KEYSPACE "Events" WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3} AND durable_writes = true;`,
		}},
		{"drop keyspace", &diff.DropKeyspace{Keyspace: ks}, []string{`DROP KEYSPACE IF EXISTS "Events";`}},
		{"add table", &diff.AddTable{Table: tbl}, []string{
			"CREATE TABLE IF NOT EXISTS \"Events\".\"select\" (\n" +
				"    \"where\" uuid,\n" +
				"    \"At\" timestamp,\n" +
				"    \"1st\" text STATIC,\n" +
				"    key text,\n" +
				"    PRIMARY KEY ((\"where\"), \"At\")\n" +
				") WITH CLUSTERING ORDER BY (\"At\" DESC)\n" +
				"    AND comment = 'x';",
		}},
		{"drop table", &diff.DropTable{Table: tbl}, []string{`DROP TABLE IF EXISTS "Events"."select";`}},
		{"modify table", &diff.ModifyTable{From: tbl, To: tbl, Changes: []diff.TableChange{
			&diff.AddColumn{Column: state.Column{Name: "Order", Type: "int"}},
			&diff.DropColumn{Column: state.Column{Name: "token", Type: "int"}},
			&diff.ModifyOption{Name: "comment", To: opt(state.OptionValue{Scalar: "y", Quoted: true})},
		}}, []string{
			`ALTER TABLE "Events"."select" ADD "Order" int;`,
			`ALTER TABLE "Events"."select" DROP "token";`,
			`ALTER TABLE "Events"."select" WITH comment = 'y';`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Statements(tt.change)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Statements:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
