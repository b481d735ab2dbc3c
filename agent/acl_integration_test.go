package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/internal/zkacl"
)

// TestAgentIdentityWritesOnlyItsMembership: on the secure ensemble, under
// an ACL policy, two agents with identities of their own register; one
// agent's identity may change its own membership node and nothing else:
// not the other's, not any znode the writer made. A readers' identity may
// read every managed znode and write none.
func TestAgentIdentityWritesOnlyItsMembership(t *testing.T) {
	s := itest.SecureCluster(t)
	pw := map[string]string{}
	for _, u := range []string{"ringmaster", "agent-a", "agent-b", "app"} {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		pw[u] = hex.EncodeToString(b)
	}
	id := func(u string) state.ACLIdentity {
		return state.ACLIdentity{Scheme: "digest", ID: zk.DigestID(u, pw[u])}
	}
	policy := &state.ACLPolicy{Writers: []state.ACLIdentity{id("ringmaster")}, Agents: []state.ACLIdentity{id("agent-a"), id("agent-b")}, Readers: []state.ACLIdentity{id("app")}}
	rule := zkacl.New(s.Root, policy)
	tlsCfg := s.ClientTLS(t)
	cfgFor := func(user string) zk.Config {
		return zk.Config{Servers: []string{s.ZooKeeperTLS}, SessionTimeout: 4 * time.Second, TLS: tlsCfg,
			Auth: []zk.Auth{{Scheme: "digest", Credential: user + ":" + pw[user]}}, ACLFor: rule.For}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The writer makes the tree as apply does: every node with the ACL the
	// policy gives it, the agents' folder included.
	wcfg := cfgFor("ringmaster")
	wcfg.Confine = s.Root
	w, err := zk.Connect(ctx, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{state.ConfigDir + "/ingest/pipeline", state.StatusPath, state.ApplyLock} {
		if err := w.EnsurePath(ctx, path.Join(s.Root, p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := (livestore.ACLs{Client: w}).Repair(ctx, s.Root, policy); err != nil {
		t.Fatal(err)
	}

	for _, node := range []string{"node-a", "node-b"} {
		cfg := Config{ZooKeeper: cfgFor("agent-" + strings.TrimPrefix(node, "node-")), Root: s.Root, Node: node, Datacenter: "dc1", Rack: "r1",
			Cassandra: newRecordingNode(), Version: "test", CheckInterval: 100 * time.Millisecond}
		actx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(actx, cfg) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", node, err)
			}
		})
	}
	own, other := path.Join(s.Root, state.AgentPath("dc1", "r1", "node-a")), path.Join(s.Root, state.AgentPath("dc1", "r1", "node-b"))
	for _, p := range []string{own, other} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, _, err := s.Super.Exists(p)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent never registered at %s", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	a := s.Connect(t, s.ZooKeeperTLS, tlsCfg, "digest", "agent-a:"+pw["agent-a"])
	if _, err := a.Set(own, []byte(`{"agent":"test"}`), -1); err != nil {
		t.Errorf("agent-a may not change its own membership: %v", err)
	}
	for what, err := range map[string]error{
		"change another agent's membership": func() error { _, err := a.Set(other, []byte("{}"), -1); return err }(),
		"delete another agent's membership": a.Delete(other, -1),
		"change the ACL of another's":       func() error { _, err := a.SetACL(other, gozk.WorldACL(gozk.PermAll), -1); return err }(),
	} {
		if !errors.Is(err, gozk.ErrNoAuth) {
			t.Errorf("agent-a could %s: %v", what, err)
		}
	}

	app := s.Connect(t, s.ZooKeeperTLS, tlsCfg, "digest", "app:"+pw["app"])
	managed := 0
	for _, p := range walk(t, s.Super, s.Root) {
		if strings.HasPrefix(p, path.Join(s.Root, state.AgentsDir)+"/") {
			continue // the agents' own, checked above
		}
		managed++
		for who, conn := range map[string]*gozk.Conn{"agent-a": a, "app": app} {
			if _, _, err := conn.Get(p); err != nil {
				t.Errorf("%s may not read %s: %v", who, p, err)
			}
			if _, err := conn.Set(p, []byte("x"), -1); !errors.Is(err, gozk.ErrNoAuth) {
				t.Errorf("%s could change %s: %v", who, p, err)
			}
			if _, err := conn.Create(p+"/intruder", nil, 0, gozk.WorldACL(gozk.PermAll)); !errors.Is(err, gozk.ErrNoAuth) && !(p == path.Join(s.Root, state.AgentsDir) && who == "agent-a") {
				t.Errorf("%s could create below %s: %v", who, p, err)
			}
			if _, err := conn.SetACL(p, gozk.WorldACL(gozk.PermAll), -1); !errors.Is(err, gozk.ErrNoAuth) {
				t.Errorf("%s could change the ACL of %s: %v", who, p, err)
			}
			if p != s.Root {
				if err := conn.Delete(p, -1); !errors.Is(err, gozk.ErrNoAuth) {
					t.Errorf("%s could delete %s: %v", who, p, err)
				}
			}
		}
	}
	if managed < 6 {
		t.Fatalf("only %d managed znodes checked", managed)
	}
}

// walk lists root and every node below it.
func walk(t *testing.T, conn *gozk.Conn, root string) []string {
	t.Helper()
	out := []string{root}
	kids, _, err := conn.Children(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		out = append(out, walk(t, conn, path.Join(root, k))...)
	}
	return out
}
