package render

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// fields reads one YAML mapping strictly: every key read is marked, and
// done reports every key that was not (unknown fields are errors). All
// problems go to p, located at the offending node.
type fields struct {
	file    string
	what    string // e.g. "Keyspace spec", for messages
	node    *yaml.Node
	entries []fieldEntry // the mapping's keys in order, duplicates left out
	// index maps key names to entries once a mapping is large enough that
	// a linear search costs more than a map; nil for small ones.
	index map[string]int
	order []string
	p     *problems
}

// fieldEntry is one key of a mapping read by fields.
type fieldEntry struct {
	name     string
	key, val *yaml.Node // val has its alias resolved
	used     bool
}

// fieldsIndexAbove is the size above which fields builds a map index.
const fieldsIndexAbove = 16

// mapping opens n as a mapping; a non-mapping node is reported and yields
// an empty reader, so callers go on and report further problems.
func mapping(p *problems, file, what string, n *yaml.Node) *fields {
	f := &fields{file: file, what: what, node: n, p: p}
	n = resolveAlias(n)
	if n == nil {
		return f
	}
	if n.Kind != yaml.MappingNode {
		p.at(file, n, "%s must be a mapping, not %s", what, describe(n))
		return f
	}
	pairs := len(n.Content) / 2
	f.entries = make([]fieldEntry, 0, pairs)
	f.order = make([]string, 0, pairs)
	if pairs > fieldsIndexAbove {
		f.index = make(map[string]int, pairs)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.at(file, k, "%s: keys must be strings", what)
			continue
		}
		if first := f.find(k.Value); first >= 0 {
			p.at(file, k, "%s: duplicate key %q (first at line %d)", what, k.Value, f.entries[first].key.Line)
			continue
		}
		if f.index != nil {
			f.index[k.Value] = len(f.entries)
		}
		f.entries = append(f.entries, fieldEntry{name: k.Value, key: k, val: resolveAlias(v)})
		f.order = append(f.order, k.Value)
	}
	return f
}

// find returns the index of key's entry, or -1.
func (f *fields) find(key string) int {
	if f.index != nil {
		if i, ok := f.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range f.entries {
		if f.entries[i].name == key {
			return i
		}
	}
	return -1
}

// key returns the key node of key, or nil.
func (f *fields) key(key string) *yaml.Node {
	if i := f.find(key); i >= 0 {
		return f.entries[i].key
	}
	return nil
}

// has tells whether key is present (and marks it read).
func (f *fields) has(key string) bool {
	return f.get(key) != nil
}

// get returns the value node of key, or nil; it marks key read.
func (f *fields) get(key string) *yaml.Node {
	i := f.find(key)
	if i < 0 {
		return nil
	}
	f.entries[i].used = true
	return f.entries[i].val
}

// required returns key's value node or reports it missing.
func (f *fields) required(key string) *yaml.Node {
	n := f.get(key)
	if n == nil {
		f.p.at(f.file, f.node, "%s: missing required field %q", f.what, key)
	}
	return n
}

// str reads a string scalar; "" when absent or wrong.
func (f *fields) str(key string, required bool) (string, *yaml.Node) {
	var n *yaml.Node
	if required {
		n = f.required(key)
	} else {
		n = f.get(key)
	}
	if n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		f.p.at(f.file, n, "%s: %s must be a string, not %s", f.what, key, describe(n))
		return "", n
	}
	if required && n.Value == "" {
		f.p.at(f.file, n, "%s: %s must not be empty", f.what, key)
	}
	return n.Value, n
}

// integer reads a whole-number scalar.
func (f *fields) integer(key string, required bool) (int, *yaml.Node, bool) {
	var n *yaml.Node
	if required {
		n = f.required(key)
	} else {
		n = f.get(key)
	}
	if n == nil {
		return 0, nil, false
	}
	v, ok := intValue(n)
	if !ok {
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float" && isWhole(n.Value)) {
			f.p.at(f.file, n, "%s: %s %s is out of range (from %d to %d)", f.what, key, n.Value, math.MinInt32, math.MaxInt32)
		} else {
			f.p.at(f.file, n, "%s: %s must be a whole number, not %s", f.what, key, describe(n))
		}
		return 0, n, false
	}
	return v, n, true
}

// boolean reads a true/false scalar.
func (f *fields) boolean(key string, def bool) bool {
	n := f.get(key)
	if n == nil {
		return def
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		f.p.at(f.file, n, "%s: %s must be true or false, not %s", f.what, key, describe(n))
		return def
	}
	v, _ := strconv.ParseBool(n.Value)
	return v
}

