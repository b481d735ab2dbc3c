package diff

import (
	"fmt"
	"io"
	"strings"
)

// EncodeMarkdown renders a change set as a pull-request comment (GitHub
// flavoured Markdown), in this order:
//
//   - a "###" heading: opts.Title, or "ringmaster diff" and the environment;
//   - the plan summary in bold ("Plan: …" or "No changes.");
//   - a table | Action | Kind | Object | Policy |, one row per change, the
//     Policy cell listing its findings (⛔ deny, ⚠️ warn, ℹ️ otherwise);
//   - findings that name no change, as a list;
//   - one <details> section per change whose body is a fenced diff block:
//     the object's old lines '-', new lines '+' (an updated znode shows a
//     compact diff of its payload);
//   - the unmanaged IDs, in a <details> section.
//
// Output never exceeds the cap (opts.MaxBytes, DefaultMaxBytes when 0, none
// when negative) unless the heading, the table's header, the findings that
// name no change and the truncation note alone exceed it. When everything
// does not fit, detail sections are dropped from the last, then the
// unmanaged list (its count stays), and a visible note says so:
// "_Output truncated: N of M changes shown in detail; run `ringmaster diff
// -o text` for the rest._". The table stays complete unless it alone
// exceeds the cap; then its last rows go too and the note says how many it
// lists. Table cells escape '|', backticks and HTML; fences are longer than
// any backtick run they enclose.
func EncodeMarkdown(w io.Writer, cs *ChangeSet, opts EncodeOptions) error {
	limit := opts.MaxBytes
	if limit == 0 {
		limit = DefaultMaxBytes
	}
	changes := changesOf(cs)
	unmanaged := unmanagedOf(cs)

	var head strings.Builder
	title := opts.Title
	if title == "" {
		title = "ringmaster diff"
		if env := environmentOf(cs); env != "" {
			title += ": " + env
		}
	}
	fmt.Fprintf(&head, "### %s\n\n**%s**\n\n", escapeHTML(title), planLine(cs.Summary()))

	var tableHead string
	rows := make([]string, len(changes))
	if len(changes) > 0 {
		tableHead = "| Action | Kind | Object | Policy |\n| --- | --- | --- | --- |\n"
		for i, c := range changes {
			var policy []string
			for _, a := range sortedAnnotations(opts.Annotations[c.ID()]) {
				policy = append(policy, severityIcon(a.Severity)+" "+cell(a.String()))
			}
			rows[i] = fmt.Sprintf("| %s | %s | %s | %s |\n", c.Action(), c.ObjectKind(), cell(objectName(c)), strings.Join(policy, "<br>"))
		}
	}

	var loose string
	if lf := looseFindings(cs, opts.Annotations); len(lf) > 0 {
		var b strings.Builder
		b.WriteString("**Findings without a change:**\n\n")
		for _, f := range lf {
			fmt.Fprintf(&b, "- %s %s: %s\n", severityIcon(f.Severity), cell(f.ID), cell(f.Annotation.String()))
		}
		b.WriteString("\n")
		loose = b.String()
	}

	sections := make([]string, len(changes))
	for i, c := range changes {
		var body strings.Builder
		for _, l := range detailLines(c) {
			body.WriteString(l.String())
			body.WriteString("\n")
		}
		fence := fenceFor(body.String())
		sections[i] = fmt.Sprintf("<details><summary>%s</summary>\n\n%sdiff\n%s%s\n\n</details>\n\n",
			escapeHTML(headline(c)), fence, body.String(), fence)
	}

	var unmanagedFull, unmanagedShort string
	if len(unmanaged) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "<details><summary>Unmanaged (left alone): %d</summary>\n\n", len(unmanaged))
		for _, id := range unmanaged {
			fmt.Fprintf(&b, "- %s\n", cell(id))
		}
		b.WriteString("\n</details>\n\n")
		unmanagedFull = b.String()
		unmanagedShort = fmt.Sprintf("Unmanaged (left alone): %d, list omitted.\n\n", len(unmanaged))
	}

	tableEnd := ""
	if len(rows) > 0 {
		tableEnd = "\n"
	}
	build := func(nRows, nSections int, unmanagedPart, note string) string {
		var b strings.Builder
		b.WriteString(head.String())
		b.WriteString(tableHead)
		for _, r := range rows[:nRows] {
			b.WriteString(r)
		}
		b.WriteString(tableEnd)
		b.WriteString(loose)
		for _, s := range sections[:nSections] {
			b.WriteString(s)
		}
		b.WriteString(unmanagedPart)
		b.WriteString(note)
		return strings.TrimRight(b.String(), "\n") + "\n"
	}
	write := func(out string) error {
		if _, err := io.WriteString(w, out); err != nil {
			return fmt.Errorf("encode markdown: %w", err)
		}
		return nil
	}

	if full := build(len(rows), len(sections), unmanagedFull, ""); limit < 0 || len(full) <= limit {
		return write(full)
	}

	m := len(changes)
	noteReserve := max(len(truncationNote(m, m, m, true)), len(truncationNote(m, m, 0, false)))
	used := head.Len() + len(tableHead) + len(tableEnd) + len(loose) + len(unmanagedShort) + noteReserve
	nRows := 0
	for nRows < m && used+len(rows[nRows]) <= limit {
		used += len(rows[nRows])
		nRows++
	}
	if nRows < m {
		return write(build(nRows, 0, unmanagedShort, truncationNote(m, nRows, 0, false)))
	}
	nSections := 0
	for nSections < m && used+len(sections[nSections]) <= limit {
		used += len(sections[nSections])
		nSections++
	}
	unmanagedPart := unmanagedShort
	if used-len(unmanagedShort)+len(unmanagedFull) <= limit {
		unmanagedPart = unmanagedFull
	}
	return write(build(m, nSections, unmanagedPart, truncationNote(m, m, nSections, unmanagedPart != unmanagedFull)))
}

// truncationNote is the visible note of a truncated Markdown output: of m
// changes, listed are in the table and detailed have a detail section.
func truncationNote(m, listed, detailed int, unmanagedOmitted bool) string {
	var what string
	switch {
	case listed < m:
		what = fmt.Sprintf("%d of %d changes listed in the table and %d shown in detail", listed, m, detailed)
	case unmanagedOmitted:
		what = fmt.Sprintf("%d of %d changes shown in detail, unmanaged list omitted", detailed, m)
	default:
		what = fmt.Sprintf("%d of %d changes shown in detail", detailed, m)
	}
	return "_Output truncated: " + what + "; run `ringmaster diff -o text` for the rest._\n"
}

// escapeHTML escapes the characters that would start or break HTML: &, <
// and >. Quotes stay as they are: the output never puts text in an
// attribute.
func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// severityIcon is a finding's icon in Markdown.
func severityIcon(severity string) string {
	switch severity {
	case SeverityDeny:
		return "⛔"
	case SeverityWarn:
		return "⚠️"
	default:
		return "ℹ️"
	}
}

// cell escapes text for a Markdown table cell or list item: pipes and
// backticks get a backslash, HTML special characters become entities and
// line breaks become spaces.
func cell(s string) string {
	s = escapeHTML(s)
	s = strings.NewReplacer("|", `\|`, "`", "\\`", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return s
}

// fenceFor returns a backtick fence longer than any backtick run in body,
// and at least three long.
func fenceFor(body string) string {
	longest, run := 0, 0
	for _, r := range body {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
