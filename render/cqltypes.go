package render

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// validName is a manifest metadata.name.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

var nativeTypes = map[string]bool{
	"ascii": true, "bigint": true, "blob": true, "boolean": true, "counter": true, "date": true,
	"decimal": true, "double": true, "duration": true, "float": true, "inet": true, "int": true,
	"smallint": true, "text": true, "time": true, "timestamp": true, "timeuuid": true, "tinyint": true,
	"uuid": true, "varchar": true, "varint": true,
}

// typeParams is the number of type parameters of each parameterised type:
// -1 for any number (tuple), -2 for an element type and a dimension
// (vector).
var typeParams = map[string]int{"list": 1, "set": 1, "frozen": 1, "map": 2, "tuple": -1, "vector": -2}

// maxTypeDepth bounds the nesting of a type.
const maxTypeDepth = 8

// cqlType is a parsed CQL column type, in the shape Cassandra 5.0 gives it
// once it has applied frozen<>: what String prints is what
// system_schema.columns reports.
type cqlType struct {
	// name is a native type ("int", "text"; never "varchar"), or "list",
	// "set", "map", "tuple" or "vector".
	name string
	// params are the element types: one for list, set and vector, key and
	// value for map, the fields of a tuple.
	params []*cqlType
	// dim is a vector's dimension.
	dim int
	// frozen marks a frozen list, set or map. Tuples are always frozen;
	// vectors are never marked (Cassandra drops frozen<> around them).
	frozen bool
}

// collection tells whether t is a list, set or map.
func (t *cqlType) collection() bool {
	return t.name == "list" || t.name == "set" || t.name == "map"
}

// multiCell tells whether t is a non-frozen collection: one whose elements
// are stored and updated one by one.
func (t *cqlType) multiCell() bool { return t.collection() && !t.frozen }

// referencesDuration tells whether t is duration or holds one in a
// collection or tuple, as Cassandra 5.0 judges it for primary key columns:
// it does not look inside vectors.
func (t *cqlType) referencesDuration() bool {
	if t.name == "duration" {
		return true
	}
	if t.name == "vector" {
		return false
	}
	for _, p := range t.params {
		if p.referencesDuration() {
			return true
		}
	}
	return false
}

// String renders t as system_schema.columns does: lower case, ", "
// between parameters, tuples and frozen collections as frozen<...>.
func (t *cqlType) String() string {
	if t.name == "vector" {
		return "vector<" + t.params[0].String() + ", " + strconv.Itoa(t.dim) + ">"
	}
	if len(t.params) == 0 {
		return t.name
	}
	parts := make([]string, len(t.params))
	for i, p := range t.params {
		parts[i] = p.String()
	}
	s := t.name + "<" + strings.Join(parts, ", ") + ">"
	if t.frozen || t.name == "tuple" {
		s = "frozen<" + s + ">"
	}
	return s
}

// freeze applies frozen<> to t as Cassandra does: a collection becomes
// frozen, and so does every collection and tuple inside it, down to (not
// into) vectors.
func (t *cqlType) freeze() {
	switch {
	case t.collection():
		t.frozen = true
	case t.name != "tuple":
		return
	}
	for _, p := range t.params {
		p.freeze()
	}
}

