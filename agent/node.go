package agent

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	gosync "sync"

	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Node is the Cassandra node an agent manages.
//
// Contract: Info reports what the node says of itself (an error when it
// does not answer: the node is down); Running reports the named settings
// as the node runs them, in the catalogue's base units (a setting missing
// from the map cannot be read back); Set changes one setting at runtime.
type Node interface {
	Info(ctx context.Context) (cassandra.NodeInfo, error)
	Running(ctx context.Context, names []string) (map[string]float64, error)
	Set(ctx context.Context, def state.SettingDef, value float64) error
}

// CassandraNode is a real node: its settings read over CQL from
// system_views.settings (one query for all), or with the catalogue's
// nodetool get command for the few that table does not list; set with the
// catalogue's nodetool set command.
//
// nodetool starts a JVM per call (about 2 s on the test machine), so the
// agent reads with CQL and calls nodetool only for what it must change.
type CassandraNode struct {
	// Connect opens the CQL session with the node (only it): called when
	// there is none, so that an agent starts, and goes on, while its node
	// is down.
	Connect func(ctx context.Context) (*cassandra.Node, error)
	// NodeTool is the nodetool command line, program first, with the
	// arguments that reach this node (for example "nodetool -h 127.0.0.1
	// -p 7199"); the command's own arguments are appended.
	NodeTool []string

	mu  gosync.Mutex
	cql *cassandra.Node
}

// session returns the CQL session, connecting when there is none.
func (n *CassandraNode) session(ctx context.Context) (*cassandra.Node, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cql != nil {
		return n.cql, nil
	}
	s, err := n.Connect(ctx)
	if err != nil {
		return nil, err
	}
	n.cql = s
	return s, nil
}

// Close closes the CQL session.
func (n *CassandraNode) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cql != nil {
		n.cql.Close()
		n.cql = nil
	}
}

// Info reads system.local and the node's gossip status. After a failure
// the session is dropped and the next call connects anew: a session whose
// only host went down does not reliably come back by itself.
func (n *CassandraNode) Info(ctx context.Context) (cassandra.NodeInfo, error) {
	s, err := n.session(ctx)
	if err != nil {
		return cassandra.NodeInfo{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		n.Close()
	}
	return info, err
}

// Running reads the named settings the node can report.
func (n *CassandraNode) Running(ctx context.Context, names []string) (map[string]float64, error) {
	s, err := n.session(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, name := range names {
		def, ok := state.Settings[name]
		if !ok {
			continue
		}
		if v, ok := raw[name]; ok {
			if f, err := runningValue(def, v); err == nil {
				out[name] = f
				continue
			}
		}
		if len(def.Get) == 0 || len(n.NodeTool) == 0 {
			continue
		}
		got, err := n.nodetool(ctx, def.Get...)
		if err != nil {
			return nil, err
		}
		if f, err := nodetoolValue(got); err == nil {
			out[name] = f
		}
	}
	return out, nil
}

// Set runs the catalogue's nodetool set command.
func (n *CassandraNode) Set(ctx context.Context, def state.SettingDef, value float64) error {
	arg := strconv.FormatInt(int64(value), 10)
	if def.Type == state.Decimal {
		arg = strconv.FormatFloat(value, 'f', -1, 64)
	}
	_, err := n.nodetool(ctx, append(append([]string{}, def.Set...), arg)...)
	return err
}

func (n *CassandraNode) nodetool(ctx context.Context, args ...string) (string, error) {
	if len(n.NodeTool) == 0 {
		return "", fmt.Errorf("nodetool %s: no nodetool command configured", strings.Join(args, " "))
	}
	cmd := exec.CommandContext(ctx, n.NodeTool[0], append(append([]string{}, n.NodeTool[1:]...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + " " + stdout.String())
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
		return "", fmt.Errorf("nodetool %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
