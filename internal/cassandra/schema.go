package cassandra

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// LiveOrigin is the Origin of everything ReadSchema returns.
var LiveOrigin = state.Origin{File: "cassandra"}

// strategyPackage prefixes the built-in replication strategies in
// system_schema.keyspaces.
const strategyPackage = "org.apache.cassandra.locator."

// schemaReadAttempts bounds how often ReadSchema starts over because the
// schema changed, or its coordinator failed, while it was read.
const schemaReadAttempts = 5

// schemaReadPause is the wait before a read starts over.
const schemaReadPause = 200 * time.Millisecond

// ReadSchema reads every keyspace except Cassandra's own
// (state.SystemKeyspaces), with its tables, from system_schema.keyspaces,
// tables and columns of one coordinator, at consistency ONE. It starts
// over (a few times) when the coordinator's schema version changes during
// the read, or the coordinator fails, so the result is one schema
// version's view. A row the model cannot represent fails the read.
//
// The result is in render's canonical form, so that diff.Compute(live,
// desired) is empty when the cluster matches the repository:
//   - Replication.Class is the short name ("NetworkTopologyStrategy") of
//     Cassandra's strategies (other classes stay fully qualified), Factors
//     the integer values of every other key. NetworkTopologyStrategy
//     never carries "replication_factor" in system_schema: Cassandra 5.0
//     expands it into one entry per datacenter when the keyspace is
//     created or altered, and stores no entry for a datacenter set to 0.
//     Should a "replication_factor" entry appear all the same, it is kept
//     as a factor of that name, as render keeps it. A non-integer value
//     (transient replication "3/1") is an error.
//   - Columns come partition key (by position), clustering columns (by
//     position, with their clustering_order), then static and regular
//     columns by name; types are as system_schema.columns reports them.
//   - Table.Options holds every option a manifest may set, formatted as
//     render formats it: strings quoted, integers, floats with
//     strconv.FormatFloat(v, 'f', -1, 64), booleans "true"/"false", maps as
//     stored (compaction and compression classes fully qualified, every
//     sub-option Cassandra stores, defaults included).
//
// Materialized views and secondary indexes are not read. Every object's
// Origin is LiveOrigin.
func (c *Client) ReadSchema(ctx context.Context) (map[string]*state.Keyspace, error) {
	return c.readSchema(ctx, nil)
}

// readSchema reads the named keyspaces (all but the system ones when names
// is nil); a keyspace that does not exist is absent from the result. A
// failed query or a schema change during the read starts it over, at most
// schemaReadAttempts times.
func (c *Client) readSchema(ctx context.Context, names []string) (map[string]*state.Keyspace, error) {
	var lastErr error
	for range schemaReadAttempts {
		host, before, err := c.coordinator(ctx)
		if err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		pctx := pinTo(ctx, host)
		kss, err := c.readFrom(pctx, names)
		if err == nil {
			var after string
			if after, err = c.schemaVersion(pctx); err == nil && before != after {
				err = fmt.Errorf("its schema version changed from %s to %s during the read", before, after)
			}
		}
		var invalid invalidSchema
		switch {
		case err == nil:
			return kss, nil
		case errors.As(err, &invalid), ctx.Err() != nil:
			return nil, fmt.Errorf("read schema from %s: %w", hostName(host), err)
		}
		// The node went away or the schema changed: start over, maybe
		// with another node, after a pause that lets a change settle.
		lastErr = fmt.Errorf("read schema from %s: %w", hostName(host), err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", lastErr, ctx.Err())
		case <-time.After(schemaReadPause):
		}
	}
	return nil, lastErr
}

// errSchemaInFlux marks a torn read: system_schema's tables are read one
// query each, and a table created (by anyone) while they are read can show
// in system_schema.tables before its columns do. Reading again helps.
var errSchemaInFlux = errors.New("the schema changed during the read")

// invalidSchema is a system_schema row ringmaster cannot represent:
// reading again does not help.
type invalidSchema struct{ err error }

func (e invalidSchema) Error() string { return e.err.Error() }
func (e invalidSchema) Unwrap() error { return e.err }

// coordinator asks any node for its schema version and returns that node,
// for queries to pin to it.
func (c *Client) coordinator(ctx context.Context) (*gocql.HostInfo, string, error) {
	var v gocql.UUID
	iter := c.session.Query(`SELECT schema_version FROM system.local WHERE key = 'local'`).
		WithContext(ctx).Consistency(gocql.One).Iter()
	iter.Scan(&v)
	host := iter.Host()
	if err := iter.Close(); err != nil {
		return nil, "", fmt.Errorf("schema version of %s: %w", hostName(host), err)
	}
	if host == nil {
		return nil, "", errors.New("no node answered")
	}
	return host, v.String(), nil
}

