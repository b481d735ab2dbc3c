package policies

import (
	"encoding/json"
	"reflect"
	"sort"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// field is one key of an object's CEL map and how to compute its value
// from the source object. get returns nil, bool, int64, float64, string,
// map[string]any, []any or a ref.Val.
type field struct {
	name string
	get  func(src any) any
}

// fieldOf adapts a typed getter.
func fieldOf[T any](name string, get func(T) any) field {
	return field{name: name, get: func(src any) any { return get(src.(T)) }}
}

// shape is the fixed key set of one kind of object.
//
// Invariant: fields are sorted by name and index maps each name to its
// position.
type shape struct {
	fields []field
	names  []string
	index  map[string]int
}

func newShape(fields ...field) *shape {
	sort.Slice(fields, func(i, j int) bool { return fields[i].name < fields[j].name })
	s := &shape{fields: fields, index: make(map[string]int, len(fields))}
	for i, f := range fields {
		s.names = append(s.names, f.name)
		s.index[f.name] = i
	}
	return s
}

// object is a resource or change presented to CEL as a map from string to
// dyn whose values are computed on first access and then kept. Building
// one costs a single allocation, so rules that read one field of ten
// thousand objects do not pay for the other fields.
//
// An object is used by one Evaluate call at a time (it memoises without
// locking).
type object struct {
	shape   *shape
	src     any
	adapter types.Adapter
	vals    []ref.Val // nil until a field is read
}

var (
	_ traits.Mapper  = (*object)(nil)
	_ json.Marshaler = (*object)(nil)
)

func newObject(s *shape, src any, adapter types.Adapter) *object {
	return &object{shape: s, src: src, adapter: adapter}
}

// field returns the value of the i-th field.
func (o *object) field(i int) ref.Val {
	if o.vals == nil {
		o.vals = make([]ref.Val, len(o.shape.fields))
	}
	if o.vals[i] == nil {
		o.vals[i] = o.adapter.NativeToValue(o.shape.fields[i].get(o.src))
	}
	return o.vals[i]
}

// Find implements traits.Mapper.
func (o *object) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false
	}
	i, ok := o.shape.index[string(k)]
	if !ok {
		return nil, false
	}
	return o.field(i), true
}

// Get implements traits.Indexer.
func (o *object) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (o *object) Contains(key ref.Val) ref.Val {
	_, found := o.Find(key)
	return types.Bool(found)
}

// Size implements traits.Sizer.
func (o *object) Size() ref.Val { return types.Int(len(o.shape.fields)) }

// Iterator implements traits.Iterable: the keys, sorted.
func (o *object) Iterator() traits.Iterator {
	return types.NewStringList(o.adapter, o.shape.names).Iterator()
}

// Value returns the object as a map[string]any of CEL values.
func (o *object) Value() any {
	m := make(map[string]any, len(o.shape.fields))
	for i, f := range o.shape.fields {
		m[f.name] = o.field(i)
	}
	return m
}

// full is the object as an eager CEL map, for the operations that need
// every field.
func (o *object) full() ref.Val { return o.adapter.NativeToValue(o.Value()) }

// ConvertToNative implements ref.Val.
func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return o.full().ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (o *object) ConvertToType(typeVal ref.Type) ref.Val {
	if typeVal == types.TypeType {
		return types.MapType
	}
	return o.full().ConvertToType(typeVal)
}

// Equal implements ref.Val.
func (o *object) Equal(other ref.Val) ref.Val {
	if p, ok := other.(*object); ok && p.src == o.src && p.shape == o.shape {
		return types.True
	}
	return o.full().Equal(other)
}

// Type implements ref.Val.
func (o *object) Type() ref.Type { return types.MapType }

// MarshalJSON renders the object's fields as JSON, for messages.
func (o *object) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(o.shape.fields))
	for i, f := range o.shape.fields {
		m[f.name] = nativeOf(o.field(i))
	}
	return json.Marshal(m)
}

// nativeOf turns a CEL value into plain Go values that encoding/json
// renders naturally.
func nativeOf(v ref.Val) any {
	switch v := v.(type) {
	case *object:
		return v
	case types.Null:
		return nil
	case traits.Mapper:
		m := map[string]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			m[formatValue(k)] = nativeOf(v.Get(k))
		}
		return m
	case traits.Lister:
		var l []any
		for it := v.Iterator(); it.HasNext() == types.True; {
			l = append(l, nativeOf(it.Next()))
		}
		return l
	}
	return v.Value()
}
