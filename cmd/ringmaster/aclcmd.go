package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/internal/zkacl"
)

// runACL dispatches acl show and acl digest.
func runACL(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	verb, rest := findVerb(args)
	switch verb {
	case "show":
		return runACLShow(ctx, rest, stdout, stderr)
	case "digest":
		return runACLDigest(rest, os.Stdin, stdout, stderr)
	case "":
		c := newCmdline("acl", "acl show --env ENV [--repo DIR|URL] | acl digest USER < password", stdout, stderr)
		if _, code, ok := c.parse(args, 1, 1); !ok {
			return code
		}
		return c.usageError("want a subcommand: show or digest")
	}
	fmt.Fprintf(stderr, "ringmaster acl: unknown subcommand %q (want show or digest)\n", verb)
	return exitError
}

// runACLShow prints who holds which role, what each kind of node grants,
// and every znode whose ACL differs from that (apply repairs them).
func runACLShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("acl show", "acl show --env ENV [--repo DIR|URL]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	cf.register(c.fs, useZK)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	root := t.Root()
	pol := t.Desired.Cluster.ACL
	if pol == nil {
		fmt.Fprintf(stdout, "Environment %s declares no ACL policy (cluster.zookeeper.acl): ringmaster creates its znodes open to everyone (world:anyone, cdrwa).\n", rf.env)
		return exitOK
	}
	printACLPolicy(stdout, rf.env, root, pol)
	drift, err := livestore.ACLs{Client: z}.Drift(ctx, root, pol)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster acl show: %v\n", err)
		return exitError
	}
	if len(drift) == 0 {
		fmt.Fprintf(stdout, "\nEvery znode under %s has the ACL the policy gives it.\n", root)
		return exitOK
	}
	nodes, err := z.ReadACLs(ctx, root)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster acl show: %v\n", err)
		return exitError
	}
	rule := zkacl.New(root, pol)
	fmt.Fprintf(stdout, "\n%d znode(s) whose ACL drifted (the next apply repairs them):\n", len(drift))
	for _, rel := range drift {
		abs := path.Join(root, rel)
		have := "(gone)"
		if n, ok := nodes[rel]; ok {
			have = zkacl.Format(n.ACL)
		}
		fmt.Fprintf(stdout, "  %s\n    has:  %s\n    want: %s\n", abs, have, zkacl.Format(rule.For(abs)))
	}
	return exitOK
}

// printACLPolicy prints the roles' identities and each class's ACL.
func printACLPolicy(w io.Writer, env, root string, pol *state.ACLPolicy) {
	fmt.Fprintf(w, "Environment %s, ZooKeeper root %s\n\nRoles:\n", env, root)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, role := range []struct {
		name string
		ids  []state.ACLIdentity
	}{{"writers", pol.Writers}, {"agents", pol.Agents}, {"readers", pol.Readers}} {
		if len(role.ids) == 0 {
			fmt.Fprintf(tw, "  %s\t(none)\t\n", role.name)
		}
		for _, id := range role.ids {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", role.name, id, id.Origin)
		}
	}
	_ = tw.Flush()
	rule := zkacl.New(root, pol)
	fmt.Fprintf(w, "\nACLs:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ex := range []struct{ what, abs string }{
		{"the root, data/, meta/, locks/ and all below", root},
		{"repairs/ and its jobs", path.Join(root, state.RepairsDir)},
		{"locks/repair (the repair lock)", path.Join(root, state.RepairLock)},
		{"agents/, agents/<dc>, agents/<dc>/<rack>", path.Join(root, state.AgentsDir)},
		{"agents/<dc>/<rack>/<node> (made by its agent)", path.Join(root, state.AgentPath("dc", "rack", "node"))},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", ex.what, zkacl.Format(rule.For(ex.abs)))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "  (auth: the identities of the session that made the node)")
}

// runACLDigest prints the digest id of USER with the password read from
// in, for cluster.zookeeper.acl: the repository holds the id, never the
// password.
func runACLDigest(args []string, in io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || strings.Contains(args[0], ":") {
		fmt.Fprintln(stderr, "ringmaster acl digest: usage: acl digest USER (without a colon), with the password on standard input")
		return exitError
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintf(stderr, "ringmaster acl digest: read the password from standard input: %v\n", err)
		return exitError
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "ringmaster acl digest: the password on standard input is empty")
		return exitError
	}
	fmt.Fprintf(stdout, "digest:%s\n", zk.DigestID(args[0], password))
	return exitOK
}
