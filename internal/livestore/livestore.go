// Package livestore implements sync's roles (Tree, Locker, Schema) over the
// real drivers, internal/zk and internal/cassandra, and connects to an
// environment's cluster. The CLI and the controller wire the same code.
//
// Error classes survive the boundary: a write refused by the fence wraps
// sync.ErrLockLost, a transaction whose answer was lost is a
// *sync.UncertainError, a failed version check or a create of an existing
// node wraps sync.ErrStalePlan, and a lock proven not held wraps
// sync.ErrLockLost.
package livestore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/internal/zkacl"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Tree is sync.Tree over a ZooKeeper client.
type Tree struct{ Client *zk.Client }

var _ rmsync.Tree = Tree{}

// Read returns every node strictly below root (see sync.Tree).
func (t Tree) Read(ctx context.Context, root string) (map[string]*state.Znode, error) {
	nodes, err := t.Client.ReadTree(ctx, root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*state.Znode, len(nodes))
	for rel, n := range nodes {
		out[rel] = &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version, ModZxid: n.Stat.Mzxid}
	}
	return out, nil
}

// Write applies ops, then final, in fenced transactions (see sync.Tree).
func (t Tree) Write(ctx context.Context, fence rmsync.Fence, ops, final []rmsync.ZnodeOp) (int, error) {
	res, err := t.Client.Write(ctx, zk.Fence{Path: fence.Path, Version: fence.Version}, zkOps(ops), zkOps(final))
	switch {
	case errors.Is(err, zk.ErrFenced):
		err = fmt.Errorf("%w: %w", rmsync.ErrLockLost, err)
	case errors.Is(err, zk.ErrOutcomeUnknown):
		err = &rmsync.UncertainError{N: res.Uncertain, Err: err}
	case errors.Is(err, gozk.ErrBadVersion), errors.Is(err, gozk.ErrNodeExists), errors.Is(err, gozk.ErrNotEmpty), errors.Is(err, gozk.ErrNoNode):
		err = fmt.Errorf("%w: %w", rmsync.ErrStalePlan, err)
	}
	return res.Applied, err
}

var opKinds = map[rmsync.OpKind]zk.OpKind{rmsync.OpCreate: zk.OpCreate, rmsync.OpSet: zk.OpSet, rmsync.OpDelete: zk.OpDelete}

func zkOps(ops []rmsync.ZnodeOp) []zk.Op {
	out := make([]zk.Op, len(ops))
	for i, o := range ops {
		out[i] = zk.Op{Kind: opKinds[o.Kind], Path: o.Path, Data: o.Data, Version: o.Version}
	}
	return out
}

// Locker is sync.Locker over ZooKeeper's lock recipe; Holder is what the
// lock node says about this process (who waits sees it).
type Locker struct {
	Client *zk.Client
	Holder zk.HolderInfo
}

var _ rmsync.Locker = Locker{}

// Lock blocks until the lock under dir is held or ctx ends.
func (l Locker) Lock(ctx context.Context, dir string) (rmsync.Lock, error) {
	lk, err := l.Client.Lock(ctx, dir, l.Holder)
	if err != nil {
		return nil, err
	}
	return lock{lk}, nil
}

type lock struct{ *zk.Lock }

func (l lock) Verify(ctx context.Context) error {
	err := l.Lock.Verify(ctx)
	if errors.Is(err, zk.ErrLockNotHeld) {
		return fmt.Errorf("%w: %w", rmsync.ErrLockLost, err)
	}
	return err
}

func (l lock) Fence() rmsync.Fence {
	f := l.Lock.Fence()
	return rmsync.Fence{Path: f.Path, Version: f.Version}
}

// Schema is sync.Schema over a Cassandra client.
type Schema struct{ Client *cassandra.Client }

var _ rmsync.Schema = Schema{}

// Read returns every non-system keyspace in render's canonical form.
func (s Schema) Read(ctx context.Context) (map[string]*state.Keyspace, error) {
	return s.Client.ReadSchema(ctx)
}

// Version is the cluster's schema version.
func (s Schema) Version(ctx context.Context) (string, error) { return s.Client.SchemaVersion(ctx) }

