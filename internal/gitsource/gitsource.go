// Package gitsource reads the manifests ringmaster renders from a Git
// repository: it opens a local directory or clones a remote URL into memory,
// fetches, resolves a ref to a commit and presents that commit's tree (or, for
// a local directory and the empty ref, the directory as it is on disk) as an
// fs.FS.
//
// Every error returned by Open, Snapshot and Fetch names the repository (as
// given, with any password redacted) and, where one was given, the ref. Errors
// are classed by the sentinels below, so callers can tell a mistake in the
// request (ErrRefNotFound, ErrAmbiguousRef, ErrInvalidRef, ErrShallow,
// ErrNotRepository, fs.ErrNotExist) from a failure worth retrying (anything
// else, such as a network error during clone or fetch).
//
// Nothing is ever written to a local repository: no fetch, no checkout, no
// index update. Credentials only come from Options, never from the
// repository being read.
package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Sentinel errors. Errors from this package wrap at most one of them; test
// with errors.Is.
var (
	// ErrNotRepository: a non-empty ref was asked of a directory that is not
	// inside a Git repository.
	ErrNotRepository = errors.New("not a Git repository")
	// ErrRefNotFound: the ref names no branch, tag or commit of the
	// repository, or walks past the start of its history (HEAD~99).
	ErrRefNotFound = errors.New("ref not found")
	// ErrAmbiguousRef: the ref matches more than one of the references git's
	// rules expand it to (a branch and a tag both called x, a local and a
	// remote branch) and the commits it abbreviates. The message names
	// each; a full ref name (refs/tags/x) or more hex digits resolve it.
	ErrAmbiguousRef = errors.New("ambiguous ref")
	// ErrShallow: the ref needs a commit the repository does not have
	// because it is a shallow clone (HEAD~1 at --depth 1). The message
	// names the commit and how to fetch the full history.
	ErrShallow = errors.New("shallow history")
	// ErrInvalidRef: the ref is not valid revision syntax, or uses syntax this
	// package does not support (reflog "@{...}", "rev:path", "^{/regex}").
	ErrInvalidRef = errors.New("invalid ref")
	// ErrSymlink: a snapshot's file system was asked to open, read, list or
	// stat a symbolic link, or a path through one. Links are never followed,
	// so a snapshot cannot read outside the tree it was taken from. The
	// error is an *fs.PathError whose Err is a *SymlinkError (which matches
	// ErrSymlink under errors.Is).
	ErrSymlink = errors.New("symbolic links are not followed")
	// ErrSubmodule is wrapped in the *fs.PathError returned when a snapshot of
	// a commit is asked to open a Git submodule entry.
	ErrSubmodule = errors.New("submodules are not supported")
)

// SymlinkError is the Err of the *fs.PathError a snapshot's file system
// returns for a symbolic link it will not follow: Open, ReadFile, ReadDir or
// Stat of a link, or of any path through one. It matches ErrSymlink under
// errors.Is. The same file systems implement fs.ReadLinkFS, so a walk that
// meets an entry whose Type() has fs.ModeSymlink can name the link and its
// target (fs.ReadLink) without this type.
type SymlinkError struct {
	// Link is the slash-separated path of the link in the file system (a
	// prefix of the path asked for when the link is on the way to it).
	Link string
	// Target is the link's target as stored, never resolved; empty if it
	// could not be read.
	Target string
}

// Error reads "symlinks are not followed: base/x -> /etc". Names and
// targets with control characters or invalid UTF-8 are quoted.
func (e *SymlinkError) Error() string {
	if e.Target == "" {
		return "symlinks are not followed: " + printable(e.Link)
	}
	return "symlinks are not followed: " + printable(e.Link) + " -> " + printable(e.Target)
}

// Is reports whether target is ErrSymlink.
func (e *SymlinkError) Is(target error) bool { return target == ErrSymlink }

