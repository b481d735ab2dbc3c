package render

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"gopkg.in/yaml.v3"
)

// Error is one problem in the repository, located at a file position.
//
// Invariant: File is relative to the repository root and uses forward
// slashes; Line and Column are 1-based, 0 when the problem concerns the
// whole file.
type Error struct {
	File         string
	Line, Column int
	Message      string
}

// Error renders "file:line:col: message".
func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
}

// problems collects Errors; every loader and validator appends to one so
// that a run reports every problem at once.
type problems struct {
	errs []*Error
	// origins records nodes that came into a document from another file
	// (patches, variables): problems at them are reported in that file.
	origins map[*yaml.Node]string
}

func (p *problems) fileOf(n *yaml.Node, file string) {
	if p.origins == nil {
		p.origins = map[*yaml.Node]string{}
	}
	p.origins[n] = file
}

// pos returns the file and position of n, seen from a document of file.
func (p *problems) pos(file string, n *yaml.Node) (string, int, int) {
	if n == nil {
		return file, 0, 0
	}
	if f, ok := p.origins[n]; ok {
		file = f
	}
	return file, n.Line, n.Column
}

func (p *problems) at(file string, n *yaml.Node, format string, args ...any) {
	e := &Error{Message: fmt.Sprintf(format, args...)}
	e.File, e.Line, e.Column = p.pos(file, n)
	p.errs = append(p.errs, e)
}

func (p *problems) add(e *Error) { p.errs = append(p.errs, e) }

func (p *problems) empty() bool { return len(p.errs) == 0 }

// err returns every problem as one *multierror.Error sorted by position, or
// nil. Each problem prints on its own line.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	var m *multierror.Error
	seen := map[string]bool{}
	for _, e := range p.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			m = multierror.Append(m, e)
		}
	}
	m.ErrorFormat = formatProblems
	return m
}

func formatProblems(errs []error) string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Problems returns the located problems inside an error returned by this
// package, or nil when err carries none.
func Problems(err error) []*Error {
	var m *multierror.Error
	if errors.As(err, &m) {
		var out []*Error
		for _, e := range m.Errors {
			var re *Error
			if errors.As(e, &re) {
				out = append(out, re)
			}
		}
		return out
	}
	var re *Error
	if errors.As(err, &re) {
		return []*Error{re}
	}
	return nil
}
