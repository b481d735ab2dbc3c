package cassandra_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

// logBuffer collects the driver's log lines; the test prints them when it
// fails.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Print(v ...any)                 { l.write(fmt.Sprint(v...)) }
func (l *logBuffer) Printf(format string, v ...any) { l.write(fmt.Sprintf(format, v...)) }
func (l *logBuffer) Println(v ...any)               { l.write(fmt.Sprintln(v...)) }
func (l *logBuffer) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(strings.TrimRight(s, "\n") + "\n")
}
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// connect opens a Client on the test cluster, closed when the test ends.
func connect(t *testing.T, c *testcluster.Cluster, localDC string, edit func(*cassandra.Config)) *cassandra.Client {
	t.Helper()
	logs := &logBuffer{}
	cfg := cassandra.Config{
		ContactPoints:          strings.Split(c.Spec.CassandraContactPoints(), ","),
		Port:                   c.Spec.Cassandra[0].NativePort,
		LocalDatacenter:        localDC,
		Timeout:                10 * time.Second,
		SchemaAgreementTimeout: 30 * time.Second,
		Logger:                 logs,
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := cassandra.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		if t.Failed() {
			t.Logf("driver log:\n%s", logs)
		}
	})
	return client
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// apply runs the change's statements with Apply, then Verify.
func apply(t *testing.T, ctx context.Context, client *cassandra.Client, ch diff.Change) {
	t.Helper()
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

func stateWith(kss ...*state.Keyspace) *state.State {
	st := state.New("test")
	for _, ks := range kss {
		st.Keyspaces[ks.Name] = ks
	}
	return st
}

// liveKeyspace reads the schema and returns the named keyspace (nil when
// absent).
func liveKeyspace(t *testing.T, ctx context.Context, client *cassandra.Client, name string) *state.Keyspace {
	t.Helper()
	kss, err := client.ReadSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for n := range kss {
		if state.SystemKeyspaces[n] {
			t.Errorf("ReadSchema returned system keyspace %s", n)
		}
	}
	return kss[name]
}

// assertInSync fails unless live matches desired for the desired keyspace.
func assertInSync(t *testing.T, ctx context.Context, client *cassandra.Client, desired *state.Keyspace) {
	t.Helper()
	live := liveKeyspace(t, ctx, client, desired.Name)
	if live == nil {
		t.Fatalf("keyspace %s not in ReadSchema", desired.Name)
	}
	cs := diff.Compute(stateWith(live), stateWith(desired), diff.Options{})
	if !cs.Empty() {
		var b strings.Builder
		if err := diff.EncodeText(&b, cs, diff.EncodeOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("live %s differs from desired:\n%s", desired.Name, b.String())
	}
}

func nts(factors map[string]int) state.Replication {
	return state.Replication{Class: state.NetworkTopologyStrategy, Factors: factors}
}

func newKeyspace(name string, tables ...*state.Table) *state.Keyspace {
	ks := &state.Keyspace{Name: name, Replication: nts(map[string]int{"dc1": 1, "dc2": 1}), DurableWrites: true, Tables: map[string]*state.Table{}}
	for _, t := range tables {
		t.Keyspace = name
		ks.Tables[t.Name] = t
	}
	return ks
}

func quoted(s string) state.OptionValue { return state.OptionValue{Scalar: s, Quoted: true} }
func scalar(s string) state.OptionValue { return state.OptionValue{Scalar: s} }
func mapOpt(kv ...string) state.OptionValue {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return state.OptionValue{Map: m}
}

// realisticTables are tables as render gives them: canonical types, map
// options with fully qualified classes.
func realisticTables() []*state.Table {
	events := &state.Table{
		Name: "events",
		Columns: []state.Column{
			{Name: "tenant", Type: "text"},
			{Name: "day", Type: "date"},
			{Name: "at", Type: "timestamp"},
			{Name: "id", Type: "timeuuid"},
			{Name: "owner", Type: "text", Static: true},
			{Name: "tags", Type: "set<text>"},
			{Name: "attrs", Type: "map<text, int>"},
			{Name: "history", Type: "list<frozen<tuple<int, text>>>"},
			{Name: "location", Type: "frozen<tuple<double, double>>"},
			{Name: "embedding", Type: "vector<float, 8>"},
			{Name: "payload", Type: "blob"},
			{Name: "amount", Type: "decimal"},
			{Name: "source", Type: "inet"},
			{Name: "nested", Type: "map<text, frozen<list<int>>>"},
		},
		PartitionKey: []string{"tenant", "day"},
		Clustering:   []state.ClusteringColumn{{Name: "at", Descending: true}, {Name: "id"}},
		Options: map[string]state.OptionValue{
			"compaction": mapOpt("class", "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
				"compaction_window_unit", "DAYS", "compaction_window_size", "1", "max_threshold", "32", "min_threshold", "4"),
			"compression":                 mapOpt("class", "org.apache.cassandra.io.compress.ZstdCompressor", "chunk_length_in_kb", "64"),
			"caching":                     mapOpt("keys", "ALL", "rows_per_partition", "10"),
			"comment":                     quoted("tenant's events, newest first"),
			"gc_grace_seconds":            scalar("3600"),
			"default_time_to_live":        scalar("2592000"),
			"bloom_filter_fp_chance":      scalar("0.05"),
			"crc_check_chance":            scalar("0.5"),
			"speculative_retry":           quoted("95p"),
			"additional_write_policy":     quoted("99p"),
			"memtable_flush_period_in_ms": scalar("0"),
			"min_index_interval":          scalar("64"),
			"max_index_interval":          scalar("1024"),
			"read_repair":                 quoted("NONE"),
			"cdc":                         scalar("false"),
		},
	}
	counters := &state.Table{
		Name:         "counters",
		Columns:      []state.Column{{Name: "page", Type: "text"}, {Name: "views", Type: "counter"}, {Name: "likes", Type: "counter"}},
		PartitionKey: []string{"page"},
		Options:      map[string]state.OptionValue{"comment": quoted("page counters"), "speculative_retry": quoted("ALWAYS")},
	}
	plain := &state.Table{
		Name:         "plain",
		Columns:      []state.Column{{Name: "k", Type: "uuid"}, {Name: "v", Type: "text"}},
		PartitionKey: []string{"k"},
		Options:      map[string]state.OptionValue{},
	}
	return []*state.Table{events, counters, plain}
}

// TestRoundTrip is the contract between render and this package: a
// keyspace created from desired state through Statements and Apply reads
// back through ReadSchema so that diff.Compute(live, desired) is empty.
func TestRoundTrip(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 3*time.Minute)
	desired := newKeyspace(name, realisticTables()...)

	cs := diff.Compute(nil, stateWith(desired), diff.Options{})
	if len(cs.Changes) != 1+len(desired.Tables) {
		t.Fatalf("want one AddKeyspace and %d AddTable, got %d changes", len(desired.Tables), len(cs.Changes))
	}
	for _, ch := range cs.Changes {
		apply(t, ctx, client, ch)
	}
	assertInSync(t, ctx, client, desired)

	live := liveKeyspace(t, ctx, client, name)
	if live.Origin != cassandra.LiveOrigin || live.Tables["events"].Origin != cassandra.LiveOrigin {
		t.Errorf("origins %v, %v", live.Origin, live.Tables["events"].Origin)
	}
	ev := live.Tables["events"]
	if got, want := ev.PrimaryKeyCQL()+" "+ev.ClusteringOrderCQL(), "PRIMARY KEY ((tenant, day), at, id) CLUSTERING ORDER BY (at DESC, id ASC)"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	// Live tables carry every option; desired ones set a few.
	if n := len(live.Tables["plain"].Options); n != 15 {
		t.Errorf("plain table has %d options, want all 15: %v", n, live.Tables["plain"].Options)
	}
	// Applying the CREATE statements again changes nothing (IF NOT EXISTS).
	for _, ch := range cs.Changes {
		apply(t, ctx, client, ch)
	}
}

// TestReadSchemaDefaults documents what Cassandra 5.0 stores for options a
// table leaves out: what a manifest must write to match a live default.
func TestReadSchemaDefaults(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 2*time.Minute)
	ks := newKeyspace(name, &state.Table{Name: "t", Columns: []state.Column{{Name: "k", Type: "int"}}, PartitionKey: []string{"k"}})
	apply(t, ctx, client, &diff.AddKeyspace{Keyspace: ks})
	apply(t, ctx, client, &diff.AddTable{Table: ks.Tables["t"]})
	live := liveKeyspace(t, ctx, client, name).Tables["t"]
	want := map[string]string{
		"additional_write_policy":     "'99p'",
		"bloom_filter_fp_chance":      "0.01",
		"caching":                     "{'keys': 'ALL', 'rows_per_partition': 'NONE'}",
		"cdc":                         "false",
		"comment":                     "''",
		"compaction":                  "{'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'}",
		"compression":                 "{'chunk_length_in_kb': '16', 'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}",
		"crc_check_chance":            "1",
		"default_time_to_live":        "0",
		"gc_grace_seconds":            "864000",
		"max_index_interval":          "2048",
		"memtable_flush_period_in_ms": "0",
		"min_index_interval":          "128",
		"read_repair":                 "'BLOCKING'",
		"speculative_retry":           "'99p'",
	}
	got := map[string]string{}
	for k, v := range live.Options {
		got[k] = v.String()
	}
	for _, k := range state.SortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("option %s = %s, want %s", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("options %v", got)
	}
}

