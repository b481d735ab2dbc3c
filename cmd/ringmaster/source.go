package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
)

// repoFlags are the flags every command that reads the repository takes.
type repoFlags struct {
	repo   string
	ref    string
	env    string
	limits render.Limits
}

func (r *repoFlags) register(fs *flag.FlagSet, withRef bool) {
	fs.StringVar(&r.repo, "repo", ".", "repository: a directory, or a Git URL (file://, https://, ssh://, user@host:path)")
	if withRef {
		fs.StringVar(&r.ref, "ref", "", "branch, tag or commit to read (default: the directory as it is on disk, or the remote's HEAD)")
	}
	fs.StringVar(&r.env, "env", "", "environment")
	r.limits = render.Limits{MaxFileBytes: render.DefaultMaxFileBytes, MaxRepoBytes: render.DefaultMaxRepoBytes, MaxAliasNodes: render.DefaultMaxAliasNodes, MaxNodes: render.DefaultMaxNodes}
	fs.Var(positiveInt{&r.limits.MaxFileBytes}, "max-file-bytes", "largest manifest file read, in bytes")
	fs.Var(positiveInt{&r.limits.MaxRepoBytes}, "max-repo-bytes", "most bytes of manifests read from the repository in all")
	fs.Var(positiveInt{&r.limits.MaxAliasNodes}, "max-alias-nodes", "most YAML nodes that aliases may add to one document")
	fs.Var(positiveInt{&r.limits.MaxNodes}, "max-nodes", "most YAML nodes of all manifests together, as written")
}

// positiveInt is a flag value that must be a whole number above zero.
type positiveInt struct{ p *int64 }

func (v positiveInt) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v positiveInt) Set(s string) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a whole number above zero")
	}
	*v.p = n
	return nil
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

// openRevision opens the repository location and loads it at rf.ref.
func openRevision(ctx context.Context, rf repoFlags) (*gitsource.Source, *revision, error) {
	src, err := openSource(ctx, rf.repo)
	if err != nil {
		return nil, nil, err
	}
	rev, err := loadRevision(ctx, src, rf.ref, rf.limits)
	return src, rev, err
}

// loadRevision reads and loads the repository at ref. With located
// problems the revision still carries what loaded (repo may be non-nil),
// so that validate can report every problem at once.
func loadRevision(ctx context.Context, src *gitsource.Source, ref string, limits render.Limits) (*revision, error) {
	snap, err := src.Snapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	repo, err := render.Load(ctx, snap.FS, limits)
	if errors.Is(err, render.ErrNoRepository) {
		err = fmt.Errorf("%s at %s: %w", src.Location(), snap.Revision, err)
	}
	return &revision{snapshot: snap, repo: repo}, err
}

// printProblems writes an error: located problems one per line, anything
// else as "ringmaster: message".
func printProblems(w io.Writer, err error) {
	for _, l := range problemLines(err) {
		fmt.Fprintln(w, l)
	}
}

// evaluated is an environment rendered and checked.
type evaluated struct {
	result   *render.Result
	findings []policies.Finding
}

// renderAndCheck renders env and runs the policies over the change from
// `from` (nil: an empty cluster) to the rendered state. It goes as far as
// it can: a render with problems still has its partial state checked by
// the rules that compiled, and the error joins every problem, so that one
// run reports everything. With an error the results must not be applied.
func renderAndCheck(ctx context.Context, repo *render.Repository, env string, from *state.State) (*evaluated, *diff.ChangeSet, error) {
	res, renderErr := repo.Render(ctx, env)
	if res == nil {
		return nil, nil, renderErr
	}
	engine, compileErr := policies.Compile(res.Rules)
	if from == nil {
		from = state.New(env)
		from.Cluster = res.State.Cluster
	}
	cs := diff.Compute(from, res.State, diff.Options{})
	ev := &evaluated{result: res}
	if engine != nil {
		findings, err := engine.Evaluate(ctx, cs)
		if err != nil {
			return nil, nil, err
		}
		ev.findings = findings
	}
	if err := joinProblems(renderErr, compileErr); err != nil {
		return ev, cs, err
	}
	return ev, cs, nil
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