// Datacenters lists the cluster's datacenters.
func (s Schema) Datacenters(ctx context.Context) ([]string, error) {
	return s.Client.Datacenters(ctx)
}

// Statements is the DDL of one change.
// A logged-in role gives back the data permissions Cassandra grants it on
// what it creates (see cassandra.GiveUpDataPermissions), where the cluster
// checks permissions.
func (s Schema) Statements(ch diff.Change) ([]string, error) {
	stmts, err := cassandra.Statements(ch)
	if err != nil || s.Client == nil || s.Client.DataPermissionsOwner() == "" {
		return stmts, err
	}
	return append(stmts, cassandra.GiveUpDataPermissions(ch, s.Client.DataPermissionsOwner())...), nil
}

var _ rmsync.NodeLister = Schema{}

// Nodes lists the cluster's nodes, for repair jobs.
func (s Schema) Nodes(ctx context.Context) ([]rmsync.RepairNode, error) {
	peers, err := s.Client.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]rmsync.RepairNode, len(peers))
	for i, p := range peers {
		out[i] = rmsync.RepairNode{HostID: p.HostID, Address: p.Address, Datacenter: p.Datacenter}
	}
	return out, nil
}

// Apply runs one statement and waits for schema agreement.
func (s Schema) Apply(ctx context.Context, stmt string) error { return s.Client.Apply(ctx, stmt) }

// Verify re-reads what ch touched.
func (s Schema) Verify(ctx context.Context, ch diff.Change) error { return s.Client.Verify(ctx, ch) }

// Config is how to reach an environment's cluster: the environment's
// Cluster (servers, root, contact points) and the credentials and TLS
// files, which never come from the repository.
type Config struct {
	Cluster state.Cluster
	// ZooKeeper
	SessionTimeout      time.Duration
	ZKDigest            string // "user:password" for the digest scheme; empty: none
	ZKCA, ZKCert, ZKKey string // PEM files; a CA enables TLS
	// Cassandra
	CassandraUsername, CassandraPassword string
	CassandraCA                          string // PEM file; enables TLS
	SchemaAgreementTimeout               time.Duration
}

// Drivers are the connected clients of one environment.
type Drivers struct {
	ZK        *zk.Client
	Cassandra *cassandra.Client // nil after ConnectZK
}

// ACLs is sync.ACLKeeper over a ZooKeeper client.
type ACLs struct{ Client *zk.Client }

var _ rmsync.ACLKeeper = ACLs{}

// Drift lists the nodes whose ACL differs from the policy's (see
// sync.ACLKeeper).
func (k ACLs) Drift(ctx context.Context, root string, policy *state.ACLPolicy) ([]string, error) {
	drift, _, err := k.drift(ctx, root, policy)
	return drift, err
}

// Repair sets the ACL of every node that drifted (see sync.ACLKeeper). It
// first makes the agents' folder, with its ACL, when there is none: under
// a policy agents may create only within it.
func (k ACLs) Repair(ctx context.Context, root string, policy *state.ACLPolicy) ([]string, error) {
	if err := k.Client.EnsurePath(ctx, path.Join(root, state.AgentsDir)); err != nil {
		return nil, err
	}
	drift, nodes, err := k.drift(ctx, root, policy)
	if err != nil {
		return nil, err
	}
	rule := zkacl.New(root, policy)
	var fixed []string
	for _, rel := range drift {
		abs := path.Join(root, rel)
		if err := k.Client.SetACL(ctx, abs, rule.For(abs), nodes[rel].Stat.Aversion); err != nil {
			return fixed, err
		}
		fixed = append(fixed, rel)
	}
	return fixed, nil
}