// TestModifyKeyspace changes dc2's replication factor and durable_writes,
// and back. With one node per datacenter, RF 2 is accepted for a schema
// change (writes at LOCAL_QUORUM would fail; none are made).
func TestModifyKeyspace(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 2*time.Minute)
	from := newKeyspace(name)
	apply(t, ctx, client, &diff.AddKeyspace{Keyspace: from})
	before, err := client.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	to := newKeyspace(name)
	to.Replication.Factors["dc2"] = 2
	to.DurableWrites = false
	cs := diff.Compute(stateWith(liveKeyspace(t, ctx, client, name)), stateWith(to), diff.Options{})
	if len(cs.Changes) != 1 {
		t.Fatalf("changes %v", cs.Changes)
	}
	mk, ok := cs.Changes[0].(*diff.ModifyKeyspace)
	if !ok || !mk.ReplicationChanged || !mk.DurableWritesChanged {
		t.Fatalf("change %#v", cs.Changes[0])
	}
	apply(t, ctx, client, mk)
	assertInSync(t, ctx, client, to)
	after, err := client.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before == "" || after == "" || before == after {
		t.Errorf("schema version before %q, after %q: want two different versions", before, after)
	}

	// Verify sees a change that did not happen.
	if err := client.Verify(ctx, &diff.ModifyKeyspace{From: to, To: from, ReplicationChanged: true, DurableWritesChanged: true}); !errors.Is(err, cassandra.ErrMismatch) ||
		!strings.Contains(err.Error(), "replication is {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 2}, want {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}; durable_writes is false, want true") {
		t.Errorf("Verify of an unapplied change: %v", err)
	}

	// Back, and dc2 out of replication altogether.
	apply(t, ctx, client, &diff.ModifyKeyspace{From: to, To: from, ReplicationChanged: true, DurableWritesChanged: true})
	assertInSync(t, ctx, client, from)
	dc1Only := newKeyspace(name)
	dc1Only.Replication = nts(map[string]int{"dc1": 1})
	apply(t, ctx, client, &diff.ModifyKeyspace{From: from, To: dc1Only, ReplicationChanged: true})
	assertInSync(t, ctx, client, dc1Only)
}

