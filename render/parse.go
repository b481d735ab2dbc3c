package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// parsedFile is one manifest file parsed by parseFile: each step of the
// document loop with what it found, so that a node budget can be applied
// afterwards exactly as the loop would have applied it (take). It is never
// changed once made, so it may be shared by many Loads (Cache).
type parsedFile struct {
	steps []parseStep
	// complete: the loop reached the end of the file or a YAML error.
	// Otherwise it stopped before a step that began at next nodes, and the
	// steps answer only budgets below next.
	complete bool
	next     int64
}

// parseStep is one document of a file, or the YAML error that ended it.
type parseStep struct {
	before int64     // the file's nodes before this step
	nodes  int64     // the nodes it adds
	errs   []*Error  // the problems it found, in order
	doc    *document // nil when no document came out of it
}

// parseFile splits raw into YAML documents, checks each one's aliases and
// reads its envelope. Like the sequential loop it records, it stops once
// the documents' nodes pass budget; it also stops when more returns false
// (given the nodes of the step just done; nil: never).
func parseFile(file string, raw []byte, limits Limits, budget int64, more func(added int64) bool) *parsedFile {
	f := &parsedFile{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var nodes int64
	for nodes <= budget {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			f.complete = true
			return f
		}
		if err != nil {
			f.steps = append(f.steps, parseStep{before: nodes, errs: []*Error{yamlError(file, err)}})
			f.complete = true
			return f
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // an empty document, e.g. after a trailing ---
		}
		p := &problems{}
		step := parseStep{before: nodes}
		count, plain, ok := checkExpansion(p, file, &n, limits.MaxAliasNodes)
		step.nodes = count
		nodes += count
		if ok {
			if d := parseEnvelope(p, file, n.Content[0]); d != nil {
				d.plain = plain
				if plain {
					d.prepare()
				}
				step.doc = d
			}
		}
		step.errs = p.errs
		f.steps = append(f.steps, step)
		if more != nil && !more(count) {
			break
		}
	}
	f.next = nodes
	return f
}

// prepare readies a plain document for Render, which will not change
// it: its root keeps the spec only (specOnly), and a ConfigEntry's payload
// is worked out now, while the parsers run.
func (d *document) prepare() {
	d.root = specOnly(d.root)
	if d.kind == KindConfigEntry {
		p := &problems{}
		e := entryPayloadOf(p, d)
		e.errs = p.errs
		d.entry = &e
	}
}

// specOnly returns a copy of a plain document's top mapping that holds its
// spec only: the rest of the envelope has been read into the document,
// and from here on only the mapping's position and its spec are used, so
// the Repository need not keep the rest.
func specOnly(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "spec" {
			c := *root
			c.Content = []*yaml.Node{root.Content[i], root.Content[i+1]}
			return &c
		}
	}
	return root
}

// take adds to p what the sequential loop with this node budget would
// have found, and returns its documents and nodes; ok is false when f
// stopped too early to answer for budget.
func (f *parsedFile) take(p *problems, budget int64) (docs []*document, nodes int64, ok bool) {
	if f == nil || !f.complete && budget >= f.next {
		return nil, 0, false
	}
	for _, s := range f.steps {
		if s.before > budget {
			break
		}
		for _, e := range s.errs {
			c := *e // callers own the Errors they get
			p.add(&c)
		}
		nodes += s.nodes
		if s.doc != nil {
			docs = append(docs, s.doc)
		}
	}
	return docs, nodes, true
}

// prefetcher reads the manifest files Load is about to read and parses
// them on other goroutines, one per CPU, while Load goes through them in
// order. Load reads every file again itself, and takes a parse only when
// the bytes it read are the bytes parsed: what Load reports and returns
// is exactly what it would have been without the prefetcher.
//
// It reads fsys from the goroutine that made it only (an fs.FS need not
// be safe for concurrent use), within Load's limits: files over
// MaxFileBytes are skipped, reading stops at MaxRepoBytes, and the parsers
// stop once they have counted MaxNodes nodes, so it never does more than
// about twice the work the limits allow Load itself. Files the cache holds
// are not parsed again.
type prefetcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	limits Limits
	jobs   map[string]*parseJob
	queue  chan *parseJob // nil once closed
	wg     sync.WaitGroup
	nodes  atomic.Int64 // nodes parsed so far, all files together
	bytes  int64        // bytes read so far
	cache  *Cache       // nil: none
}

// parseWorkers is how many goroutines parse ahead of Load: one per CPU
// (tests change it).
var parseWorkers = func() int { return runtime.GOMAXPROCS(0) }

// parseJob is one file handed to the parsers.
type parseJob struct {
	file string
	raw  []byte
	done chan struct{} // closed once result is set (nil: not parsed)
	// result is the parse, set before done is closed.
	result *parsedFile
}

