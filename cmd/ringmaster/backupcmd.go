package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	gosync "sync"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runBackup writes an environment's managed znodes (with ACLs) and
// managed keyspaces' schema into one archive.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("backup", "backup --env ENV [--repo DIR|URL] -o FILE", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	out := c.fs.String("o", "", "file to write the backup to (required)")
	cf.register(c.fs, useZK|useCassandra)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case rf.env == "":
		return c.usageError("--env is required")
	case *out == "":
		return c.usageError("-o FILE is required")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	target, d, live, ok := connectAndRead(ctx, "backup", rf, &cf, stderr)
	if !ok {
		return exitError
	}
	defer d.Close()
	root := target.Root()
	b := &rmsync.Backup{Kind: rmsync.BackupKind, Environment: rf.env, Root: root, TakenAt: time.Now().UTC(),
		Generation: live.Meta.Generation, Keyspaces: map[string]*state.Keyspace{}}
	for name := range live.Meta.Inventory.Keyspaces {
		if ks := live.State.Keyspaces[name]; ks != nil {
			b.Keyspaces[name] = ks
		}
	}
	schema := state.New(rf.env)
	schema.Keyspaces = b.Keyspaces
	b.CQL = strings.Join(render.SchemaCQL(schema), "\n")
	for _, dir := range []string{state.DataDir, state.MetaDir} {
		nodes, err := readWithACLs(ctx, d.ZK, path.Join(root, dir))
		if err != nil {
			fmt.Fprintf(stderr, "ringmaster backup: %v\n", err)
			return exitError
		}
		for rel, z := range nodes {
			z.Path = path.Join(dir, rel)
			b.Znodes = append(b.Znodes, z)
		}
	}
	if err := writeFileAtomic(*out, func(w io.Writer) error { return rmsync.WriteBackup(w, b) }); err != nil {
		fmt.Fprintf(stderr, "ringmaster backup: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Backup of %s written to %s: %d znode(s), %d keyspace(s), generation %d (%s).\n",
		rf.env, *out, len(b.Znodes), len(b.Keyspaces), b.Generation.Generation, b.Generation.Revision)
	return exitOK
}

// readWithACLs reads every node below root with its ACL.
func readWithACLs(ctx context.Context, z *zk.Client, root string) (map[string]rmsync.BackupZnode, error) {
	nodes, err := z.ReadTree(ctx, root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]rmsync.BackupZnode, len(nodes))
	var mu gosync.Mutex
	var wg gosync.WaitGroup
	var first error
	slots := make(chan struct{}, zk.ReadConcurrency)
	for rel, n := range nodes {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			acl, _, err := z.Conn().GetACL(path.Join(root, rel))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = fmt.Errorf("read the ACL of %s: %w", path.Join(root, rel), err)
			}
			bz := rmsync.BackupZnode{Data: n.Data}
			for _, a := range acl {
				bz.ACL = append(bz.ACL, rmsync.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID})
			}
			out[rel] = bz
		})
	}
	wg.Wait()
	return out, first
}

// writeFileAtomic writes p through a temporary file in its folder.
func writeFileAtomic(p string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ringmaster-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// runRestore makes an environment what a backup captured: its data
// znodes, their ACLs and its keyspaces' schema, applied under the apply
// lock (a new generation, so that agents and applications pick it up).
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("restore", "restore --env ENV [--repo DIR|URL] [--dry-run] [--auto-approve] BACKUP-FILE", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	dry := c.fs.Bool("dry-run", false, "show what the restore would change, and change nothing")
	auto := c.fs.Bool("auto-approve", false, "restore without asking (for scripts)")
	cf.register(c.fs, useZK|useCassandra|useApply)
	pos, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	if rf.env == "" {
		return c.usageError("--env is required")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster restore: %v\n", err)
		return exitError
	}
	b, err := rmsync.ReadBackup(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster restore: %s: %v\n", pos[0], err)
		return exitError
	}
	if b.Environment != rf.env {
		fmt.Fprintf(stderr, "ringmaster restore: %s is a backup of environment %s, not %s\n", pos[0], b.Environment, rf.env)
		return exitError
	}
	t, d, live, ok := connectAndRead(ctx, "restore", rf, &cf, stderr)
	if !ok {
		return exitError
	}
	defer d.Close()
	if t.Root() != b.Root {
		fmt.Fprintf(stderr, "ringmaster restore: the backup was taken at %s; the environment's root is %s\n", b.Root, t.Root())
		return exitError
	}
	target := b.Target(t.Desired.Cluster)
	plan, ev, err := rmsync.NewPlan(ctx, live, target, d.Schema())
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	printPlan(stdout, rf.env, target, ev)
	acls := b.ACLs(t.Root())
	if *dry {
		fmt.Fprintf(stdout, "Dry run: nothing restored (%d change(s), and the ACLs of %d znode(s) as they were).\n", len(ev.Changes.Changes), len(acls))
		return exitOK
	}
	if !ev.Changes.Empty() && !*auto && !policies.Denied(ev.Findings) && !confirm(stdout) {
		fmt.Fprintln(stderr, "ringmaster restore: cancelled (answer yes, or pass --auto-approve)")
		return exitError
	}
	info := holderInfo(append([]string{"restore"}, args...))
	progress := func(format string, a ...any) { fmt.Fprintf(stdout, "  "+format+"\n", a...) }
	applier := &rmsync.Applier{Tree: d.Tree(), Schema: d.Schema(), Progress: progress,
		Locker: timeoutLocker{l: d.Locker(info), timeout: cf.lockTimeout, every: lockWaitReport, progress: progress},
		Holder: fmt.Sprintf("%s@%s pid %d (restore)", info.User, info.Host, info.PID), Prefetched: live, PrefetchedEvaluation: ev}
	outcome, err := applier.Apply(ctx, target, plan)
	if outcome != nil {
		printResults(stdout, outcome)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster restore: %v\n", err)
		return exitError
	}
	set, err := restoreACLs(d.ZK, acls)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster restore: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "\nRestore complete: generation %d, %s; ACLs of %d znode(s) put back.\n", outcome.Generation, target.Revision, set)
	return exitOK
}

// restoreACLs sets each znode's ACL back to the backup's where it
// differs, and counts those it set.
func restoreACLs(z *zk.Client, acls map[string][]rmsync.ACL) (int, error) {
	set := 0
	for p, want := range acls {
		have, st, err := z.Conn().GetACL(p)
		if err != nil {
			return set, fmt.Errorf("read the ACL of %s: %w", p, err)
		}
		if sameACL(have, want) {
			continue
		}
		acl := make([]gozk.ACL, len(want))
		for i, a := range want {
			acl[i] = gozk.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
		}
		if _, err := z.Conn().SetACL(p, acl, st.Aversion); err != nil {
			return set, fmt.Errorf("set the ACL of %s: %w", p, err)
		}
		set++
	}
	return set, nil
}

func sameACL(have []gozk.ACL, want []rmsync.ACL) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i].Perms != want[i].Perms || have[i].Scheme != want[i].Scheme || have[i].ID != want[i].ID {
			return false
		}
	}
	return true
}
