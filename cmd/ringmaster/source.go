package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
)

// repoFlags are the flags every command that reads the repository takes.
type repoFlags struct {
	repo string
	ref  string
	env  string
}

func (r *repoFlags) register(fs *flag.FlagSet, withRef bool) {
	fs.StringVar(&r.repo, "repo", ".", "repository: a directory, or a Git URL (file://, https://, ssh://, user@host:path)")
	if withRef {
		fs.StringVar(&r.ref, "ref", "", "branch, tag or commit to read (default: the directory as it is on disk, or the remote's HEAD)")
	}
	fs.StringVar(&r.env, "env", "", "environment")
}

// newFlagSet returns a FlagSet that reports parse errors to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ringmaster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// revision is the repository loaded at one ref.
type revision struct {
	snapshot *gitsource.Snapshot
	repo     *render.Repository
}

// openSource opens the repository location once for several snapshots.
func openSource(ctx context.Context, location string) (*gitsource.Source, error) {
	src, err := gitsource.Open(ctx, location, gitsource.Options{})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// openRevision opens the repository location and loads it at ref.
func openRevision(ctx context.Context, location, ref string) (*gitsource.Source, *revision, error) {
	src, err := openSource(ctx, location)
	if err != nil {
		return nil, nil, err
	}
	rev, err := loadRevision(ctx, src, ref)
	return src, rev, err
}

// loadRevision reads and loads the repository at ref.
func loadRevision(ctx context.Context, src *gitsource.Source, ref string) (*revision, error) {
	snap, err := src.Snapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	repo, err := render.Load(snap.FS)
	if err != nil {
		return &revision{snapshot: snap}, err
	}
	return &revision{snapshot: snap, repo: repo}, nil
}

// printProblems writes an error: located problems one per line, anything
// else as "ringmaster: message".
func printProblems(w io.Writer, err error) {
	if ps := render.Problems(err); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintf(w, "ringmaster: %v\n", err)
}

// evaluated is an environment rendered and checked.
type evaluated struct {
	result   *render.Result
	findings []policies.Finding
}

// renderAndCheck renders env and runs the policies over the change from
// `from` (nil: an empty cluster) to the rendered state.
func renderAndCheck(repo *render.Repository, env string, from *state.State) (*evaluated, *diff.ChangeSet, error) {
	res, err := repo.Render(env)
	if err != nil {
		return nil, nil, err
	}
	engine, err := policies.Compile(policyRules(res.Rules))
	if err != nil {
		return nil, nil, err
	}
	if from == nil {
		from = state.New(env)
		from.Cluster = res.State.Cluster
	}
	cs := diff.Compute(from, res.State, diff.Options{})
	return &evaluated{result: res, findings: engine.Evaluate(cs)}, cs, nil
}

// policyRules converts the rules render parsed into the policies engine's.
func policyRules(rules []render.Rule) []policies.Rule {
	out := make([]policies.Rule, len(rules))
	for i, r := range rules {
		out[i] = policies.Rule{
			Name:       r.Policy + "/" + r.Name,
			Expression: r.Expression,
			Message:    r.Message,
			Severity:   policies.Severity(r.Severity),
			Match:      r.Match,
			Kinds:      r.Kinds,
			Origin:     r.Origin,
		}
	}
	return out
}

// printFindings writes one line per finding: "origin: severity CODE: message".
func printFindings(w io.Writer, env string, findings []policies.Finding) {
	for _, f := range findings {
		where := f.Origin.String()
		if where == "" {
			where = f.Object
		}
		fmt.Fprintf(w, "%s: %s %s: [%s] %s\n", where, f.Severity, f.Code, env, f.Message)
	}
}

// annotations groups findings by change ID for the diff encoders.
func annotations(findings []policies.Finding) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for _, f := range findings {
		out[f.Object] = append(out[f.Object], diff.Annotation{Code: f.Code, Severity: string(f.Severity), Message: f.Message})
	}
	return out
}

// isMissingRepo tells whether err says there is no ringmaster repository
// at a revision (so a diff may start from nothing).
func isMissingRepo(err error) bool {
	return errors.Is(err, render.ErrNoRepository)
}