// printable returns s, or s quoted if it holds anything that could upset a
// terminal or a Markdown comment (control characters, invalid UTF-8).
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// WorkingTree is the Revision of a snapshot of a local directory as it is
// on disk (the empty ref).
const WorkingTree = "working tree"

// remoteName is the name the in-memory clone of a remote repository gives
// its remote.
const remoteName = "origin"

// Options configures Open. The zero value is valid.
type Options struct {
	// Auth authenticates clone and fetch of https and ssh URLs; nil means
	// anonymous https, and go-git's default (the SSH agent) for ssh. It is
	// never used for local directories.
	Auth transport.AuthMethod
	// TrustedKeys, when set, is an armored OpenPGP keyring: a snapshot is
	// then only made of a commit signed by one of its keys (an unsigned
	// commit, another signer and the working tree wrap ErrUntrusted), and
	// names who signed it in Snapshot.Signer.
	TrustedKeys string
}

// Source is an opened repository: a local directory or an in-memory clone of
// a remote one. Its methods are safe for concurrent use, and so are the file
// systems of the snapshots it returns (they share the Source's lock).
type Source struct {
	location string // as given to Open, password redacted
	remote   bool   // cloned from a URL into memory storage
	auth     transport.AuthMethod

	// dir is the absolute, symlink-free local directory Open was given;
	// empty for a remote source.
	dir string
	// sub is dir's slash-separated path inside the work tree at a commit, or
	// "." when dir is the work-tree root (and always for remote and bare
	// repositories).
	sub string

	// mu serialises every use of repo: go-git's storages are not safe for
	// concurrent use, and Fetch rewrites references and objects while
	// snapshot file systems may be reading.
	// trustedArmored is Options.TrustedKeys ("" when signing is not
	// required).
	trustedArmored string

	mu   sync.Mutex
	repo *git.Repository // nil when dir is not in a Git repository
	bare bool            // repo has no work tree (remote, or a local bare repository)
}

// Open opens repo, which is either a local directory or a URL. A local
// directory may be a Git work tree, a subdirectory of one (snapshots are then
// rooted at the same subdirectory), a bare repository, or a directory that is
// not in Git at all (only the empty ref can then be read). A URL (file://,
// http://, https://, ssh://, or scp-like [user@]host:path) is cloned into
// memory with all its branches and tags; no work tree is made and nothing is
// written to disk.
//
// The returned Source never changes a local repository. ctx bounds the clone.
func Open(ctx context.Context, repo string, opts Options) (*Source, error) {
	if repo == "" {
		return nil, errors.New("repository: no path or URL given")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.TrustedKeys != "" {
		if _, err := trustedKeys(opts.TrustedKeys); err != nil {
			return nil, err
		}
	}
	kind, err := classify(repo)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", redact(repo), err)
	}
	var s *Source
	if kind == kindLocal {
		s, err = openLocal(repo)
	} else {
		s, err = openRemote(ctx, repo, opts)
	}
	if err != nil {
		return nil, err
	}
	s.trustedArmored = opts.TrustedKeys
	return s, nil
}

// Location returns the repository as given to Open, with any password in a
// URL replaced by "xxxxx". It is meant for messages.
func (s *Source) Location() string { return s.location }

// IsRemote reports whether the source was cloned from a URL. For a remote
// source the empty ref means the remote's default branch; for a local one it
// means the directory as it is on disk.
func (s *Source) IsRemote() bool { return s.remote }

// Fetch brings a remote source up to date with its remote: branches and tags
// are added, moved (even non-fast-forward) and pruned to match it. Snapshots
// taken before Fetch keep reading the commits they resolved; their reads
// wait while Fetch runs. The remote's default branch is the one it had at
// Open. Fetch errors (network, authentication) carry no sentinel: they are
// worth retrying.
//
// For a local source Fetch does nothing and returns nil: ringmaster reads a
// local repository as it is and never writes to it.
func (s *Source) Fetch(ctx context.Context) error {
	if !s.remote {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		Auth:       s.auth,
		Tags:       git.AllTags,
		Force:      true,
		Prune:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("repository %s: fetch: %s%w", s.location, transportHint(err, s.auth != nil), err)
	}
	if err := s.syncBranches(); err != nil {
		return fmt.Errorf("repository %s: fetch: %w", s.location, err)
	}
	return nil
}

