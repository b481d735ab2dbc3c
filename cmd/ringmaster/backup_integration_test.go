package main

import (
	"path"
	"path/filepath"
	"strings"
	"testing"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestBackupAndRestore: after a backup, the environment's znodes are
// deleted and a managed table dropped; restore brings back the znodes,
// their ACLs and the schema, under the apply lock, and diff then finds no
// change. A dry run changes nothing.
func TestBackupAndRestore(t *testing.T) {
	r := newLiveRepo(t)
	if code, out, errOut := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	pipeline := path.Join(r.root, state.ConfigDir, "ingest/pipeline")
	custom := gozk.WorldACL(gozk.PermRead | gozk.PermWrite | gozk.PermDelete | gozk.PermAdmin)
	if _, err := r.z.Conn.SetACL(pipeline, custom, -1); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "it.backup")
	if code, out, errOut := runTo(t, nil, r.args("backup", "-o", file)...); code != exitOK || !strings.Contains(out, "Backup of it written") {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
	}

	// The disaster: the environment's whole tree gone (data and meta), a
	// managed table dropped.
	if err := itest.DeleteTree(r.z.Conn, r.root); err != nil {
		t.Fatal(err)
	}
	session := itest.Cassandra(t, "dc1")
	if err := session.Query("DROP TABLE " + r.keyspace + ".events").Exec(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitChanges {
		t.Fatalf("diff after the disaster: exit %d, want changes", code)
	}

	code, out, errOut := runTo(t, nil, append(r.args("restore", "--dry-run"), file)...)
	if code != exitOK || !strings.Contains(out, "Dry run: nothing restored") || !strings.Contains(out, "+ table "+r.keyspace+".events") {
		t.Fatalf("restore --dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	if ok, _, _ := r.z.Synced(t).Exists(pipeline); ok {
		t.Fatal("the dry run restored a znode")
	}
	code, out, errOut = runTo(t, nil, append(r.args("restore", "--auto-approve"), file)...)
	if code != exitOK || !strings.Contains(out, "Restore complete") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("diff after the restore: exit %d\n%s\n%s", code, out, errOut)
	}
	acl, _, err := r.z.Synced(t).GetACL(pipeline)
	if err != nil || len(acl) != 1 || acl[0].Perms != custom[0].Perms {
		t.Fatalf("the ACL after the restore: %+v, %v (want %+v)", acl, err, custom)
	}
	// A backup of another environment is refused.
	if code, _, errOut := runTo(t, nil, "restore", "--repo", r.dir, "--env", "other", file); code != exitError || !strings.Contains(errOut, "backup of environment it") {
		t.Fatalf("restore into another environment: exit %d\n%s", code, errOut)
	}
}
