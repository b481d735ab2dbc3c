package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// repoFlags are the flags every command that reads the repository takes.
type repoFlags struct {
	repo   string
	ref    string
	env    string
	limits render.Limits
	// trustedKeys is a file of armored OpenPGP public keys: when set,
	// only commits signed by one of them are read.
	trustedKeys string
}

func (r *repoFlags) register(fs *flag.FlagSet, withRef bool) {
	fs.StringVar(&r.repo, "repo", ".", "repository: a directory, or a Git URL (file://, https://, ssh://, user@host:path)")
	if withRef {
		fs.StringVar(&r.ref, "ref", "", "branch, tag or commit to read (default: the directory as it is on disk, or the remote's HEAD)")
	}
	fs.StringVar(&r.env, "env", "", "environment")
	registerLimits(fs, &r.limits)
	registerTrustedKeys(fs, &r.trustedKeys)
}

// registerTrustedKeys registers --trusted-keys.
func registerTrustedKeys(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "trusted-keys", envOr("RINGMASTER_TRUSTED_KEYS", ""), "file of armored OpenPGP public keys: read only commits signed by one of them (env RINGMASTER_TRUSTED_KEYS)")
}

// gitOptions are the Git options of a repository read with the trusted
// keys in file (none when empty).
func gitOptions(file string) (gitsource.Options, error) {
	if file == "" {
		return gitsource.Options{}, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return gitsource.Options{}, fmt.Errorf("--trusted-keys: %w", err)
	}
	return gitsource.Options{TrustedKeys: string(raw)}, nil
}

// registerLimits registers the input limit flags, set to the defaults.
func registerLimits(fs *flag.FlagSet, l *render.Limits) {
	*l = render.Limits{MaxFileBytes: render.DefaultMaxFileBytes, MaxRepoBytes: render.DefaultMaxRepoBytes, MaxAliasNodes: render.DefaultMaxAliasNodes, MaxNodes: render.DefaultMaxNodes}
	fs.Var(positiveInt{&l.MaxFileBytes}, "max-file-bytes", "largest manifest file read, in bytes")
	fs.Var(positiveInt{&l.MaxRepoBytes}, "max-repo-bytes", "most bytes of manifests read from the repository in all")
	fs.Var(positiveInt{&l.MaxAliasNodes}, "max-alias-nodes", "most YAML nodes that aliases may add to one document")
	fs.Var(positiveInt{&l.MaxNodes}, "max-nodes", "most YAML nodes of all manifests together, as written")
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

// openSource opens the repository location once for several revisions.
func openSource(ctx context.Context, rf repoFlags) (*reposource.Source, error) {
	g, err := gitOptions(rf.trustedKeys)
	if err != nil {
		return nil, err
	}
	return reposource.Open(ctx, rf.repo, reposource.Options{Limits: rf.limits, Git: g})
}

// openRevision opens the repository location and loads it at rf.ref.
func openRevision(ctx context.Context, rf repoFlags) (*reposource.Source, *reposource.Revision, error) {
	src, err := openSource(ctx, rf)
	if err != nil {
		return nil, nil, err
	}
	rev, err := src.Revision(ctx, rf.ref)
	return src, rev, err
}

// printProblems writes an error: located problems one per line, anything
// else as "ringmaster: message".
func printProblems(w io.Writer, err error) {
	for _, l := range problemLines(err) {
		fmt.Fprintln(w, l)
	}
}

// checkRevision renders env of rev and checks the change from `from` (nil:
// an empty cluster) to it. It goes as far as it can: a render with
// problems still has its partial state checked by the rules that compiled,
// and the error joins every problem, so that one run reports everything.
// With an error the evaluation must not be applied.
func checkRevision(ctx context.Context, rev *reposource.Revision, env string, from *state.State) (*rmsync.Evaluation, error) {
	target, renderErr := rev.Target(ctx, env)
	if target == nil {
		return nil, renderErr
	}
	ev, err := rmsync.Check(ctx, from, target)
	if ev == nil {
		return nil, err
	}
	return ev, joinProblems(renderErr, err)
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
