package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
)

// agentGrace bounds an agent's stop: a nodetool call in flight, then the
// membership removed.
const agentGrace = 20 * time.Second

// runAgent runs the node agent of one Cassandra node until SIGTERM or
// SIGINT.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("agent", "agent --env ENV --node ID --cassandra HOST[:PORT] [--datacenter DC --rack RACK] [--nodetool CMD | --jmx-port PORT]", stdout, stderr)
	var (
		rf       repoFlags
		cf       clusterFlags
		logs     logFlags
		node     = c.fs.String("node", "", "this node's id in the manifests' node selectors (required)")
		dc       = c.fs.String("datacenter", "", "the node's datacenter (default: what the node says, from system.local)")
		rack     = c.fs.String("rack", "", "the node's rack (default: what the node says)")
		cassAddr = c.fs.String("cassandra", "", "the node's CQL address HOST[:PORT] (required; only this node is queried)")
		jmxPort  = c.fs.Int("jmx-port", 7199, "the node's JMX port, for the default --nodetool")
		nodetool = c.fs.String("nodetool", "", "nodetool command line that reaches this node, space-separated (default: nodetool -h HOST -p JMX-PORT)")
		every    = c.fs.Duration("check-interval", 10*time.Second, "how often the node is checked for a restart or an outage")
		repairTO = c.fs.Duration("repair-timeout", 3*time.Hour, "how long one try of a repair job's part may run before nodetool is stopped and the try counted failed")
		yamlOut  = c.fs.String("write-yaml", "", "keep this file holding the node's settings as a cassandra.yaml fragment, for its next boot")
	)
	rf.register(c.fs, true)
	cf.register(c.fs, useZK|useCassandra)
	logs.register(c.fs)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case rf.env == "":
		return c.usageError("--env is required")
	case *node == "":
		return c.usageError("--node is required")
	case *cassAddr == "":
		return c.usageError("--cassandra is required (the node's CQL address)")
	case *every <= 0:
		return c.usageError("--check-interval must be positive")
	case (*dc == "") != (*rack == ""):
		return c.usageError("--datacenter and --rack go together (or neither: the node says)")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return c.usageError("%v", err)
	}
	t, err := envCluster(ctx, rf, &cf)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	lcfg := cf.config(t.Desired.Cluster)
	zcfg, err := lcfg.ZooKeeper()
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster agent: %v\n", err)
		return exitError
	}
	ccfg, err := lcfg.Cassandra([]string{*cassAddr})
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster agent: %v\n", err)
		return exitError
	}
	tool := strings.Fields(*nodetool)
	if len(tool) == 0 {
		host, _, err := net.SplitHostPort(*cassAddr)
		if err != nil {
			host = *cassAddr
		}
		tool = []string{"nodetool", "-h", host, "-p", fmt.Sprint(*jmxPort)}
	}
	cn := &agent.CassandraNode{
		Connect:  func(ctx context.Context) (*cassandra.Node, error) { return cassandra.ConnectNode(ctx, ccfg) },
		NodeTool: tool,
	}
	defer cn.Close()
	err = agent.Run(ctx, agent.Config{
		ZooKeeper: zcfg, Root: t.Root(), Node: *node, Datacenter: *dc, Rack: *rack,
		Cassandra: cn, Version: cmp.Or(version, "dev"), CheckInterval: *every, RepairTimeout: *repairTO, WriteYAML: *yamlOut, Logger: log.With("environment", rf.env),
	})
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster agent: %v\n", err)
		return exitError
	}
	return exitOK
}
