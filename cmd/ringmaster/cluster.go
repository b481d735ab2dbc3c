package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// clusterFlags are the connection settings. Each comes from its flag, else
// its environment variable, else the environment manifest; secrets
// (passwords, digest credentials) never come from the repository.
type clusterFlags struct {
	zkServers, zkRoot, zkAuth string
	zkCA, zkCert, zkKey       string
	sessionTimeout            time.Duration
	cassHosts, cassDC         string
	cassUser, cassPassword    string
	cassCA                    string
	schemaAgreement           time.Duration
	lockTimeout               time.Duration
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Which connection flags a command takes: each lists only those it uses.
const (
	useZK        = 1 << iota // ZooKeeper connection
	useCassandra             // Cassandra connection
	useApply                 // the lock wait and schema agreement of apply
)

func (c *clusterFlags) register(fs *flag.FlagSet, use int) {
	c.sessionTimeout, c.schemaAgreement, c.lockTimeout = 10*time.Second, 60*time.Second, 30*time.Second
	if use&useZK != 0 {
		fs.StringVar(&c.zkServers, "zk-servers", envOr("RINGMASTER_ZK_SERVERS", ""), "ZooKeeper servers host:port,... (env RINGMASTER_ZK_SERVERS; default: the environment manifest's)")
		fs.StringVar(&c.zkRoot, "zk-root", envOr("RINGMASTER_ZK_ROOT", ""), "managed ZooKeeper root (env RINGMASTER_ZK_ROOT; default: the environment manifest's)")
		fs.StringVar(&c.zkAuth, "zk-auth", envOr("RINGMASTER_ZK_AUTH", ""), "ZooKeeper digest credentials user:password (env RINGMASTER_ZK_AUTH)")
		fs.StringVar(&c.zkCA, "zk-tls-ca", envOr("RINGMASTER_ZK_TLS_CA", ""), "CA bundle for ZooKeeper TLS (enables TLS)")
		fs.StringVar(&c.zkCert, "zk-tls-cert", envOr("RINGMASTER_ZK_TLS_CERT", ""), "client certificate for ZooKeeper TLS")
		fs.StringVar(&c.zkKey, "zk-tls-key", envOr("RINGMASTER_ZK_TLS_KEY", ""), "client key for ZooKeeper TLS")
		fs.DurationVar(&c.sessionTimeout, "zk-session-timeout", c.sessionTimeout, "ZooKeeper session timeout")
	}
	if use&useCassandra != 0 {
		fs.StringVar(&c.cassHosts, "cassandra-hosts", envOr("RINGMASTER_CASSANDRA_HOSTS", ""), "Cassandra contact points (env RINGMASTER_CASSANDRA_HOSTS; default: the environment manifest's)")
		fs.StringVar(&c.cassDC, "cassandra-dc", envOr("RINGMASTER_CASSANDRA_DC", ""), "local datacenter (default: the environment manifest's)")
		fs.StringVar(&c.cassUser, "cassandra-username", envOr("RINGMASTER_CASSANDRA_USERNAME", ""), "Cassandra username (env RINGMASTER_CASSANDRA_USERNAME)")
		fs.StringVar(&c.cassPassword, "cassandra-password", envOr("RINGMASTER_CASSANDRA_PASSWORD", ""), "Cassandra password (env RINGMASTER_CASSANDRA_PASSWORD; prefer the variable)")
		fs.StringVar(&c.cassCA, "cassandra-tls-ca", envOr("RINGMASTER_CASSANDRA_TLS_CA", ""), "CA bundle for Cassandra TLS (enables TLS)")
	}
	if use&useApply != 0 {
		fs.DurationVar(&c.schemaAgreement, "schema-agreement-timeout", c.schemaAgreement, "how long each schema change waits for every Cassandra node to agree")
		fs.DurationVar(&c.lockTimeout, "lock-timeout", c.lockTimeout, "how long to wait for the apply lock")
	}
}

// check refuses connection settings that cannot be right, before
// anything connects: a root ringmaster must not write under, and
// durations that are not positive.
func (c *clusterFlags) check() error {
	if c.zkRoot != "" {
		if err := state.CheckRoot(c.zkRoot); err != nil {
			return fmt.Errorf("--zk-root: %w", err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--zk-session-timeout", c.sessionTimeout}, {"--schema-agreement-timeout", c.schemaAgreement}, {"--lock-timeout", c.lockTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: want a positive duration", d.name, d.v)
		}
	}
	return nil
}

// resolve applies the flags over the environment's cluster description.
func (c *clusterFlags) resolve(cl *state.Cluster) {
	if c.zkServers != "" {
		cl.ZooKeeperServers = splitList(c.zkServers)
	}
	if c.zkRoot != "" {
		cl.ZooKeeperRoot = c.zkRoot // checked by check
	}
	if c.cassHosts != "" {
		cl.CassandraContactPoints = splitList(c.cassHosts)
	}
	if c.cassDC != "" {
		cl.LocalDatacenter = c.cassDC
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// drivers are the connected clients of one environment.
type drivers struct {
	zk   *zk.Client
	cass *cassandra.Client
}

func (d *drivers) Close() {
	if d.cass != nil {
		d.cass.Close()
	}
	if d.zk != nil {
		d.zk.Close()
	}
}

// connectZK connects to ZooKeeper only.
func (c *clusterFlags) connectZK(ctx context.Context, cl state.Cluster) (*zk.Client, error) {
	if len(cl.ZooKeeperServers) == 0 {
		return nil, fmt.Errorf("no ZooKeeper servers: set --zk-servers, RINGMASTER_ZK_SERVERS or the environment's cluster.zookeeper.servers")
	}
	if err := state.CheckRoot(cl.ZooKeeperRoot); err != nil {
		return nil, err
	}
	// Confined to the environment's root: whatever a bug or a crafted
	// input produced, this client writes nothing outside it.
	cfg := zk.Config{Servers: cl.ZooKeeperServers, SessionTimeout: c.sessionTimeout, Confine: cl.ZooKeeperRoot, MaxTxnBytes: cl.MaxTransactionBytes}
	if c.zkAuth != "" {
		cfg.Auth = []zk.Auth{{Scheme: "digest", Credential: c.zkAuth}}
	}
	if c.zkCA != "" {
		t, err := tlsConfig(c.zkCA, c.zkCert, c.zkKey)
		if err != nil {
			return nil, fmt.Errorf("zookeeper tls: %w", err)
		}
		cfg.TLS = t
	}
	return zk.Connect(ctx, cfg)
}

// connect connects to both servers of the environment.
func (c *clusterFlags) connect(ctx context.Context, cl state.Cluster) (*drivers, error) {
	z, err := c.connectZK(ctx, cl)
	if err != nil {
		return nil, err
	}
	d := &drivers{zk: z}
	if len(cl.CassandraContactPoints) == 0 {
		d.Close()
		return nil, fmt.Errorf("no Cassandra contact points: set --cassandra-hosts, RINGMASTER_CASSANDRA_HOSTS or the environment's cluster.cassandra.contactPoints")
	}
	cfg := cassandra.Config{ContactPoints: cl.CassandraContactPoints, LocalDatacenter: cl.LocalDatacenter, Username: c.cassUser, Password: c.cassPassword, SchemaAgreementTimeout: c.schemaAgreement}
	if c.cassCA != "" {
		t, err := tlsConfig(c.cassCA, "", "")
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("cassandra tls: %w", err)
		}
		cfg.TLS = t
	}
	if d.cass, err = cassandra.Connect(ctx, cfg); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func tlsConfig(ca, cert, key string) (*tls.Config, error) {
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

// holderInfo describes this process for the lock node.
func holderInfo(args []string) zk.HolderInfo {
	h := zk.HolderInfo{PID: os.Getpid(), Since: time.Now().UTC(), Command: "ringmaster " + strings.Join(args, " ")}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	h.Host, _ = os.Hostname()
	return h
}

// Adapters from the drivers to sync's role interfaces.

type zkTree struct{ c *zk.Client }

func (t zkTree) Read(ctx context.Context, root string) (map[string]*state.Znode, error) {
	nodes, err := t.c.ReadTree(ctx, root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*state.Znode, len(nodes))
	for rel, n := range nodes {
		out[rel] = &state.Znode{Path: rel, Data: n.Data, Version: n.Stat.Version, ModZxid: n.Stat.Mzxid}
	}
	return out, nil
}

func toZKOps(ops []rmsync.ZnodeOp) []zk.Op {
	out := make([]zk.Op, len(ops))
	for i, o := range ops {
		kind := map[rmsync.OpKind]zk.OpKind{rmsync.OpCreate: zk.OpCreate, rmsync.OpSet: zk.OpSet, rmsync.OpDelete: zk.OpDelete}[o.Kind]
		out[i] = zk.Op{Kind: kind, Path: o.Path, Data: o.Data, Version: o.Version}
	}
	return out
}

func (t zkTree) Write(ctx context.Context, fence rmsync.Fence, ops, final []rmsync.ZnodeOp) (int, error) {
	res, err := t.c.Write(ctx, zk.Fence{Path: fence.Path, Version: fence.Version}, toZKOps(ops), toZKOps(final))
	switch {
	case errors.Is(err, zk.ErrFenced):
		err = fmt.Errorf("%w: %w", rmsync.ErrLockLost, err)
	case errors.Is(err, zk.ErrOutcomeUnknown):
		err = &rmsync.UncertainError{N: res.Uncertain, Err: err}
	case errors.Is(err, gozk.ErrBadVersion), errors.Is(err, gozk.ErrNodeExists), errors.Is(err, gozk.ErrNotEmpty):
		err = fmt.Errorf("%w: %w", rmsync.ErrStalePlan, err)
	}
	return res.Applied, err
}

type zkLocker struct {
	c    *zk.Client
	info zk.HolderInfo
}

func (l zkLocker) Lock(ctx context.Context, dir string) (rmsync.Lock, error) {
	lk, err := l.c.Lock(ctx, dir, l.info)
	if err != nil {
		return nil, err
	}
	return zkLock{lk}, nil
}

type zkLock struct{ *zk.Lock }

func (l zkLock) Verify(ctx context.Context) error {
	err := l.Lock.Verify(ctx)
	if errors.Is(err, zk.ErrLockNotHeld) {
		return fmt.Errorf("%w: %w", rmsync.ErrLockLost, err)
	}
	return err
}

func (l zkLock) Fence() rmsync.Fence {
	f := l.Lock.Fence()
	return rmsync.Fence{Path: f.Path, Version: f.Version}
}

type cassSchema struct{ c *cassandra.Client }

func (s cassSchema) Read(ctx context.Context) (map[string]*state.Keyspace, error) {
	return s.c.ReadSchema(ctx)
}
func (s cassSchema) Version(ctx context.Context) (string, error) { return s.c.SchemaVersion(ctx) }
func (s cassSchema) Datacenters(ctx context.Context) ([]string, error) {
	return s.c.Datacenters(ctx)
}
func (s cassSchema) Statements(ch diff.Change) ([]string, error)  { return cassandra.Statements(ch) }
func (s cassSchema) Apply(ctx context.Context, stmt string) error { return s.c.Apply(ctx, stmt) }
func (s cassSchema) Verify(ctx context.Context, ch diff.Change) error {
	return s.c.Verify(ctx, ch)
}