// Snapshot is the content of a repository at one revision.
type Snapshot struct {
	// FS holds the files, rooted at the directory given to Open (for a
	// subdirectory of a work tree, the same subdirectory at the revision).
	// It implements fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and
	// fs.ReadLinkFS. It never contains ".git" entries. Symbolic links are
	// listed (their DirEntry.Type() is fs.ModeSymlink) but never followed:
	// Open, ReadFile, ReadDir and Stat of a link or of a path through one
	// fail with a *SymlinkError naming the link and its target, and
	// ReadLink and Lstat describe a link without following it. Files that
	// are neither regular files, directories nor links (submodules, FIFOs)
	// are listed but cannot be opened. A snapshot of a commit is
	// immutable; a working-tree snapshot reads the disk at each call.
	FS fs.FS
	// Commit is the full hexadecimal hash of the commit read; for a working
	// tree, the commit HEAD points to (empty outside Git or before the first
	// commit).
	Commit string
	// Ref is the ref as given to Snapshot.
	Ref string
	// Signer names who signed the commit, when the Source requires
	// signatures (Options.TrustedKeys).
	Signer string
	// Revision is a label for messages: "main (3f2a9c1)", "3f2a9c1" for a
	// hash, or WorkingTree.
	Revision string
}

// Snapshot returns the repository's content at ref. ref may be a branch
// ("main"), a remote-tracking branch ("origin/main"), a tag ("v1.2"), a full
// ref name ("refs/heads/main"), a full or abbreviated commit hash (at least 4
// hex digits), or "HEAD", each optionally followed by ancestry steps
// ("HEAD~1", "main^2", "v1^{commit}"). A name that matches more than one
// of these (tag and branch both "x", or a branch "cafe" and a commit
// cafe1234...) is refused with ErrAmbiguousRef; a full ref name always
// matches one.
//
// The empty ref means, for a local directory, the directory as it is on disk,
// uncommitted edits and untracked files included (Revision is WorkingTree);
// for a remote or bare repository, HEAD.
func (s *Source) Snapshot(ctx context.Context, ref string) (*Snapshot, error) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return nil, s.refErr(ref, err)
		}
	}
	if ref == "" && !s.bare {
		if s.trustedArmored != "" {
			return nil, fmt.Errorf("repository %s: the working tree is not a commit, and commits must be signed by a trusted key: give --ref (a branch, tag or commit): %w", s.location, ErrUntrusted)
		}
		return s.workingTree()
	}
	if s.repo == nil {
		return nil, fmt.Errorf("repository %s: %w (no .git in it or in any parent directory), so ref %q cannot be read; "+
			"without a ref the directory is read as it is on disk", s.location, ErrNotRepository, ref)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	name := ref
	if ref == "" {
		name = "HEAD"
	}
	rev, err := parseRevision(name)
	if err != nil {
		return nil, s.refErr(ref, err)
	}
	commit, byHash, err := s.resolve(rev)
	if err != nil {
		return nil, s.refErr(ref, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, s.refErr(ref, fmt.Errorf("read tree of commit %s: %w", short(commit.Hash), err))
	}
	if s.sub != "." {
		tree, err = subtree(s.repo.Storer, tree, s.sub)
		if err != nil {
			return nil, s.refErr(ref, err)
		}
	}

	label := ref
	if ref == "" {
		label = s.headLabel()
	}
	revision := label + " (" + short(commit.Hash) + ")"
	if byHash && len(rev.steps) == 0 {
		revision = short(commit.Hash)
	}
	signer := ""
	if s.trustedArmored != "" {
		if signer, err = s.verifyCommit(commit); err != nil {
			return nil, &UntrustedError{Commit: commit.Hash.String(), Revision: revision,
				Err: fmt.Errorf("repository %s at %s: %w", s.location, revision, err)}
		}
	}
	return &Snapshot{
		FS:       newTreeFS(&s.mu, s.repo.Storer, tree, commit.Committer.When),
		Commit:   commit.Hash.String(),
		Ref:      ref,
		Revision: revision,
		Signer:   signer,
	}, nil
}

// refErr prefixes err with the repository and the ref. A *refProblem reads
// as a predicate of the ref (`ref "x" not found (...)`); any other error
// follows a colon.
func (s *Source) refErr(ref string, err error) error {
	shown := ref
	if shown == "" {
		shown = "HEAD"
	}
	var p *refProblem
	if errors.As(err, &p) {
		return &classedError{
			msg:   fmt.Sprintf("repository %s: ref %q %s", s.location, shown, p.phrase),
			class: p.class,
			cause: p.cause,
		}
	}
	if ref == "" {
		return fmt.Errorf("repository %s: %w", s.location, err)
	}
	return fmt.Errorf("repository %s: ref %q: %w", s.location, ref, err)
}

// refProblem is what resolving a ref can go wrong with, phrased to follow
// `ref "x"`: "not found (...)", "is ambiguous: ...".
type refProblem struct {
	class  error // a sentinel
	phrase string
	cause  error // optional
}

func (p *refProblem) Error() string { return "ref " + p.phrase }
func (p *refProblem) Unwrap() []error {
	if p.cause == nil {
		return []error{p.class}
	}
	return []error{p.class, p.cause}
}

// workingTree snapshots the local directory as it is on disk.
func (s *Source) workingTree() (*Snapshot, error) {
	snap := &Snapshot{FS: workFS{root: s.dir}, Revision: WorkingTree}
	if s.repo != nil {
		s.mu.Lock()
		head, err := s.repo.Head()
		s.mu.Unlock()
		switch {
		case err == nil:
			snap.Commit = head.Hash().String()
		case errors.Is(err, plumbing.ErrReferenceNotFound):
			// No commit yet: the working tree is all there is.
		default:
			return nil, fmt.Errorf("repository %s: read HEAD: %w", s.location, err)
		}
	}
	return snap, nil
}

// headLabel names what HEAD points to ("main"), or "HEAD" when detached.
// The caller holds s.mu.
func (s *Source) headLabel() string {
	head, err := s.repo.Reference(plumbing.HEAD, false)
	if err == nil && head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
		return head.Target().Short()
	}
	return "HEAD"
}

