package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Errors Apply and Verify wrap, for callers that class failures.
var (
	// ErrSchemaDisagreement: the statement ran, but not every node reported
	// the new schema version within Config.SchemaAgreementTimeout (a node
	// is down, unreachable or slow). Waiting and verifying again may
	// succeed; the change itself need not be repeated.
	ErrSchemaDisagreement = errors.New("schema agreement not reached")
	// ErrMismatch: the live schema does not match the change's desired
	// side after it was applied.
	ErrMismatch = errors.New("live schema does not match the change")
)

// probeTimeout bounds each extra query or connection attempt made to
// explain a failure.
const probeTimeout = 3 * time.Second

// Apply runs one DDL statement and waits until every node reports the same
// schema version. It takes at most Config.Timeout plus
// Config.SchemaAgreementTimeout (less when ctx ends first); when agreement
// fails, about SchemaAgreementTimeout after the statement ran.
//
// Errors name the statement and the coordinator it ran on:
//   - the coordinator refused it (a gocql.RequestError is wrapped; for an
//     unknown datacenter in a replication map the message lists the
//     cluster's datacenters);
//   - it failed without an answer (timeout, no node reachable): whether it
//     was applied is unknown;
//   - ErrSchemaDisagreement: it was applied on the coordinator but schema
//     agreement was not reached in time; the message lists every node
//     whose schema version differs and whether it accepts connections.
func (c *Client) Apply(ctx context.Context, stmt string) error {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout+c.cfg.SchemaAgreementTimeout)
	defer cancel()
	// The driver itself waits for agreement after a schema change (up to
	// SchemaAgreementTimeout, bounded by actx) but only logs a failure:
	// the explicit wait below reports it.
	iter := c.session.Query(stmt).WithContext(actx).Iter()
	host := iter.Host()
	if err := iter.Close(); err != nil {
		return c.statementError(stmt, host, err)
	}
	// The driver's own wait took up to SchemaAgreementTimeout already when
	// agreement failed: check once more briefly rather than wait that long
	// again.
	wait := max(c.cfg.SchemaAgreementTimeout-time.Since(start), time.Second)
	wctx, wcancel := context.WithTimeout(actx, wait)
	defer wcancel()
	if err := c.session.AwaitSchemaAgreement(wctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("apply %s: waiting for schema agreement: %w", oneLine(stmt), ctx.Err())
		}
		return fmt.Errorf("apply %s: %w within %s: ran on %s, but %s: %w",
			oneLine(stmt), ErrSchemaDisagreement, time.Since(start).Round(time.Second), hostName(host), c.versionReport(host), err)
	}
	return nil
}

// statementError explains a statement that failed on host.
func (c *Client) statementError(stmt string, host *gocql.HostInfo, err error) error {
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) {
		hint := ""
		if strings.Contains(reqErr.Message(), "Unrecognized strategy option") {
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			defer cancel()
			if dcs, derr := c.Datacenters(ctx); derr == nil {
				hint = fmt.Sprintf(" (the cluster's datacenters are %s)", strings.Join(dcs, ", "))
			}
		}
		return fmt.Errorf("apply %s: %s refused it: %w%s", oneLine(stmt), hostName(host), err, hint)
	}
	if host == nil {
		return fmt.Errorf("apply %s: no node available to run it: %w", oneLine(stmt), err)
	}
	return fmt.Errorf("apply %s: failed on %s, it may or may not have been applied: %w", oneLine(stmt), hostName(host), err)
}

// versionReport tells which nodes disagree with host about the schema
// version, and whether they accept connections. It never fails: what it
// cannot find out, it says.
func (c *Client) versionReport(host *gocql.HostInfo) string {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if host != nil {
		ctx = pinTo(ctx, host)
	}
	local, err := c.schemaVersion(ctx)
	if err != nil {
		return fmt.Sprintf("its schema version could not be read (%v)", err)
	}
	iter := c.session.Query(`SELECT peer, data_center, schema_version, native_address, native_port FROM system.peers_v2`).
		WithContext(ctx).Consistency(gocql.One).Iter()
	var (
		peer, native net.IP
		dc           string
		version      gocql.UUID
		port         int
		behind       []string
	)
	for iter.Scan(&peer, &dc, &version, &native, &port) {
		if version.String() == local {
			continue
		}
		addr := native
		if len(addr) == 0 || addr.IsUnspecified() {
			addr = peer
		}
		if port == 0 {
			port = c.cfg.Port
		}
		hp := net.JoinHostPort(addr.String(), strconv.Itoa(port))
		reach := "accepts connections"
		if conn, err := net.DialTimeout("tcp", hp, probeTimeout); err != nil {
			reach = fmt.Sprintf("is down or unreachable (%v)", err)
		} else {
			conn.Close()
		}
		behind = append(behind, fmt.Sprintf("node %s (%s) is at schema version %s and %s", hp, dc, version, reach))
	}
	if err := iter.Close(); err != nil {
		return fmt.Sprintf("the other nodes' schema versions could not be read (%v)", err)
	}
	if len(behind) == 0 {
		return fmt.Sprintf("every node now reports schema version %s", local)
	}
	slices.Sort(behind)
	return fmt.Sprintf("it is at schema version %s while %s", local, strings.Join(behind, "; "))
}

