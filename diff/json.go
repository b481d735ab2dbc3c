package diff

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// SchemaV1 is the value of the "schema" field of EncodeJSON's output.
// Fields may be added within v1; none is removed or changes meaning.
const SchemaV1 = "ringmaster.io/diff/v1"

// EncodeJSON renders a change set as one JSON document, indented by two
// spaces and ending in a newline. The output is deterministic: struct
// fields in the order below, map keys sorted, changes in the change set's
// order; HTML characters are not escaped. diff/SCHEMA.md documents every
// field; the shape is:
//
//	{
//	  "schema": "ringmaster.io/diff/v1",
//	  "title": "prod: origin/main → HEAD",       // "" when none
//	  "environment": "prod",
//	  "summary": {"create": 1, "update": 2, "delete": 0},
//	  "changes": [{
//	    "id": "keyspace/events",                  // Change.ID
//	    "action": "update",                       // create, update, delete
//	    "kind": "Keyspace",                       // Keyspace, Table, Znode
//	    "origin": "keyspaces/events.yaml:3:1",    // "" when unknown
//	    "details": {...},                         // by kind and action
//	    "findings": [{"code": "RM-POL-012", "severity": "warn", "message": "..."}]
//	  }],
//	  "unmanaged": ["znode/data/legacy"],
//	  "findings": [{"id": "...", "code": "...", "severity": "...", "message": "..."}]
//	}
//
// Arrays are never null. The top-level "findings" holds the annotations
// whose ID names no change. Details:
//   - keyspace create and delete: name, replication {class, factors},
//     durableWrites; delete adds tables (the names dropped with it);
//   - keyspace update: name, and replication {from, to} and/or
//     durableWrites {from, to}, only what changed;
//   - table create and delete: keyspace, name, columns [{name, type,
//     static}], partitionKey, clustering [{name, order}], primaryKey (CQL),
//     options {name: CQL literal};
//   - table update: keyspace, name, changes [{type, name, from, to}] with
//     type addColumn, dropColumn, alterColumnType, changePrimaryKey or
//     modifyOption; a column's from/to is its type ("text", "text
//     static"), an option's its CQL literal; an absent side is omitted;
//   - znode: path, manifest {kind, name} when known, before (update,
//     delete) and after (create, update) payloads as strings, and
//     "encoding": "base64" when either payload is not valid UTF-8 (both are
//     then base64).
func EncodeJSON(w io.Writer, cs *ChangeSet, opts EncodeOptions) error {
	s := cs.Summary()
	doc := jsonDoc{
		Schema:      SchemaV1,
		Title:       opts.Title,
		Environment: environmentOf(cs),
		Summary:     jsonSummary(s),
		Changes:     []jsonChange{},
		Unmanaged:   append([]string{}, unmanagedOf(cs)...),
		Findings:    []jsonLooseFinding{},
	}
	for _, c := range changesOf(cs) {
		jc := jsonChange{
			ID:       c.ID(),
			Action:   string(c.Action()),
			Kind:     c.ObjectKind(),
			Origin:   c.Origin().String(),
			Details:  jsonDetails(c),
			Findings: []jsonFinding{},
		}
		for _, a := range sortedAnnotations(opts.Annotations[c.ID()]) {
			jc.Findings = append(jc.Findings, jsonFinding(a))
		}
		doc.Changes = append(doc.Changes, jc)
	}
	for _, f := range looseFindings(cs, opts.Annotations) {
		doc.Findings = append(doc.Findings, jsonLooseFinding{ID: f.ID, Code: f.Code, Severity: f.Severity, Message: f.Message})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}

type jsonDoc struct {
	Schema      string             `json:"schema"`
	Title       string             `json:"title"`
	Environment string             `json:"environment"`
	Summary     jsonSummary        `json:"summary"`
	Changes     []jsonChange       `json:"changes"`
	Unmanaged   []string           `json:"unmanaged"`
	Findings    []jsonLooseFinding `json:"findings"`
}

type jsonSummary struct {
	Create int `json:"create"`
	Update int `json:"update"`
	Delete int `json:"delete"`
}

type jsonChange struct {
	ID       string         `json:"id"`
	Action   string         `json:"action"`
	Kind     string         `json:"kind"`
	Origin   string         `json:"origin"`
	Details  map[string]any `json:"details"`
	Findings []jsonFinding  `json:"findings"`
}

type jsonFinding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type jsonLooseFinding struct {
	ID       string `json:"id"`
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type jsonReplication struct {
	Class   string         `json:"class"`
	Factors map[string]int `json:"factors"`
}

type jsonColumn struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Static bool   `json:"static"`
}

type jsonClustering struct {
	Name  string `json:"name"`
	Order string `json:"order"`
}

type jsonTableChange struct {
	Type string  `json:"type"`
	Name string  `json:"name,omitempty"`
	From *string `json:"from,omitempty"`
	To   *string `json:"to,omitempty"`
}

func replicationJSON(r state.Replication) jsonReplication {
	f := map[string]int{}
	for k, v := range r.Factors {
		f[k] = v
	}
	return jsonReplication{Class: r.Class, Factors: f}
}

func keyspaceJSON(ks *state.Keyspace) map[string]any {
	return map[string]any{
		"name":          ks.Name,
		"replication":   replicationJSON(ks.Replication),
		"durableWrites": ks.DurableWrites,
	}
}

func tableJSON(t *state.Table) map[string]any {
	cols := make([]jsonColumn, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = jsonColumn{Name: c.Name, Type: c.Type, Static: c.Static}
	}
	cl := make([]jsonClustering, len(t.Clustering))
	for i, c := range t.Clustering {
		cl[i] = jsonClustering{Name: c.Name, Order: "ASC"}
		if c.Descending {
			cl[i].Order = "DESC"
		}
	}
	opts := map[string]string{}
	for k, v := range t.Options {
		opts[k] = v.String()
	}
	return map[string]any{
		"keyspace":     t.Keyspace,
		"name":         t.Name,
		"columns":      cols,
		"partitionKey": append([]string{}, t.PartitionKey...),
		"clustering":   cl,
		"primaryKey":   primaryKeyCQL(t),
		"options":      opts,
	}
}

func tableChangeJSON(tc TableChange) jsonTableChange {
	str := func(s string) *string { return &s }
	switch tc := tc.(type) {
	case *AddColumn:
		return jsonTableChange{Type: "addColumn", Name: tc.Column.Name, To: str(columnText(tc.Column))}
	case *DropColumn:
		return jsonTableChange{Type: "dropColumn", Name: tc.Column.Name, From: str(columnText(tc.Column))}
	case *AlterColumnType:
		return jsonTableChange{Type: "alterColumnType", Name: tc.Name, From: str(columnText(tc.From)), To: str(columnText(tc.To))}
	case *ChangePrimaryKey:
		return jsonTableChange{Type: "changePrimaryKey", From: str(tc.From), To: str(tc.To)}
	case *ModifyOption:
		jc := jsonTableChange{Type: "modifyOption", Name: tc.Name, To: str(tc.To.String())}
		if tc.From != nil {
			jc.From = str(tc.From.String())
		}
		return jc
	default:
		return jsonTableChange{Type: fmt.Sprintf("%T", tc)}
	}
}

func znodeJSON(z *state.Znode, before, after []byte, hasBefore, hasAfter bool) map[string]any {
	d := map[string]any{"path": z.Path}
	if z.Kind != "" || z.Name != "" {
		d["manifest"] = map[string]string{"kind": z.Kind, "name": z.Name}
	}
	text := (!hasBefore || utf8.Valid(before)) && (!hasAfter || utf8.Valid(after))
	enc := func(b []byte) string {
		if text {
			return string(b)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	if !text {
		d["encoding"] = "base64"
	}
	if hasBefore {
		d["before"] = enc(before)
	}
	if hasAfter {
		d["after"] = enc(after)
	}
	return d
}

// jsonDetails is the kind-specific "details" object of a change.
func jsonDetails(c Change) map[string]any {
	switch c := c.(type) {
	case *AddKeyspace:
		return keyspaceJSON(c.Keyspace)
	case *DropKeyspace:
		d := keyspaceJSON(c.Keyspace)
		d["tables"] = append([]string{}, state.SortedKeys(c.Keyspace.Tables)...)
		return d
	case *ModifyKeyspace:
		d := map[string]any{"name": c.To.Name}
		if c.ReplicationChanged {
			d["replication"] = map[string]jsonReplication{
				"from": replicationJSON(c.From.Replication),
				"to":   replicationJSON(c.To.Replication),
			}
		}
		if c.DurableWritesChanged {
			d["durableWrites"] = map[string]bool{"from": c.From.DurableWrites, "to": c.To.DurableWrites}
		}
		return d
	case *AddTable:
		return tableJSON(c.Table)
	case *DropTable:
		return tableJSON(c.Table)
	case *ModifyTable:
		changes := make([]jsonTableChange, len(c.Changes))
		for i, tc := range c.Changes {
			changes[i] = tableChangeJSON(tc)
		}
		return map[string]any{"keyspace": c.To.Keyspace, "name": c.To.Name, "changes": changes}
	case *CreateZnode:
		return znodeJSON(c.Znode, nil, c.Znode.Data, false, true)
	case *UpdateZnode:
		return znodeJSON(c.To, c.From.Data, c.To.Data, true, true)
	case *DeleteZnode:
		return znodeJSON(c.Znode, c.Znode.Data, nil, true, false)
	default:
		return map[string]any{}
	}
}
