package diff

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

const title = "prod: origin/main → HEAD"

// representativeSet is the representative change set, with an unmanaged
// znode.
func representativeSet() *ChangeSet {
	from, to := representative()
	from.Znodes["data/config/other-team"] = znode("data/config/other-team", "{}")
	return Compute(from, to, Options{Owned: func(id string) bool { return id != "znode/data/config/other-team" }})
}

func encode(t *testing.T, enc Encoder, cs *ChangeSet, opts EncodeOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, cs, opts); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.String()
}

func TestEncodeGolden(t *testing.T) {
	cs := representativeSet()
	tests := []struct {
		file string
		enc  Encoder
		opts EncodeOptions
	}{
		{"text.golden", EncodeText, EncodeOptions{Title: title, Annotations: annotations()}},
		{"text_color.golden", EncodeText, EncodeOptions{Title: title, Annotations: annotations(), Color: true}},
		{"json.golden", EncodeJSON, EncodeOptions{Title: title, Annotations: annotations()}},
		{"markdown.golden", EncodeMarkdown, EncodeOptions{Title: title, Annotations: annotations()}},
		{"markdown_truncated.golden", EncodeMarkdown, EncodeOptions{Title: title, Annotations: annotations(), MaxBytes: 2600}},
		{"markdown_table_truncated.golden", EncodeMarkdown, EncodeOptions{Title: title, Annotations: annotations(), MaxBytes: 800}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			golden(t, tt.file, []byte(encode(t, tt.enc, cs, tt.opts)))
		})
	}
}

func TestEncodeTextLines(t *testing.T) {
	cs := representativeSet()
	out := encode(t, EncodeText, cs, EncodeOptions{Annotations: annotations()})
	if strings.Contains(out, "\x1b") {
		t.Errorf("plain text holds an escape sequence")
	}
	for _, line := range []string{
		"~ keyspace events: replication dc2 3 → 4 (RM-POL-012 warn: repair required after apply)",
		"+ keyspace metrics",
		"~ table events.clicks: alter column count int → bigint; add column x text; drop column old_col int; option default_time_to_live (unset) → 0; option gc_grace_seconds 864000 → 86400 (RM-POL-003 deny: type change of `count` int → bigint is not allowed) (RM-POL-020 warn: column old_col dropped: data is lost)",
		"+ znode data/flags/new-ingest-path (77 bytes)",
		"~ znode data/config/ingest/pipeline",
		`    -   "batch": 100,`,
		`    +   "batch": 200,`,
		`    -   "workers": 4`,
		`    +   "workers": 8`,
		"- table events.legacy",
		"- keyspace old_ks (and its tables t1, t2)",
		"Findings without a change:",
		"  column/events.clicks.old_col (RM-POL-021 info: declared in allowedDrops | by schema/events.yaml:30)",
		"Unmanaged (left alone):",
		"  znode/data/config/other-team",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("text output lacks line %q:\n%s", line, out)
		}
	}
	if !strings.HasSuffix(out, "\nPlan: 4 to create, 3 to update, 3 to delete.\n") {
		t.Errorf("text output does not end with the plan line:\n%s", out)
	}
	if strings.HasPrefix(out, "\n") {
		t.Errorf("text output without title starts with a blank line")
	}
}

func TestEncodeTextColor(t *testing.T) {
	cs := representativeSet()
	out := encode(t, EncodeText, cs, EncodeOptions{Color: true})
	for _, line := range []string{
		ansiGreen + "+ keyspace metrics" + ansiReset,
		ansiYellow + "~ keyspace events: replication dc2 3 → 4" + ansiReset,
		ansiRed + "- keyspace old_ks (and its tables t1, t2)" + ansiReset,
		ansiRed + `    -   "batch": 100,` + ansiReset,
		ansiGreen + `    +   "batch": 200,` + ansiReset,
		`        "compression": "lz4",`,
		"      ...",
	} {
		if !strings.Contains("\n"+out, "\n"+line+"\n") {
			t.Errorf("colour output lacks line %q:\n%q", line, out)
		}
	}
	if strings.Contains(out, ansiReset+"Plan") || !strings.Contains(out, "\nPlan: ") {
		t.Errorf("plan line is coloured")
	}
}