// TestModifyTable adds and drops columns and changes options.
func TestModifyTable(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc2", nil) // coordinated from dc2 this time
	ctx := ctxFor(t, 2*time.Minute)
	tbl := &state.Table{
		Name:         "users",
		Columns:      []state.Column{{Name: "id", Type: "uuid"}, {Name: "bucket", Type: "int"}, {Name: "email", Type: "text"}, {Name: "legacy", Type: "text"}},
		PartitionKey: []string{"id"},
		Clustering:   []state.ClusteringColumn{{Name: "bucket"}},
		Options:      map[string]state.OptionValue{"comment": quoted("v1"), "gc_grace_seconds": scalar("864000")},
	}
	ks := newKeyspace(name, tbl)
	apply(t, ctx, client, &diff.AddKeyspace{Keyspace: ks})
	apply(t, ctx, client, &diff.AddTable{Table: tbl})

	to := *tbl
	to.Columns = []state.Column{
		{Name: "id", Type: "uuid"}, {Name: "bucket", Type: "int"}, {Name: "email", Type: "text"},
		{Name: "plan", Type: "text", Static: true}, {Name: "logins", Type: "list<timestamp>"},
	}
	to.Options = map[string]state.OptionValue{
		"comment":          quoted("v2: it's plans"),
		"gc_grace_seconds": scalar("7200"),
		"compaction":       mapOpt("class", "org.apache.cassandra.db.compaction.LeveledCompactionStrategy", "sstable_size_in_mb", "160", "max_threshold", "32", "min_threshold", "4"),
		"caching":          mapOpt("keys", "NONE", "rows_per_partition", "ALL"),
	}
	toKS := newKeyspace(name, &to)
	live := liveKeyspace(t, ctx, client, name)
	cs := diff.Compute(stateWith(live), stateWith(toKS), diff.Options{})
	if len(cs.Changes) != 1 {
		t.Fatalf("changes %v", cs.Changes)
	}
	mt := cs.Changes[0].(*diff.ModifyTable)
	stmts, err := cassandra.Statements(mt)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 4 { // ADD plan, ADD logins, DROP legacy, WITH ...
		t.Errorf("statements %q", stmts)
	}
	apply(t, ctx, client, mt)
	assertInSync(t, ctx, client, toKS)

	// Verify a change that was not applied: a missing column and an
	// option with another value.
	err = client.Verify(ctx, &diff.ModifyTable{From: &to, To: &to, Changes: []diff.TableChange{
		&diff.AddColumn{Column: state.Column{Name: "nope", Type: "int"}},
		&diff.ModifyOption{Name: "gc_grace_seconds", To: &state.OptionValue{Scalar: "1"}},
	}})
	if !errors.Is(err, cassandra.ErrMismatch) || !strings.Contains(err.Error(), "column nope int is missing; option gc_grace_seconds is 7200, want 1") {
		t.Errorf("Verify of an unapplied change: %v", err)
	}

	// Cassandra refuses to add a counter to a regular table: Apply names
	// the statement and the coordinator.
	err = client.Apply(ctx, "ALTER TABLE "+name+".users ADD n counter;")
	var reqErr gocql.RequestError
	if !errors.As(err, &reqErr) || !strings.Contains(err.Error(), `apply "ALTER TABLE `+name+`.users ADD n counter;": 127.0.0.2:9042 (dc2) refused it: `) {
		t.Errorf("Apply of a refused statement: %v", err)
	}
}

