package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// clusterFlags are the connection settings. Each comes from its flag, else
// its environment variable, else the environment manifest; secrets
// (passwords, digest credentials) never come from the repository.
type clusterFlags struct {
	zkServers, zkRoot, zkAuth string
	// zkAuthFile and cassPasswordFile name files holding the secrets
	// (read by check).
	zkAuthFile, cassPasswordFile string
	zkCA, zkCert, zkKey          string
	sessionTimeout               time.Duration
	cassHosts, cassDC            string
	cassUser, cassPassword       string
	cassCA                       string
	schemaAgreement              time.Duration
	lockTimeout                  time.Duration
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
		fs.StringVar(&c.zkAuth, "zk-auth", envOr("RINGMASTER_ZK_AUTH", ""), "ZooKeeper digest credentials user:password (env RINGMASTER_ZK_AUTH; prefer --zk-auth-file)")
		fs.StringVar(&c.zkAuthFile, "zk-auth-file", envOr("RINGMASTER_ZK_AUTH_FILE", ""), "file holding the ZooKeeper digest credentials user:password (env RINGMASTER_ZK_AUTH_FILE)")
		fs.StringVar(&c.zkCA, "zk-tls-ca", envOr("RINGMASTER_ZK_TLS_CA", ""), "CA bundle for ZooKeeper TLS (enables TLS)")
		fs.StringVar(&c.zkCert, "zk-tls-cert", envOr("RINGMASTER_ZK_TLS_CERT", ""), "client certificate for ZooKeeper TLS")
		fs.StringVar(&c.zkKey, "zk-tls-key", envOr("RINGMASTER_ZK_TLS_KEY", ""), "client key for ZooKeeper TLS")
		fs.DurationVar(&c.sessionTimeout, "zk-session-timeout", c.sessionTimeout, "ZooKeeper session timeout")
	}
	if use&useCassandra != 0 {
		fs.StringVar(&c.cassHosts, "cassandra-hosts", envOr("RINGMASTER_CASSANDRA_HOSTS", ""), "Cassandra contact points (env RINGMASTER_CASSANDRA_HOSTS; default: the environment manifest's)")
		fs.StringVar(&c.cassDC, "cassandra-dc", envOr("RINGMASTER_CASSANDRA_DC", ""), "local datacenter (default: the environment manifest's)")
		fs.StringVar(&c.cassUser, "cassandra-username", envOr("RINGMASTER_CASSANDRA_USERNAME", ""), "Cassandra username (env RINGMASTER_CASSANDRA_USERNAME)")
		fs.StringVar(&c.cassPassword, "cassandra-password", envOr("RINGMASTER_CASSANDRA_PASSWORD", ""), "Cassandra password (env RINGMASTER_CASSANDRA_PASSWORD; prefer the variable or --cassandra-password-file)")
		fs.StringVar(&c.cassPasswordFile, "cassandra-password-file", envOr("RINGMASTER_CASSANDRA_PASSWORD_FILE", ""), "file holding the Cassandra password (env RINGMASTER_CASSANDRA_PASSWORD_FILE)")
		fs.StringVar(&c.cassCA, "cassandra-tls-ca", envOr("RINGMASTER_CASSANDRA_TLS_CA", ""), "CA bundle for Cassandra TLS (enables TLS)")
	}
	if use&useApply != 0 {
		fs.DurationVar(&c.schemaAgreement, "schema-agreement-timeout", c.schemaAgreement, "how long each schema change waits for every Cassandra node to agree")
		fs.DurationVar(&c.lockTimeout, "lock-timeout", c.lockTimeout, "how long to wait for the apply lock")
	}
}

// check refuses connection settings that cannot be right, before
// anything connects: a root ringmaster must not write under, durations
// that are not positive, a secret given twice or a secret file that
// cannot be read. It reads the secret files.
func (c *clusterFlags) check() error {
	for _, f := range []struct {
		flag, file string
		into       *string
	}{{"--zk-auth", c.zkAuthFile, &c.zkAuth}, {"--cassandra-password", c.cassPasswordFile, &c.cassPassword}} {
		if f.file == "" {
			continue
		}
		if *f.into != "" {
			return fmt.Errorf("%s and %s-file both given: give one", f.flag, f.flag)
		}
		raw, err := os.ReadFile(f.file)
		if err != nil {
			return fmt.Errorf("%s-file: %w", f.flag, err)
		}
		if *f.into = strings.TrimRight(string(raw), "\r\n"); *f.into == "" {
			return fmt.Errorf("%s-file %s is empty", f.flag, f.file)
		}
	}
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

// config is how to reach cl with these flags' credentials.
func (c *clusterFlags) config(cl state.Cluster) livestore.Config {
	return livestore.Config{
		Cluster: cl, SessionTimeout: c.sessionTimeout,
		ZKDigest: c.zkAuth, ZKCA: c.zkCA, ZKCert: c.zkCert, ZKKey: c.zkKey,
		CassandraUsername: c.cassUser, CassandraPassword: c.cassPassword, CassandraCA: c.cassCA,
		SchemaAgreementTimeout: c.schemaAgreement,
	}
}

// connectZK connects to ZooKeeper only, confined to the environment's root.
func (c *clusterFlags) connectZK(ctx context.Context, cl state.Cluster) (*zk.Client, error) {
	d, err := livestore.ConnectZK(ctx, c.config(cl))
	if err != nil {
		return nil, err
	}
	return d.ZK, nil
}

// connect connects to both servers of the environment.
func (c *clusterFlags) connect(ctx context.Context, cl state.Cluster) (*livestore.Drivers, error) {
	return livestore.Connect(ctx, c.config(cl))
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
