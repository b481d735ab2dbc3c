package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// secretFlags may not come from a config file: secrets come from
// environment variables or files only.
var secretFlags = map[string]bool{"zk-auth": true, "cassandra-password": true}

// applyConfigFile sets, from the YAML mapping in file, every flag of fs
// not given on the command line: keys are flag names, values a scalar or
// (for a repeatable flag) a list of scalars. Flags on the command line
// win. Unknown keys, secrets and values a flag refuses are errors naming
// the file and line.
func applyConfigFile(fs *flag.FlagSet, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of flag names to values", file, m.Line)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := k.Value
		switch {
		case name == "config":
			return fmt.Errorf("%s:%d: config may not name another config file", file, k.Line)
		case secretFlags[name]:
			return fmt.Errorf("%s:%d: %s is a secret: give it in its environment variable, not in a file of settings", file, k.Line, name)
		case fs.Lookup(name) == nil:
			return fmt.Errorf("%s:%d: unknown setting %q (the keys are the command's flag names)", file, k.Line, name)
		case given[name]:
			continue // the command line wins
		}
		var values []*yaml.Node
		switch v.Kind {
		case yaml.ScalarNode:
			values = []*yaml.Node{v}
		case yaml.SequenceNode:
			values = v.Content
		default:
			return fmt.Errorf("%s:%d: %s: want a value or a list of values", file, v.Line, name)
		}
		for _, item := range values {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s:%d: %s: want a plain value", file, item.Line, name)
			}
			if err := fs.Set(name, item.Value); err != nil {
				return fmt.Errorf("%s:%d: %s %s: %w", file, item.Line, name, strconv.Quote(item.Value), err)
			}
		}
	}
	return nil
}