// TestDrop drops a table, then the keyspace.
func TestDrop(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 2*time.Minute)
	ks := newKeyspace(name, realisticTables()[1:]...)
	for _, ch := range diff.Compute(nil, stateWith(ks), diff.Options{}).Changes {
		apply(t, ctx, client, ch)
	}
	if err := client.Verify(ctx, &diff.DropTable{Table: ks.Tables["plain"]}); !errors.Is(err, cassandra.ErrMismatch) {
		t.Errorf("Verify of a drop not done: %v", err)
	}
	apply(t, ctx, client, &diff.DropTable{Table: ks.Tables["plain"]})
	live := liveKeyspace(t, ctx, client, name)
	if _, ok := live.Tables["plain"]; ok || len(live.Tables) != 1 {
		t.Errorf("tables after drop: %v", state.SortedKeys(live.Tables))
	}
	apply(t, ctx, client, &diff.DropKeyspace{Keyspace: ks})
	if live := liveKeyspace(t, ctx, client, name); live != nil {
		t.Errorf("keyspace %s still read after the drop", name)
	}
	// Dropping again is harmless (IF EXISTS), and so is verifying a table
	// drop once its keyspace is gone.
	apply(t, ctx, client, &diff.DropKeyspace{Keyspace: ks})
	apply(t, ctx, client, &diff.DropTable{Table: ks.Tables["counters"]})
}

