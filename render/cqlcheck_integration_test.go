package render

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestCassandraAgreesWithValidate proves on the real Cassandra 5.0 cluster
// that validate and Cassandra agree:
//   - every cqlCases case validate refuses for Cassandra's sake is refused
//     by Cassandra too, for the same reason, when sent as the CQL
//     ringmaster's builders write for it (validation bypassed: render's
//     partial state on error keeps what was written);
//   - names that need quoting (reserved words, upper case, a leading digit
//     or '_') and the type and option forms render normalises round-trip:
//     created through the driver's DDL, read back with ReadSchema, they
//     diff as no change; adding and dropping such columns, and dropping
//     such tables and keyspaces, works the same way.
func TestCassandraAgreesWithValidate(t *testing.T) {
	session := itest.Cassandra(t, "dc1")
	cluster := itest.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("refused by both", func(t *testing.T) {
		ks := itest.Keyspace(t, session)
		if err := session.Query(fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}", ks)).WithContext(ctx).Exec(); err != nil {
			t.Fatal(err)
		}
		for _, c := range cqlCases {
			if c.cassandra == "" {
				continue // ringmaster's own rule (c.why): Cassandra 5.0 takes it
			}
			t.Run(c.name, func(t *testing.T) {
				repo, err := Load(ctx, repoWith(c.files()), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				res, err := repo.Render(ctx, "dev")
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("validate: %v, want %s", err, c.want)
				}
				k := res.State.Keyspaces[c.ksName()]
				if k == nil {
					t.Fatalf("no keyspace %s in the partial state", c.ksName())
				}
				var stmt string
				if c.body == "" {
					stmt = k.CreateCQL()
					if !state.SystemKeyspaces[strings.ToLower(k.Name)] {
						t.Cleanup(func() {
							_ = session.Query("DROP KEYSPACE IF EXISTS " + state.QuoteIdentifier(k.Name)).Exec()
						})
					}
				} else {
					tbl := k.Tables[c.tableName()]
					if tbl == nil {
						t.Fatalf("no table %s in the partial state", c.tableName())
					}
					tbl.Keyspace = ks
					stmt = tbl.CreateCQL()
				}
				err = session.Query(stmt).WithContext(ctx).Exec()
				var reqErr gocql.RequestError
				switch {
				case err == nil:
					t.Fatalf("Cassandra took what validate refuses:\n%s", stmt)
				case !errors.As(err, &reqErr):
					t.Fatalf("Cassandra failed without refusing (%T): %v\n%s", err, err, stmt)
				// A server error is a refusal too: Cassandra 5.0 answers an
				// unknown read_repair with its IllegalArgumentException.
				case !slices.Contains([]int{gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeConfig, gocql.ErrCodeUnauthorized, gocql.ErrCodeServer}, reqErr.Code()):
					t.Fatalf("Cassandra failed with code %#x, not a refusal: %v\n%s", reqErr.Code(), err, stmt)
				case !strings.Contains(reqErr.Message(), c.cassandra):
					t.Fatalf("Cassandra refused it for another reason: %v\nwant %q\n%s", err, c.cassandra, stmt)
				}
				t.Logf("both refuse it; Cassandra: %s", reqErr.Message())
			})
		}
	})

	t.Run("quoted names round-trip", func(t *testing.T) {
		// A test-unique name that needs quoting: itest's name (dropped
		// unquoted, harmlessly) with an upper-case first letter.
		lower := itest.Keyspace(t, session)
		name := "I" + lower[1:]
		client, err := cassandra.Connect(ctx, cassandra.Config{
			ContactPoints:          strings.Split(cluster.Spec.CassandraContactPoints(), ","),
			Port:                   cluster.Spec.Cassandra[0].NativePort,
			LocalDatacenter:        "dc1",
			Timeout:                20 * time.Second,
			SchemaAgreementTimeout: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := client.Apply(context.Background(), "DROP KEYSPACE IF EXISTS "+state.QuoteIdentifier(name)+";"); err != nil {
				t.Errorf("drop test keyspace %s: %v", name, err)
			}
			client.Close()
		})

		// Every reserved word as a column name, and names that need
		// quoting for their case or first character.
		var columns []string
		for _, w := range state.ReservedKeywords() {
			columns = append(columns, fmt.Sprintf("name: %q, type: text", w))
		}
		columns = append(columns, `name: "Key", type: "frozen<list<int>>"`, `name: "_x", type: "tuple<int, list<int>>"`,
			`name: "1st", type: "frozen<list<set<int>>>"`, `name: MixedCase, type: "frozen<vector<float, 3>>"`,
			`name: "Static", type: "set<frozen<tuple<duration>>>", static: true`, `name: vec, type: "vector<tuple<int>, 007>"`)
		files := map[string]string{
			"base/ks.yaml": "apiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: " + name + "}\nspec:\n  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n",
			"base/select.yaml": tableDoc("select", name, cols(`{partition: ["Key", "where"], clustering: [{column: "order", order: desc}, {column: "1st"}]}`, columns...)+
				"  options: {read_repair: blocking, speculative_retry: 99.50PERCENTILE, additional_write_policy: none, caching: {keys: all, rows_per_partition: 0}, compression: {class: LZ4Compressor, chunk_length_in_kb: 64}}\n"),
			"base/order.yaml": tableDoc("Order", name, cols(`{partition: ["From"], clustering: [{column: "TO"}]}`,
				`name: "From", type: int`, `name: "TO", type: "tuple<int, text>"`, `name: hits, type: counter`, `name: "Total", type: counter, static: true`)+
				"  options: {speculative_retry: \"min(50ms, 99p)\"}\n"),
		}
		repo, err := Load(ctx, repoWith(files), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := repo.Render(ctx, "dev")
		if err != nil {
			t.Fatal(err)
		}
		desired := state.New("dev")
		desired.Keyspaces[name] = res.State.Keyspaces[name]

		apply := func(t *testing.T, cs *diff.ChangeSet) {
			t.Helper()
			for _, ch := range cs.Changes {
				t.Logf("apply %s %s", ch.Action(), ch.ID())
				stmts, err := cassandra.Statements(ch)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range stmts {
					if err := client.Apply(ctx, s); err != nil {
						t.Fatal(err)
					}
				}
				if err := client.Verify(ctx, ch); err != nil {
					t.Fatal(err)
				}
			}
		}
		live := func(t *testing.T) *state.State {
			t.Helper()
			kss, err := client.ReadSchema(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st := state.New("dev")
			if ks, ok := kss[name]; ok {
				st.Keyspaces[name] = ks
			}
			return st
		}
		noChange := func(t *testing.T, from, to *state.State) {
			t.Helper()
			if cs := diff.Compute(from, to, diff.Options{}); !cs.Empty() {
				for _, ch := range cs.Changes {
					t.Errorf("left after apply: %s %s %s", ch.Action(), ch.ID(), describeChange(ch))
				}
			}
		}

		apply(t, diff.Compute(state.New("dev"), desired, diff.Options{}))
		noChange(t, live(t), desired)

		// Add a column that needs quoting, drop a reserved-word column.
		sel := desired.Keyspaces[name].Tables["select"]
		sel.Columns = slices.DeleteFunc(sel.Columns, func(c state.Column) bool { return c.Name == "token" })
		sel.Columns = append(sel.Columns, state.Column{Name: "NewCol", Type: "frozen<tuple<int, frozen<list<int>>>>"})
		apply(t, diff.Compute(live(t), desired, diff.Options{}))
		noChange(t, live(t), desired)

		// Drop the quoted table, then the quoted keyspace.
		delete(desired.Keyspaces[name].Tables, "select")
		apply(t, diff.Compute(live(t), desired, diff.Options{}))
		noChange(t, live(t), desired)
		apply(t, diff.Compute(live(t), state.New("dev"), diff.Options{}))
		if st := live(t); len(st.Keyspaces) != 0 {
			t.Errorf("keyspace %s still exists after DropKeyspace", name)
		}
	})
}

// describeChange words a schema change for a failure message.
func describeChange(ch diff.Change) string {
	if m, ok := ch.(*diff.ModifyTable); ok {
		var parts []string
		for _, tc := range m.Changes {
			parts = append(parts, fmt.Sprintf("%+v", tc))
		}
		return strings.Join(parts, "; ")
	}
	return ""
}
