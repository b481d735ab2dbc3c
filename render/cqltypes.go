package render

import (
	"fmt"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"regexp"
	"strconv"
	"strings"
)

// cqlName is a Cassandra identifier ringmaster accepts for keyspaces,
// tables and columns: unquoted, so case-insensitive and stored lower-case.
var cqlName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// validName is a manifest metadata.name.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

var nativeTypes = map[string]bool{
	"ascii": true, "bigint": true, "blob": true, "boolean": true, "counter": true, "date": true,
	"decimal": true, "double": true, "duration": true, "float": true, "inet": true, "int": true,
	"smallint": true, "text": true, "time": true, "timestamp": true, "timeuuid": true, "tinyint": true,
	"uuid": true, "varchar": true, "varint": true,
}

// normalizeCQLType parses a CQL type and returns it in the form Cassandra
// reports in system_schema.columns: lower case, "varchar" as "text",
// ", " between parameters.
func normalizeCQLType(s string) (string, error) {
	p := &typeParser{src: strings.ToLower(strings.TrimSpace(s))}
	t, err := p.parse(0)
	if err != nil {
		return "", fmt.Errorf("type %q: %w", s, err)
	}
	if p.pos != len(p.src) {
		return "", fmt.Errorf("type %q: unexpected %q", s, p.src[p.pos:])
	}
	return t, nil
}

type typeParser struct {
	src string
	pos int
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *typeParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] >= 'a' && p.src[p.pos] <= 'z' || p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '_') {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *typeParser) expect(c byte) error {
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != c {
		return fmt.Errorf("expected %q at position %d", c, p.pos+1)
	}
	p.pos++
	return nil
}

func (p *typeParser) parse(depth int) (string, error) {
	if depth > 8 {
		return "", fmt.Errorf("nested too deeply")
	}
	w := p.word()
	if w == "" {
		return "", fmt.Errorf("expected a type name at position %d", p.pos+1)
	}
	params := map[string]int{"list": 1, "set": 1, "frozen": 1, "map": 2, "tuple": -1, "vector": -2}
	n, generic := params[w]
	if !generic {
		if !nativeTypes[w] {
			return "", fmt.Errorf("unknown type %q (user-defined types are not supported)", w)
		}
		if w == "varchar" {
			return "text", nil
		}
		return w, nil
	}
	if err := p.expect('<'); err != nil {
		return "", err
	}
	var args []string
	for {
		if n == -2 && len(args) == 1 {
			p.skipSpace()
			d := p.word()
			if _, err := strconv.Atoi(d); err != nil || d == "" || d == "0" {
				return "", fmt.Errorf("vector dimension must be a positive number")
			}
			args = append(args, d)
		} else {
			a, err := p.parse(depth + 1)
			if err != nil {
				return "", err
			}
			if a == "counter" {
				return "", fmt.Errorf("counter cannot be inside %s", w)
			}
			args = append(args, a)
		}
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		break
	}
	if err := p.expect('>'); err != nil {
		return "", err
	}
	switch {
	case n > 0 && len(args) != n:
		return "", fmt.Errorf("%s takes %d type parameter(s), not %d", w, n, len(args))
	case n == -2 && len(args) != 2:
		return "", fmt.Errorf("vector takes an element type and a dimension")
	}
	return w + "<" + strings.Join(args, ", ") + ">", nil
}

// classPackages qualify short class names in map options the way
// system_schema.tables stores them.
var classPackages = map[string]string{
	"compaction":  "org.apache.cassandra.db.compaction.",
	"compression": "org.apache.cassandra.io.compress.",
}

func tableOptionNames() []string {
	names := make([]string, 0, len(state.TableOptions))
	for n := range state.TableOptions {
		names = append(names, n)
	}
	return sortStrings(names)
}