// SchemaVersion returns the schema version (a UUID) of the node that
// answers, from system.local. Once schema agreement is reached every node
// reports the same version; any schema change gives a new one.
func (c *Client) SchemaVersion(ctx context.Context) (string, error) {
	v, err := c.schemaVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (c *Client) schemaVersion(ctx context.Context) (string, error) {
	var v gocql.UUID
	if err := c.session.Query(`SELECT schema_version FROM system.local WHERE key = 'local'`).
		WithContext(ctx).Consistency(gocql.One).Scan(&v); err != nil {
		return "", err
	}
	return v.String(), nil
}

// Datacenters returns the distinct datacenter names of the cluster's nodes
// (system.local and system.peers_v2 of one node), sorted.
func (c *Client) Datacenters(ctx context.Context) ([]string, error) {
	host, _, err := c.coordinator(ctx)
	if err != nil {
		return nil, fmt.Errorf("read datacenters: %w", err)
	}
	pctx := pinTo(ctx, host)
	seen := map[string]bool{}
	for _, q := range []string{`SELECT data_center FROM system.local`, `SELECT data_center FROM system.peers_v2`} {
		iter := c.session.Query(q).WithContext(pctx).Consistency(gocql.One).Iter()
		var dc string
		for iter.Scan(&dc) {
			if dc != "" {
				seen[dc] = true
			}
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("read datacenters from %s: %w", hostName(host), err)
		}
	}
	return state.SortedKeys(seen), nil
}

// readFrom reads the keyspaces (all non-system ones when names is nil)
// with the queries of ctx.
func (c *Client) readFrom(ctx context.Context, names []string) (map[string]*state.Keyspace, error) {
	kss := map[string]*state.Keyspace{}
	scan := func(query string, each func(map[string]any) error) error {
		run := func(args ...any) error {
			iter := c.session.Query(query, args...).WithContext(ctx).Consistency(gocql.One).Iter()
			for {
				row := map[string]any{}
				if !iter.MapScan(row) {
					break
				}
				ks, _ := row["keyspace_name"].(string)
				if state.SystemKeyspaces[ks] {
					continue
				}
				if err := each(row); err != nil {
					iter.Close()
					return invalidSchema{err}
				}
			}
			return iter.Close()
		}
		if names == nil {
			return run()
		}
		for _, n := range names {
			if err := run(n); err != nil {
				return err
			}
		}
		return nil
	}
	where := func(q string) string {
		if names == nil {
			return q
		}
		return q + ` WHERE keyspace_name = ?`
	}

	err := scan(where(`SELECT keyspace_name, durable_writes, replication FROM system_schema.keyspaces`), func(row map[string]any) error {
		ks, err := keyspaceFromRow(row)
		if err != nil {
			return err
		}
		kss[ks.Name] = ks
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("system_schema.keyspaces: %w", err)
	}
	err = scan(where(`SELECT * FROM system_schema.tables`), func(row map[string]any) error {
		t, err := tableFromRow(row)
		if err != nil {
			return err
		}
		if ks := kss[t.Keyspace]; ks != nil {
			ks.Tables[t.Name] = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("system_schema.tables: %w", err)
	}
	cols := map[*state.Table][]columnRow{}
	err = scan(where(`SELECT keyspace_name, table_name, column_name, clustering_order, kind, position, type FROM system_schema.columns`), func(row map[string]any) error {
		r := columnRow{}
		r.keyspace, _ = row["keyspace_name"].(string)
		r.table, _ = row["table_name"].(string)
		r.name, _ = row["column_name"].(string)
		r.order, _ = row["clustering_order"].(string)
		r.kind, _ = row["kind"].(string)
		r.position, _ = row["position"].(int)
		r.typ, _ = row["type"].(string)
		// Columns of materialized views are listed too: their tables are
		// not in system_schema.tables.
		if ks := kss[r.keyspace]; ks != nil {
			if t := ks.Tables[r.table]; t != nil {
				cols[t] = append(cols[t], r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("system_schema.columns: %w", err)
	}
	for _, ks := range kss {
		for _, t := range ks.Tables {
			if err := setColumns(t, cols[t]); errors.Is(err, errSchemaInFlux) {
				return nil, err
			} else if err != nil {
				return nil, invalidSchema{err}
			}
		}
	}
	return kss, nil
}

// keyspaceFromRow converts a system_schema.keyspaces row.
func keyspaceFromRow(row map[string]any) (*state.Keyspace, error) {
	name, _ := row["keyspace_name"].(string)
	dw, _ := row["durable_writes"].(bool)
	repl, _ := row["replication"].(map[string]string)
	ks := &state.Keyspace{Name: name, DurableWrites: dw, Tables: map[string]*state.Table{}, Origin: LiveOrigin}
	ks.Replication = state.Replication{Class: strings.TrimPrefix(repl["class"], strategyPackage), Factors: map[string]int{}}
	for k, v := range repl {
		if k == "class" {
			continue
		}
		rf, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("keyspace %s: replication %s = %q is not a whole number (transient replication is not supported)", name, k, v)
		}
		ks.Replication.Factors[k] = rf
	}
	return ks, nil
}

// tableFromRow converts a system_schema.tables row, without its columns.
func tableFromRow(row map[string]any) (*state.Table, error) {
	ks, _ := row["keyspace_name"].(string)
	name, _ := row["table_name"].(string)
	t := &state.Table{Keyspace: ks, Name: name, Options: map[string]state.OptionValue{}, Origin: LiveOrigin}
	for _, opt := range state.SortedKeys(state.TableOptions) {
		raw, ok := row[opt]
		if !ok || raw == nil {
			continue // not a column of this Cassandra version's system_schema.tables
		}
		v, err := optionValue(state.TableOptions[opt], raw)
		if err != nil {
			return nil, fmt.Errorf("table %s.%s: option %s: %w", ks, name, opt, err)
		}
		t.Options[opt] = v
	}
	return t, nil
}

// optionValue formats a system_schema.tables value as render does.
func optionValue(kind state.OptionKind, raw any) (state.OptionValue, error) {
	bad := func() (state.OptionValue, error) {
		return state.OptionValue{}, fmt.Errorf("unexpected value %#v (%T)", raw, raw)
	}
	switch kind {
	case state.OptionString:
		s, ok := raw.(string)
		if !ok {
			return bad()
		}
		return state.OptionValue{Scalar: s, Quoted: true}, nil
	case state.OptionInt:
		switch n := raw.(type) {
		case int:
			return state.OptionValue{Scalar: strconv.Itoa(n)}, nil
		case int64:
			return state.OptionValue{Scalar: strconv.FormatInt(n, 10)}, nil
		case int32:
			return state.OptionValue{Scalar: strconv.FormatInt(int64(n), 10)}, nil
		}
		return bad()
	case state.OptionFloat:
		switch f := raw.(type) {
		case float64:
			return state.OptionValue{Scalar: strconv.FormatFloat(f, 'f', -1, 64)}, nil
		case float32:
			return state.OptionValue{Scalar: strconv.FormatFloat(float64(f), 'f', -1, 64)}, nil
		}
		return bad()
	case state.OptionBool:
		b, ok := raw.(bool)
		if !ok {
			return bad()
		}
		return state.OptionValue{Scalar: strconv.FormatBool(b)}, nil
	case state.OptionMap:
		m, ok := raw.(map[string]string)
		if !ok {
			return bad()
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = v
		}
		return state.OptionValue{Map: out}, nil
	}
	return bad()
}

// columnRow is one system_schema.columns row.
type columnRow struct {
	keyspace, table, name, order, kind, typ string
	position                                int
}

// setColumns fills a table's columns and key from its column rows.
func setColumns(t *state.Table, rows []columnRow) error {
	var pk, ck, rest []columnRow
	for _, r := range rows {
		switch r.kind {
		case "partition_key":
			pk = append(pk, r)
		case "clustering":
			ck = append(ck, r)
		case "static", "regular":
			rest = append(rest, r)
		default:
			return fmt.Errorf("table %s.%s: column %s has unknown kind %q", t.Keyspace, t.Name, r.name, r.kind)
		}
	}
	if len(pk) == 0 {
		return fmt.Errorf("table %s.%s: system_schema.columns lists no partition key column: %w", t.Keyspace, t.Name, errSchemaInFlux)
	}
	byPosition := func(rs []columnRow) {
		sort.Slice(rs, func(i, j int) bool { return rs[i].position < rs[j].position })
	}
	byPosition(pk)
	byPosition(ck)
	sort.Slice(rest, func(i, j int) bool { return rest[i].name < rest[j].name })
	for _, r := range pk {
		t.PartitionKey = append(t.PartitionKey, r.name)
		t.Columns = append(t.Columns, state.Column{Name: r.name, Type: r.typ})
	}
	for _, r := range ck {
		t.Clustering = append(t.Clustering, state.ClusteringColumn{Name: r.name, Descending: r.order == "desc"})
		t.Columns = append(t.Columns, state.Column{Name: r.name, Type: r.typ})
	}
	for _, r := range rest {
		t.Columns = append(t.Columns, state.Column{Name: r.name, Type: r.typ, Static: r.kind == "static"})
	}
	return nil
}
