package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// clicksTable is a second table for the live repository's keyspace.
const clicksTable = `apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: clicks}
spec:
  keyspace: KS
  columns:
    - {name: id, type: uuid}
    - {name: n, type: int}
  primaryKey:
    partition: [id]
  options:
    comment: test clicks
`

// liveDrift runs the live diff as JSON and returns, for every change, its
// RM-DRIFT messages (none: an empty slice).
func liveDrift(t *testing.T, r *liveRepo) map[string][]string {
	t.Helper()
	code, stdout, stderr := runTo(t, nil, r.args("diff", "-o", "json")...)
	if code != exitOK {
		t.Fatalf("diff: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var doc struct {
		Changes []struct {
			ID       string `json:"id"`
			Findings []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"findings"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, stdout)
	}
	out := map[string][]string{}
	for _, c := range doc.Changes {
		out[c.ID] = []string{}
		for _, f := range c.Findings {
			if f.Code == "RM-DRIFT" {
				out[c.ID] = append(out[c.ID], f.Message)
			}
		}
	}
	return out
}

// alterByHand runs one DDL statement outside ringmaster and waits for the
// cluster to agree on it.
func alterByHand(t *testing.T, session *gocql.Session, stmt string) {
	t.Helper()
	if err := session.Query(stmt).Exec(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement after %s: %v", stmt, err)
	}
}

// TestDriftIsPerTable: after an apply, a hand ALTER TABLE of one table
// marks that table as drifted, and neither the keyspace nor the other
// table, though the repository changes both.
func TestDriftIsPerTable(t *testing.T) {
	r := newLiveRepo(t)
	session := itest.Cassandra(t, "dc1")
	r.write("base/clicks.yaml", clicksTable)
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	events, clicks, ks := "table/"+r.keyspace+".events", "table/"+r.keyspace+".clicks", "keyspace/"+r.keyspace

	alterByHand(t, session, fmt.Sprintf("ALTER TABLE %s.events WITH comment = 'by hand'", r.keyspace))
	// The repository changes the other table and the keyspace itself.
	r.write("base/clicks.yaml", strings.Replace(clicksTable, "comment: test clicks", "comment: clicks v2", 1))
	r.write("base/schema.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/schema.yaml")),
		"  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n",
		"  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n  durable_writes: false\n", 1))

	drift := liveDrift(t, r)
	for id, want := range map[string]bool{events: true, clicks: false, ks: false} {
		msgs, changed := drift[id]
		switch {
		case !changed:
			t.Errorf("diff shows no change of %s: %v", id, drift)
		case want && (len(msgs) != 1 || !strings.Contains(msgs[0], "table changed outside ringmaster")):
			t.Errorf("%s was altered by hand, drift %q", id, msgs)
		case !want && len(msgs) > 0:
			t.Errorf("%s was not touched by hand, but is marked: %q", id, msgs)
		}
	}

	// Applying restores the hand change and records every table anew: a
	// later hand change to the other table marks that one only.
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("second apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("diff after the second apply: exit %d, want no changes\n%s\n%s", code, stdout, stderr)
	}
	alterByHand(t, session, fmt.Sprintf("ALTER TABLE %s.clicks WITH comment = 'by hand too'", r.keyspace))
	drift = liveDrift(t, r)
	if msgs := drift[clicks]; len(msgs) != 1 {
		t.Errorf("%s altered by hand after the second apply, drift %q", clicks, msgs)
	}
	if len(drift) != 1 {
		t.Errorf("changes beyond %s: %v", clicks, drift)
	}
}

// TestDatacenterRemovalNeedsAllowance: a change that takes dc2 out of the
// keyspace's replication (written dc2: 0) while the environment declares
// dc2 is denied by RM-POL-014 in diff and apply, and passes, with a
// warning, once the Keyspace lists dc2 in allowDatacenterRemoval.
func TestDatacenterRemovalNeedsAllowance(t *testing.T) {
	r := newLiveRepo(t)
	session := itest.Cassandra(t, "dc1")
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	schema := readFile(t, filepath.Join(r.dir, "base/schema.yaml"))
	const before = "  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n"
	r.write("base/schema.yaml", strings.Replace(schema, before, "  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 0}\n", 1))

	code, stdout, stderr := runTo(t, nil, r.args("diff")...)
	if code != exitError || !strings.Contains(stderr, "deny RM-POL-014") || !strings.Contains(stderr, "drops datacenter dc2") {
		t.Fatalf("diff removing dc2: exit %d, want 1 and RM-POL-014\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitError || !strings.Contains(stderr, "RM-POL-014") {
		t.Fatalf("apply removing dc2: exit %d, want 1 and RM-POL-014\n%s\n%s", code, stdout, stderr)
	}
	if got := liveFactors(t, session, r.keyspace); !strings.Contains(got, "dc2") {
		t.Fatalf("a denied apply changed the replication: %s", got)
	}

	r.write("base/schema.yaml", strings.Replace(schema, before,
		"  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 0}\n  allowDatacenterRemoval: [dc2]\n", 1))
	code, stdout, stderr = runTo(t, nil, r.args("diff")...)
	if code != exitOK || !strings.Contains(stdout, "RM-POL-014 warn") {
		t.Fatalf("diff with the allowance: exit %d, want 0 and an RM-POL-014 warning\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply with the allowance: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := liveFactors(t, session, r.keyspace); strings.Contains(got, "dc2") || !strings.Contains(got, "dc1") {
		t.Fatalf("replication after the allowed removal: %s", got)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("diff after the allowed removal: exit %d, want no changes\n%s\n%s", code, stdout, stderr)
	}
}

// liveFactors reads a keyspace's replication from system_schema.
func liveFactors(t *testing.T, session *gocql.Session, keyspace string) string {
	t.Helper()
	var rep map[string]string
	if err := session.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", keyspace).Scan(&rep); err != nil {
		t.Fatalf("read replication of %s: %v", keyspace, err)
	}
	return fmt.Sprint(rep)
}
