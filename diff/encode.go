package diff

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Encoder renders a change set to w. EncodeText, EncodeJSON and
// EncodeMarkdown are Encoders; none changes the change set, and each
// returns the first write error, wrapped.
type Encoder func(w io.Writer, cs *ChangeSet, opts EncodeOptions) error

// EncodeOptions tunes the encoders. The zero value is valid.
type EncodeOptions struct {
	// Title heads the output, e.g. "prod: origin/main → HEAD". Empty:
	// text and JSON print none, Markdown a generic heading.
	Title string
	// Color adds ANSI colours to text output: green creations, yellow
	// updates, red deletions. Other encoders ignore it.
	Color bool
	// MaxBytes caps the Markdown output (0: DefaultMaxBytes; negative: no
	// cap). Other encoders ignore it.
	MaxBytes int
	// Annotations are policy findings the caller attaches, keyed by change
	// ID. Encoders print them next to their change, deny before warn
	// before the rest, in the caller's order otherwise. Findings whose key
	// names no change in the set are printed apart, never dropped.
	Annotations map[string][]Annotation
}

// DefaultMaxBytes is the Markdown cap when EncodeOptions.MaxBytes is 0: it
// keeps a pull-request comment under GitHub's limit of 65536 characters.
const DefaultMaxBytes = 60000

// Annotation is one policy finding attached to a change.
type Annotation struct {
	// Code is the policy's stable code, e.g. "RM-POL-012".
	Code string
	// Severity is SeverityDeny, SeverityWarn or SeverityInfo; other values
	// are printed as they are.
	Severity string
	// Message says what is wrong and what to do.
	Message string
}

// Severities encoders know: they order findings and pick Markdown icons.
const (
	SeverityDeny = "deny"
	SeverityWarn = "warn"
	SeverityInfo = "info"
)

// String renders "RM-POL-012 warn: repair required after apply".
func (a Annotation) String() string {
	return fmt.Sprintf("%s %s: %s", a.Code, a.Severity, a.Message)
}

func severityRank(s string) int {
	switch s {
	case SeverityDeny:
		return 0
	case SeverityWarn:
		return 1
	case SeverityInfo:
		return 2
	default:
		return 3
	}
}

// sortedAnnotations returns a copy of as, deny first, stable otherwise.
func sortedAnnotations(as []Annotation) []Annotation {
	out := slices.Clone(as)
	slices.SortStableFunc(out, func(a, b Annotation) int {
		return severityRank(a.Severity) - severityRank(b.Severity)
	})
	return out
}

// looseFinding is a finding whose ID names no change of the set.
type looseFinding struct {
	ID string
	Annotation
}

// looseFindings lists the annotations not attached to a change, by ID.
func looseFindings(cs *ChangeSet, ann map[string][]Annotation) []looseFinding {
	ids := map[string]bool{}
	for _, c := range changesOf(cs) {
		ids[c.ID()] = true
	}
	var out []looseFinding
	for _, id := range state.SortedKeys(ann) {
		if ids[id] {
			continue
		}
		for _, a := range sortedAnnotations(ann[id]) {
			out = append(out, looseFinding{ID: id, Annotation: a})
		}
	}
	return out
}

func changesOf(cs *ChangeSet) []Change {
	if cs == nil {
		return nil
	}
	return cs.Changes
}

func unmanagedOf(cs *ChangeSet) []string {
	if cs == nil {
		return nil
	}
	return cs.Unmanaged
}

// environmentOf names the environment of a change set: the "to" side's,
// else the "from" side's.
func environmentOf(cs *ChangeSet) string {
	switch {
	case cs == nil:
		return ""
	case cs.To != nil && cs.To.Environment != "":
		return cs.To.Environment
	case cs.From != nil:
		return cs.From.Environment
	default:
		return ""
	}
}

// planLine is "Plan: 3 to create, 2 to update, 1 to delete." or
// "No changes.".
func planLine(s Summary) string {
	if s == (Summary{}) {
		return "No changes."
	}
	return fmt.Sprintf("Plan: %d to create, %d to update, %d to delete.", s.Create, s.Update, s.Delete)
}

// sign is a change's one-character prefix.
func sign(a Action) string {
	switch a {
	case Create:
		return "+"
	case Delete:
		return "-"
	default:
		return "~"
	}
}

// objectName is an object's name without its ID's kind prefix:
// "events", "events.clicks", "data/flags/new-ingest-path".
func objectName(c Change) string {
	id := c.ID()
	if o, err := state.ParseID(id); err == nil {
		return o.Name()
	}
	return id
}

// headline is a change's one-line description, without findings:
// "~ keyspace events: replication dc2 3 → 4".
func headline(c Change) string {
	noun := strings.ToLower(c.ObjectKind())
	head := sign(c.Action()) + " " + noun + " " + objectName(c)
	var detail string
	switch c := c.(type) {
	case *DropKeyspace:
		if names := state.SortedKeys(c.Keyspace.Tables); len(names) > 0 {
			head += " (and its tables " + strings.Join(names, ", ") + ")"
		}
	case *ModifyKeyspace:
		var parts []string
		if c.ReplicationChanged {
			parts = append(parts, "replication "+replicationDelta(c.From.Replication, c.To.Replication))
		}
		if c.DurableWritesChanged {
			parts = append(parts, fmt.Sprintf("durable_writes %t → %t", c.From.DurableWrites, c.To.DurableWrites))
		}
		detail = strings.Join(parts, "; ")
	case *ModifyTable:
		parts := make([]string, len(c.Changes))
		for i, tc := range c.Changes {
			parts[i] = tableChangeText(tc)
		}
		detail = strings.Join(parts, "; ")
	case *CreateZnode:
		head += fmt.Sprintf(" (%d bytes)", len(c.Znode.Data))
	case *DeleteZnode:
		head += fmt.Sprintf(" (%d bytes)", len(c.Znode.Data))
	}
	if detail != "" {
		head += ": " + detail
	}
	return head
}

