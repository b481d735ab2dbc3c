// Package reposource is sync's Source over a Git repository (or a plain
// folder): a revision is read with internal/gitsource, loaded and rendered
// with render, and given to sync as a Target. The CLI and the controller
// read the repository through it.
package reposource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	gosync "sync"
	"testing/fstest"

	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/render"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Source is a repository location opened once, for any number of
// revisions. Safe for concurrent use if gitsource's Source is.
type Source struct {
	git    *gitsource.Source
	limits render.Limits
	cache  *render.Cache // nil: every revision is parsed afresh

	mu   gosync.Mutex
	last map[string]*rmsync.Target // environment → its target at lastCommit
	// lastCommit is the commit the targets in last were rendered from.
	lastCommit string
}

var _ rmsync.Source = (*Source)(nil)

// Options tune a Source.
type Options struct {
	// Limits bound what loading a revision may read (zero fields: the
	// defaults).
	Limits render.Limits
	// Git are the options of the underlying checkout.
	Git gitsource.Options
	// CacheParses keeps the parse of every file of the last revision
	// loaded, by content: a daemon that loads revision after revision
	// parses only the files that changed.
	CacheParses bool
}

// Open opens the repository at location: a folder, or a Git URL.
func Open(ctx context.Context, location string, opts Options) (*Source, error) {
	g, err := gitsource.Open(ctx, location, opts.Git)
	if err != nil {
		return nil, err
	}
	src := &Source{git: g, limits: opts.Limits}
	if opts.CacheParses {
		src.cache = render.NewCache()
	}
	return src, nil
}

// Fetch brings a remote repository's branches and tags up to date; a
// local folder is read as it is, and Fetch does nothing.
func (s *Source) Fetch(ctx context.Context) error { return s.git.Fetch(ctx) }

// Location is where the repository was opened from, for messages.
func (s *Source) Location() string { return s.git.Location() }

// Head names the commit ref resolves to, without loading it: its hash
// and its label for people ("main (3f2a9c1)").
func (s *Source) Head(ctx context.Context, ref string) (commit, label string, err error) {
	snap, err := s.git.Snapshot(ctx, ref)
	var untrusted *gitsource.UntrustedError
	if errors.As(err, &untrusted) {
		return untrusted.Commit, untrusted.Revision, nil // named, though refused
	}
	if err != nil {
		return "", "", err
	}
	r := &Revision{Snapshot: snap}
	return snap.Commit, r.Label(), nil
}

// Revision is the repository loaded at one ref.
type Revision struct {
	Snapshot *gitsource.Snapshot
	// Repo is what loaded; with located problems it may hold part of the
	// repository, or be nil.
	Repo *render.Repository
}

// Revision reads and loads the repository at ref ("" the default: the
// folder as it is on disk, or the remote's HEAD). With located problems
// the Revision still carries what loaded, so that every problem can be
// reported at once. A revision with no ringmaster repository wraps
// render.ErrNoRepository.
func (s *Source) Revision(ctx context.Context, ref string) (*Revision, error) {
	snap, err := s.git.Snapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.load(ctx, snap)
}

// load loads the repository of snap.
func (s *Source) load(ctx context.Context, snap *gitsource.Snapshot) (*Revision, error) {
	var repo *render.Repository
	var err error
	if s.cache != nil {
		repo, err = s.cache.Load(ctx, snap.FS, s.limits)
	} else {
		repo, err = render.Load(ctx, snap.FS, s.limits)
	}
	if errors.Is(err, render.ErrNoRepository) {
		err = fmt.Errorf("%s at %s: %w", s.git.Location(), snap.Revision, err)
	}
	return &Revision{Snapshot: snap, Repo: repo}, err
}

