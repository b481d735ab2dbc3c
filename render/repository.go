// Package render owns ringmaster's manifests: the kinds a repository
// declares, loading them from an fs.FS, environments and overlays,
// validation with file:line:col positions, and rendering an environment to
// a target state.State and to CQL. It does no I/O beyond reading the fs.FS
// it is given.
package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// APIVersion is the only manifest apiVersion this release reads.
const APIVersion = "ringmaster.io/v1"

// RepositoryFile is the file at the repository root that describes it.
const RepositoryFile = "ringmaster.yaml"

// Manifest kinds.
const (
	KindRepository   = "Repository"
	KindEnvironment  = "Environment"
	KindKeyspace     = "Keyspace"
	KindTable        = "Table"
	KindNodeSettings = "NodeSettings"
	KindFeatureFlag  = "FeatureFlag"
	KindConfigEntry  = "ConfigEntry"
	KindPolicy       = "Policy"
	KindPatch        = "Patch"
)

var resourceKinds = []string{KindKeyspace, KindTable, KindNodeSettings, KindFeatureFlag, KindConfigEntry, KindPolicy, KindPatch}

// ErrNoRepository means the folder has no ringmaster.yaml.
var ErrNoRepository = errors.New("not a ringmaster repository")

// Repository is a loaded configuration repository: its layout and every
// manifest document, parsed but not yet rendered for an environment.
type Repository struct {
	// Name is ringmaster.yaml's metadata.name.
	Name string
	// BaseDir, EnvironmentsDir and PoliciesDir are folders relative to the
	// root.
	BaseDir, EnvironmentsDir, PoliciesDir string
	// Environments are the environment names, sorted.
	Environments []string

	defaults map[string]variable
	base     []*document
	policies []*document
	envs     map[string]*envDocs
}

type envDocs struct {
	environment *document
	resources   []*document
}

// document is one YAML document of a manifest file, with its envelope.
type document struct {
	file       string
	root       *yaml.Node // the document's top mapping
	apiVersion string
	kind       string
	name       string
	nameNode   *yaml.Node
	spec       *yaml.Node
	labels     map[string]string
	// plain: the document has no alias and no "${" (checkExpansion), so
	// rendering it changes nothing unless a Patch targets it.
	plain bool
	// entry is a plain ConfigEntry's payload, worked out while loading
	// (on the parsers' goroutines): Render takes it unless it changed the
	// document.
	entry *entryPayload
	// owned is set on a Render's own deep copy of the nodes, which that
	// Render may change; otherwise the nodes are the Repository's, shared
	// by every Render and never written.
	owned bool
}

// Load reads the repository at the root of fsys: ringmaster.yaml, the base
// folder, every environment folder and the policies folder. It reports
// every problem found at once (malformed YAML, bad envelopes, unknown
// kinds, inputs over limits); kind-specific validation happens in Render.
//
// Every input is bounded before it is expanded: a file over
// limits.MaxFileBytes is not read, reading stops once the files together
// pass limits.MaxRepoBytes, and a document whose aliases would expand past
// limits.MaxAliasNodes (or refer to themselves) is refused before anything
// copies it. Load stops with ctx's error when ctx ends. When it reports
// problems the Repository is still returned if ringmaster.yaml was read,
// so that callers can render what loaded and report every problem at once.
//
// Load parses files on other goroutines too when there is more than one
// CPU; it reads fsys from the calling goroutine only.
func Load(ctx context.Context, fsys fs.FS, limits Limits) (*Repository, error) {
	return load(ctx, fsys, limits, nil)
}