// replicationDelta renders what changed in a keyspace's replication:
// "dc2 3 → 4, dc3 (none) → 3", or both maps when the class changed.
func replicationDelta(f, t state.Replication) string {
	if f.Class != t.Class {
		return f.String() + " → " + t.String()
	}
	var parts []string
	for _, k := range unionKeys(f.Factors, t.Factors) {
		fv, fok := f.Factors[k]
		tv, tok := t.Factors[k]
		if fok && tok && fv == tv {
			continue
		}
		parts = append(parts, k+" "+factorText(fv, fok)+" → "+factorText(tv, tok))
	}
	return strings.Join(parts, ", ")
}

func factorText(v int, ok bool) string {
	if !ok {
		return "(none)"
	}
	return strconv.Itoa(v)
}

// columnText renders a column's type: "text", or "text static".
func columnText(c state.Column) string {
	if c.Static {
		return c.Type + " static"
	}
	return c.Type
}

func optionText(v *state.OptionValue) string {
	if v == nil {
		return "(unset)"
	}
	return v.String()
}

// tableChangeText renders one change inside a ModifyTable:
// "add column x text", "option gc_grace_seconds 864000 → 86400".
func tableChangeText(tc TableChange) string {
	switch tc := tc.(type) {
	case *AddColumn:
		return "add column " + tc.Column.Name + " " + columnText(tc.Column)
	case *DropColumn:
		return "drop column " + tc.Column.Name + " " + columnText(tc.Column)
	case *AlterColumnType:
		return "alter column " + tc.Name + " " + columnText(tc.From) + " → " + columnText(tc.To)
	case *ChangePrimaryKey:
		return "change " + tc.From + " → " + tc.To
	case *ModifyOption:
		return "option " + tc.Name + " " + optionText(tc.From) + " → " + optionText(tc.To)
	default:
		return fmt.Sprintf("%T", tc)
	}
}

// detailLines renders a change as the lines of a diff: what the object
// had ('-') and what it gets ('+').
func detailLines(c Change) []diffLine {
	var out []diffLine
	add := func(op byte, format string, args ...any) {
		out = append(out, diffLine{Op: op, Text: fmt.Sprintf(format, args...)})
	}
	switch c := c.(type) {
	case *AddKeyspace:
		add('+', "replication %s", c.Keyspace.Replication)
		add('+', "durable_writes %t", c.Keyspace.DurableWrites)
	case *DropKeyspace:
		add('-', "replication %s", c.Keyspace.Replication)
		add('-', "durable_writes %t", c.Keyspace.DurableWrites)
		for _, name := range state.SortedKeys(c.Keyspace.Tables) {
			add('-', "table %s.%s", c.Keyspace.Name, name)
		}
	case *ModifyKeyspace:
		if c.ReplicationChanged {
			add('-', "replication %s", c.From.Replication)
			add('+', "replication %s", c.To.Replication)
		}
		if c.DurableWritesChanged {
			add('-', "durable_writes %t", c.From.DurableWrites)
			add('+', "durable_writes %t", c.To.DurableWrites)
		}
	case *AddTable:
		out = tableLines('+', c.Table)
	case *DropTable:
		out = tableLines('-', c.Table)
	case *ModifyTable:
		for _, tc := range c.Changes {
			switch tc := tc.(type) {
			case *AddColumn:
				add('+', "column %s %s", tc.Column.Name, columnText(tc.Column))
			case *DropColumn:
				add('-', "column %s %s", tc.Column.Name, columnText(tc.Column))
			case *AlterColumnType:
				add('-', "column %s %s", tc.Name, columnText(tc.From))
				add('+', "column %s %s", tc.Name, columnText(tc.To))
			case *ChangePrimaryKey:
				add('-', "%s", tc.From)
				add('+', "%s", tc.To)
			case *ModifyOption:
				if tc.From != nil {
					add('-', "option %s = %s", tc.Name, tc.From)
				}
				add('+', "option %s = %s", tc.Name, tc.To)
			}
		}
	case *CreateZnode:
		out = payloadAll('+', c.Znode.Data)
	case *UpdateZnode:
		out = payloadDiff(c.From.Data, c.To.Data)
	case *DeleteZnode:
		out = payloadAll('-', c.Znode.Data)
	}
	return out
}

// tableLines renders a whole table: columns, key and options.
func tableLines(op byte, t *state.Table) []diffLine {
	var out []diffLine
	for _, col := range t.Columns {
		out = append(out, diffLine{Op: op, Text: "column " + col.Name + " " + columnText(col)})
	}
	out = append(out, diffLine{Op: op, Text: primaryKeyCQL(t)})
	for _, name := range state.SortedKeys(t.Options) {
		out = append(out, diffLine{Op: op, Text: "option " + name + " = " + t.Options[name].String()})
	}
	return out
}

// errWriter remembers the first write error and skips later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) print(s string) {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}
