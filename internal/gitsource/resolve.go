package gitsource

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// minHashLen is the fewest hex digits an abbreviated commit hash may have,
// as in git.
const minHashLen = 4

// maxStep bounds the count of one ancestry step ("HEAD~N"), so that a typo
// cannot make a walk of billions of commits.
const maxStep = 1_000_000

// revision is a parsed ref: a name (branch, tag, hash, HEAD) and the
// ancestry steps that follow it.
type revision struct {
	base  string
	steps []step
}

// step is one ancestry step: '~' n (the n-th first-parent ancestor) or
// '^' n (the n-th parent; 0 is the commit itself).
type step struct {
	op byte
	n  int
}

// parseRevision parses the subset of gitrevisions(7) ringmaster supports:
// name, followed by any of "~", "~N", "^", "^N", "^{}" and "^{commit}".
// Errors are *refProblem of class ErrInvalidRef.
func parseRevision(ref string) (revision, error) {
	invalid := func(format string, args ...any) error {
		return &refProblem{class: ErrInvalidRef, phrase: "is invalid: " + fmt.Sprintf(format, args...)}
	}
	base, rest := ref, ""
	if i := strings.IndexAny(ref, "~^"); i >= 0 {
		base, rest = ref[:i], ref[i:]
	}
	switch {
	case base == "":
		return revision{}, invalid("it must start with a branch, tag or commit hash")
	case base == "@":
		base = "HEAD"
	case strings.Contains(base, "@{"):
		return revision{}, invalid("reflog syntax (@{...}) is not supported")
	case strings.Contains(base, ":"):
		return revision{}, invalid("the revision:path syntax is not supported")
	case base != "HEAD" && plumbing.ReferenceName("refs/heads/"+base).Validate() != nil:
		return revision{}, invalid("%q is not a valid branch, tag or commit name", base)
	}

	rev := revision{base: base}
	for rest != "" {
		op := rest[0]
		rest = rest[1:]
		if op != '~' && op != '^' {
			return revision{}, invalid("unexpected %q after an ancestry step", op)
		}
		if op == '^' && strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return revision{}, invalid("unterminated \"^{\"")
			}
			switch kind := rest[1:end]; kind {
			case "", "commit":
				// A commit peels to itself; tags are always peeled.
			default:
				return revision{}, invalid("only ^{} and ^{commit} are supported, not ^{%s}", kind)
			}
			rest = rest[end+1:]
			continue
		}
		digits := 0
		for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
			digits++
		}
		n := 1
		if digits > 0 {
			var err error
			n, err = strconv.Atoi(rest[:digits])
			if err != nil || n > maxStep {
				return revision{}, invalid("%c%s is out of range", op, rest[:digits])
			}
		}
		rest = rest[digits:]
		rev.steps = append(rev.steps, step{op: op, n: n})
	}
	return rev, nil
}

// resolve finds the commit rev names. byHash reports that the name was a
// (possibly abbreviated) commit hash rather than a reference. Request
// mistakes are *refProblem; other errors are failures to read the
// repository. The caller holds s.mu.
//
// Resolution is strict: a full 40-digit hash of an object in the repository
// is that object, as in git; any other name must match exactly one of the
// references git's rules expand it to (refs/heads/x, refs/tags/x,
// refs/remotes/x, ...) and the commits it abbreviates, or it is refused as
// ambiguous (git only warns, and picks one).
func (s *Source) resolve(rev revision) (commit *object.Commit, byHash bool, err error) {
	st := s.repo.Storer
	base := rev.base
	var hash plumbing.Hash
	found := false

	if len(base) == 2*len(plumbing.ZeroHash) && isHex(base) {
		h := plumbing.NewHash(strings.ToLower(base))
		if st.HasEncodedObject(h) == nil {
			hash, found, byHash = h, true, true
		}
	}
	var lookupErr error
	if !found {
		var refs []plumbing.ReferenceName
		var hashes []plumbing.Hash
		refs, hashes, lookupErr = s.lookupRefs(base)
		var commits []plumbing.Hash
		if len(base) >= minHashLen && len(base) < 2*len(plumbing.ZeroHash) && isHex(base) {
			if commits, err = s.expandHash(base); err != nil {
				return nil, false, err
			}
		}
		switch {
		case len(refs)+len(commits) > 1:
			return nil, false, ambiguous(refs, commits)
		case len(refs) == 1:
			hash, found = hashes[0], true
		case len(commits) == 1:
			hash, found, byHash = commits[0], true, true
		}
	}
	if !found {
		return nil, false, s.notFound(base, lookupErr)
	}

	commit, err = s.peel(hash)
	if err != nil {
		return nil, false, err
	}
	for _, stp := range rev.steps {
		switch stp.op {
		case '~':
			for i := 0; i < stp.n; i++ {
				if commit.NumParents() == 0 {
					return nil, false, &refProblem{class: ErrRefNotFound,
						phrase: fmt.Sprintf("not found: history ends at commit %s, which has no parent", short(commit.Hash))}
				}
				if commit, err = s.parent(commit, 0); err != nil {
					return nil, false, err
				}
			}
		case '^':
			if stp.n == 0 {
				continue
			}
			if stp.n > commit.NumParents() {
				return nil, false, &refProblem{class: ErrRefNotFound,
					phrase: fmt.Sprintf("not found: commit %s has %d parent(s), not %d", short(commit.Hash), commit.NumParents(), stp.n)}
			}
			if commit, err = s.parent(commit, stp.n-1); err != nil {
				return nil, false, err
			}
		}
	}
	return commit, byHash, nil
}