// subtree returns the directory sub (slash-separated) of tree, refusing
// symbolic links on the way. The caller holds the lock of tree's storer.
func subtree(st storer.EncodedObjectStorer, tree *object.Tree, sub string) (*object.Tree, error) {
	walked := ""
	for _, elem := range strings.Split(sub, "/") {
		walked = joinPath(walked, elem)
		var found *object.TreeEntry
		for i := range tree.Entries {
			if tree.Entries[i].Name == elem {
				found = &tree.Entries[i]
				break
			}
		}
		switch {
		case found == nil:
			return nil, &refProblem{class: fs.ErrNotExist, phrase: fmt.Sprintf("has no directory %q", sub)}
		case found.Mode == modeSymlink:
			target, _ := linkTarget(st, found.Hash) // an unreadable target is left out
			link := &SymlinkError{Link: walked, Target: target}
			return nil, &refProblem{class: ErrSymlink, cause: link,
				phrase: fmt.Sprintf("cannot be read at directory %q: %v", sub, link)}
		case found.Mode != modeDir:
			return nil, &refProblem{class: fs.ErrNotExist, phrase: fmt.Sprintf("has a file, not a directory, at %q", walked)}
		}
		next, err := object.GetTree(st, found.Hash)
		if err != nil {
			return nil, fmt.Errorf("read directory %q: %w", walked, err)
		}
		tree = next
	}
	return tree, nil
}

