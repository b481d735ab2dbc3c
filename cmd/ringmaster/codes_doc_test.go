package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// codeLiteralRE finds finding and annotation codes in a Go string literal:
// "RM-POL-001", "RM-LIVE-001", "RM-DRIFT", "RM-USR" of the "RM-USR:" prefix
// of user rules, and any later form such as "RM-XYZ-LIMIT".
var codeLiteralRE = regexp.MustCompile(`RM-[A-Z]+(?:-[A-Z0-9]+)*`)

// TestEveryCodeDocumented keeps docs/codes.md complete: every code literal
// in the module's non-test Go sources must have a row in its summary table
// ("| `CODE") and a section heading ("### `CODE"). Test files are not
// scanned (their fixtures use made-up codes), nor are comments.
func TestEveryCodeDocumented(t *testing.T) {
	t.Parallel()
	root := codesModuleRoot(t)
	codes := sourceCodeLiterals(t, root)
	// A scanner that finds nothing would pass vacuously: these codes exist.
	for _, known := range []string{"RM-POL-001", "RM-USR", "RM-LIVE-001", "RM-DRIFT", "RM-SKIP"} {
		if _, ok := codes[known]; !ok {
			t.Errorf("no %s literal found under %s: does the scan still cover the module?", known, root)
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := documentedCodes(doc, `\| `)
	headings := documentedCodes(doc, `#{2,4} `)
	names := make([]string, 0, len(codes))
	for c := range codes {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, code := range names {
		where := strings.Join(codes[code], ", ")
		if !codeCovered(rows, code) {
			t.Errorf("%s (%s) has no row in docs/codes.md's table; add \"| `%s` | severity | from | appears in |\"", code, where, code)
		}
		if !codeCovered(headings, code) {
			t.Errorf("%s (%s) has no section in docs/codes.md; add \"### `%s`\" saying what it means, its severity, when it appears and what to do", code, where, code)
		}
	}
}

// documentedCodes returns the codes that start a backquoted code span right
// after prefix at the start of a line of doc, and for a range such as
// "`RM-POL-001` … `RM-POL-013`" every code of the range.
func documentedCodes(doc []byte, prefix string) map[string]bool {
	out := map[string]bool{}
	line := regexp.MustCompile("(?m)^" + prefix + "`(" + codeLiteralRE.String() + ").*$")
	span := regexp.MustCompile("^(RM-[A-Z]+-)([0-9]+)` … `RM-[A-Z]+-([0-9]+)`")
	for _, m := range line.FindAllSubmatchIndex(doc, -1) {
		code := string(doc[m[2]:m[3]])
		out[code] = true
		r := span.FindSubmatch(doc[m[2]:m[1]])
		if r == nil {
			continue
		}
		lo, _ := strconv.Atoi(string(r[2]))
		hi, _ := strconv.Atoi(string(r[3]))
		for n := lo; n <= hi && hi-lo < 1000; n++ {
			out[string(r[1])+zeroPadded(n, len(r[2]))] = true
		}
	}
	return out
}

func zeroPadded(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// codeCovered tells whether code is documented. A bare family found in a
// source literal (such as "RM-POL" of a code built at run time) is covered
// by any documented code of that family.
func codeCovered(docs map[string]bool, code string) bool {
	if docs[code] {
		return true
	}
	if strings.Count(code, "-") == 1 {
		for d := range docs {
			if strings.HasPrefix(d, code+"-") {
				return true
			}
		}
	}
	return false
}

// codesModuleRoot is the folder of go.mod above the test's directory.
func codesModuleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// sourceCodeLiterals maps every code found in a string literal of a
// non-test Go file under root to where it was found ("sync/plan.go:106").
func sourceCodeLiterals(t *testing.T, root string) map[string][]string {
	t.Helper()
	codes := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || name == "third_party" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse %s: %v", p, err)
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, code := range codeLiteralRE.FindAllString(s, -1) {
				pos := fset.Position(lit.Pos())
				rel, _ := filepath.Rel(root, pos.Filename)
				codes[code] = append(codes[code], filepath.ToSlash(rel)+":"+strconv.Itoa(pos.Line))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return codes
}
