// Command devcluster starts, stops and reports the local ZooKeeper ensemble
// and Cassandra cluster that make cluster-up, make test and make demo use.
//
//	devcluster [-dir DIR] [-variant full|single] [-pom DIR] up|down|status|fetch|env
//	devcluster [-dir DIR] nodetool NODE ARGS...   (NODE: cass1, cass2)
//
// Exit codes: 0 success, 1 failure (a message on standard error), 2 usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	dir := fs.String("dir", ".cache/cluster", "cluster folder: fetched jars, configs, data, logs")
	variant := fs.String("variant", "full", "cluster shape: full (3 ZooKeeper, 2 Cassandra in dc1 and dc2), single, or secure (TLS and authentication; beside full, from its own folder)")
	pom := fs.String("pom", "third_party/cluster", "Maven project listing the server artifacts")
	lib := fs.String("lib", "", "use the jars fetched into this folder (another cluster's lib) instead of fetching")
	timeout := fs.Duration("timeout", 8*time.Minute, "how long up waits for the cluster to be healthy")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: devcluster [flags] up|down|status|fetch|env|nodetool NODE ARGS...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 || (fs.NArg() > 1 && fs.Arg(0) != "nodetool") {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	spec, err := testcluster.SpecByName(*variant)
	if err != nil {
		return fail(err)
	}
	c, err := testcluster.New(*dir, spec)
	if err != nil {
		return fail(err)
	}
	c.PomDir = *pom
	c.Progress = os.Stdout
	if *lib != "" {
		if err := c.ShareLib(*lib); err != nil {
			return fail(err)
		}
	}

	switch fs.Arg(0) {
	case "fetch":
		err = c.Fetch(ctx)
	case "up":
		start := time.Now()
		if err = c.Fetch(ctx); err != nil {
			break
		}
		upCtx, cancel := context.WithTimeout(ctx, *timeout)
		err = c.Up(upCtx)
		cancel()
		if err == nil {
			zkv, cv := c.Versions()
			fmt.Printf("cluster %q up in %s: ZooKeeper %s, Cassandra %s\n", spec.Name, time.Since(start).Round(100*time.Millisecond), zkv, cv)
			printEnv(c)
		}
	case "down":
		if loaded, lerr := testcluster.Load(*dir); lerr == nil {
			c = loaded
		}
		err = c.Down()
		if err == nil {
			fmt.Printf("cluster in %s stopped; no server process left\n", c.Dir)
		}
	case "status":
		loaded, lerr := testcluster.Load(*dir)
		if lerr != nil {
			return fail(lerr)
		}
		return status(ctx, loaded)
	case "nodetool":
		return nodetool(ctx, *dir, fs.Args()[1:])
	case "env":
		loaded, lerr := testcluster.Load(*dir)
		if lerr != nil {
			return fail(lerr)
		}
		printEnv(loaded)
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// nodetool runs nodetool from the cluster's Cassandra jars against a node.
func nodetool(ctx context.Context, dir string, args []string) int {
	if len(args) < 1 {
		return fail(fmt.Errorf("nodetool needs a node name (cass1, cass2) and arguments"))
	}
	c, err := testcluster.Load(dir)
	if err != nil {
		return fail(err)
	}
	node, ok := c.Spec.CassandraByName(args[0])
	if !ok {
		return fail(fmt.Errorf("no Cassandra node %q in the %s cluster", args[0], c.Spec.Name))
	}
	out, err := c.NodeTool(ctx, node, args[1:]...)
	fmt.Print(out)
	if err != nil {
		return fail(err)
	}
	return 0
}

func status(ctx context.Context, c *testcluster.Cluster) int {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tKIND\tADDRESS\tPID\tHEALTH")
	healthy := true
	for _, s := range c.Status(ctx) {
		pid := "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, s.Address, pid, s.Health)
		healthy = healthy && s.Healthy
	}
	tw.Flush()
	if !healthy {
		return 1
	}
	return 0
}

// printEnv prints the addresses as shell variables, the form make and the
// tests read.
func printEnv(c *testcluster.Cluster) {
	fmt.Printf("RINGMASTER_ZK_SERVERS=%s\n", c.Spec.ZooKeeperConnect())
	fmt.Printf("RINGMASTER_CASSANDRA_HOSTS=%s\n", c.Spec.CassandraContactPoints())
	fmt.Printf("RINGMASTER_TEST_CLUSTER=%s\n", c.Dir)
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
	return 1
}