func TestDatacentersAndSchemaVersion(t *testing.T) {
	c := itest.Cluster(t)
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, time.Minute)
	dcs, err := client.Datacenters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(c.Spec.Datacenters()))
	if !slices.Equal(dcs, want) || !slices.Equal(dcs, []string{"dc1", "dc2"}) {
		t.Errorf("Datacenters = %v, want %v", dcs, want)
	}
	v, err := client.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gocql.ParseUUID(v); err != nil {
		t.Errorf("SchemaVersion %q: %v", v, err)
	}
}

// TestUnknownDatacenter: Cassandra 5.0 refuses NetworkTopologyStrategy
// with a datacenter it does not know ("Unrecognized strategy option
// {dc9}"), in CREATE and in ALTER; Apply names the statement and lists the
// cluster's datacenters.
func TestUnknownDatacenter(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 2*time.Minute)
	bad := newKeyspace(name)
	bad.Replication.Factors["dc9"] = 1

	check := func(ch diff.Change) {
		t.Helper()
		stmts, err := cassandra.Statements(ch)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = client.Apply(ctx, stmts[0])
		if err == nil {
			t.Fatalf("Apply %s: no error", stmts[0])
		}
		t.Logf("%s: %v", time.Since(start).Round(time.Millisecond), err)
		var reqErr gocql.RequestError
		if !errors.As(err, &reqErr) {
			t.Errorf("error %v does not wrap a gocql.RequestError", err)
		}
		for _, want := range []string{
			fmt.Sprintf("apply %q", stmts[0]),
			"127.0.0.1:9042 (dc1) refused it",
			"Unrecognized strategy option {dc9} passed to NetworkTopologyStrategy for keyspace " + name,
			"(the cluster's datacenters are dc1, dc2)",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	}
	check(&diff.AddKeyspace{Keyspace: bad})
	if live := liveKeyspace(t, ctx, client, name); live != nil {
		t.Fatalf("keyspace %s exists after a refused CREATE", name)
	}
	good := newKeyspace(name)
	apply(t, ctx, client, &diff.AddKeyspace{Keyspace: good})
	check(&diff.ModifyKeyspace{From: good, To: bad, ReplicationChanged: true})
	assertInSync(t, ctx, client, good)
}

