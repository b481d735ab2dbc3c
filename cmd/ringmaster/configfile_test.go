package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func configFlags() (*flag.FlagSet, *string, *time.Duration, *stringList, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	repo := fs.String("repo", "", "")
	every := fs.Duration("interval", time.Minute, "")
	var envs stringList
	fs.Var(&envs, "env", "")
	pw := fs.String("cassandra-password", "", "")
	return fs, repo, every, &envs, pw
}

func writeConfig(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "controller.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFile: settings come from the file unless the command line
// gives them; lists fill repeatable flags.
func TestConfigFile(t *testing.T) {
	fs, repo, every, envs, _ := configFlags()
	if err := fs.Parse([]string{"--interval", "5s"}); err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, "repo: https://git.example.com/config.git\ninterval: 2m\nenv: [prod, staging]\n")
	if err := applyConfigFile(fs, file); err != nil {
		t.Fatal(err)
	}
	if *repo != "https://git.example.com/config.git" || *every != 5*time.Second || strings.Join(*envs, ",") != "prod,staging" {
		t.Fatalf("repo %q, interval %v (the command line's 5s wins), envs %v", *repo, *every, *envs)
	}
}

// TestConfigFileRefuses: unknown keys, secrets, bad values and bad shapes
// are errors naming the file and line.
func TestConfigFileRefuses(t *testing.T) {
	for content, want := range map[string]string{
		"repo: x\nbranchh: main\n":      ":2: unknown setting \"branchh\"",
		"cassandra-password: hunter2\n": ":1: cassandra-password is a secret",
		"interval: soon\n":              ":1: interval \"soon\"",
		"env: {a: b}\n":                 ":1: env: want a value or a list",
		"- just\n- a list\n":            ":1: want a mapping",
		"config: other.yaml\n":          ":1: config may not name another",
		"repo: [unclosed\n":             "controller.yaml",
	} {
		fs, _, _, _, _ := configFlags()
		_ = fs.Parse(nil)
		err := applyConfigFile(fs, writeConfig(t, content))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "controller.yaml") {
			t.Errorf("%q: %v, want an error with %q and the file", content, err, want)
		}
	}
}