// load is Load, through cache when it is not nil.
func load(ctx context.Context, fsys fs.FS, limits Limits, cache *Cache) (*Repository, error) {
	p := &problems{}
	l := &loader{ctx: ctx, fsys: fsys, p: p, limits: limits.withDefaults(), cache: cache}
	if cache != nil {
		l.kept = map[cacheKey]*parsedFile{}
		defer func() {
			if ctx.Err() == nil {
				cache.retain(l.kept)
			}
		}()
	}
	repo := &Repository{BaseDir: "base", EnvironmentsDir: "environments", PoliciesDir: "policies", envs: map[string]*envDocs{}, defaults: map[string]variable{}}
	docs, err := l.readFile(RepositoryFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: no %s at its root", ErrNoRepository, RepositoryFile)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		p.add(&Error{File: RepositoryFile, Message: err.Error()})
		return nil, p.err()
	}
	if len(docs) != 1 || docs[0].kind != KindRepository {
		if p.empty() {
			p.add(&Error{File: RepositoryFile, Line: 1, Message: "must hold exactly one document of kind Repository"})
		}
		return nil, p.err()
	}
	repo.parseRepository(p, docs[0])
	if !p.empty() {
		return nil, p.err()
	}
	if pf := newPrefetcher(ctx, l.limits, cache); pf != nil {
		defer pf.stop()
		pf.walk(fsys, repo.BaseDir, false)
		pf.walk(fsys, repo.PoliciesDir, false)
		pf.walk(fsys, repo.EnvironmentsDir, true)
		pf.walked()
		l.pre = pf
	}

	repo.base = l.readTree(repo.BaseDir, false)
	repo.policies = l.readTree(repo.PoliciesDir, false)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load stopped: %w", err)
	}
	entries, err := fs.ReadDir(fsys, repo.EnvironmentsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", repo.EnvironmentsDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			file := path.Join(repo.EnvironmentsDir, e.Name())
			switch {
			case !e.Type().IsRegular():
				l.refuseSpecial(file, e.Type())
			case !strings.HasPrefix(e.Name(), "."):
				p.add(&Error{File: file, Message: fmt.Sprintf("not an environment: each environment is a folder %s/<name>/ holding its Environment manifest", repo.EnvironmentsDir)})
			}
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := path.Join(repo.EnvironmentsDir, e.Name())
		ed := &envDocs{}
		for _, d := range l.readTree(dir, true) {
			if d.kind == KindEnvironment {
				if ed.environment != nil {
					p.at(d.file, d.root, "second Environment in %s (first in %s)", dir, ed.environment.file)
					continue
				}
				ed.environment = d
				continue
			}
			ed.resources = append(ed.resources, d)
		}
		if ed.environment == nil {
			if !l.full { // else it was not read: the limit said so
				p.add(&Error{File: dir, Message: "environment folder has no manifest of kind Environment"})
			}
			continue
		}
		if ed.environment.name != e.Name() {
			p.at(ed.environment.file, ed.environment.nameNode, "Environment is named %q but its folder is %q", ed.environment.name, e.Name())
		}
		repo.envs[e.Name()] = ed
		repo.Environments = append(repo.Environments, e.Name())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load stopped: %w", err)
	}
	sort.Strings(repo.Environments)
	for _, d := range append(append([]*document{}, repo.base...), repo.policies...) {
		if d.kind == KindEnvironment {
			p.at(d.file, d.root, "an Environment belongs in %s/<name>/, not here", repo.EnvironmentsDir)
		}
	}
	if len(repo.Environments) == 0 && p.empty() && !l.full {
		p.add(&Error{File: repo.EnvironmentsDir, Message: "no environments: add environments/<name>/environment.yaml"})
	}
	return repo, p.err()
}

func (r *Repository) parseRepository(p *problems, d *document) {
	spec := mapping(p, d.file, "Repository spec", d.spec)
	if v, n := spec.str("base", false); n != nil {
		r.BaseDir = cleanDir(p, d.file, n, v)
	}
	if v, n := spec.str("environments", false); n != nil {
		r.EnvironmentsDir = cleanDir(p, d.file, n, v)
	}
	if v, n := spec.str("policies", false); n != nil {
		r.PoliciesDir = cleanDir(p, d.file, n, v)
	}
	if vars := spec.sub("variables", "Repository variables", false); vars != nil {
		for _, k := range vars.order {
			checkVariable(p, d.file, k, vars.get(k))
			r.defaults[k] = variable{node: vars.get(k), file: d.file}
		}
	}
	spec.done("base", "environments", "policies", "variables")
	r.Name = d.name
}

func cleanDir(p *problems, file string, n *yaml.Node, dir string) string {
	c := path.Clean(dir)
	if !fs.ValidPath(c) || c == "." {
		p.at(file, n, "folder %q must be a relative path inside the repository", dir)
		return "invalid"
	}
	return c
}

