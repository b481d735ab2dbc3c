package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/render"
)

// renderedTarget is the document `render -o yaml|json` prints.
type renderedTarget struct {
	Environment string          `json:"environment" yaml:"environment"`
	Revision    string          `json:"revision" yaml:"revision"`
	ZooKeeper   renderedZK      `json:"zookeeper" yaml:"zookeeper"`
	Cassandra   renderedCQLPart `json:"cassandra" yaml:"cassandra"`
}

type renderedZK struct {
	Root   string         `json:"root" yaml:"root"`
	Znodes []renderedNode `json:"znodes" yaml:"znodes"`
}

type renderedNode struct {
	Path   string `json:"path" yaml:"path"`
	Kind   string `json:"kind" yaml:"kind"`
	Source string `json:"source" yaml:"source"`
	Data   string `json:"data" yaml:"data"`
}

type renderedCQLPart struct {
	Datacenters []string `json:"datacenters" yaml:"datacenters"`
	CQL         []string `json:"cql" yaml:"cql"`
}

// runRender prints an environment's concrete target.
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("render", "render --env ENV [--repo DIR|URL] [--ref REF] [-o yaml|json|cql]", stdout, stderr)
	var rf repoFlags
	rf.register(c.fs, true)
	output := c.fs.String("o", "yaml", "output: yaml, json or cql")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if rf.env == "" {
		return c.usageError("--env is required")
	}
	if err := oneOf("-o", *output, "yaml", "json", "cql"); err != nil {
		return c.usageError("%v", err)
	}
	_, rev, err := openRevision(ctx, rf)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	res, err := rev.Repo.Render(ctx, rf.env)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	st := res.State
	if *output == "cql" {
		for _, stmt := range render.SchemaCQL(st) {
			fmt.Fprintln(stdout, stmt)
			fmt.Fprintln(stdout)
		}
		return exitOK
	}
	target := renderedTarget{
		Environment: rf.env,
		Revision:    rev.Snapshot.Revision,
		ZooKeeper:   renderedZK{Root: st.Cluster.ZooKeeperRoot},
		Cassandra:   renderedCQLPart{Datacenters: st.Cluster.Datacenters, CQL: render.SchemaCQL(st)},
	}
	for _, p := range state.SortedKeys(st.Znodes) {
		z := st.Znodes[p]
		data := string(z.Data)
		if !utf8.Valid(z.Data) {
			data = fmt.Sprintf("%q", z.Data)
		}
		target.ZooKeeper.Znodes = append(target.ZooKeeper.Znodes, renderedNode{
			Path: path.Join(st.Cluster.ZooKeeperRoot, p), Kind: z.Kind, Source: z.Origin.String(), Data: data,
		})
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(target); err != nil {
			fmt.Fprintf(stderr, "ringmaster render: %v\n", err)
			return exitError
		}
		return exitOK
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(target); err != nil {
		fmt.Fprintf(stderr, "ringmaster render: %v\n", err)
		return exitError
	}
	fmt.Fprint(stdout, b.String())
	return exitOK
}
