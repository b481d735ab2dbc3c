// Package render owns ringmaster's manifests: the kinds a repository
// declares, loading them from an fs.FS, environments and overlays,
// validation with file:line:col positions, and rendering an environment to
// a target state.State and to CQL. It does no I/O beyond reading the fs.FS
// it is given.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
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
}

// Load reads the repository at the root of fsys: ringmaster.yaml, the base
// folder, every environment folder and the policies folder. It reports
// every problem found at once (malformed YAML, bad envelopes, unknown
// kinds); kind-specific validation happens in Render.
func Load(fsys fs.FS) (*Repository, error) {
	p := &problems{}
	repo := &Repository{BaseDir: "base", EnvironmentsDir: "environments", PoliciesDir: "policies", envs: map[string]*envDocs{}, defaults: map[string]variable{}}
	docs, err := readFile(p, fsys, RepositoryFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s not found at its root", ErrNoRepository, RepositoryFile)
		}
		return nil, err
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

	repo.base = readTree(p, fsys, repo.BaseDir, false)
	repo.policies = readTree(p, fsys, repo.PoliciesDir, false)
	entries, err := fs.ReadDir(fsys, repo.EnvironmentsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", repo.EnvironmentsDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := path.Join(repo.EnvironmentsDir, e.Name())
		ed := &envDocs{}
		for _, d := range readTree(p, fsys, dir, true) {
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
			p.add(&Error{File: dir, Message: "environment folder has no manifest of kind Environment"})
			continue
		}
		if ed.environment.name != e.Name() {
			p.at(ed.environment.file, ed.environment.nameNode, "Environment is named %q but its folder is %q", ed.environment.name, e.Name())
		}
		repo.envs[e.Name()] = ed
		repo.Environments = append(repo.Environments, e.Name())
	}
	sort.Strings(repo.Environments)
	for _, d := range append(append([]*document{}, repo.base...), repo.policies...) {
		if d.kind == KindEnvironment {
			p.at(d.file, d.root, "an Environment belongs in %s/<name>/, not here", repo.EnvironmentsDir)
		}
	}
	if len(repo.Environments) == 0 && p.empty() {
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

// readTree reads every .yaml/.yml file under dir (recursively); a missing
// dir is no documents. Environment documents are allowed only when envOK.
func readTree(p *problems, fsys fs.FS, dir string, envOK bool) []*document {
	var docs []*document
	err := fs.WalkDir(fsys, dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && file == dir {
				return fs.SkipDir
			}
			return err
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
		fileDocs, err := readFile(p, fsys, file)
		if err != nil {
			p.add(&Error{File: file, Message: err.Error()})
			return nil
		}
		for _, doc := range fileDocs {
			if doc.kind == KindEnvironment && !envOK {
				p.at(doc.file, doc.root, "an Environment belongs in its environments/<name>/ folder")
				continue
			}
			docs = append(docs, doc)
		}
		return nil
	})
	if err != nil {
		p.add(&Error{File: dir, Message: fmt.Sprintf("read: %v", err)})
	}
	return docs
}

// readFile parses every document of one file and its envelope. YAML syntax
// errors and envelope problems go to p; the error return is for I/O.
func readFile(p *problems, fsys fs.FS, file string) ([]*document, error) {
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	return parseDocuments(p, file, raw), nil
}

// parseDocuments splits raw into YAML documents and reads each envelope.
func parseDocuments(p *problems, file string, raw []byte) []*document {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []*document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.add(yamlError(file, err))
			break
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // an empty document, e.g. after a trailing ---
		}
		if d := parseEnvelope(p, file, n.Content[0]); d != nil {
			docs = append(docs, d)
		}
	}
	return docs
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
