package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runMembers lists an environment's node agents beside the nodes
// Cassandra knows: nodes with no agent, and agents whose node is down.
func runMembers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("members", "members --env ENV [--repo DIR|URL] [--json]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	asJSON := c.fs.Bool("json", false, "print the members as JSON")
	cf.register(c.fs, useZK|useCassandra)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	members, err := agent.ReadMembers(ctx, z, t.Root())
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster members: %v\n", err)
		return exitError
	}
	live, err := rmsync.ReadLive(ctx, livestore.Tree{Client: z}, nil, rf.env, t.Root())
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster members: %v\n", err)
		return exitError
	}
	gen := live.Meta.Generation.Generation
	// What Cassandra knows, to find nodes without an agent; members work
	// without it (Cassandra down), and say so.
	var nodes []cassandra.Peer
	var cassErr error
	if ccfg, err := cf.config(t.Desired.Cluster).Cassandra(t.Desired.Cluster.CassandraContactPoints); err != nil {
		cassErr = err
	} else if cc, err := cassandra.Connect(ctx, ccfg); err != nil {
		cassErr = err
	} else {
		nodes, cassErr = cc.Nodes(ctx)
		cc.Close()
	}
	withAgent := map[string]bool{}
	for _, m := range members {
		withAgent[m.HostID] = true
	}
	var orphans []cassandra.Peer
	for _, n := range nodes {
		if !withAgent[n.HostID] {
			orphans = append(orphans, n)
		}
	}
	converged, behind := agent.Convergence(members, gen)
	if *asJSON {
		out := map[string]any{"generation": gen, "members": members, "converged": converged, "behind": behind, "nodesWithoutAgent": orphans}
		if cassErr != nil {
			out["cassandraError"] = cassErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATACENTER\tRACK\tNODE\tSTATE\tGENERATION\tCONVERGED\tHOST ID")
	for _, m := range members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\n", m.Datacenter, m.Rack, m.Node, m.State, m.Generation, m.Converged(gen), orDash(m.HostID))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "converged: %d/%d agents at generation %d\n", converged, len(members), gen)
	for _, b := range behind {
		fmt.Fprintf(stdout, "not converged: %s\n", b)
	}
	for _, n := range orphans {
		fmt.Fprintf(stdout, "no agent: node %s (%s/%s, host id %s)\n", n.Address, n.Datacenter, n.Rack, n.HostID)
	}
	if cassErr != nil {
		fmt.Fprintf(stdout, "nodes without an agent: unknown (Cassandra: %v)\n", cassErr)
	}
	return exitOK
}