// parent returns the i-th parent of c (which has it). A parent missing from
// a shallow repository is a *refProblem of class ErrShallow that says how
// to fetch it. The caller holds s.mu.
func (s *Source) parent(c *object.Commit, i int) (*object.Commit, error) {
	p, err := c.Parent(i)
	if err == nil {
		return p, nil
	}
	h := c.ParentHashes[i]
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, s.missingObject(h, fmt.Sprintf("commit %s (parent of %s)", h, short(c.Hash)), err)
	}
	return nil, fmt.Errorf("read commit %s (parent of %s): %w", h, short(c.Hash), err)
}

// missingObject explains that the object h, described by what, is not in
// the repository. In a shallow repository that is history the shallow clone
// left out (ErrShallow, with how to fetch it). A clone of a remote one
// gets no shallow file even when the remote is shallow (its server cuts
// the history without saying), so there too the likely cause is a shallow
// remote. Otherwise the repository is damaged. cause is the storer's
// "object not found". The caller holds s.mu.
func (s *Source) missingObject(h plumbing.Hash, what string, cause error) error {
	switch {
	case s.remote:
		return &refProblem{class: ErrShallow, cause: cause, phrase: "needs " + what +
			", which the remote repository did not send: it is probably a shallow clone itself (or damaged); " +
			"its full history must be fetched there (git fetch --unshallow)"}
	case s.isShallow():
		return &refProblem{class: ErrShallow, cause: cause, phrase: "needs " + what +
			", which is not in the repository: its history is shallow (it has " + s.shallowFile() + ", as a clone made with --depth does); " +
			"fetch the full history with \"git fetch --unshallow\" (in GitHub Actions, give actions/checkout \"fetch-depth: 0\")"}
	}
	return fmt.Errorf("%s is missing from the repository, which may be damaged (try \"git fsck\"): %w", what, cause)
}

// isShallow reports whether the repository is a shallow clone: its history
// stops at the commits its shallow file lists. The caller holds s.mu.
func (s *Source) isShallow() bool {
	ss, ok := s.repo.Storer.(storer.ShallowStorer)
	if !ok {
		return false
	}
	commits, err := ss.Shallow()
	return err == nil && len(commits) > 0
}

// shallowFile names the file that makes a local repository shallow.
func (s *Source) shallowFile() string {
	if s.bare {
		return "a shallow file"
	}
	return ".git/shallow"
}