func joinPath(dir, elem string) string {
	if dir == "" || dir == "." {
		return elem
	}
	return dir + "/" + elem
}

type sourceKind int

const (
	kindLocal sourceKind = iota
	kindURL
)

// scpLike matches git's scp-like syntax, [user@]host:path, where no '/'
// comes before the first ':'.
var scpLike = regexp.MustCompile(`^(?:[^@/:\s]+@)?[^@/:\s]+:`)

// classify tells a local directory from a URL, the way git does: a scheme
// followed by "://" makes a URL, and so does a ':' before any '/'.
func classify(repo string) (sourceKind, error) {
	if i := strings.Index(repo, "://"); i > 0 && !strings.ContainsAny(repo[:i], "/\\") {
		scheme := strings.ToLower(repo[:i])
		switch scheme {
		case "file", "http", "https", "ssh":
			return kindURL, nil
		default:
			return 0, fmt.Errorf("unsupported URL scheme %q (use https, ssh, file, or a local directory)", scheme)
		}
	}
	if scpLike.MatchString(repo) {
		return kindURL, nil
	}
	return kindLocal, nil
}

// redact hides the password of a URL with user information.
func redact(repo string) string {
	if !strings.Contains(repo, "://") {
		return repo
	}
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo
	}
	if _, ok := u.User.Password(); !ok {
		return repo
	}
	return u.Redacted()
}

func openRemote(ctx context.Context, repo string, opts Options) (*Source, error) {
	loc := redact(repo)
	if opts.Auth == nil && isSSH(repo) && os.Getenv("SSH_AUTH_SOCK") == "" {
		// go-git's default for ssh is the agent; its own message
		// ("SSH agent requested but SSH_AUTH_SOCK not-specified") says
		// nothing of what to do.
		return nil, fmt.Errorf("repository %s: clone: an ssh URL is read with the keys of an SSH agent, and none is running "+
			"(SSH_AUTH_SOCK is not set): start ssh-agent and add a key with ssh-add, or use an https URL", loc)
	}
	r, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL:        repo,
		Auth:       opts.Auth,
		RemoteName: remoteName,
		Tags:       git.AllTags,
	})
	if err != nil {
		return nil, fmt.Errorf("repository %s: clone: %s%w", loc, transportHint(err, opts.Auth != nil), err)
	}
	s := &Source{location: loc, remote: true, auth: opts.Auth, sub: ".", repo: r, bare: true}
	if err := s.syncBranches(); err != nil {
		return nil, fmt.Errorf("repository %s: clone: %w", loc, err)
	}
	return s, nil
}

// isSSH reports whether the URL repo is read over ssh (ssh:// or the
// scp-like [user@]host:path).
func isSSH(repo string) bool {
	if i := strings.Index(repo, "://"); i > 0 {
		return strings.EqualFold(repo[:i], "ssh")
	}
	return scpLike.MatchString(repo)
}

// transportHint explains a clone or fetch error that is a mistake to fix
// rather than a failure to retry, in words to put before it; "" for any
// other error. withAuth tells whether credentials were given.
func transportHint(err error, withAuth bool) string {
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return "the remote repository has no commits: "
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return "there is no repository at this URL, or it is private (check the URL): "
	case !errors.Is(err, transport.ErrAuthenticationRequired) && !errors.Is(err, transport.ErrAuthorizationFailed):
	case withAuth:
		return "the server refused the credentials given (check them and their access to the repository): "
	default:
		return "the server requires credentials, and none were given: "
	}
	return ""
}