// oneLine quotes a statement on one line, for messages.
func oneLine(stmt string) string {
	return strconv.Quote(strings.Join(strings.Fields(stmt), " "))
}

// Verify reads the live schema of the change's keyspace and reports, with
// ErrMismatch, whether it differs from the change's desired side,
// comparing as diff.Compute does (so a verified change does not show up
// in the next diff):
//   - AddKeyspace, ModifyKeyspace: the keyspace exists with the desired
//     replication and durable_writes (its tables are not compared);
//   - DropKeyspace, DropTable: the object is gone;
//   - AddTable: the table exists with the desired columns, key and the
//     options the desired table sets;
//   - ModifyTable: the added columns exist with their types, the dropped
//     ones are gone and the changed options have their new values; the
//     rest of the table is not compared. A change with AlterColumnType or
//     ChangePrimaryKey fails with ErrUnsupported.
//
// Znode changes have nothing to verify here: nil. Read failures are
// returned as they are, without ErrMismatch.
func (c *Client) Verify(ctx context.Context, ch diff.Change) error {
	var ksName string
	switch x := ch.(type) {
	case *diff.AddKeyspace:
		ksName = x.Keyspace.Name
	case *diff.ModifyKeyspace:
		ksName = x.To.Name
	case *diff.DropKeyspace:
		ksName = x.Keyspace.Name
	case *diff.AddTable:
		ksName = x.Table.Keyspace
	case *diff.DropTable:
		ksName = x.Table.Keyspace
	case *diff.ModifyTable:
		ksName = x.To.Keyspace
	case *diff.CreateZnode, *diff.UpdateZnode, *diff.DeleteZnode:
		return nil
	case nil:
		return fmt.Errorf("verify: nil change: %w", ErrUnsupported)
	default:
		return fmt.Errorf("verify %s: change type %T: %w", ch.ID(), ch, ErrUnsupported)
	}
	kss, err := c.readSchema(ctx, []string{ksName})
	if err != nil {
		return fmt.Errorf("verify %s: %w", ch.ID(), err)
	}
	live := kss[ksName]
	problems, err := mismatches(live, ch)
	if err != nil {
		return fmt.Errorf("verify %s: %w", ch.ID(), err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("verify %s: %w: %s", ch.ID(), ErrMismatch, strings.Join(problems, "; "))
	}
	return nil
}

// mismatches compares the live keyspace (nil when absent) with the
// change's desired side.
func mismatches(live *state.Keyspace, ch diff.Change) ([]string, error) {
	switch x := ch.(type) {
	case *diff.DropKeyspace:
		if live != nil {
			return []string{"keyspace still exists"}, nil
		}
		return nil, nil
	case *diff.AddKeyspace:
		return keyspaceMismatches(live, x.Keyspace), nil
	case *diff.ModifyKeyspace:
		return keyspaceMismatches(live, x.To), nil
	}
	var name string
	switch x := ch.(type) {
	case *diff.AddTable:
		name = x.Table.Name
	case *diff.DropTable:
		name = x.Table.Name
	case *diff.ModifyTable:
		name = x.To.Name
	}
	if live == nil {
		if _, drop := ch.(*diff.DropTable); drop {
			return nil, nil
		}
		return []string{"keyspace does not exist"}, nil
	}
	liveT := live.Tables[name]
	switch x := ch.(type) {
	case *diff.DropTable:
		if liveT != nil {
			return []string{"table still exists"}, nil
		}
		return nil, nil
	case *diff.AddTable:
		if liveT == nil {
			return []string{"table does not exist"}, nil
		}
		return tableMismatches(live, liveT, x.Table), nil
	case *diff.ModifyTable:
		if liveT == nil {
			return []string{"table does not exist"}, nil
		}
		want, err := applyTableChanges(liveT, x.Changes)
		if err != nil {
			return nil, err
		}
		return tableMismatches(live, liveT, want), nil
	}
	return nil, fmt.Errorf("change type %T: %w", ch, ErrUnsupported)
}

// applyTableChanges returns a copy of live with the changes' desired side
// applied; its Options hold only the changed options, so that nothing else
// is compared.
func applyTableChanges(live *state.Table, changes []diff.TableChange) (*state.Table, error) {
	want := *live
	want.Columns = slices.Clone(live.Columns)
	want.Options = map[string]state.OptionValue{}
	for _, tc := range changes {
		switch x := tc.(type) {
		case *diff.AddColumn:
			want.Columns = slices.DeleteFunc(want.Columns, func(c state.Column) bool { return c.Name == x.Column.Name })
			want.Columns = append(want.Columns, x.Column)
		case *diff.DropColumn:
			want.Columns = slices.DeleteFunc(want.Columns, func(c state.Column) bool { return c.Name == x.Column.Name })
		case *diff.ModifyOption:
			if x.To != nil {
				want.Options[x.Name] = *x.To
			}
		case *diff.AlterColumnType:
			return nil, fmt.Errorf("column %s: changing its type: %w", x.Name, ErrUnsupported)
		case *diff.ChangePrimaryKey:
			return nil, fmt.Errorf("changing the primary key: %w", ErrUnsupported)
		default:
			return nil, fmt.Errorf("table change %T: %w", tc, ErrUnsupported)
		}
	}
	return &want, nil
}

// keyspaceMismatches compares a keyspace's replication and durable_writes.
func keyspaceMismatches(live, want *state.Keyspace) []string {
	if live == nil {
		return []string{"keyspace does not exist"}
	}
	cs := diff.Compute(stateOf(keyspaceOnly(live)), stateOf(keyspaceOnly(want)), diff.Options{})
	return describe(cs)
}

// tableMismatches compares two versions of a table as diff.Compute does,
// under the live keyspace's settings.
func tableMismatches(liveKS *state.Keyspace, live, want *state.Table) []string {
	from, to := keyspaceOnly(liveKS), keyspaceOnly(liveKS)
	from.Tables[live.Name] = live
	to.Tables[want.Name] = want
	return describe(diff.Compute(stateOf(from), stateOf(to), diff.Options{}))
}

func keyspaceOnly(ks *state.Keyspace) *state.Keyspace {
	cp := *ks
	cp.Tables = map[string]*state.Table{}
	return &cp
}

func stateOf(ks *state.Keyspace) *state.State {
	st := state.New("")
	st.Keyspaces[ks.Name] = ks
	return st
}

// describe words each change as what live lacks.
func describe(cs *diff.ChangeSet) []string {
	var out []string
	for _, ch := range cs.Changes {
		switch x := ch.(type) {
		case *diff.ModifyKeyspace:
			if x.ReplicationChanged {
				out = append(out, fmt.Sprintf("replication is %s, want %s", x.From.Replication, x.To.Replication))
			}
			if x.DurableWritesChanged {
				out = append(out, fmt.Sprintf("durable_writes is %t, want %t", x.From.DurableWrites, x.To.DurableWrites))
			}
		case *diff.ModifyTable:
			for _, tc := range x.Changes {
				out = append(out, describeTableChange(tc))
			}
		default:
			out = append(out, fmt.Sprintf("%s would still %s", ch.ID(), ch.Action()))
		}
	}
	return out
}

func describeTableChange(tc diff.TableChange) string {
	switch x := tc.(type) {
	case *diff.AddColumn:
		return fmt.Sprintf("column %s is missing", describeColumn(x.Column))
	case *diff.DropColumn:
		return fmt.Sprintf("column %s still exists", x.Column.Name)
	case *diff.AlterColumnType:
		return fmt.Sprintf("column %s is %s, want %s", x.Name, describeColumn(x.From), describeColumn(x.To))
	case *diff.ChangePrimaryKey:
		return fmt.Sprintf("primary key is %s, want %s", x.From, x.To)
	case *diff.ModifyOption:
		from := "not set"
		if x.From != nil {
			from = x.From.String()
		}
		return fmt.Sprintf("option %s is %s, want %s", x.Name, from, x.To)
	}
	return fmt.Sprintf("%T", tc)
}

// describeColumn renders "name type [static]".
func describeColumn(c state.Column) string {
	s := c.Name + " " + c.Type
	if c.Static {
		s += " static"
	}
	return s
}