// ambiguous is the problem of a name that matches more than one of refs and
// commits (abbreviated hashes).
func ambiguous(refs []plumbing.ReferenceName, commits []plumbing.Hash) error {
	hashes := make([]string, len(commits))
	for i, h := range commits {
		hashes[i] = h.String()[:12]
	}
	if len(refs) == 0 {
		return &refProblem{class: ErrAmbiguousRef,
			phrase: fmt.Sprintf("is ambiguous: it abbreviates the commits %s; give more hex digits", few(hashes))}
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	sort.Strings(names)
	var matches []string
	matches = append(matches, names...)
	for _, h := range hashes {
		matches = append(matches, "commit "+h)
	}
	fix := fmt.Sprintf("give the full ref name (%s)", strings.Join(names, " or "))
	if len(hashes) > 0 {
		fix += " or more hex digits of the commit"
	}
	return &refProblem{class: ErrAmbiguousRef,
		phrase: fmt.Sprintf("is ambiguous: it matches %s; %s", andList(matches), fix)}
}

// andList joins items as "a and b" or "a, b and c".
func andList(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// lookupRefs expands name by git's rules (name, refs/name, refs/tags/name,
// refs/heads/name, refs/remotes/name, refs/remotes/name/HEAD) and returns
// every existing reference it names, in rule order, with the hash each
// resolves to. Errors other than "not found" do not stop the search; the
// first is returned when nothing was found, so a "not found" message can keep
// it as its cause.
func (s *Source) lookupRefs(name string) ([]plumbing.ReferenceName, []plumbing.Hash, error) {
	var firstErr error
	var names []plumbing.ReferenceName
	var hashes []plumbing.Hash
	for _, rule := range plumbing.RefRevParseRules {
		full := plumbing.ReferenceName(strings.Replace(rule, "%s", name, 1))
		if !full.IsSafe() || slices.Contains(names, full) {
			continue
		}
		ref, err := storer.ResolveReference(s.repo.Storer, full)
		switch {
		case err == nil:
			names = append(names, full)
			hashes = append(hashes, ref.Hash())
		case errors.Is(err, plumbing.ErrReferenceNotFound):
		case firstErr == nil:
			firstErr = fmt.Errorf("read %s: %w", full, err)
		}
	}
	if len(names) > 0 {
		firstErr = nil
	}
	return names, hashes, firstErr
}

// expandHash returns the commits whose hash starts with prefix (an
// annotated tag object counts as the commit it points to).
func (s *Source) expandHash(prefix string) ([]plumbing.Hash, error) {
	prefix = strings.ToLower(prefix)
	raw, err := hex.DecodeString(prefix[:len(prefix)&^1])
	if err != nil {
		return nil, nil
	}
	hashes, err := s.hashesWithPrefix(raw)
	if err != nil {
		return nil, fmt.Errorf("search objects: %w", err)
	}
	var commits []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, h := range hashes {
		if !strings.HasPrefix(h.String(), prefix) {
			continue
		}
		c, err := s.peel(h)
		if err != nil || seen[c.Hash] {
			continue // not a commit or a tag of one
		}
		seen[c.Hash] = true
		commits = append(commits, c.Hash)
	}
	slices.SortFunc(commits, func(a, b plumbing.Hash) int { return strings.Compare(a.String(), b.String()) })
	return commits, nil
}

// hashesWithPrefix lists the objects whose hash starts with raw: through the
// index when the storer has one (go-git's file system storage), otherwise by
// scanning its commits and tags.
func (s *Source) hashesWithPrefix(raw []byte) ([]plumbing.Hash, error) {
	type prefixSearcher interface {
		HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
	}
	if ps, ok := s.repo.Storer.(prefixSearcher); ok {
		return ps.HashesWithPrefix(raw)
	}
	var hashes []plumbing.Hash
	for _, t := range []plumbing.ObjectType{plumbing.CommitObject, plumbing.TagObject} {
		iter, err := s.repo.Storer.IterEncodedObjects(t)
		if err != nil {
			return nil, err
		}
		err = iter.ForEach(func(o plumbing.EncodedObject) error {
			if h := o.Hash(); bytes.HasPrefix(h[:], raw) {
				hashes = append(hashes, h)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

// maxPeel bounds chains of tags of tags.
const maxPeel = 16

// peel returns the commit hash h names, following annotated tags.
func (s *Source) peel(h plumbing.Hash) (*object.Commit, error) {
	st := s.repo.Storer
	for range maxPeel {
		o, err := st.EncodedObject(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, s.missingObject(h, "object "+h.String(), err)
		}
		if err != nil {
			return nil, fmt.Errorf("read object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return object.DecodeCommit(st, o)
		case plumbing.TagObject:
			tag, err := object.DecodeTag(st, o)
			if err != nil {
				return nil, fmt.Errorf("read tag %s: %w", h, err)
			}
			h = tag.Target
		default:
			return nil, &refProblem{class: ErrRefNotFound,
				phrase: fmt.Sprintf("names a %s (%s), not a commit", o.Type(), short(h))}
		}
	}
	return nil, &refProblem{class: ErrRefNotFound, phrase: "names a chain of tags too long to follow"}
}

// notFound builds the "not found" problem for base, listing some branches
// and tags. The caller holds s.mu.
func (s *Source) notFound(base string, cause error) error {
	hint := ""
	switch {
	case base == "HEAD":
		head, err := s.repo.Reference(plumbing.HEAD, false)
		switch {
		case err != nil || head.Type() != plumbing.SymbolicReference:
		case s.remote:
			hint = fmt.Sprintf("the remote's default branch %s no longer exists; ", head.Target().Short())
		default:
			hint = fmt.Sprintf("HEAD points to %s, which has no commits yet; ", head.Target().Short())
		}
	case isHex(base) && len(base) < minHashLen:
		hint = fmt.Sprintf("a commit hash needs at least %d hex digits; ", minHashLen)
	}
	phrase := fmt.Sprintf("not found (%s%s)", hint, s.candidates())
	if base != "HEAD" && !s.remote && s.isShallow() {
		// A clone made with --depth has one branch and only recent
		// commits, so what the user asks for may well exist upstream.
		phrase += "; the repository is a shallow clone (it has " + s.shallowFile() + "), which holds only some branches, tags and commits: " +
			"fetch the full history with \"git fetch --unshallow\", and a branch it left out by name " +
			"(in GitHub Actions, give actions/checkout \"fetch-depth: 0\", which fetches every branch and tag)"
	}
	return &refProblem{class: ErrRefNotFound, phrase: phrase, cause: cause}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