// normalizeCQLType parses a CQL type and returns it in the form Cassandra
// reports in system_schema.columns: lower case, "varchar" as "text",
// ", " between parameters, frozen<> where Cassandra adds it (tuples, and
// collections and tuples inside frozen ones), none around vectors.
func normalizeCQLType(s string) (string, error) {
	t, err := parseCQLType(s)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// parseCQLType parses a column type and refuses what Cassandra 5.0 refuses
// in a column definition, whatever the column's role:
//   - frozen<> of anything but a list, set, map, tuple or vector
//     (frozen<int>, frozen<frozen<int>>);
//   - a non-frozen collection directly inside a list, set or map
//     (list<list<int>>, map<set<int>, int>): frozen<> it;
//   - counter inside anything (collections, tuples, vectors);
//   - duration as a set element or a map key;
//   - a vector dimension outside 1 to 2147483647;
//   - unknown or user-defined types, wrong parameter counts, nesting
//     deeper than 8.
//
// The checks that depend on the column's role (primary key, counter
// tables, static) are the table's: see checkTable.
func parseCQLType(s string) (*cqlType, error) {
	p := &typeParser{src: strings.ToLower(strings.TrimSpace(s))}
	t, err := p.parse(0)
	if err == nil {
		if p.skipSpace(); p.pos != len(p.src) {
			err = fmt.Errorf("unexpected %q at position %d", p.src[p.pos:], p.pos+1)
		} else {
			err = t.check()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	return t, nil
}

// check applies the rules on what may sit inside what, once frozen<> has
// been applied throughout.
func (t *cqlType) check() error {
	for i, p := range t.params {
		if p.name == "counter" {
			where := map[string]string{"list": "inside a list", "set": "inside a set", "map": "inside a map", "tuple": "inside a tuple", "vector": "inside a vector"}[t.name]
			return fmt.Errorf("counter is not allowed %s: a counter can only be a column's whole type", where)
		}
		if t.collection() && p.multiCell() {
			return fmt.Errorf("%s: a non-frozen collection is not allowed inside a %s: write frozen<%s>", t, t.name, p)
		}
		switch {
		case t.name == "set" && p.name == "duration":
			return fmt.Errorf("%s: duration is not allowed as a set element (durations have no order)", t)
		case t.name == "map" && i == 0 && p.name == "duration":
			return fmt.Errorf("%s: duration is not allowed as a map key (durations have no order)", t)
		}
		if err := p.check(); err != nil {
			return err
		}
	}
	return nil
}

type typeParser struct {
	src string
	pos int
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
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

// errDimension explains a vector dimension out of range.
var errDimension = errors.New("vector dimension must be a whole number from 1 to 2147483647")

func (p *typeParser) parse(depth int) (*cqlType, error) {
	if depth > maxTypeDepth {
		return nil, fmt.Errorf("nested too deeply (at most %d levels)", maxTypeDepth)
	}
	w := p.word()
	if w == "" {
		return nil, fmt.Errorf("expected a type name at position %d", p.pos+1)
	}
	n, generic := typeParams[w]
	if !generic {
		if !nativeTypes[w] {
			return nil, fmt.Errorf("unknown type %q (user-defined types are not supported)", w)
		}
		if w == "varchar" {
			w = "text"
		}
		return &cqlType{name: w}, nil
	}
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	t := &cqlType{name: w}
	for {
		if n == -2 && len(t.params) == 1 {
			d := p.word()
			v, err := strconv.ParseInt(d, 10, 64)
			if err != nil || v < 1 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%w, not %q", errDimension, d)
			}
			t.dim = int(v)
			p.skipSpace()
			break
		}
		a, err := p.parse(depth + 1)
		if err != nil {
			return nil, err
		}
		t.params = append(t.params, a)
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		break
	}
	if err := p.expect('>'); err != nil {
		return nil, err
	}
	switch {
	case n > 0 && len(t.params) != n:
		return nil, fmt.Errorf("%s takes %d type parameter(s), not %d", w, n, len(t.params))
	case n == -2 && t.dim == 0:
		return nil, fmt.Errorf("vector takes an element type and a dimension, like vector<float, 3>")
	}
	switch w {
	case "frozen":
		inner := t.params[0]
		if !inner.collection() && inner.name != "tuple" && inner.name != "vector" {
			return nil, fmt.Errorf("frozen<> applies only to list, set, map, tuple and vector types, not to %s", inner)
		}
		inner.freeze()
		return inner, nil
	case "tuple":
		t.freeze()
	}
	return t, nil
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