// loader reads manifest files within limits, counting what it has read.
type loader struct {
	ctx    context.Context
	fsys   fs.FS
	p      *problems
	limits Limits
	// total and nodes are the bytes and YAML nodes of the manifest files
	// read so far; full is set once either would pass its limit (reported
	// once, nothing more is read).
	total, nodes int64
	full         bool
	// pre, when set, has parsed files ahead on other goroutines.
	pre *prefetcher
	// cache, when set, has files parsed by earlier Loads; kept collects
	// the ones this Load read, for the cache to keep.
	cache *Cache
	kept  map[cacheKey]*parsedFile
}

// readTree reads every .yaml/.yml file under dir (recursively); a missing
// dir is no documents. Environment documents are allowed only when envOK.
// Folders and files whose names start with '.' are skipped; symbolic links
// are refused (a link could lead out of the repository).
func (l *loader) readTree(dir string, envOK bool) []*document {
	var docs []*document
	err := fs.WalkDir(l.fsys, dir, func(file string, d fs.DirEntry, err error) error {
		if cerr := l.ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && file == dir {
				return fs.SkipDir
			}
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			l.refuseSpecial(file, d.Type())
			return nil
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && file != dir {
				return fs.SkipDir
			}
			return nil
		}
		if ext := path.Ext(file); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		fileDocs, err := l.readFile(file)
		if err != nil {
			if cerr := l.ctx.Err(); cerr != nil {
				return cerr
			}
			l.p.add(&Error{File: file, Message: err.Error()})
			return nil
		}
		for _, doc := range fileDocs {
			if doc.kind == KindEnvironment && !envOK {
				l.p.at(doc.file, doc.root, "an Environment belongs in its environments/<name>/ folder")
				continue
			}
			docs = append(docs, doc)
		}
		return nil
	})
	if err != nil && l.ctx.Err() == nil {
		l.p.add(&Error{File: dir, Message: fmt.Sprintf("read: %v", err)})
	}
	return docs
}

// readFile parses every document of one file and its envelope, within the
// size limits. YAML syntax errors, envelope problems and limits go to p;
// the error return is for I/O (and cancellation).
func (l *loader) readFile(file string) ([]*document, error) {
	if err := l.ctx.Err(); err != nil {
		return nil, err
	}
	if l.full {
		return nil, nil
	}
	f, err := l.fsys.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		l.refuseSpecial(file, info.Mode().Type())
		return nil, nil
	}
	if !l.fits(file, info.Size()) {
		return nil, nil
	}
	// Read at most one byte past the limit: the size Stat gave may lie.
	raw, err := readAtMost(f, info.Size(), l.limits.MaxFileBytes+1)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != info.Size() && !l.fits(file, int64(len(raw))) {
		return nil, nil
	}
	l.total += int64(len(raw))
	docs, nodes, err := l.parse(file, raw)
	if err != nil {
		return nil, err
	}
	l.nodes += nodes
	if l.nodes > l.limits.MaxNodes {
		l.full = true
		l.p.add(&Error{File: file, Message: fmt.Sprintf("the repository's manifests pass %d YAML nodes here, their limit: this file and any after it were not read (raise it with --max-nodes)", l.limits.MaxNodes)})
		return nil, nil
	}
	return docs, nil
}

