package render

// Checks of Keyspace and Table manifests against what Cassandra 5.0
// refuses in CREATE KEYSPACE and CREATE TABLE (or ALTER TABLE), so that
// validate fails where apply would. Each rule was checked against a
// Cassandra 5.0 node; TestCassandraRefusesWhatValidateRefuses sends each
// refused case to the real cluster.

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// cqlIdentifier is a keyspace, table or column name a manifest may use:
// letters, digits and '_', 1 to 48 characters. 48 is Cassandra's limit
// for keyspace names; ringmaster applies it to tables and columns too.
// Names that are reserved words, hold upper-case letters or start with a
// digit or '_' are quoted wherever ringmaster writes CQL
// (state.QuoteIdentifier), so Cassandra stores them exactly as written.
var cqlIdentifier = regexp.MustCompile(`^[A-Za-z0-9_]{1,48}$`)

// checkCQLName reports a keyspace, table or column name (what says which)
// that ringmaster cannot manage; false when it did.
func (b *builder) checkCQLName(file string, n *yaml.Node, what, name string) bool {
	if !cqlIdentifier.MatchString(name) {
		b.p.at(file, n, "%s name %q: use letters, digits and '_' only, 1 to 48 characters", what, name)
		return false
	}
	if what == "keyspace" && state.SystemKeyspaces[strings.ToLower(name)] {
		b.p.at(file, n, "keyspace name %q: %s is one of Cassandra's own keyspaces, which cannot be created or managed", name, strings.ToLower(name))
		return false
	}
	return true
}

// sameButCase returns the name in seen (lower-cased name → first name)
// that differs from name only by case, and records name otherwise. A
// dropped name (drop: true, on its way out) is neither checked nor
// recorded: a column may be renamed by case by dropping the old one.
func sameButCase(seen map[string]string, name string, dropped bool) (string, bool) {
	if dropped {
		return "", false
	}
	low := strings.ToLower(name)
	first, ok := seen[low]
	if !ok {
		seen[low] = name
	}
	return first, ok && first != name
}

// caseClashMessage explains why two names that differ only by case are
// refused although Cassandra, with quoting, would take both.
const caseClashMessage = "names that differ only by case are distinct to Cassandra only when quoted, and unquoted CQL would reach the wrong one: rename one"

// checkNameCase reports keyspaces, and tables of one keyspace, whose names
// differ only by case.
func (b *builder) checkNameCase() {
	report := func(kind string, names []string, origin func(string) state.Origin) {
		sort.Slice(names, func(i, j int) bool {
			oi, oj := origin(names[i]), origin(names[j])
			if oi.File != oj.File {
				return oi.File < oj.File
			}
			if oi.Line != oj.Line {
				return oi.Line < oj.Line
			}
			return names[i] < names[j]
		})
		seen := map[string]string{}
		for _, n := range names {
			if first, clash := sameButCase(seen, n, false); clash {
				o := origin(n)
				b.p.add(&Error{File: o.File, Line: o.Line, Column: o.Column,
					Message: fmt.Sprintf("%s %q differs from %s %q (%s) only by case: %s", kind, n, kind, first, origin(first), caseClashMessage)})
			}
		}
	}
	report("keyspace", state.SortedKeys(b.st.Keyspaces), func(n string) state.Origin { return b.st.Keyspaces[n].Origin })
	for _, ks := range b.st.Keyspaces {
		report("table", state.SortedKeys(ks.Tables), func(n string) state.Origin { return ks.Tables[n].Origin })
	}
}

// checkKeyColumn reports a primary key column (role: "partition key" or
// "clustering") whose type Cassandra 5.0 refuses in a key: counter, a
// non-frozen collection, or a type that holds a duration (durations have
// no order). typ is nil when the column's type did not parse.
func (b *builder) checkKeyColumn(file string, n *yaml.Node, t *state.Table, col, role string, typ *cqlType) {
	if typ == nil {
		return
	}
	where := fmt.Sprintf("table %s.%s: %s column %q", t.Keyspace, t.Name, role, col)
	switch {
	case typ.name == "counter":
		b.p.at(file, n, "%s is a counter: counters cannot be part of the primary key", where)
	case typ.multiCell():
		b.p.at(file, n, "%s has the non-frozen collection type %s: a primary key column must be frozen, like frozen<%s>", where, typ, typ)
	case typ.referencesDuration():
		b.p.at(file, n, "%s has type %s: duration cannot be part of the primary key, not even inside a collection or tuple (durations have no order)", where, typ)
	}
}

// tableColumn is what checkTable needs to know of a declared column.
type tableColumn struct {
	// typ is nil when the type did not parse (already reported).
	typ  *cqlType
	node *yaml.Node
}

