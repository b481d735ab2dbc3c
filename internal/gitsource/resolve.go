package gitsource

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
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
func (s *Source) resolve(rev revision) (commit *object.Commit, byHash bool, err error) {
	st := s.repo.Storer
	base := rev.base
	var hash plumbing.Hash
	found := false

	// As in git: a full hash is an object id first; names come before
	// abbreviated hashes.
	if len(base) == 2*len(plumbing.ZeroHash) && isHex(base) {
		h := plumbing.NewHash(strings.ToLower(base))
		if st.HasEncodedObject(h) == nil {
			hash, found, byHash = h, true, true
		}
	}
	var lookupErr error
	if !found {
		hash, found, lookupErr = s.lookupRef(base)
	}
	if !found && len(base) >= minHashLen && len(base) < 2*len(plumbing.ZeroHash) && isHex(base) {
		h, ok, err := s.expandHash(base)
		if err != nil {
			return nil, false, err
		}
		if ok {
			hash, found, byHash = h, true, true
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
				if commit, err = commit.Parent(0); err != nil {
					return nil, false, fmt.Errorf("read parent commit: %w", err)
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
			if commit, err = commit.Parent(stp.n - 1); err != nil {
				return nil, false, fmt.Errorf("read parent commit: %w", err)
			}
		}
	}
	return commit, byHash, nil
}

// lookupRef expands name by git's rules (name, refs/name, refs/tags/name,
// refs/heads/name, refs/remotes/name, refs/remotes/name/HEAD) and returns the
// hash the first existing reference points to. Errors other than "not found"
// do not stop the search; the first is returned when nothing was found, so a
// "not found" message can keep it as its cause.
func (s *Source) lookupRef(name string) (plumbing.Hash, bool, error) {
	var firstErr error
	for _, rule := range plumbing.RefRevParseRules {
		full := plumbing.ReferenceName(strings.Replace(rule, "%s", name, 1))
		if !full.IsSafe() {
			continue
		}
		ref, err := storer.ResolveReference(s.repo.Storer, full)
		switch {
		case err == nil:
			return ref.Hash(), true, nil
		case errors.Is(err, plumbing.ErrReferenceNotFound):
		case firstErr == nil:
			firstErr = fmt.Errorf("read %s: %w", full, err)
		}
	}
	return plumbing.ZeroHash, false, firstErr
}

// expandHash finds the one commit whose hash starts with prefix (an
// annotated tag object counts as the commit it points to). It reports
// ambiguity as a *refProblem of class ErrAmbiguousRef.
func (s *Source) expandHash(prefix string) (plumbing.Hash, bool, error) {
	prefix = strings.ToLower(prefix)
	raw, err := hex.DecodeString(prefix[:len(prefix)&^1])
	if err != nil {
		return plumbing.ZeroHash, false, nil
	}
	hashes, err := s.hashesWithPrefix(raw)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("search objects: %w", err)
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
	switch len(commits) {
	case 0:
		return plumbing.ZeroHash, false, nil
	case 1:
		return commits[0], true, nil
	}
	names := make([]string, len(commits))
	for i, h := range commits {
		names[i] = h.String()[:12]
	}
	return plumbing.ZeroHash, false, &refProblem{class: ErrAmbiguousRef,
		phrase: fmt.Sprintf("is ambiguous: it abbreviates the commits %s; give more hex digits", few(names))}
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
			return nil, fmt.Errorf("object %s is missing from the repository: %w", h, err)
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
	return &refProblem{
		class:  ErrRefNotFound,
		phrase: fmt.Sprintf("not found (%s%s)", hint, s.candidates()),
		cause:  cause,
	}
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
