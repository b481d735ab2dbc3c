package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// writeEntries writes n ConfigEntries of ~110-byte values in files of 100
// documents (issue 13's workload) under base/bulk; value differs per
// version.
func (r *liveRepo) writeEntries(t *testing.T, n int, version string) {
	t.Helper()
	if err := writeEntryFiles(filepath.Join(r.dir, "base/bulk"), n, version); err != nil {
		t.Fatal(err)
	}
}

// writeEntryFiles writes the files of writeEntries into dir, replacing
// what dir held.
func writeEntryFiles(dir string, n int, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for f := 0; f*100 < n; f++ {
		b.Reset()
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			fmt.Fprintf(&b, "---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: e%05d}\nspec:\n  path: bulk/e%05d\n  value: {owner: team-%03d, version: %q, note: %q}\n", i, i, i%100, version, strings.Repeat("x", 60))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.yaml", f)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestTenThousandObjects: the apply that failed every time past ~8,300
// objects (its bookkeeping outgrew one transaction) creates, updates and
// prunes 10,000 znodes, each in one command, and status and diff stay right.
func TestTenThousandObjects(t *testing.T) {
	// 30,000 znode writes and three tree reads load the ensemble: alone,
	// so that tests with short session timeouts elsewhere are not starved.
	itest.Disruptive(t)
	r := newLiveRepo(t)
	const n = 10000
	r.writeEntries(t, n, "v1")
	for _, step := range []string{"create", "update"} {
		if step == "update" {
			r.writeEntries(t, n, "v2")
		}
		code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
		if code != exitOK {
			t.Fatalf("%s of %d: exit %d\n%.2000s\n%s", step, n, code, stdout, stderr)
		}
		if code, stdout, _ := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
			t.Fatalf("diff after the %s: exit %d\n%.2000s", step, code, stdout)
		}
	}
	data, err := r.get(t, "data/config/bulk/e09999")
	if err != nil || !strings.Contains(string(data), `"version":"v2"`) {
		t.Fatalf("an updated znode: %q, %v", data, err)
	}
	inv, err := r.get(t, "meta/inventory")
	if err != nil || len(inv) > 8<<10 {
		t.Fatalf("meta/inventory of %d bytes (%v): the znode entries belong in shards", len(inv), err)
	}
	if err := os.RemoveAll(filepath.Join(r.dir, "base/bulk")); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("prune of %d: exit %d\n%.2000s\n%s", n, code, stdout, stderr)
	}
	if r.exists(t, "data/config/bulk/e00000") {
		t.Fatal("a pruned znode is still there")
	}
	st := r.status(t)
	if st.Ready().Status != "True" || len(st.Results) > 200 || st.ResultsOmitted == 0 {
		t.Fatalf("status after the prune: ready %+v, %d results, %d omitted", st.Ready(), len(st.Results), st.ResultsOmitted)
	}
}
