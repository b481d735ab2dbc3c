package render

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits bound what Load reads, so that every input is bounded in time and
// memory before anything expands it. A zero field takes its default.
type Limits struct {
	// MaxFileBytes bounds one manifest file (default DefaultMaxFileBytes).
	MaxFileBytes int64
	// MaxRepoBytes bounds all manifest files of a repository together
	// (default DefaultMaxRepoBytes).
	MaxRepoBytes int64
	// MaxAliasNodes bounds the YAML nodes that aliases may add to one
	// document once expanded (default DefaultMaxAliasNodes).
	MaxAliasNodes int64
	// MaxNodes bounds the YAML nodes of all manifests together, as
	// written (default DefaultMaxNodes): dense YAML costs memory and time
	// per node, not per byte.
	MaxNodes int64
}

// Default limits. Decoding YAML costs about 1 µs and 200 bytes per node
// on a small machine, and the densest YAML has a node every two bytes, so
// the defaults keep the worst case of a whole run near a second and a few
// hundred MB; typical manifests (a node every 10 to 20 bytes) reach the
// byte limit first. Each can be raised by flag.
const (
	DefaultMaxFileBytes  = 1 << 20
	DefaultMaxRepoBytes  = 16 << 20
	DefaultMaxAliasNodes = 100_000
	DefaultMaxNodes      = 750_000
)

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxRepoBytes <= 0 {
		l.MaxRepoBytes = DefaultMaxRepoBytes
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = DefaultMaxAliasNodes
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	return l
}

// byteSize renders n bytes for messages: "512 bytes", "3.0 KiB", "50.0 MiB".
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// checkExpansion walks one decoded document once (every distinct node
// once, aliases not followed twice) and reports, at the offending node:
// an alias that refers to a node containing it (a cycle: expanding it
// never ends), more than maxAdded nodes added by aliases once expanded
// (an alias bomb), and YAML merge keys ("<<"), which ringmaster does not
// apply. It returns false when the document must not be used.
//
// The expanded size is computed by memoised counting over the node graph,
// saturating past the limit, so a bomb of any depth costs time in
// proportion to its text, not its expansion.
//
// It also returns the document's nodes as written, for the repository's
// node budget, and whether the document is plain: without aliases and
// without "${" in any scalar, so that rendering neither expands nor
// substitutes anything in it and may share its nodes read-only.
//
// Most documents have no alias: one walk without maps counts them and
// finds their merge keys, reported in the order the full walk would.
func checkExpansion(p *problems, file string, doc *yaml.Node, maxAdded int64) (nodes int64, plain, ok bool) {
	var w plainWalk
	if w.walk(doc) {
		for _, k := range w.merges {
			p.at(file, k, mergeKeyMessage)
		}
		return w.nodes, !w.ref, len(w.merges) == 0
	}
	c := &expansion{p: p, file: file, sizes: map[*yaml.Node]int64{}, open: map[*yaml.Node]bool{}, limit: maxAdded}
	expanded := c.size(doc)
	nodes = int64(len(c.sizes))
	if c.bad {
		return nodes, false, false
	}
	if added := expanded - nodes; added > maxAdded {
		at := c.firstAlias
		if at == nil {
			at = doc
		}
		p.at(file, at, "YAML aliases in this document expand to more than %d extra nodes (limit %d; raise it with --max-alias-nodes)", added, maxAdded)
		return nodes, false, false
	}
	return nodes, false, true
}

const mergeKeyMessage = "YAML merge keys (<<) are not supported: write the fields out, or use a Patch"

// plainWalk walks a document that has no alias: a tree, every node once.
type plainWalk struct {
	nodes  int64
	merges []*yaml.Node // merge keys, in the order expansion.size meets them
	ref    bool         // a scalar holds "${"
}

// walk counts n's nodes; it returns false, at once, on meeting an alias.
func (w *plainWalk) walk(n *yaml.Node) bool {
	if n == nil {
		return true
	}
	w.nodes++
	switch n.Kind {
	case yaml.AliasNode:
		return false
	case yaml.ScalarNode:
		if !w.ref && strings.Contains(n.Value, "${") {
			w.ref = true
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				w.merges = append(w.merges, k)
			}
		}
	}
	for _, child := range n.Content {
		if !w.walk(child) {
			return false
		}
	}
	return true
}

type expansion struct {
	p          *problems
	file       string
	sizes      map[*yaml.Node]int64 // expanded size of each finished node
	open       map[*yaml.Node]bool  // nodes being counted (for cycles)
	limit      int64
	bad        bool
	firstAlias *yaml.Node
}

// cap is the saturation point of counts: past it the exact figure does not
// matter, and sums cannot overflow.
func (c *expansion) cap() int64 { return c.limit*4 + 1<<30 }

func (c *expansion) size(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if s, ok := c.sizes[n]; ok {
		return s
	}
	if c.open[n] {
		return 0 // reported by the alias that closed the cycle
	}
	c.open[n] = true
	defer delete(c.open, n)
	var total int64 = 1
	if n.Kind == yaml.AliasNode {
		if c.firstAlias == nil {
			c.firstAlias = n
		}
		if c.open[n.Alias] {
			c.p.at(c.file, n, "YAML alias *%s refers to a node that contains it: it would expand forever", n.Value)
			c.bad = true
			c.sizes[n] = 1
			return 1
		}
		total += c.size(n.Alias)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.p.at(c.file, k, mergeKeyMessage)
				c.bad = true
			}
		}
	}
	for _, child := range n.Content {
		total += c.size(child)
		if total > c.cap() {
			total = c.cap()
		}
	}
	if total > c.cap() {
		total = c.cap()
	}
	c.sizes[n] = total
	return total
}