// readAtMost is io.ReadAll of at most limit bytes of r, with a buffer
// sized for size bytes (a hint: r may hold more or fewer).
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	r = io.LimitReader(r, limit)
	b := make([]byte, 0, min(max(size, 0), limit)+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF { // as io.ReadAll: exactly EOF, the end
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// refuseSpecial reports an entry that is neither a regular file nor a
// folder: a symbolic link (never followed: it could lead out of the
// repository), a submodule, a device or a pipe.
func (l *loader) refuseSpecial(file string, mode fs.FileMode) {
	if mode&fs.ModeSymlink != 0 {
		target, err := fs.ReadLink(l.fsys, file)
		if err != nil {
			target = "?"
		}
		l.p.add(&Error{File: file, Message: fmt.Sprintf("symbolic links are not followed: %s -> %s: replace the link with what it points to", file, strconv.Quote(target))})
		return
	}
	l.p.add(&Error{File: file, Message: fmt.Sprintf("not a regular file or folder (%v): a repository holds only files and folders", mode)})
}

// fits tells whether a file of size bytes may be read, reporting when not.
func (l *loader) fits(file string, size int64) bool {
	if size > l.limits.MaxFileBytes {
		l.p.add(&Error{File: file, Message: fmt.Sprintf("file is %s, over the %s limit for one manifest file (raise it with --max-file-bytes)", byteSize(size), byteSize(l.limits.MaxFileBytes))})
		return false
	}
	if l.total+size > l.limits.MaxRepoBytes {
		l.full = true
		l.p.add(&Error{File: file, Message: fmt.Sprintf("the repository's manifests pass %s here, its limit: this file and any after it were not read (raise it with --max-repo-bytes)", byteSize(l.limits.MaxRepoBytes))})
		return false
	}
	return true
}

// parse splits raw into YAML documents, checks each one's aliases and
// reads its envelope, stopping once the documents' nodes pass what is left
// of the repository's budget; it returns the file's nodes. Problems go to
// l.p. It takes the prefetcher's parse of raw when there is one.
func (l *loader) parse(file string, raw []byte) ([]*document, int64, error) {
	budget := l.limits.MaxNodes - l.nodes
	var key cacheKey
	if l.cache != nil {
		key = l.cache.key(file, raw, l.limits)
		if f := l.cache.get(key); f != nil {
			if docs, nodes, ok := f.take(l.p, budget); ok {
				l.kept[key] = f
				return docs, nodes, nil
			}
		}
	}
	var f *parsedFile
	if l.pre != nil {
		f = l.pre.parsed(file, raw)
		if err := l.ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
	docs, nodes, ok := f.take(l.p, budget)
	if !ok {
		f = parseFile(file, raw, l.limits, budget, nil)
		docs, nodes, _ = f.take(l.p, budget)
	}
	if l.cache != nil {
		l.kept[key] = f
	}
	return docs, nodes, nil
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into a located
// Error.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Message: "invalid YAML: " + msg}
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		e.Line = line
		e.Message = "invalid YAML:" + strings.SplitN(msg, ":", 2)[1]
	}
	return e
}

func parseEnvelope(p *problems, file string, root *yaml.Node) *document {
	f := mapping(p, file, "manifest", root)
	if f.node == nil || resolveAlias(f.node).Kind != yaml.MappingNode {
		return nil
	}
	d := &document{file: file, root: root}
	var avNode, kindNode *yaml.Node
	d.apiVersion, avNode = f.str("apiVersion", true)
	d.kind, kindNode = f.str("kind", true)
	meta := f.sub("metadata", "metadata", true)
	d.spec = f.get("spec")
	f.done("apiVersion", "kind", "metadata", "spec")
	if avNode != nil && d.apiVersion != APIVersion {
		p.at(file, avNode, "unsupported apiVersion %q (want %s)", d.apiVersion, APIVersion)
	}
	if kindNode != nil && d.kind != "" && d.kind != KindRepository && d.kind != KindEnvironment && !contains(resourceKinds, d.kind) {
		p.at(file, kindNode, "unknown kind %q (known: %s, %s, %s)", d.kind, KindEnvironment, strings.Join(resourceKinds, ", "), KindRepository)
		return nil
	}
	if meta != nil {
		d.name, d.nameNode = meta.str("name", true)
		if labels := meta.sub("labels", "metadata.labels", false); labels != nil {
			d.labels = map[string]string{}
			for _, k := range labels.order {
				v, _ := labels.str(k, false)
				d.labels[k] = v
			}
		}
		meta.has("annotations") // free-form, kept for tools
		meta.done("name", "labels", "annotations")
		if d.nameNode != nil && d.name != "" && !validName.MatchString(d.name) {
			p.at(file, d.nameNode, "metadata.name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 253 characters", d.name)
		}
	}
	if d.spec == nil && d.kind != "" {
		p.at(file, root, "%s %q: missing spec", d.kind, d.name)
		return nil
	}
	if d.kind == "" || d.name == "" {
		return nil
	}
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