// checkTable reports what Cassandra 5.0 refuses in a table as a whole,
// once its columns, key and options are known:
//   - a counter column beside a non-counter column outside the primary key
//     (static columns included);
//   - default_time_to_live above 0 on a table with counter columns;
//   - a static column in a table without clustering columns;
//   - max_index_interval below min_index_interval (each defaulting to
//     Cassandra's 2048 and 128).
func (b *builder) checkTable(file string, t *state.Table, cols map[string]tableColumn, opts *fields) {
	key := map[string]bool{}
	for _, c := range t.PartitionKey {
		key[c] = true
	}
	for _, c := range t.Clustering {
		key[c.Name] = true
	}
	var counter, other string
	for _, c := range t.Columns {
		info := cols[c.Name]
		if key[c.Name] || info.typ == nil {
			continue
		}
		if info.typ.name == "counter" {
			if counter == "" {
				counter = c.Name
			}
		} else if other == "" {
			other = c.Name
		}
		if c.Static && len(t.Clustering) == 0 && len(t.PartitionKey) > 0 {
			b.p.at(file, info.node, "table %s.%s: column %q is static, but the table has no clustering columns: static columns need at least one (they are shared by the rows of a partition)", t.Keyspace, t.Name, c.Name)
		}
	}
	if counter != "" && other != "" {
		b.p.at(file, cols[other].node, "table %s.%s: column %q is not a counter, but column %q is: outside the primary key, a table's columns are all counters or none", t.Keyspace, t.Name, other, counter)
	}
	optNode := func(name string) *yaml.Node {
		if opts == nil {
			return nil
		}
		return opts.get(name)
	}
	if ttl, ok := t.Options["default_time_to_live"]; ok && counter != "" && ttl.Scalar != "0" {
		b.p.at(file, optNode("default_time_to_live"), "table %s.%s: default_time_to_live cannot be set on a table with counter columns (%q)", t.Keyspace, t.Name, counter)
	}
	minI, minSet := optionInt(t, "min_index_interval", 128)
	maxI, maxSet := optionInt(t, "max_index_interval", 2048)
	if (minSet || maxSet) && minI >= 1 && maxI < minI {
		n := optNode("max_index_interval")
		if !maxSet {
			n = optNode("min_index_interval")
		}
		b.p.at(file, n, "table %s.%s: max_index_interval (%d) must be at least min_index_interval (%d)", t.Keyspace, t.Name, maxI, minI)
	}
}

// optionInt returns an integer option's value, or def when it is not set.
func optionInt(t *state.Table, name string, def int) (int, bool) {
	v, ok := t.Options[name]
	if !ok {
		return def, false
	}
	n, err := strconv.Atoi(v.Scalar)
	if err != nil {
		return def, false
	}
	return n, true
}

// maxTTL is Cassandra's largest TTL, 20 years in seconds.
const maxTTL = 630720000

// minBloomFilterFPChance is the smallest bloom_filter_fp_chance Cassandra
// 5.0 supports (it refuses 6.71e-5 and below).
const minBloomFilterFPChance = 6.71e-5

// Known short class names of the compaction and compression options (a
// fully qualified class name is taken as a custom class).
var (
	compactionClasses  = []string{"LeveledCompactionStrategy", "SizeTieredCompactionStrategy", "TimeWindowCompactionStrategy", "UnifiedCompactionStrategy"}
	compressionClasses = []string{"DeflateCompressor", "LZ4Compressor", "NoopCompressor", "SnappyCompressor", "ZstdCompressor"}
)