// syncBranches makes the local branches of an in-memory clone mirror the
// remote-tracking ones (refs/heads/X = refs/remotes/origin/X), so a branch
// name means the remote's branch as of the last clone or fetch, and HEAD
// (which points at the default branch) follows it. The caller holds s.mu,
// or owns s exclusively.
func (s *Source) syncBranches() error {
	refs, err := s.repo.References()
	if err != nil {
		return err
	}
	prefix := "refs/remotes/" + remoteName + "/"
	remote := map[plumbing.ReferenceName]plumbing.Hash{}
	var local []plumbing.ReferenceName
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name().String()
		switch {
		case ref.Type() != plumbing.HashReference:
		case strings.HasPrefix(name, prefix) && name != prefix+"HEAD":
			remote[plumbing.NewBranchReferenceName(strings.TrimPrefix(name, prefix))] = ref.Hash()
		case ref.Name().IsBranch():
			local = append(local, ref.Name())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range local {
		if _, ok := remote[name]; !ok {
			if err := s.repo.Storer.RemoveReference(name); err != nil {
				return err
			}
		}
	}
	for name, hash := range remote {
		if err := s.repo.Storer.SetReference(plumbing.NewHashReference(name, hash)); err != nil {
			return err
		}
	}
	return nil
}

func openLocal(repo string) (*Source, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("repository %s: "+format, append([]any{repo}, args...)...)
	}
	info, err := os.Stat(repo)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		where := ""
		if abs, err := filepath.Abs(repo); err == nil && abs != filepath.Clean(repo) {
			where = " (" + abs + ")"
		}
		return nil, &classedError{msg: fail("no such directory%s", where).Error(), class: fs.ErrNotExist}
	case err != nil:
		return nil, fail("%w", err)
	case !info.IsDir():
		return nil, fail("not a directory: give the directory of the repository (or a URL)")
	}
	abs, err := filepath.Abs(repo)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fail("%w", err)
	}
	s := &Source{location: repo, dir: abs, sub: "."}

	// As git does: the directory itself may be a repository (a work tree
	// root, or a bare repository); otherwise look in its parents.
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	}
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		return s, nil // a plain directory
	case err != nil:
		return nil, fail("open Git repository: %w", err)
	}
	s.repo = r

	wt, err := r.Worktree()
	switch {
	case errors.Is(err, git.ErrIsBareRepository):
		s.bare = true
		return s, nil
	case err != nil:
		return nil, fail("open Git work tree: %w", err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, fail("open Git work tree: %w", err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fail("directory is outside the Git work tree %s", root)
	}
	rel = filepath.ToSlash(rel)
	if rel == ".git" || strings.HasPrefix(rel, ".git/") {
		return nil, fail("directory is inside the .git directory of %s; give the work tree instead", root)
	}
	s.sub = rel
	return s, nil
}

// classedError is an error with an exact message that also matches a
// sentinel, and optionally its cause, under errors.Is and errors.As.
type classedError struct {
	msg   string
	class error
	cause error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.class}
	}
	return []error{e.class, e.cause}
}

// candidates lists a few branches and tags for a "ref not found" message.
// The caller holds s.mu.
func (s *Source) candidates() string {
	refs, err := s.repo.References()
	if err != nil {
		return ""
	}
	var branches, remotes, tags []string
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		n := ref.Name()
		switch {
		case n.IsBranch():
			branches = append(branches, n.Short())
		case n.IsTag():
			tags = append(tags, n.Short())
		case n.IsRemote() && !strings.HasSuffix(n.String(), "/HEAD") && !s.remote:
			remotes = append(remotes, n.Short())
		}
		return nil
	})
	var parts []string
	for _, group := range []struct {
		label string
		names []string
	}{{"branches", branches}, {"remote branches", remotes}, {"tags", tags}} {
		if len(group.names) > 0 {
			parts = append(parts, group.label+": "+few(group.names))
		}
	}
	if len(parts) == 0 {
		return "the repository has no branches or tags"
	}
	return strings.Join(parts, "; ")
}

// few renders at most five sorted names and how many were left out.
func few(names []string) string {
	const max = 5
	sort.Strings(names)
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

// short abbreviates a commit hash for labels and messages.
func short(h plumbing.Hash) string { return h.String()[:7] }
