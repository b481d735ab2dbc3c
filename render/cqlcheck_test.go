package render

import (
	"context"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// cqlCase is a Keyspace and Table that validate must refuse because
// Cassandra 5.0 refuses their DDL (or, where cassandra is empty, because
// ringmaster refuses what Cassandra would take: see why).
type cqlCase struct {
	name string
	// keyspace is the Keyspace manifest's name ("app" when empty).
	keyspace string
	// table is the Table manifest's name ("t" when empty).
	table string
	// body is the Table spec after its keyspace line (line 6 onwards);
	// empty for a case about the keyspace alone.
	body string
	// extra is one more file, base/u.yaml, when not empty.
	extra string
	// want is validate's message, from "base/...:line:col: " on.
	want string
	// cassandra is part of Cassandra 5.0's refusal of the CQL ringmaster
	// would write; empty when Cassandra takes it.
	cassandra string
	// why explains a refusal that is ringmaster's own (cassandra empty).
	why string
}

func (c cqlCase) ksName() string    { return cmp(c.keyspace, "app") }
func (c cqlCase) tableName() string { return cmp(c.table, "t") }

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// files returns the case's repository files (besides ringmaster.yaml and
// the environment).
func (c cqlCase) files() map[string]string {
	files := map[string]string{"base/ks.yaml": keyspaceDoc(c.ksName())}
	if c.body != "" {
		files["base/t.yaml"] = tableDoc(c.tableName(), c.ksName(), c.body)
	}
	if c.extra != "" {
		files["base/u.yaml"] = c.extra
	}
	return files
}

func keyspaceDoc(name string) string {
	return "apiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: " + name + "}\nspec:\n  replication: {class: NetworkTopologyStrategy, dc1: 1}\n"
}

func tableDoc(name, ks, body string) string {
	return "apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: " + name + "}\nspec:\n  keyspace: " + ks + "\n" + body
}

// cols writes a columns list (from line 6: the first column on line 7)
// and a primary key.
func cols(pk string, columns ...string) string {
	s := "  columns:\n"
	for _, c := range columns {
		s += "    - {" + c + "}\n"
	}
	return s + "  primaryKey: " + pk + "\n"
}

// typeCase is a table whose column v (line 8) has type typ.
func typeCase(name, typ, want, cassandra string) cqlCase {
	return cqlCase{name: name, body: cols("{partition: [k]}", "name: k, type: int", "name: v, type: \""+typ+"\""), want: want, cassandra: cassandra}
}

const long49 = "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi"

// cqlCases are every shape a manifest can express that Cassandra 5.0
// refuses in CREATE KEYSPACE or CREATE TABLE, each found refused on a
// Cassandra 5.0 node, plus the few ringmaster refuses on its own.
var cqlCases = []cqlCase{
	// Types.
	typeCase("frozen native", "frozen<int>",
		`base/t.yaml:8:23: column v: type "frozen<int>": frozen<> applies only to list, set, map, tuple and vector types, not to int`,
		"frozen<> is only allowed on collections, tuples, and user-defined types"),
	typeCase("frozen frozen native", "frozen<frozen<int>>",
		`base/t.yaml:8:23: column v: type "frozen<frozen<int>>": frozen<> applies only to list, set, map, tuple and vector types, not to int`,
		"Failed parsing statement"),
	typeCase("non-frozen list in list", "list<list<int>>",
		`base/t.yaml:8:23: column v: type "list<list<int>>": list<list<int>>: a non-frozen collection is not allowed inside a list: write frozen<list<int>>`,
		"Non-frozen collections are not allowed inside collections"),
	typeCase("non-frozen collection as map key", "map<set<int>, int>",
		`base/t.yaml:8:23: column v: type "map<set<int>, int>": map<set<int>, int>: a non-frozen collection is not allowed inside a map: write frozen<set<int>>`,
		"Non-frozen collections are not allowed inside collections"),
	typeCase("non-frozen collection as map value", "map<int, list<int>>",
		`base/t.yaml:8:23: column v: type "map<int, list<int>>": map<int, list<int>>: a non-frozen collection is not allowed inside a map`,
		"Non-frozen collections are not allowed inside collections"),
	typeCase("non-frozen map in set", "set<map<int, int>>",
		`base/t.yaml:8:23: column v: type "set<map<int, int>>": set<map<int, int>>: a non-frozen collection is not allowed inside a set`,
		"Non-frozen collections are not allowed inside collections"),
	typeCase("non-frozen collection nested in a vector's map", "vector<map<int, list<int>>, 2>",
		`base/t.yaml:8:23: column v: type "vector<map<int, list<int>>, 2>": map<int, list<int>>: a non-frozen collection is not allowed inside a map`,
		"Non-frozen collections are not allowed inside collections"),
	typeCase("counter in frozen list", "frozen<list<counter>>",
		`base/t.yaml:8:23: column v: type "frozen<list<counter>>": counter is not allowed inside a list`,
		"Counters are not allowed inside collections"),
	typeCase("counter in tuple", "tuple<int, counter>",
		`base/t.yaml:8:23: column v: type "tuple<int, counter>": counter is not allowed inside a tuple`,
		"Counters are not allowed inside tuples"),
	typeCase("duration in set", "set<duration>",
		`base/t.yaml:8:23: column v: type "set<duration>": set<duration>: duration is not allowed as a set element`,
		"Durations are not allowed inside sets"),
	typeCase("duration in frozen set", "frozen<set<duration>>",
		`base/t.yaml:8:23: column v: type "frozen<set<duration>>": frozen<set<duration>>: duration is not allowed as a set element`,
		"Durations are not allowed inside sets"),
	typeCase("duration as map key", "map<duration, int>",
		`base/t.yaml:8:23: column v: type "map<duration, int>": map<duration, int>: duration is not allowed as a map key`,
		"Durations are not allowed as map keys"),
	typeCase("vector dimension 0", "vector<float, 0>",
		`base/t.yaml:8:23: column v: type "vector<float, 0>": vector dimension must be a whole number from 1 to 2147483647, not "0"`,
		"vectors may only have positive dimensions"),
	typeCase("vector dimension too large", "vector<float, 2147483648>",
		`base/t.yaml:8:23: column v: type "vector<float, 2147483648>": vector dimension must be a whole number from 1 to 2147483647, not "2147483648"`,
		"NumberFormatException"),
	{name: "counter in vector", body: cols("{partition: [k]}", "name: k, type: int", `name: v, type: "vector<counter, 2>"`),
		want: `base/t.yaml:8:23: column v: type "vector<counter, 2>": counter is not allowed inside a vector`,
		why:  "Cassandra 5.0 takes vector<counter, n>, but no counter operation works on it"},

	// The primary key.
	{name: "non-frozen collection in partition key", body: cols("{partition: [k]}", `name: k, type: "list<int>"`, "name: v, type: int"),
		want:      `base/t.yaml:9:28: table app.t: partition key column "k" has the non-frozen collection type list<int>: a primary key column must be frozen, like frozen<list<int>>`,
		cassandra: "Invalid non-frozen collection type list<int> for PRIMARY KEY column 'k'"},
	{name: "non-frozen collection in clustering key", body: cols("{partition: [k], clustering: [{column: c}]}", "name: k, type: int", `name: c, type: "set<text>"`),
		want:      `base/t.yaml:9:54: table app.t: clustering column "c" has the non-frozen collection type set<text>`,
		cassandra: "Invalid non-frozen collection type set<text> for PRIMARY KEY column 'c'"},
	{name: "counter in partition key", body: cols("{partition: [k]}", "name: k, type: counter", "name: v, type: counter"),
		want:      `base/t.yaml:9:28: table app.t: partition key column "k" is a counter: counters cannot be part of the primary key`,
		cassandra: "counter type is not supported for PRIMARY KEY column 'k'"},
	{name: "counter in clustering key", body: cols("{partition: [k], clustering: [{column: c}]}", "name: k, type: int", "name: c, type: counter", "name: v, type: counter"),
		want:      `base/t.yaml:10:54: table app.t: clustering column "c" is a counter`,
		cassandra: "counter type is not supported for PRIMARY KEY column 'c'"},
	{name: "duration in partition key", body: cols("{partition: [k]}", "name: k, type: duration", "name: v, type: int"),
		want:      `base/t.yaml:9:28: table app.t: partition key column "k" has type duration: duration cannot be part of the primary key`,
		cassandra: "duration type is not supported for PRIMARY KEY column 'k'"},
	{name: "duration inside a frozen list in clustering key", body: cols("{partition: [k], clustering: [{column: c}]}", "name: k, type: int", `name: c, type: "frozen<list<duration>>"`),
		want:      `base/t.yaml:9:54: table app.t: clustering column "c" has type frozen<list<duration>>: duration cannot be part of the primary key`,
		cassandra: "duration type is not supported for PRIMARY KEY column 'c'"},
	{name: "duration inside a tuple in partition key", body: cols("{partition: [k]}", `name: k, type: "tuple<int, duration>"`, "name: v, type: int"),
		want:      `base/t.yaml:9:28: table app.t: partition key column "k" has type frozen<tuple<int, duration>>: duration cannot be part of the primary key`,
		cassandra: "duration type is not supported for PRIMARY KEY column 'k'"},

	// Counter tables and static columns.
	{name: "counter beside a regular column", body: cols("{partition: [k]}", "name: k, type: int", "name: hits, type: counter", "name: note, type: text"),
		want:      `base/t.yaml:9:14: table app.t: column "note" is not a counter, but column "hits" is: outside the primary key, a table's columns are all counters or none`,
		cassandra: "Cannot mix counter and non counter columns in the same table"},
	{name: "counter beside a static column", body: cols("{partition: [k], clustering: [{column: c}]}", "name: k, type: int", "name: c, type: int", "name: hits, type: counter", "name: s, type: int, static: true"),
		want:      `base/t.yaml:10:14: table app.t: column "s" is not a counter, but column "hits" is`,
		cassandra: "Cannot mix counter and non counter columns in the same table"},
	{name: "default TTL on a counter table", body: cols("{partition: [k]}", "name: k, type: int", "name: hits, type: counter") + "  options: {default_time_to_live: 60}\n",
		want:      `base/t.yaml:10:35: table app.t: default_time_to_live cannot be set on a table with counter columns ("hits")`,
		cassandra: "Cannot set default_time_to_live on a table with counters"},
	{name: "static column without clustering columns", body: cols("{partition: [k]}", "name: k, type: int", "name: s, type: int, static: true"),
		want:      `base/t.yaml:8:14: table app.t: column "s" is static, but the table has no clustering columns`,
		cassandra: "Static columns are only useful (and thus allowed) if the table has at least one clustering column"},

	// Names.
	{name: "keyspace name too long", keyspace: long49,
		want:      `base/ks.yaml:3:18: keyspace name "` + long49 + `": use letters, digits and '_' only, 1 to 48 characters`,
		cassandra: "Keyspace name must not be more than 48 characters long"},
	{name: "system keyspace", keyspace: "System",
		want:      `base/ks.yaml:3:18: keyspace name "System": system is one of Cassandra's own keyspaces, which cannot be created or managed`,
		cassandra: "System keyspace 'System' is not user-modifiable"},
	{name: "keyspace of Cassandra 5.1", keyspace: "system_cluster_metadata",
		want: `base/ks.yaml:3:18: keyspace name "system_cluster_metadata": system_cluster_metadata is one of Cassandra's own keyspaces`,
		why:  "Cassandra 5.0 takes the name, but 5.1 owns it and ringmaster never reads it back"},
	{name: "table name too long", table: long49, body: cols("{partition: [k]}", "name: k, type: int"),
		want: `base/t.yaml:3:18: table name "` + long49 + `": use letters, digits and '_' only, 1 to 48 characters`,
		why:  "Cassandra 5.0 takes longer table names, but 48 is the limit of earlier versions and of keyspace names"},
	{name: "column name with a dash", body: cols("{partition: [user-id]}", "name: user-id, type: int"),
		want: `base/t.yaml:7:14: column name "user-id": use letters, digits and '_' only, 1 to 48 characters`,
		why:  "Cassandra takes any quoted column name, but ringmaster keeps to names that fit its IDs and messages"},
	{name: "columns differing only by case", body: cols("{partition: [k]}", "name: k, type: int", "name: K, type: int"),
		want: `base/t.yaml:8:14: table app.t: column "K" differs from column "k" (line 7) only by case`,
		why:  "quoted, Cassandra takes both, but unquoted CQL reaches only k"},
	{name: "keyspaces differing only by case", body: cols("{partition: [k]}", "name: k, type: int"), extra: keyspaceDoc("App"),
		want: `base/u.yaml:1:1: keyspace "App" differs from keyspace "app" (base/ks.yaml:1:1) only by case`,
		why:  "quoted, Cassandra takes both, but unquoted CQL reaches only app"},
	{name: "tables differing only by case", table: "Events", body: cols("{partition: [k]}", "name: k, type: int"),
		extra: tableDoc("events", "app", cols("{partition: [k]}", "name: k, type: int")),
		want:  `base/u.yaml:1:1: table "events" differs from table "Events" (base/t.yaml:1:1) only by case`,
		why:   "quoted, Cassandra takes both, but unquoted CQL reaches only events"},

	// Options.
	{name: "default TTL above 20 years", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {default_time_to_live: 630720001}\n",
		want:      `base/t.yaml:9:35: table app.t: option default_time_to_live: 630720001 seconds is more than Cassandra's largest TTL, 630720000 (20 years)`,
		cassandra: "default_time_to_live must be less than or equal to 630720000"},
	{name: "min_index_interval 0", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {min_index_interval: 0}\n",
		want:      `base/t.yaml:9:33: table app.t: option min_index_interval: must be at least 1`,
		cassandra: "min_index_interval must be greater than or equal to 1"},
	{name: "max_index_interval below the default min", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {max_index_interval: 100}\n",
		want:      `base/t.yaml:9:33: table app.t: max_index_interval (100) must be at least min_index_interval (128)`,
		cassandra: "max_index_interval must be greater than or equal to min_index_interval (128)"},
	{name: "min_index_interval above the default max", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {min_index_interval: 4096}\n",
		want:      `base/t.yaml:9:33: table app.t: max_index_interval (2048) must be at least min_index_interval (4096)`,
		cassandra: "max_index_interval must be greater than or equal to min_index_interval (4096)"},
	{name: "bloom filter chance too small", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {bloom_filter_fp_chance: 0.00001}\n",
		want:      `base/t.yaml:9:37: table app.t: option bloom_filter_fp_chance: must be above 6.71e-05 (and at most 1), not 0.00001`,
		cassandra: "bloom_filter_fp_chance must be larger than 6.71E-5"},
	{name: "unknown read_repair", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {read_repair: sometimes}\n",
		want:      `base/t.yaml:9:26: table app.t: option read_repair: want BLOCKING or NONE, not "sometimes"`,
		cassandra: "No enum constant"},
	{name: "percentile 100", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {speculative_retry: 100p}\n",
		want:      `base/t.yaml:9:32: table app.t: option speculative_retry: "100p": a percentile must be above 0 and below 100`,
		cassandra: "must be between (0.0 and 100.0)"},
	{name: "unknown retry policy", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {speculative_retry: sometimes}\n",
		want:      `base/t.yaml:9:32: table app.t: option speculative_retry: "sometimes": want ALWAYS, NEVER, a percentile (99p), a time (50ms), or MIN/MAX of a percentile and a time`,
		cassandra: "Invalid value sometimes for option 'speculative_retry'"},
	{name: "MIN of two percentiles", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {additional_write_policy: \"MIN(99p,90p)\"}\n",
		want:      `base/t.yaml:9:38: table app.t: option additional_write_policy: "MIN(99p,90p)": MIN() and MAX() take one percentile and one time`,
		cassandra: "MIN()/MAX() arguments should be of different types"},
	{name: "unknown caching keys", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {caching: {keys: some}}\n",
		want:      `base/t.yaml:9:22: table app.t: option caching: keys: want ALL or NONE, not "some"`,
		cassandra: "only 'ALL' and 'NONE' are allowed"},
	{name: "unknown caching sub-option", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {caching: {keys: ALL, cells: 3}}\n",
		want:      `base/t.yaml:9:22: table app.t: option caching: unknown sub-option "cells"`,
		cassandra: "Invalid caching sub-options [cells]"},
	{name: "unknown compaction class", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {compaction: {class: DateTieredCompactionStrategy}}\n",
		want:      `base/t.yaml:9:25: table app.t: option compaction: unknown class "DateTieredCompactionStrategy"`,
		cassandra: "Unable to find compaction strategy class"},
	{name: "unknown compression class", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {compression: {class: BogusCompressor}}\n",
		want:      `base/t.yaml:9:26: table app.t: option compression: unknown class "BogusCompressor"`,
		cassandra: "Could not create Compression for type org.apache.cassandra.io.compress.BogusCompressor"},
	{name: "chunk length not a power of 2", body: cols("{partition: [k]}", "name: k, type: int") + "  options: {compression: {class: LZ4Compressor, chunk_length_in_kb: 3}}\n",
		want:      `base/t.yaml:9:26: table app.t: option compression: chunk_length_in_kb must be a power of 2, not "3"`,
		cassandra: "chunk_length_in_kb must be a power of 2"},
}

// TestValidateRefusesWhatCassandraRefuses: each case fails to render with
// its message at its file:line:col.
func TestValidateRefusesWhatCassandraRefuses(t *testing.T) {
	for _, c := range cqlCases {
		t.Run(c.name, func(t *testing.T) {
			if c.cassandra == "" && c.why == "" {
				t.Fatal("a case Cassandra takes must say why ringmaster refuses it")
			}
			err := loadAndRender(repoWith(c.files()))
			if err == nil {
				t.Fatalf("validate accepted it, want %s", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}

// TestValidateAcceptsWhatCassandraTakes: shapes close to the refused ones
// that Cassandra 5.0 takes render, with names and types as system_schema
// reports them.
func TestValidateAcceptsWhatCassandraTakes(t *testing.T) {
	files := map[string]string{
		"base/ks.yaml": keyspaceDoc("Select"),
		"base/t.yaml": tableDoc("where", "Select", cols("{partition: [Key, token], clustering: [{column: from, order: desc}]}",
			`name: Key, type: "frozen<list<int>>"`, `name: token, type: "tuple<int, text>"`, "name: from, type: int",
			`name: s, type: "set<text>", static: true`, `name: v, type: "frozen<list<set<int>>>"`,
			`name: "1st", type: "frozen<frozen<list<int>>>"`, `name: _x, type: "frozen<vector<float, 3>>"`,
			`name: vec, type: "vector<list<int>, 007>"`, `name: d, type: "list<duration>"`, `name: dm, type: "map<int, duration>"`,
			`name: st, type: "set<frozen<tuple<duration>>>"`)+
			"  options: {read_repair: blocking, speculative_retry: 99.50PERCENTILE, additional_write_policy: none, caching: {keys: all, rows_per_partition: 0}}\n"),
		"base/c.yaml": tableDoc("counts", "Select", cols("{partition: [k], clustering: [{column: c}]}",
			"name: k, type: int", "name: c, type: int", "name: hits, type: counter", "name: total, type: counter, static: true")+
			"  options: {default_time_to_live: 0}\n"),
		// A column renamed by case: the old one is dropped.
		"base/v.yaml": tableDoc("vk", "Select", cols("{partition: [k]}", `name: k, type: "vector<duration, 2>"`,
			"name: userid, type: int, drop: true", "name: userId, type: int")),
	}
	repo, err := Load(context.Background(), repoWith(files), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.State.Keyspaces["Select"].Tables["vk"].Column("userId"); !ok {
		t.Error("column userId of table vk is missing")
	}
	tbl := res.State.Keyspaces["Select"].Tables["where"]
	want := map[string]string{
		"Key": "frozen<list<int>>", "token": "frozen<tuple<int, text>>", "from": "int", "s": "set<text>",
		"v": "frozen<list<frozen<set<int>>>>", "1st": "frozen<list<int>>", "_x": "vector<float, 3>",
		"vec": "vector<list<int>, 7>", "d": "list<duration>", "dm": "map<int, duration>", "st": "set<frozen<tuple<duration>>>",
	}
	for name, typ := range want {
		if c, ok := tbl.Column(name); !ok || c.Type != typ {
			t.Errorf("column %s = %+v, want type %s", name, c, typ)
		}
	}
	opts := map[string]string{"read_repair": "'BLOCKING'", "speculative_retry": "'99.5p'", "additional_write_policy": "'NEVER'", "caching": "{'keys': 'ALL', 'rows_per_partition': 'NONE'}"}
	for name, v := range opts {
		if got := tbl.Options[name].String(); got != v {
			t.Errorf("option %s = %s, want %s", name, got, v)
		}
	}
	if got, want := tbl.PrimaryKeyCQL(), `PRIMARY KEY (("Key", "token"), "from")`; got != want {
		t.Errorf("primary key = %s, want %s", got, want)
	}
	if got := res.State.Keyspaces["Select"].CreateCQL(); !strings.HasPrefix(got, `CREATE KEYSPACE IF NOT EXISTS "Select" `) {
		t.Errorf("keyspace CQL = %s", got)
	}
}

func TestRetryPolicy(t *testing.T) {
	good := map[string]string{
		"99PERCENTILE": "99p", "99.0p": "99p", "99.50p": "99.5p", "99.12345P": "99.1235p", "5MS": "5ms", "1.5ms": "1ms",
		"always": "ALWAYS", "none": "NEVER", "Never": "NEVER", "min(50ms, 99p)": "MIN(99p,50ms)", "MAX(99p,50ms)": "MAX(99p,50ms)",
	}
	for in, want := range good {
		if got, err := retryPolicy(in); err != nil || got != want {
			t.Errorf("retryPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0p", "100p", "-1ms", "sometimes", "MIN(99p,90p)", "MAX(1ms,2ms)", "MIN(99p)", "1.2.3p"} {
		if got, err := retryPolicy(bad); err == nil {
			t.Errorf("retryPolicy(%q) = %q, want an error", bad, got)
		}
	}
}

// TestParseCQLTypeForms pins the forms Cassandra 5.0 stores in
// system_schema.columns (found on the live cluster).
func TestParseCQLTypeForms(t *testing.T) {
	tests := map[string]string{
		"tuple<int, text>":                    "frozen<tuple<int, text>>",
		"tuple<list<int>, int>":               "frozen<tuple<frozen<list<int>>, int>>",
		"set<tuple<int, text>>":               "set<frozen<tuple<int, text>>>",
		"frozen<list<set<int>>>":              "frozen<list<frozen<set<int>>>>",
		"frozen<list<list<list<int>>>>":       "frozen<list<frozen<list<frozen<list<int>>>>>>",
		"frozen<frozen<list<int>>>":           "frozen<list<int>>",
		"frozen<frozen<tuple<int>>>":          "frozen<tuple<int>>",
		"frozen<map<int, list<int>>>":         "frozen<map<int, frozen<list<int>>>>",
		"tuple<tuple<int>, int>":              "frozen<tuple<frozen<tuple<int>>, int>>",
		"frozen<vector<float, 3>>":            "vector<float, 3>",
		"vector<list<int>, 3>":                "vector<list<int>, 3>",
		"vector<tuple<int>, 2>":               "vector<frozen<tuple<int>>, 2>",
		"frozen<vector<tuple<list<int>>, 2>>": "vector<frozen<tuple<frozen<list<int>>>>, 2>",
		"frozen<list<vector<list<int>, 2>>>":  "frozen<list<vector<list<int>, 2>>>",
		"tuple<vector<list<int>, 2>>":         "frozen<tuple<vector<list<int>, 2>>>",
		"map<tuple<duration>, int>":           "map<frozen<tuple<duration>>, int>",
		"vector<float, 007>":                  "vector<float, 7>",
		"vector<float,2147483647>":            "vector<float, 2147483647>",
		"VARCHAR":                             "text",
	}
	for in, want := range tests {
		if got, err := normalizeCQLType(in); err != nil || got != want {
			t.Errorf("normalizeCQLType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestQuotedNamesInRenderedCQL: names that need quoting are quoted in the
// rendered CQL (render's SchemaCQL), and kept as written in the state.
func TestQuotedNamesInRenderedCQL(t *testing.T) {
	st := state.New("dev")
	st.Keyspaces["Order"] = &state.Keyspace{Name: "Order", Replication: state.Replication{Class: state.SimpleStrategy, Factors: map[string]int{"replication_factor": 1}}, Tables: map[string]*state.Table{
		"table": {Keyspace: "Order", Name: "table", Columns: []state.Column{{Name: "primary", Type: "int"}}, PartitionKey: []string{"primary"}},
	}}
	got := SchemaCQL(st)
	want := []string{
		`CREATE KEYSPACE IF NOT EXISTS "Order" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false;`,
		"CREATE TABLE IF NOT EXISTS \"Order\".\"table\" (\n    \"primary\" int,\n    PRIMARY KEY ((\"primary\"))\n);",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SchemaCQL:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzParseCQLType: any input is parsed without panic, and a normalised
// type normalises to itself (so render's form is stable).
func FuzzParseCQLType(f *testing.F) {
	for _, s := range []string{"int", "frozen<list<set<int>>>", "tuple<int, list<int>>", "vector<tuple<int>, 007>", "map<frozen<set<int>>, duration>", "frozen<frozen<int>>", "vector<float,", "tuple<>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, err := normalizeCQLType(s)
		if err != nil {
			return
		}
		again, err := normalizeCQLType(norm)
		if err != nil || again != norm {
			t.Fatalf("normalizeCQLType(%q) = %q, which normalises to %q, %v", s, norm, again, err)
		}
	})
}