// newPrefetcher starts the parsers, or returns nil when there is one CPU
// to run them on.
func newPrefetcher(ctx context.Context, limits Limits, cache *Cache) *prefetcher {
	workers := parseWorkers()
	if workers < 2 {
		return nil
	}
	pf := &prefetcher{limits: limits, jobs: map[string]*parseJob{}, queue: make(chan *parseJob, 1024), cache: cache}
	pf.ctx, pf.cancel = context.WithCancel(ctx)
	for range workers {
		queue := pf.queue
		pf.wg.Go(func() { pf.work(queue) })
	}
	return pf
}

func (pf *prefetcher) work(queue <-chan *parseJob) {
	for job := range queue {
		if pf.ctx.Err() == nil && pf.nodes.Load() <= pf.limits.MaxNodes {
			job.result = parseFile(job.file, job.raw, pf.limits, pf.limits.MaxNodes, func(added int64) bool {
				return pf.nodes.Add(added) <= pf.limits.MaxNodes && pf.ctx.Err() == nil
			})
		}
		close(job.done)
	}
}

// walk reads the manifest files under dir (recursively; below an
// environments folder, only its sub-folders) and queues them, skipping
// what Load would skip. Errors are left for Load to meet and report.
func (pf *prefetcher) walk(fsys fs.FS, dir string, environments bool) {
	_ = fs.WalkDir(fsys, dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil || pf.ctx.Err() != nil || pf.full() {
			return fs.SkipAll
		}
		if d.IsDir() {
			if file != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if ext := path.Ext(file); !d.Type().IsRegular() || (ext != ".yaml" && ext != ".yml") || (environments && path.Dir(file) == dir) {
			return nil
		}
		if _, seen := pf.jobs[file]; seen {
			return nil
		}
		f, err := fsys.Open(file)
		if err != nil {
			return nil
		}
		var size int64
		if info, err := f.Stat(); err == nil {
			size = info.Size()
		}
		raw, err := readAtMost(f, size, pf.limits.MaxFileBytes+1)
		f.Close()
		if err != nil || int64(len(raw)) > pf.limits.MaxFileBytes {
			return nil
		}
		if pf.bytes += int64(len(raw)); pf.full() {
			return fs.SkipAll
		}
		if pf.cache != nil && pf.cache.get(pf.cache.key(file, raw, pf.limits)) != nil {
			return nil
		}
		job := &parseJob{file: file, raw: raw, done: make(chan struct{})}
		pf.jobs[file] = job
		select {
		case pf.queue <- job:
		case <-pf.ctx.Done():
			close(job.done)
			return fs.SkipAll
		}
		return nil
	})
}

// full tells whether the prefetcher has done all the limits allow.
func (pf *prefetcher) full() bool {
	return pf.bytes > pf.limits.MaxRepoBytes || pf.nodes.Load() > pf.limits.MaxNodes
}

// parsed returns the parse of file when the prefetcher parsed exactly raw,
// waiting for it; nil otherwise, or when ctx ended first.
func (pf *prefetcher) parsed(file string, raw []byte) *parsedFile {
	job := pf.jobs[file]
	if job == nil || !bytes.Equal(job.raw, raw) {
		return nil
	}
	select {
	case <-job.done:
		return job.result
	case <-pf.ctx.Done():
		return nil
	}
}

// stop ends the prefetcher: queued files are dropped, and it returns once
// every parser has finished the document it was reading.
func (pf *prefetcher) stop() {
	pf.cancel()
	if pf.queue != nil {
		close(pf.queue)
		pf.queue = nil
	}
	pf.wg.Wait()
}

// walked ends the queue: no more files will come.
func (pf *prefetcher) walked() {
	close(pf.queue)
	pf.queue = nil
}

// Cache keeps the manifest files that Loads through it have parsed, keyed
// by path and content (a SHA-256 of the bytes, which for a Git snapshot
// stands for the blob id and works as well for a working tree), so that
// loading a revision that changed a few files parses only those. A
// controller that renders every commit of a branch keeps one.
//
// What a Load through the cache returns and reports is exactly what Load
// returns and reports: every file is still read, and parsed documents are
// never changed once made (Render copies a document before it substitutes
// or patches anything in it), so Repositories may share them.
//
// It holds the files of the last Load through it that was not interrupted:
// files that Load did not read are dropped. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	files map[cacheKey]*parsedFile
}

// cacheKey identifies one parse: the file, its bytes, and the limit that
// changes what checkExpansion finds. The node budget is applied when the
// parse is taken.
type cacheKey struct {
	file     string
	sum      [sha256.Size]byte
	maxAlias int64
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{} }

// Load is Load (the package function), reusing what earlier Loads through
// c parsed.
func (c *Cache) Load(ctx context.Context, fsys fs.FS, limits Limits) (*Repository, error) {
	return load(ctx, fsys, limits, c)
}

func (c *Cache) key(file string, raw []byte, limits Limits) cacheKey {
	return cacheKey{file: file, sum: sha256.Sum256(raw), maxAlias: limits.MaxAliasNodes}
}

func (c *Cache) get(k cacheKey) *parsedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[k]
}

// retain replaces what c holds with the files of one Load.
func (c *Cache) retain(files map[cacheKey]*parsedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files = files
}