// Target renders env at ref (see sync.Source). With CacheParses, the
// target of a commit is kept: asked again for the same commit (a daemon's
// poll of an unchanged branch), Target returns it without rendering. A
// Target is read-only once made, so sharing it is safe. A folder's
// working tree is rendered every time: its files may change with no
// commit.
func (s *Source) Target(ctx context.Context, ref, env string) (*rmsync.Target, error) {
	if s.cache != nil {
		snap, err := s.git.Snapshot(ctx, ref)
		if err != nil {
			return nil, err
		}
		if snap.Revision != gitsource.WorkingTree && snap.Commit != "" {
			s.mu.Lock()
			t, ok := s.last[env]
			hit := ok && s.lastCommit == snap.Commit
			s.mu.Unlock()
			if hit {
				return t, nil
			}
			t, err := s.target(ctx, snap, env)
			if err == nil {
				s.mu.Lock()
				if s.lastCommit != snap.Commit {
					s.lastCommit, s.last = snap.Commit, map[string]*rmsync.Target{}
				}
				s.last[env] = t
				s.mu.Unlock()
			}
			return t, err
		}
	}
	rev, err := s.Revision(ctx, ref)
	if err != nil {
		return nil, err
	}
	return rev.Target(ctx, env)
}

// Cluster is the cluster env's own manifests name at ref (ringmaster.yaml
// and environments/<env>/ only, without the rest of the repository): what
// a command may start connecting to and reading while the whole
// repository loads. It is a guess the full render must confirm: a caller
// compares it with the Target's cluster and starts over when they differ.
func (s *Source) Cluster(ctx context.Context, ref, env string) (state.Cluster, error) {
	snap, err := s.git.Snapshot(ctx, ref)
	if err != nil {
		return state.Cluster{}, err
	}
	own := fstest.MapFS{}
	for _, root := range []string{"ringmaster.yaml", path.Join("environments", env)} {
		err := fs.WalkDir(snap.FS, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			// Load bounds what it reads; this reads first, so it bounds too.
			if info, err := d.Info(); err != nil || (s.limits.MaxFileBytes > 0 && info.Size() > s.limits.MaxFileBytes) {
				return fmt.Errorf("%s: too large to read ahead", p)
			}
			data, err := fs.ReadFile(snap.FS, p)
			if err != nil {
				return err
			}
			own[p] = &fstest.MapFile{Data: data}
			return nil
		})
		if err != nil {
			return state.Cluster{}, fmt.Errorf("read %s: %w", root, err)
		}
	}
	repo, err := render.Load(ctx, own, s.limits)
	if repo == nil {
		return state.Cluster{}, err
	}
	res, err := repo.Render(ctx, env)
	if res == nil {
		return state.Cluster{}, err
	}
	return res.State.Cluster, nil
}

// target loads snap and renders env.
func (s *Source) target(ctx context.Context, snap *gitsource.Snapshot, env string) (*rmsync.Target, error) {
	rev, err := s.load(ctx, snap)
	if err != nil {
		return nil, err
	}
	return rev.Target(ctx, env)
}

// Target renders env of the revision. With located problems the Target
// holds what rendered (or is nil when nothing did) and the error joins
// every problem; such a Target must never be applied. An environment the
// revision does not have wraps render.ErrUnknownEnvironment.
func (r *Revision) Target(ctx context.Context, env string) (*rmsync.Target, error) {
	if r.Repo == nil {
		return nil, fmt.Errorf("%s: nothing loaded", r.Snapshot.Revision)
	}
	res, err := r.Repo.Render(ctx, env)
	if res == nil {
		return nil, err
	}
	return &rmsync.Target{Desired: res.State, Rules: res.Rules, Commit: r.Snapshot.Commit, Revision: r.Label()}, err
}

// Label names the revision for people: "main (3f2a9c1)", or "working
// tree at 3f2a9c1" for a folder with uncommitted changes.
func (r *Revision) Label() string {
	label := r.Snapshot.Revision
	if label == gitsource.WorkingTree && len(r.Snapshot.Commit) >= 7 {
		label = fmt.Sprintf("working tree at %s", r.Snapshot.Commit[:7])
	}
	return label
}
