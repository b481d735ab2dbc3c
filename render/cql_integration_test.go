package render_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/render"
)

// TestRenderedCQLRunsOnCassandra executes the DDL rendered for the examples'
// local environment on the real cluster (each keyspace under a test-unique
// name) and reads the tables back from system_schema: what render prints is
// CQL that Cassandra 5.0 accepts as written.
func TestRenderedCQLRunsOnCassandra(t *testing.T) {
	session := itest.Cassandra(t, "dc1")
	repo, err := render.Load(context.Background(), os.DirFS("../examples"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "local")
	if err != nil {
		t.Fatal(err)
	}
	st := res.State
	renamed := map[string]string{}
	for name, ks := range st.Keyspaces {
		test := itest.Keyspace(t, session)
		renamed[test] = name
		ks.Name = test
		for _, tbl := range ks.Tables {
			tbl.Keyspace = test
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, stmt := range render.SchemaCQL(st) {
		if err := session.Query(stmt).WithContext(ctx).Exec(); err != nil {
			t.Fatalf("Cassandra refused rendered CQL: %v\n%s", err, stmt)
		}
	}
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement: %v", err)
	}
	for _, ks := range st.Keyspaces {
		for _, tbl := range ks.Tables {
			var comment string
			var gcGrace int
			err := session.Query(`SELECT comment, gc_grace_seconds FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`,
				ks.Name, tbl.Name).WithContext(ctx).Scan(&comment, &gcGrace)
			if err != nil {
				t.Fatalf("read back %s.%s (from %s): %v", ks.Name, tbl.Name, renamed[ks.Name], err)
			}
			if want := tbl.Options["comment"].Scalar; comment != want {
				t.Errorf("%s.%s comment = %q, want %q", renamed[ks.Name], tbl.Name, comment, want)
			}
			if want, ok := tbl.Options["gc_grace_seconds"]; ok && want.Scalar != strconv.Itoa(gcGrace) {
				t.Errorf("%s.%s gc_grace_seconds = %d, want %s", renamed[ks.Name], tbl.Name, gcGrace, want.Scalar)
			}
			iter := session.Query(`SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`, ks.Name, tbl.Name).WithContext(ctx).Iter()
			live := map[string]string{}
			var col, typ string
			for iter.Scan(&col, &typ) {
				live[col] = typ
			}
			if err := iter.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range tbl.Columns {
				if live[c.Name] != c.Type {
					t.Errorf("%s.%s column %s: Cassandra reports type %q, render normalised %q", renamed[ks.Name], tbl.Name, c.Name, live[c.Name], c.Type)
				}
			}
		}
	}
}