// TestNodeDownDuringDDL stops cass2 (dc2) and runs DDL through a client
// whose contact points include it: the statement runs on cass1, schema
// agreement cannot be reached, and Apply fails within its bounds naming the
// node that is down. Once cass2 is back, the change has reached it without
// being repeated.
func TestNodeDownDuringDDL(t *testing.T) {
	c := itest.Disruptive(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	const (
		timeout   = 5 * time.Second
		agreement = 10 * time.Second
	)
	client := connect(t, c, "dc2", func(cfg *cassandra.Config) {
		cfg.Timeout = timeout
		cfg.SchemaAgreementTimeout = agreement
	})
	ctx := ctxFor(t, 10*time.Minute)
	ks := newKeyspace(name, realisticTables()...)
	apply(t, ctx, client, &diff.AddKeyspace{Keyspace: ks})

	node, _ := c.Spec.CassandraByName("cass2")
	stopped := time.Now()
	restart := itest.StopServer(t, c, node.Name)
	t.Logf("stopped %s in %s", node.Name, time.Since(stopped).Round(time.Millisecond))

	// A client that knows only the stopped node cannot connect, and says
	// where it tried.
	start := time.Now()
	_, err := cassandra.Connect(ctx, cassandra.Config{ContactPoints: []string{node.Address}, Port: node.NativePort, Timeout: timeout})
	if err == nil || !strings.Contains(err.Error(), "connect to Cassandra at "+node.CQLAddress()+": ") {
		t.Errorf("Connect to the stopped node only: %v", err)
	}
	t.Logf("Connect to %s alone failed in %s: %v", node.Name, time.Since(start).Round(time.Millisecond), err)

	// DDL: the local datacenter (dc2) is down, so cass1 coordinates.
	tbl := ks.Tables["events"]
	stmts, err := cassandra.Statements(&diff.AddTable{Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = client.Apply(ctx, stmts[0])
	took := time.Since(start)
	t.Logf("Apply with %s down failed in %s: %v", node.Name, took.Round(time.Millisecond), err)
	if !errors.Is(err, cassandra.ErrSchemaDisagreement) {
		t.Fatalf("Apply with %s down: %v, want ErrSchemaDisagreement", node.Name, err)
	}
	if took > timeout+agreement+5*time.Second {
		t.Errorf("Apply took %s, want at most about %s", took, timeout+agreement)
	}
	for _, want := range []string{
		`apply "CREATE TABLE IF NOT EXISTS ` + name + `.events (`,
		"schema agreement not reached within",
		"ran on 127.0.0.1:9042 (dc1)",
		"node " + node.CQLAddress() + " (dc2) is at schema version",
		"is down or unreachable",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// The coordinator has the table already.
	if err := client.Verify(ctx, &diff.AddTable{Table: tbl}); err != nil {
		t.Errorf("Verify on the live node: %v", err)
	}

	restart()
	if err := client.Session().AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement once %s is back: %v", node.Name, err)
	}
	// Now coordinated by cass2 (dc2 is local again), which got the table
	// from cass1 when it came back.
	if err := client.Verify(ctx, &diff.AddTable{Table: tbl}); err != nil {
		t.Errorf("Verify once %s is back: %v", node.Name, err)
	}
	if err := client.Apply(ctx, stmts[0]); err != nil {
		t.Errorf("the same CREATE once %s is back: %v", node.Name, err)
	}
}

// TestCassandraCanonicalForms pins what Cassandra 5.0 stores for input
// that is not in its canonical form. Desired state must be written in the
// stored form (or compared leniently) for diff.Compute(live, desired) to
// come out empty; these are the cases where a manifest written naturally
// would not be:
//   - map options keep every sub-option Cassandra adds: compaction always
//     has max_threshold and min_threshold, compression chunk_length_in_kb;
//   - speculative_retry and additional_write_policy are rewritten
//     ('99PERCENTILE' → '99p', '50MS' → '50ms');
//   - NetworkTopologyStrategy stores no datacenter whose factor is 0, and
//     expands 'replication_factor' into one entry per datacenter.
func TestCassandraCanonicalForms(t *testing.T) {
	c := itest.Cluster(t)
	name := itest.Keyspace(t, itest.Cassandra(t, "dc1"))
	client := connect(t, c, "dc1", nil)
	ctx := ctxFor(t, 2*time.Minute)
	for _, stmt := range []string{
		"CREATE KEYSPACE " + name + " WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 0};",
		"CREATE TABLE " + name + ".t (k int PRIMARY KEY, v text) WITH compaction = {'class': 'LeveledCompactionStrategy'}" +
			" AND compression = {'class': 'ZstdCompressor'} AND speculative_retry = '99PERCENTILE' AND additional_write_policy = '50MS'" +
			" AND bloom_filter_fp_chance = 0.1 AND crc_check_chance = 1.0;",
	} {
		if err := client.Apply(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	live := liveKeyspace(t, ctx, client, name)
	if got := live.Replication.String(); got != "{'class': 'NetworkTopologyStrategy', 'dc1': 1}" {
		t.Errorf("replication with dc2: 0 stored as %s", got)
	}
	got := map[string]string{}
	for k, v := range live.Tables["t"].Options {
		got[k] = v.String()
	}
	for k, want := range map[string]string{
		"compaction":              "{'class': 'org.apache.cassandra.db.compaction.LeveledCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'}",
		"compression":             "{'chunk_length_in_kb': '16', 'class': 'org.apache.cassandra.io.compress.ZstdCompressor'}",
		"speculative_retry":       "'99p'",
		"additional_write_policy": "'50ms'",
		"bloom_filter_fp_chance":  "0.1",
		"crc_check_chance":        "1",
	} {
		if got[k] != want {
			t.Errorf("option %s stored as %s, want %s", k, got[k], want)
		}
	}
	if err := client.Apply(ctx, "ALTER KEYSPACE "+name+" WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1};"); err != nil {
		t.Fatal(err)
	}
	if got := liveKeyspace(t, ctx, client, name).Replication.String(); got != "{'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}" {
		t.Errorf("replication_factor: 1 stored as %s", got)
	}
}