// strings reads a sequence of strings.
func (f *fields) strings(key string) ([]string, []*yaml.Node) {
	n := f.get(key)
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		f.p.at(f.file, n, "%s: %s must be a list, not %s", f.what, key, describe(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, item := range n.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			f.p.at(f.file, item, "%s: %s items must be strings, not %s", f.what, key, describe(item))
			continue
		}
		out = append(out, item.Value)
		nodes = append(nodes, item)
	}
	return out, nodes
}

// list reads a sequence node's items.
func (f *fields) list(key string) []*yaml.Node {
	n := f.get(key)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		f.p.at(f.file, n, "%s: %s must be a list, not %s", f.what, key, describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		out[i] = resolveAlias(item)
	}
	return out
}

// sub opens key's value as a nested mapping; nil when absent.
func (f *fields) sub(key, what string, required bool) *fields {
	var n *yaml.Node
	if required {
		n = f.required(key)
	} else {
		n = f.get(key)
	}
	if n == nil {
		return nil
	}
	return mapping(f.p, f.file, what, n)
}

// done reports every key that no reader asked for.
func (f *fields) done(known ...string) {
	for _, e := range f.entries {
		if !e.used {
			hint := ""
			if len(known) > 0 {
				hint = " (known: " + strings.Join(known, ", ") + ")"
			}
			f.p.at(f.file, e.key, "%s: unknown field %q%s", f.what, e.name, hint)
		}
	}
}

func intValue(n *yaml.Node) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return int(v), true
}

// isWhole tells whether a YAML float is a whole number written large
// (1e12), which deserves "out of range", not "not a whole number".
func isWhole(s string) bool {
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	return err == nil && !math.IsInf(v, 0) && v == math.Trunc(v)
}

// describe names a node's type for messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// maxAliasDepth bounds alias resolution chains.
const maxAliasDepth = 16

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

// maxValueNodes bounds the nodes one value may expand to (aliases can make
// a small file expand exponentially).
const maxValueNodes = 200000

// toValue converts a YAML node to plain Go values for JSON: map[string]any,
// []any, string, int64, float64, bool, nil. Problems (non-string keys,
// unsupported tags, oversize expansion) are reported at their node.
func toValue(p *problems, file string, n *yaml.Node) any {
	budget := maxValueNodes
	return toValueBudget(p, file, n, &budget)
}

func toValueBudget(p *problems, file string, n *yaml.Node, budget *int) any {
	n = resolveAlias(n)
	if n == nil {
		return nil
	}
	*budget--
	if *budget < 0 {
		if *budget == -1 {
			p.at(file, n, "value too large (more than %d nodes after expanding aliases)", maxValueNodes)
		}
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolveAlias(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				p.at(file, k, "mapping keys must be strings")
				continue
			}
			if _, dup := m[k.Value]; dup {
				p.at(file, k, "duplicate key %q", k.Value)
				continue
			}
			m[k.Value] = toValueBudget(p, file, n.Content[i+1], budget)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			s = append(s, toValueBudget(p, file, item, budget))
		}
		return s
	case yaml.ScalarNode:
		return scalarValue(p, file, n)
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return toValueBudget(p, file, n.Content[0], budget)
		}
	}
	p.at(file, n, "unsupported YAML value")
	return nil
}

func scalarValue(p *problems, file string, n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		v, _ := strconv.ParseBool(n.Value)
		return v
	case "!!int":
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			p.at(file, n, "integer %s out of range", n.Value)
			return nil
		}
		return v
	case "!!float":
		v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			p.at(file, n, "number %s is not a finite number", n.Value)
			return nil
		}
		return v
	case "!!str", "":
		return n.Value
	}
	p.at(file, n, "unsupported YAML tag %s", n.Tag)
	return nil
}

var variableRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$\{`)

// variable is an environment variable's value node and where it was set.
type variable struct {
	node *yaml.Node
	file string
}

// substitute replaces ${name} references in every string scalar under n with
// the variable's value, in place. A scalar that is exactly "${name}" takes
// the variable's node (keeping its type: a number stays a number); inside a
// longer string the variable's scalar text is spliced in. "$${" escapes a
// literal "${". Undefined variables are reported at the referencing node.
//
// Nothing that looks like a reference is left literal by accident: a
// reference in a mapping key, an unclosed "${name" and a malformed
// "${...}" are reported.
func substitute(p *problems, file string, n *yaml.Node, vars map[string]variable) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			substitute(p, file, c, vars)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && strings.Contains(strings.ReplaceAll(k.Value, "$${", ""), "${") {
				p.at(file, k, "key %q: variables are not substituted in keys", k.Value)
			}
			substitute(p, file, n.Content[i+1], vars)
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" || !strings.Contains(n.Value, "${") {
			return
		}
		if bad := badReference(n.Value); bad != "" {
			p.at(file, n, "%s: write ${name} with a name of letters, digits and '_', or $${ for a literal ${", bad)
			return
		}
		if m := variableRef.FindStringSubmatchIndex(n.Value); m != nil && m[0] == 0 && m[1] == len(n.Value) && m[2] >= 0 {
			name := n.Value[m[2]:m[3]]
			v, ok := vars[name]
			if !ok {
				p.at(file, n, "undefined variable %q", name)
				return
			}
			line, col := n.Line, n.Column
			*n = *p.clone(v.node, "")
			n.Line, n.Column = line, col
			return
		}
		n.Value = variableRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$${" {
				return "${"
			}
			name := ref[2 : len(ref)-1]
			v, ok := vars[name]
			if !ok {
				p.at(file, n, "undefined variable %q", name)
				return ref
			}
			if v.node.Kind != yaml.ScalarNode {
				p.at(file, n, "variable %q is %s and cannot be spliced into a string", name, describe(v.node))
				return ref
			}
			return v.node.Value
		})
	}
}

// badReference describes the first "${" in s that is neither a complete
// reference ${name} nor the escape "$${", or returns "".
func badReference(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		if strings.HasPrefix(s[i:], "$${") {
			i += 2
			continue
		}
		if s[i+1] != '{' {
			continue
		}
		m := variableRef.FindStringIndex(s[i:])
		if m == nil || m[0] != 0 {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return fmt.Sprintf("unclosed variable reference %q", s[i:min(len(s), i+40)])
			}
			return fmt.Sprintf("invalid variable reference %q", s[i:i+end+1])
		}
		i += m[1] - 1
	}
	return ""
}

// checkVariable refuses a variable whose value holds a reference: values
// are taken literally (variables do not expand inside variables), so such
// a reference would reach the cluster as text.
func checkVariable(p *problems, file, name string, n *yaml.Node) {
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		n = resolveAlias(n)
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(strings.ReplaceAll(n.Value, "$${", ""), "${") {
			p.at(file, n, "variable %q: its value refers to a variable; variables do not expand inside variables", name)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

// clone deep-copies a node tree (aliases resolved). With a non-empty file,
// the copies are recorded as coming from that file, so problems found in
// them later are reported there (a patch's values, in the patch's file).
func (p *problems) clone(n *yaml.Node, file string) *yaml.Node {
	n = resolveAlias(n)
	if n == nil {
		return nil
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = p.clone(child, file)
	}
	if file != "" {
		p.fileOf(&c, file)
	} else if f, ok := p.origins[n]; ok {
		p.fileOf(&c, f)
	}
	return &c
}

// mergePatch applies patch (from patchFile) to target in place with JSON
// merge patch semantics (RFC 7386): mappings merge key by key, null deletes
// a key, any other value replaces. Nodes taken from the patch keep the
// patch's file and positions, so later errors point at the patch line that
// introduced them.
func (p *problems) mergePatch(target, patch *yaml.Node, patchFile string) *yaml.Node {
	target, patch = resolveAlias(target), resolveAlias(patch)
	if patch.Kind != yaml.MappingNode {
		return p.clone(patch, patchFile)
	}
	if target == nil || target.Kind != yaml.MappingNode {
		target = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: patch.Line, Column: patch.Column}
		p.fileOf(target, patchFile)
	}
	for i := 0; i+1 < len(patch.Content); i += 2 {
		key, val := patch.Content[i], resolveAlias(patch.Content[i+1])
		idx := -1
		for j := 0; j+1 < len(target.Content); j += 2 {
			if target.Content[j].Value == key.Value {
				idx = j
				break
			}
		}
		if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			if idx >= 0 {
				target.Content = append(target.Content[:idx], target.Content[idx+2:]...)
			}
			continue
		}
		if idx >= 0 {
			target.Content[idx+1] = p.mergePatch(target.Content[idx+1], val, patchFile)
		} else {
			target.Content = append(target.Content, p.clone(key, patchFile), p.mergePatch(nil, val, patchFile))
		}
	}
	return target
}
