package diff

import (
	"fmt"
	"io"
	"strings"
)

// ANSI colours of the text encoder.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// EncodeText renders a change set for a terminal, one line per change in
// the change set's order, like Terraform:
//
//	prod: origin/main → HEAD
//
//	+ keyspace events
//	~ keyspace events: replication dc2 3 → 4 (RM-POL-012 warn: repair required after apply)
//	~ table events.clicks: add column x text; option gc_grace_seconds 864000 → 86400
//	+ znode data/flags/new-ingest-path (212 bytes)
//	~ znode data/config/ingest/pipeline
//	    ...
//	    -   "batch": 100,
//	    +   "batch": 200,
//	    ...
//	- table events.old
//
//	Plan: 2 to create, 3 to update, 1 to delete.
//
// The title (opts.Title) comes first when set. An updated znode is
// followed by a compact line diff of its payload (JSON pretty-printed with
// an indent of two, two lines of context, "..." for omitted lines).
// Findings follow their change's line in parentheses, deny first; findings
// that name no change are listed under "Findings without a change:",
// unmanaged IDs under "Unmanaged (left alone):". The last line is the plan
// summary or "No changes.". With opts.Color, change lines are green for
// creations, yellow for updates and red for deletions, payload diff lines
// green or red; without it the output holds no escape sequence.
func EncodeText(w io.Writer, cs *ChangeSet, opts EncodeOptions) error {
	ew := &errWriter{w: w}
	paint := func(colour, s string) string {
		if !opts.Color || colour == "" {
			return s
		}
		return colour + s + ansiReset
	}
	var blocks [][]string
	if opts.Title != "" {
		blocks = append(blocks, []string{opts.Title})
	}
	if changes := changesOf(cs); len(changes) > 0 {
		var lines []string
		for _, c := range changes {
			line := headline(c)
			for _, a := range sortedAnnotations(opts.Annotations[c.ID()]) {
				line += " (" + a.String() + ")"
			}
			lines = append(lines, paint(actionColour(c.Action()), line))
			if u, ok := c.(*UpdateZnode); ok {
				for _, l := range payloadDiff(u.From.Data, u.To.Data) {
					lines = append(lines, paint(opColour(l.Op), "    "+l.String()))
				}
			}
		}
		blocks = append(blocks, lines)
	}
	if loose := looseFindings(cs, opts.Annotations); len(loose) > 0 {
		lines := []string{"Findings without a change:"}
		for _, f := range loose {
			lines = append(lines, "  "+f.ID+" ("+f.Annotation.String()+")")
		}
		blocks = append(blocks, lines)
	}
	if um := unmanagedOf(cs); len(um) > 0 {
		lines := []string{"Unmanaged (left alone):"}
		for _, id := range um {
			lines = append(lines, "  "+id)
		}
		blocks = append(blocks, lines)
	}
	blocks = append(blocks, []string{planLine(cs.Summary())})
	for i, b := range blocks {
		if i > 0 {
			ew.print("\n")
		}
		ew.print(strings.Join(b, "\n") + "\n")
	}
	if ew.err != nil {
		return fmt.Errorf("encode text: %w", ew.err)
	}
	return nil
}

func actionColour(a Action) string {
	switch a {
	case Create:
		return ansiGreen
	case Delete:
		return ansiRed
	default:
		return ansiYellow
	}
}

func opColour(op byte) string {
	switch op {
	case '+':
		return ansiGreen
	case '-':
		return ansiRed
	default:
		return ""
	}
}