func TestEncodeNoChanges(t *testing.T) {
	for _, cs := range []*ChangeSet{nil, Compute(nil, nil, Options{})} {
		if got := encode(t, EncodeText, cs, EncodeOptions{}); got != "No changes.\n" {
			t.Errorf("text = %q, want %q", got, "No changes.\n")
		}
		md := encode(t, EncodeMarkdown, cs, EncodeOptions{Title: "dev"})
		if md != "### dev\n\n**No changes.**\n" {
			t.Errorf("markdown = %q", md)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(encode(t, EncodeJSON, cs, EncodeOptions{})), &doc); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"changes", "unmanaged", "findings"} {
			if arr, ok := doc[key].([]any); !ok || len(arr) != 0 {
				t.Errorf("%s = %#v, want an empty array", key, doc[key])
			}
		}
	}
}

func TestEncodeJSONRoundTrip(t *testing.T) {
	cs := representativeSet()
	raw := encode(t, EncodeJSON, cs, EncodeOptions{Title: title, Annotations: annotations()})
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if doc["schema"] != SchemaV1 || SchemaV1 != "ringmaster.io/diff/v1" {
		t.Errorf("schema = %v, want %s", doc["schema"], SchemaV1)
	}
	if doc["environment"] != "prod" || doc["title"] != title {
		t.Errorf("environment, title = %v, %v", doc["environment"], doc["title"])
	}
	wantSummary := map[string]any{"create": 4.0, "update": 3.0, "delete": 3.0}
	if fmt.Sprint(doc["summary"]) != fmt.Sprint(wantSummary) {
		t.Errorf("summary = %v, want %v", doc["summary"], wantSummary)
	}
	changes := doc["changes"].([]any)
	if len(changes) != len(cs.Changes) {
		t.Fatalf("%d changes, want %d", len(changes), len(cs.Changes))
	}
	byID := map[string]map[string]any{}
	for i, c := range changes {
		m := c.(map[string]any)
		if m["id"] != cs.Changes[i].ID() || m["action"] != string(cs.Changes[i].Action()) || m["kind"] != cs.Changes[i].ObjectKind() {
			t.Errorf("change %d = %v %v %v, want %s", i, m["id"], m["action"], m["kind"], cs.Changes[i].ID())
		}
		byID[m["id"].(string)] = m
	}

	ks := byID["keyspace/events"]
	if ks["origin"] != "schema/events.yaml:1:1" {
		t.Errorf("keyspace origin = %v", ks["origin"])
	}
	repl := ks["details"].(map[string]any)["replication"].(map[string]any)
	if got := repl["to"].(map[string]any)["factors"].(map[string]any)["dc2"]; got != 4.0 {
		t.Errorf("replication.to.factors.dc2 = %v, want 4", got)
	}
	if got := repl["from"].(map[string]any)["factors"].(map[string]any)["dc2"]; got != 3.0 {
		t.Errorf("replication.from.factors.dc2 = %v, want 3", got)
	}
	if f := ks["findings"].([]any); len(f) != 1 || f[0].(map[string]any)["code"] != "RM-POL-012" {
		t.Errorf("keyspace findings = %v", f)
	}

	tc := byID["table/events.clicks"]["details"].(map[string]any)["changes"].([]any)
	first := tc[0].(map[string]any)
	if first["type"] != "alterColumnType" || first["name"] != "count" || first["from"] != "int" || first["to"] != "bigint" {
		t.Errorf("first table change = %v", first)
	}
	ttl := tc[3].(map[string]any)
	if _, has := ttl["from"]; has || ttl["to"] != "0" || ttl["type"] != "modifyOption" {
		t.Errorf("option set anew = %v, want no from", ttl)
	}
	if f := byID["table/events.clicks"]["findings"].([]any); len(f) != 2 || f[0].(map[string]any)["severity"] != "deny" {
		t.Errorf("clicks findings = %v, want deny first", f)
	}

	pipe := byID["znode/data/config/ingest/pipeline"]["details"].(map[string]any)
	if !strings.Contains(pipe["before"].(string), `"batch":100`) || !strings.Contains(pipe["after"].(string), `"batch":200`) {
		t.Errorf("znode before/after = %v / %v", pipe["before"], pipe["after"])
	}
	if _, has := pipe["encoding"]; has {
		t.Errorf("UTF-8 payload has an encoding")
	}
	if created := byID["znode/data/flags/new-ingest-path"]["details"].(map[string]any); created["manifest"].(map[string]any)["kind"] != "FeatureFlag" {
		t.Errorf("created znode manifest = %v", created["manifest"])
	} else if _, has := created["before"]; has {
		t.Errorf("created znode has a before")
	}

	if um := doc["unmanaged"].([]any); len(um) != 1 || um[0] != "znode/data/config/other-team" {
		t.Errorf("unmanaged = %v", um)
	}
	if lf := doc["findings"].([]any); len(lf) != 1 || lf[0].(map[string]any)["id"] != "column/events.clicks.old_col" {
		t.Errorf("loose findings = %v", lf)
	}
	// Deterministic: a second encoding is byte for byte the same.
	if again := encode(t, EncodeJSON, cs, EncodeOptions{Title: title, Annotations: annotations()}); again != raw {
		t.Errorf("JSON output is not deterministic")
	}
	if !strings.HasPrefix(raw, "{\n  \"schema\": \"ringmaster.io/diff/v1\",\n") {
		t.Errorf("output does not start with the schema field, indented by two:\n%.80s", raw)
	}
}

