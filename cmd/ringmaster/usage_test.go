package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineMistakes: every mistake on the command line exits 1 with
// a message naming it (never 2, the code diff --detailed-exitcode gives
// for changes), and no stray argument is ignored.
func TestCommandLineMistakes(t *testing.T) {
	ex := "../../examples"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"diff", "--repo", ex, "--env", "prod", "--from", "HEAD", "-o", "markdwon"}, `-o "markdwon": want text, json or markdown`},
		{[]string{"diff", "--repo", ex, "--env", "prod", "--from", "HEAD", "--detailed-exitcod"}, "flag provided but not defined: -detailed-exitcod"},
		{[]string{"diff", "--env", "prod", "--repo", ex, "x", "--from", "HEAD"}, `unexpected argument(s): "x"`},
		{[]string{"validate", "--repo", ex, "x", "--env", "nope"}, `unexpected argument(s): "x"`},
		{[]string{"validate", "--repo", ex, "--", "--env"}, `unexpected argument(s): "--env"`},
		{[]string{"diff", "--repo", ex, "--env", "prod", "--from", "HEAD", "--color", "bogus"}, `--color "bogus": want auto, always, never`},
		{[]string{"diff", "--repo", ex, "--env", "prod", "--from", "HEAD", "--max-bytes", "-5"}, "--max-bytes -5: want at least 1024"},
		{[]string{"diff", "--repo", ex, "--env", "prod", "--zk-root", "/zookeeper/quota"}, `--zk-root: zookeeper root "/zookeeper/quota" lies in /zookeeper`},
		{[]string{"status", "--env", "prod", "--zk-root", "/"}, `--zk-root: zookeeper root "/" must be an absolute path below /`},
		{[]string{"render", "--repo", ex, "--env", "prod", "-o", "toml"}, `-o "toml": want yaml, json, cql`},
		{[]string{"render", "--repo", ex}, "--env is required"},
		{[]string{"validate", "--max-file-bytes", "-5"}, `invalid value "-5" for flag -max-file-bytes: want a whole number above zero`},
		{[]string{"plan", "--env", "prod"}, "-out is required"},
		{[]string{"plan", "-out", "p.json"}, "--env is required"},
		{[]string{"apply", "--bogus"}, "ringmaster apply: flag provided but not defined: -bogus"},
		{[]string{"apply", "a.json", "b.json"}, `unexpected argument(s): "b.json"`},
		{[]string{"apply", "a.json", "--env", "prod"}, "a plan file carries its environment"},
		{[]string{"apply"}, "give a plan file, or --env"},
		{[]string{"lock", "--env", "prod"}, "missing argument(s)"},
		{[]string{"lock", "steal", "--env", "prod"}, `unknown verb "steal"`},
		{[]string{"lock", "release", "--env", "prod"}, "lock release needs the lock id"},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "diff", "x"}, `unexpected argument(s): "x"`},
		{[]string{"version", "x"}, `unexpected argument(s): "x"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, "usage: ringmaster"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			if code != exitError {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}

// TestHelp: help CMD and CMD -h print the command's own usage and only the
// flags it uses, to stdout, with exit 0.
func TestHelp(t *testing.T) {
	for _, c := range commandTable {
		name := c.name
		for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}} {
			code, stdout, stderr := cli(t, args...)
			if code != exitOK || !strings.HasPrefix(stdout, "usage: ringmaster "+name) || !strings.Contains(stdout, c.summary) || stderr != "" {
				t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
			}
		}
	}
	uses := map[string][]string{ // flags each command must list, and must not
		"validate": {"+repo", "+ref", "+max-file-bytes", "-zk-servers", "-lock-timeout", "-cassandra-hosts"},
		"render":   {"+ref", "-zk-servers", "-lock-timeout"},
		"diff":     {"+from", "+zk-servers", "+cassandra-hosts", "-lock-timeout", "-schema-agreement-timeout", "-ref"},
		"status":   {"+zk-servers", "-cassandra-hosts", "-lock-timeout"},
		"lock":     {"+zk-servers", "-cassandra-hosts", "-lock-timeout"},
		"apply":    {"+lock-timeout", "+schema-agreement-timeout", "+cassandra-hosts"},
	}
	for name, flags := range uses {
		_, stdout, _ := cli(t, name, "-h")
		for _, f := range flags {
			has := strings.Contains(stdout, "  -"+f[1:]+" ") || strings.Contains(stdout, "  -"+f[1:]+"\n")
			if has != (f[0] == '+') {
				t.Errorf("%s -h: listing -%s is %v, want %v", name, f[1:], has, f[0] == '+')
			}
		}
	}
}

// TestValidateReportsEverythingOnce: manifest errors, spec errors, rule
// errors and policy findings come in one run, an error in a base file is
// printed once however many environments share it, and one summary line
// counts them.
func TestValidateReportsEverythingOnce(t *testing.T) {
	dir, _ := gitRepo(t)
	write := func(rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base/broken-envelope.yaml", "apiVersion: ringmaster.io/v1\nkind: Keyspacez\nmetadata: {name: k}\nspec: {}\n")
	write("base/broken-spec.yaml", "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: bad-spec}\nspec:\n  value: 1\n  extra: 2\n")
	write("policies/broken-rule.yaml", "apiVersion: ringmaster.io/v1\nkind: Policy\nmetadata: {name: broken}\nspec:\n  rules:\n  - {name: r, expression: 'resource.nope(', message: m}\n")
	write("base/too-wide.yaml", "apiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: wide}\nspec:\n  replication: {class: NetworkTopologyStrategy, dc1: 9}\n")
	code, stdout, stderr := cli(t, "validate", "--repo", dir)
	if code != exitError {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"base/too-wide.yaml:1:1: deny RM-POL-001: [prod] keyspace wide: replication factor of dc1 is 9", // a range finding beside render errors
		`base/broken-envelope.yaml:2:7: unknown kind "Keyspacez"`,
		`base/broken-spec.yaml:6:3: ConfigEntry bad-spec spec: unknown field "extra"`,
		`policies/broken-rule.yaml:6:5: rule "broken/r"`,
		"failed: 3 error(s)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, `unknown field "extra"`); n != 1 {
		t.Errorf("the base file's error printed %d times:\n%s", n, stderr)
	}
}

// TestNotARepositoryNamesTheDirectory: the message says where it looked.
func TestNotARepositoryNamesTheDirectory(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := cli(t, "validate", "--repo", dir)
	if code != exitError || !strings.Contains(stderr, dir) || !strings.Contains(stderr, "no ringmaster.yaml at its root") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