func (k ACLs) drift(ctx context.Context, root string, policy *state.ACLPolicy) ([]string, map[string]*zk.Node, error) {
	nodes, err := k.Client.ReadACLs(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	rule := zkacl.New(root, policy)
	var drift []string
	for rel, n := range nodes {
		abs := path.Join(root, rel)
		if rule.Repairable(abs, n.Stat.EphemeralOwner != 0) && !zkacl.Equal(n.ACL, rule.For(abs)) {
			drift = append(drift, rel)
		}
	}
	sort.Strings(drift)
	return drift, nodes, nil
}

// Tree, Schema and Locker give the roles over d's clients.
func (d *Drivers) Tree() Tree     { return Tree{Client: d.ZK} }
func (d *Drivers) ACLs() ACLs     { return ACLs{Client: d.ZK} }
func (d *Drivers) Schema() Schema { return Schema{Client: d.Cassandra} }
func (d *Drivers) Locker(holder zk.HolderInfo) Locker {
	return Locker{Client: d.ZK, Holder: holder}
}

// Close closes every client.
func (d *Drivers) Close() {
	if d.Cassandra != nil {
		d.Cassandra.Close()
	}
	if d.ZK != nil {
		d.ZK.Close()
	}
}

// ConnectZK connects to ZooKeeper only, confined to the environment's
// root: whatever a bug or a crafted input produces, the client writes
// nothing outside it.
func ConnectZK(ctx context.Context, cfg Config) (*Drivers, error) {
	cl := cfg.Cluster
	if len(cl.ZooKeeperServers) == 0 {
		return nil, errors.New("no ZooKeeper servers: set --zk-servers, RINGMASTER_ZK_SERVERS or the environment's cluster.zookeeper.servers")
	}
	if err := state.CheckRoot(cl.ZooKeeperRoot); err != nil {
		return nil, err
	}
	zcfg, err := cfg.ZooKeeper()
	if err != nil {
		return nil, err
	}
	z, err := zk.Connect(ctx, zcfg)
	if err != nil {
		return nil, err
	}
	return &Drivers{ZK: z}, nil
}

// ZooKeeper is the client configuration of the environment's ensemble,
// confined to its root, with the credentials and TLS files.
func (cfg Config) ZooKeeper() (zk.Config, error) {
	cl := cfg.Cluster
	zcfg := zk.Config{Servers: cl.ZooKeeperServers, SessionTimeout: cfg.SessionTimeout, Confine: cl.ZooKeeperRoot, MaxTxnBytes: cl.MaxTransactionBytes}
	if cl.ACL != nil {
		zcfg.ACLFor = zkacl.New(cl.ZooKeeperRoot, cl.ACL).For
	}
	if cfg.ZKDigest != "" {
		zcfg.Auth = []zk.Auth{{Scheme: "digest", Credential: cfg.ZKDigest}}
	}
	if cfg.ZKCA != "" {
		t, err := TLSConfig(cfg.ZKCA, cfg.ZKCert, cfg.ZKKey)
		if err != nil {
			return zcfg, fmt.Errorf("zookeeper tls: %w", err)
		}
		zcfg.TLS = t
	}
	return zcfg, nil
}

// Cassandra is the client configuration for contactPoints (the
// environment's, or one node's), with the credentials and TLS file.
func (cfg Config) Cassandra(contactPoints []string) (cassandra.Config, error) {
	ccfg := cassandra.Config{ContactPoints: contactPoints, LocalDatacenter: cfg.Cluster.LocalDatacenter,
		Username: cfg.CassandraUsername, Password: cfg.CassandraPassword, SchemaAgreementTimeout: cfg.SchemaAgreementTimeout}
	if cfg.CassandraCA != "" {
		t, err := TLSConfig(cfg.CassandraCA, "", "")
		if err != nil {
			return ccfg, fmt.Errorf("cassandra tls: %w", err)
		}
		ccfg.TLS = t
	}
	return ccfg, nil
}

// Connect connects to ZooKeeper and Cassandra; on error nothing is left
// open.
func Connect(ctx context.Context, cfg Config) (*Drivers, error) {
	cl := cfg.Cluster
	if len(cl.CassandraContactPoints) == 0 {
		return nil, errors.New("no Cassandra contact points: set --cassandra-hosts, RINGMASTER_CASSANDRA_HOSTS or the environment's cluster.cassandra.contactPoints")
	}
	d, err := ConnectZK(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ccfg, err := cfg.Cassandra(cl.CassandraContactPoints)
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.Cassandra, err = cassandra.Connect(ctx, ccfg); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// TLSConfig trusts the CA bundle ca and, with cert and key, presents that
// client certificate.
func TLSConfig(ca, cert, key string) (*tls.Config, error) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", ca, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", ca)
	}
	t := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}
