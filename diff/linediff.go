package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Line diff of znode payloads, shared by the text and Markdown encoders.

// diffLine is one line of a rendered diff. Op is '+' (added), '-'
// (removed), ' ' (context) or '.' (omitted unchanged lines).
type diffLine struct {
	Op   byte
	Text string
}

// String renders the line with its two-character prefix.
func (l diffLine) String() string {
	if l.Op == '.' {
		return "  ..."
	}
	return string(l.Op) + " " + l.Text
}

// diffContext is how many unchanged lines surround a change in a compact
// diff.
const diffContext = 2

// maxEditDistance bounds the line diff's work: beyond it, a payload diff
// shows all old lines removed and all new lines added.
const maxEditDistance = 1000

// payloadLines splits a payload into the lines a diff shows: JSON is
// pretty-printed with an indent of two spaces, other UTF-8 text is split as
// it is. ok is false for a payload that is not valid UTF-8.
func payloadLines(data []byte) (lines []string, ok bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	if len(data) == 0 {
		return nil, true
	}
	text := string(data)
	// Indent checks the JSON as it goes: what is not JSON stays as it is.
	var buf bytes.Buffer
	buf.Grow(len(data) + len(data)/2)
	if err := json.Indent(&buf, data, "", "  "); err == nil {
		text = buf.String()
	}
	return strings.Split(strings.TrimRight(text, "\n"), "\n"), true
}

// payloadDiff renders the change of a znode payload: a compact line diff,
// or one line that says why none can be shown.
func payloadDiff(before, after []byte) []diffLine {
	a, okA := payloadLines(before)
	b, okB := payloadLines(after)
	if !okA || !okB {
		return []diffLine{{Op: ' ', Text: fmt.Sprintf("(binary payload: %d → %d bytes)", len(before), len(after))}}
	}
	ops := lineDiff(a, b)
	if !slices.ContainsFunc(ops, func(l diffLine) bool { return l.Op != ' ' }) {
		return []diffLine{{Op: ' ', Text: fmt.Sprintf("(payload differs only in formatting: %d → %d bytes)", len(before), len(after))}}
	}
	return compactDiff(ops, diffContext)
}

// payloadAll renders a whole payload as added (op '+') or removed ('-').
func payloadAll(op byte, data []byte) []diffLine {
	lines, ok := payloadLines(data)
	if !ok {
		return []diffLine{{Op: op, Text: fmt.Sprintf("(binary payload: %d bytes)", len(data))}}
	}
	out := make([]diffLine, len(lines))
	for i, l := range lines {
		out[i] = diffLine{Op: op, Text: l}
	}
	return out
}

// lineDiff returns a shortest edit script from a to b (Myers' algorithm)
// as context, removed and added lines, removals before additions within a
// run of changes. Past maxEditDistance it gives up on the middle and
// replaces it whole.
func lineDiff(a, b []string) []diffLine {
	// Trim the common prefix and suffix: they are context.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []diffLine
	for _, l := range a[:pre] {
		out = append(out, diffLine{Op: ' ', Text: l})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		out = append(out, diffLine{Op: ' ', Text: l})
	}
	return out
}

// myers computes the edit script of a and b.
func myers(a, b []string) []diffLine {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return replaceAll(a, b)
	}
	limit := min(n+m, maxEditDistance)
	off := limit + 1
	v := make([]int, 2*off+1)
	// trace[d] holds v[k] for k in [-d-1, d+1] as it was before step d.
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		trace = append(trace, slices.Clone(v[off-d-1:off+d+2]))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return replaceAll(a, b)
	}
	var rev []diffLine
	x, y := n, m
	for d := found; d > 0; d-- {
		tv := trace[d]
		at := func(k int) int { return tv[k+d+1] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, diffLine{Op: ' ', Text: a[x-1]})
			x--
			y--
		}
		if x == px {
			rev = append(rev, diffLine{Op: '+', Text: b[y-1]})
		} else {
			rev = append(rev, diffLine{Op: '-', Text: a[x-1]})
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		rev = append(rev, diffLine{Op: ' ', Text: a[x-1]})
		x--
		y--
	}
	slices.Reverse(rev)
	return groupRuns(rev)
}

// groupRuns puts the removals of each run of changes before its additions.
func groupRuns(ops []diffLine) []diffLine {
	out := make([]diffLine, 0, len(ops))
	for i := 0; i < len(ops); {
		if ops[i].Op == ' ' {
			out = append(out, ops[i])
			i++
			continue
		}
		j := i
		for j < len(ops) && ops[j].Op != ' ' {
			j++
		}
		for _, op := range ops[i:j] {
			if op.Op == '-' {
				out = append(out, op)
			}
		}
		for _, op := range ops[i:j] {
			if op.Op == '+' {
				out = append(out, op)
			}
		}
		i = j
	}
	return out
}

func replaceAll(a, b []string) []diffLine {
	out := make([]diffLine, 0, len(a)+len(b))
	for _, l := range a {
		out = append(out, diffLine{Op: '-', Text: l})
	}
	for _, l := range b {
		out = append(out, diffLine{Op: '+', Text: l})
	}
	return out
}

// compactDiff keeps the changed lines and ctx lines of context around
// each; each run of two or more omitted lines becomes one '.' line.
func compactDiff(ops []diffLine, ctx int) []diffLine {
	keep := make([]bool, len(ops))
	for i, op := range ops {
		if op.Op == ' ' {
			continue
		}
		for j := max(0, i-ctx); j <= min(len(ops)-1, i+ctx); j++ {
			keep[j] = true
		}
	}
	// A "..." line stands for two or more lines: a single one is shown.
	for i := range keep {
		if !keep[i] && (i == 0 || keep[i-1]) && (i == len(keep)-1 || keep[i+1]) {
			keep[i] = true
		}
	}
	var out []diffLine
	last := -1
	for i, op := range ops {
		if !keep[i] {
			continue
		}
		if i > last+1 {
			out = append(out, diffLine{Op: '.'})
		}
		out = append(out, op)
		last = i
	}
	if last < len(ops)-1 {
		out = append(out, diffLine{Op: '.'})
	}
	return out
}