func TestEncodeJSONBinaryPayload(t *testing.T) {
	before := []byte{0xff, 0x00, 0x01}
	from := withState("dev", nil, []*state.Znode{{Path: "data/bin", Data: before}})
	to := withState("dev", nil, []*state.Znode{{Path: "data/bin", Data: []byte("text now")}})
	var doc struct {
		Changes []struct {
			Details map[string]string `json:"details"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(encode(t, EncodeJSON, Compute(from, to, Options{}), EncodeOptions{})), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Changes[0].Details
	if d["encoding"] != "base64" {
		t.Fatalf("encoding = %q, want base64", d["encoding"])
	}
	b, err := base64.StdEncoding.DecodeString(d["before"])
	if err != nil || !bytes.Equal(b, before) {
		t.Errorf("before = %q (%v), want base64 of %x", d["before"], err, before)
	}
	a, err := base64.StdEncoding.DecodeString(d["after"])
	if err != nil || string(a) != "text now" {
		t.Errorf("after = %q (%v), want base64 of %q", d["after"], err, "text now")
	}
	text := encode(t, EncodeText, Compute(from, to, Options{}), EncodeOptions{})
	if !strings.Contains(text, "    (binary payload: 3 → 8 bytes)\n") {
		t.Errorf("text output of a binary payload:\n%s", text)
	}
}

func TestEncodeMarkdownTableAndEscaping(t *testing.T) {
	cs := representativeSet()
	ann := annotations()
	ann["table/metrics.samples"] = []Annotation{{Code: "X-1", Severity: "warn", Message: "a | b `c` <d>"}}
	md := encode(t, EncodeMarkdown, cs, EncodeOptions{Title: title, Annotations: ann})
	for _, want := range []string{
		"### " + title + "\n",
		"**Plan: 4 to create, 3 to update, 3 to delete.**\n",
		"| Action | Kind | Object | Policy |\n| --- | --- | --- | --- |\n",
		"| update | Keyspace | events | ⚠️ RM-POL-012 warn: repair required after apply |\n",
		"| update | Table | events.clicks | ⛔ RM-POL-003 deny: type change of \\`count\\` int → bigint is not allowed<br>⚠️ RM-POL-020 warn: column old_col dropped: data is lost |\n",
		"| create | Table | metrics.samples | ⚠️ X-1 warn: a \\| b \\`c\\` &lt;d&gt; |\n",
		"| delete | Keyspace | old_ks |  |\n",
		"- ℹ️ column/events.clicks.old_col: RM-POL-021 info: declared in allowedDrops \\| by schema/events.yaml:30\n",
		"<details><summary>~ keyspace events: replication dc2 3 → 4</summary>\n\n```diff\n- replication {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}\n+ replication {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 4}\n```\n\n</details>\n",
		"<details><summary>Unmanaged (left alone): 1</summary>\n\n- znode/data/config/other-team\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// The comment of metrics.samples holds a backtick run: its fence is
	// still three long, longer than the run.
	if !strings.Contains(md, "+ option comment = 'it''s `raw` | unsorted'\n```\n") {
		t.Errorf("samples detail block is not fenced as expected:\n%s", md)
	}
	if strings.Contains(md, "_Output truncated") {
		t.Errorf("untruncated output has the truncation note")
	}
	if n := strings.Count(md, "<details>"); n != len(cs.Changes)+1 {
		t.Errorf("%d detail sections, want %d", n, len(cs.Changes)+1)
	}
}

func TestFenceFor(t *testing.T) {
	for body, want := range map[string]string{"": "```", "a `b` c": "```", "x ``` y": "````", "````": "`````"} {
		if got := fenceFor(body); got != want {
			t.Errorf("fenceFor(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestEncodeMarkdownTruncation(t *testing.T) {
	cs := representativeSet()
	full := encode(t, EncodeMarkdown, cs, EncodeOptions{Title: title, Annotations: annotations()})
	rows := func(md string) int { return strings.Count(md, "\n| ") - 2 } // minus the header and separator rows
	tests := []struct {
		name          string
		max           int
		wantNote      string
		wantRows      int
		wantSections  int // detail sections of changes
		wantUnmanaged bool
	}{
		{name: "fits", max: len(full), wantRows: 10, wantSections: 10, wantUnmanaged: true},
		{name: "negative cap is no cap", max: -1, wantRows: 10, wantSections: 10, wantUnmanaged: true},
		{name: "details dropped", max: 2600, wantRows: 10, wantSections: 6, wantUnmanaged: true,
			wantNote: "_Output truncated: 6 of 10 changes shown in detail; run `ringmaster diff -o text` for the rest._\n"},
		{name: "details and unmanaged list dropped", max: 2000, wantRows: 10, wantSections: 4,
			wantNote: "_Output truncated: 4 of 10 changes shown in detail, unmanaged list omitted; run `ringmaster diff -o text` for the rest._\n"},
		{name: "table truncated", max: 800, wantRows: 4, wantSections: 0,
			wantNote: "_Output truncated: 4 of 10 changes listed in the table and 0 shown in detail; run `ringmaster diff -o text` for the rest._\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := encode(t, EncodeMarkdown, cs, EncodeOptions{Title: title, Annotations: annotations(), MaxBytes: tt.max})
			if tt.max > 0 && len(md) > tt.max {
				t.Errorf("output is %d bytes, over the cap of %d", len(md), tt.max)
			}
			if tt.wantNote == "" && strings.Contains(md, "_Output truncated") {
				t.Errorf("unexpected truncation note:\n%s", md)
			}
			if tt.wantNote != "" && !strings.HasSuffix(md, "\n"+tt.wantNote) {
				t.Errorf("output does not end with note %q:\n%s", tt.wantNote, md)
			}
			if got := rows(md); got != tt.wantRows {
				t.Errorf("%d table rows, want %d", got, tt.wantRows)
			}
			unmanagedList := strings.Contains(md, "<details><summary>Unmanaged (left alone): 1</summary>")
			if got := strings.Count(md, "<details>") - b2i(unmanagedList); got != tt.wantSections {
				t.Errorf("%d detail sections, want %d", got, tt.wantSections)
			}
			if unmanagedList != tt.wantUnmanaged {
				t.Errorf("unmanaged list shown: %t, want %t", unmanagedList, tt.wantUnmanaged)
			}
			if !strings.Contains(md, "Findings without a change") {
				t.Errorf("findings that name no change were dropped")
			}
			if !strings.Contains(md, "Unmanaged (left alone): 1") {
				t.Errorf("unmanaged count was dropped")
			}
			// Detail sections are those of the first changes, in order.
			for i, c := range cs.Changes[:min(tt.wantSections, len(cs.Changes))] {
				if !strings.Contains(md, "<details><summary>"+escapeHTML(headline(c))+"</summary>") {
					t.Errorf("detail section %d (%s) is missing", i, c.ID())
				}
			}
		})
	}
	if md := encode(t, EncodeMarkdown, cs, EncodeOptions{}); len(full) > DefaultMaxBytes || strings.Contains(md, "_Output truncated") {
		t.Errorf("default cap truncated a small output")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type failWriter struct{ after int }

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDiskFull
	}
	f.after--
	return len(p), nil
}

func TestEncodeWriteErrors(t *testing.T) {
	cs := representativeSet()
	for name, enc := range map[string]Encoder{"text": EncodeText, "json": EncodeJSON, "markdown": EncodeMarkdown} {
		for _, after := range []int{0, 1, 3} {
			err := enc(&failWriter{after: after}, cs, EncodeOptions{Title: title})
			if name == "json" || name == "markdown" {
				// One write each: only the first fails.
				if after > 0 {
					continue
				}
			}
			if !errors.Is(err, errDiskFull) {
				t.Errorf("%s after %d writes: err = %v, want it to wrap %v", name, after, err, errDiskFull)
			} else if !strings.HasPrefix(err.Error(), "encode "+name+": ") {
				t.Errorf("%s: err = %q, want prefix %q", name, err, "encode "+name+": ")
			}
		}
	}
}