// checkTableOption checks the value tableOption stored for option name
// against Cassandra 5.0's rules, and rewrites it in the form
// system_schema.tables reports (so that a value Cassandra stores
// differently does not show as a change forever).
func (b *builder) checkTableOption(t *state.Table, opts *fields, name string) {
	v, ok := t.Options[name]
	if !ok {
		return
	}
	n := opts.get(name)
	bad := func(format string, args ...any) {
		b.p.at(opts.file, n, "table %s.%s: option %s: %s", t.Keyspace, t.Name, name, fmt.Sprintf(format, args...))
	}
	switch name {
	case "default_time_to_live":
		if i, _ := strconv.Atoi(v.Scalar); i > maxTTL {
			bad("%s seconds is more than Cassandra's largest TTL, %d (20 years)", v.Scalar, maxTTL)
		}
	case "min_index_interval":
		if v.Scalar == "0" {
			bad("must be at least 1")
		}
	case "bloom_filter_fp_chance":
		if f, _ := strconv.ParseFloat(v.Scalar, 64); f <= minBloomFilterFPChance {
			bad("must be above %g (and at most 1), not %s", minBloomFilterFPChance, v.Scalar)
		}
	case "read_repair":
		u := strings.ToUpper(strings.TrimSpace(v.Scalar))
		if u != "BLOCKING" && u != "NONE" {
			bad("want BLOCKING or NONE, not %q", v.Scalar)
			return
		}
		v.Scalar = u
	case "speculative_retry", "additional_write_policy":
		s, err := retryPolicy(v.Scalar)
		if err != nil {
			bad("%v", err)
			return
		}
		v.Scalar = s
	case "caching":
		m := v.Map
		for _, k := range state.SortedKeys(m) {
			u := strings.ToUpper(strings.TrimSpace(m[k]))
			switch k {
			case "keys":
				if u != "ALL" && u != "NONE" {
					bad("keys: want ALL or NONE, not %q", m[k])
				}
				m[k] = u
			case "rows_per_partition":
				if i, err := strconv.Atoi(u); err == nil && i >= 0 {
					if i == 0 {
						u = "NONE"
					} else {
						u = strconv.Itoa(i)
					}
				} else if u != "ALL" && u != "NONE" {
					bad("rows_per_partition: want ALL, NONE or a whole number, not %q", m[k])
				}
				m[k] = u
			default:
				bad("unknown sub-option %q (want keys and rows_per_partition)", k)
			}
		}
	case "compaction", "compression":
		known := compactionClasses
		if name == "compression" {
			known = compressionClasses
		}
		if c, ok := v.Map["class"]; ok {
			short, builtIn := strings.CutPrefix(c, classPackages[name])
			if builtIn && !strings.Contains(short, ".") && !containsString(known, short) {
				bad("unknown class %q (Cassandra 5.0 has %s, or give a custom class's full name)", short, strings.Join(known, ", "))
			}
		}
		if c, ok := v.Map["chunk_length_in_kb"]; ok && name == "compression" {
			if i, err := strconv.Atoi(c); err != nil || i <= 0 || i&(i-1) != 0 {
				bad("chunk_length_in_kb must be a power of 2, not %q", c)
			}
		}
	}
	t.Options[name] = v
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	percentilePolicy = regexp.MustCompile(`^(?i)([0-9.]+)p(ercentile)?$`)
	fixedPolicy      = regexp.MustCompile(`^(?i)([0-9.]+)ms$`)
	hybridPolicy     = regexp.MustCompile(`^(?i)(min|max)\(\s*([0-9.]+[a-z]+)\s*,\s*([0-9.]+[a-z]+)\s*\)$`)
)

// retryPolicy checks a speculative_retry or additional_write_policy value
// as Cassandra 5.0 parses it and returns it in the form system_schema
// stores: "99PERCENTILE", "99.0p" and "99P" as "99p" (at most four
// decimals), "1.5MS" as "1ms", "always" as "ALWAYS", "none" and "never" as
// "NEVER", "min(50ms, 99p)" as "MIN(99p,50ms)".
func retryPolicy(s string) (string, error) {
	u := strings.TrimSpace(s)
	switch strings.ToUpper(u) {
	case "ALWAYS":
		return "ALWAYS", nil
	case "NONE", "NEVER":
		return "NEVER", nil
	}
	if m := hybridPolicy.FindStringSubmatch(u); m != nil {
		a, aPct, err := simpleRetryPolicy(m[2])
		if err != nil {
			return "", err
		}
		c, cPct, err := simpleRetryPolicy(m[3])
		if err != nil {
			return "", err
		}
		if aPct == cPct {
			return "", fmt.Errorf("%q: MIN() and MAX() take one percentile and one time (like MIN(99p,50ms))", s)
		}
		if !aPct {
			a, c = c, a
		}
		return strings.ToUpper(m[1]) + "(" + a + "," + c + ")", nil
	}
	v, _, err := simpleRetryPolicy(u)
	return v, err
}

// simpleRetryPolicy parses a percentile ("99p") or a time ("50ms").
func simpleRetryPolicy(s string) (string, bool, error) {
	if m := percentilePolicy.FindStringSubmatch(s); m != nil {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v <= 0 || v >= 100 {
			return "", true, fmt.Errorf("%q: a percentile must be above 0 and below 100", s)
		}
		return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64) + "p", true, nil
	}
	if m := fixedPolicy.FindStringSubmatch(s); m != nil {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v > math.MaxInt64/2 {
			return "", false, fmt.Errorf("%q: want a number of milliseconds, like 50ms", s)
		}
		return strconv.FormatInt(int64(v), 10) + "ms", false, nil
	}
	return "", false, fmt.Errorf("%q: want ALWAYS, NEVER, a percentile (99p), a time (50ms), or MIN/MAX of a percentile and a time", s)
}
