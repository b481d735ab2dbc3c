package itest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/gocql/gocql"

	"github.com/ringmaster-io/ringmaster/internal/testcluster"
)

// secureRootParent holds every test's root path on the secure ensemble; it
// is open to every identity, so that each test's environment root is made
// by the identity under test, with the ACL its policy gives.
const secureRootParent = "/itest-secure"

// Secure is a test's share of the secure cluster (make cluster-up-secure,
// in the "secure" folder of the test cluster's): ZooKeeper with digest
// authentication enforced and a TLS port that requires a client
// certificate, and a Cassandra node that requires a password and TLS.
type Secure struct {
	*testcluster.Security
	// ZooKeeperPlain and ZooKeeperTLS are the ensemble's plain and TLS
	// client addresses.
	ZooKeeperPlain, ZooKeeperTLS string
	// Cassandra is the node's address (CQL on 9042), Datacenter its dc.
	Cassandra, Datacenter string
	// Root is a path unique to the test, which does not exist at the start
	// and is removed, with everything below it, when the test ends (by the
	// ZooKeeper superuser, whom no ACL stops).
	Root string
	// Super is a session of ZooKeeper's superuser on the plain port.
	Super *zk.Conn
}

// SecureCluster returns the secure cluster for the test, claiming the test
// cluster as Cluster does. It fails (never skips) when the secure cluster
// does not run: make test starts it.
func SecureCluster(t testing.TB) *Secure {
	t.Helper()
	main := Cluster(t)
	c, err := testcluster.Load(filepath.Join(main.Dir, "secure"))
	if err != nil {
		t.Fatalf("secure cluster: %v (make cluster-up-secure starts it; make test does)", err)
	}
	sec, err := c.LoadSecurity()
	if err != nil {
		t.Fatalf("secure cluster: %v", err)
	}
	z, n := c.Spec.ZooKeeper[0], c.Spec.Cassandra[0]
	s := &Secure{Security: sec, ZooKeeperPlain: z.Address(), ZooKeeperTLS: z.SecureAddress(), Cassandra: n.Address, Datacenter: n.Datacenter}
	s.Super = s.Connect(t, s.ZooKeeperPlain, nil, "digest", "super:"+sec.ZooKeeperSuperPassword)
	if _, err := s.Super.Create(secureRootParent, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("create %s: %v", secureRootParent, err)
	}
	s.Root = path.Join(secureRootParent, uniqueName(t, 60))
	t.Cleanup(func() {
		cleanup := s.Connect(t, s.ZooKeeperPlain, nil, "digest", "super:"+sec.ZooKeeperSuperPassword)
		if err := DeleteTree(cleanup, s.Root); err != nil {
			t.Errorf("remove test root %s: %v", s.Root, err)
		}
	})
	return s
}

// Connect opens a session with the secure ensemble at addr (over TLS when
// tlsCfg is set), adds the credential (scheme "digest", "user:password")
// before anything else, and closes the session when the test ends.
func (s *Secure) Connect(t testing.TB, addr string, tlsCfg *tls.Config, scheme, credential string) *zk.Conn {
	t.Helper()
	var dial zk.Dialer
	if tlsCfg != nil {
		dial = func(network, address string, timeout time.Duration) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, network, address, tlsCfg)
		}
	}
	conn := connectWith(t, []string{addr}, dial)
	if err := conn.AddAuth(scheme, []byte(credential)); err != nil {
		t.Fatalf("add %s credentials on %s: %v", scheme, addr, err)
	}
	return conn
}

// ClientTLS trusts the cluster's CA and presents its client certificate.
func (s *Secure) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(s.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// CassandraAs opens a CQL session with the secure node as user, over TLS,
// and closes it when the test ends.
func (s *Secure) CassandraAs(t testing.TB, user, password string) (*gocql.Session, error) {
	t.Helper()
	cfg := gocql.NewCluster(s.Cassandra)
	cfg.Consistency = gocql.One
	cfg.Timeout = 20 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cfg.Authenticator = gocql.PasswordAuthenticator{Username: user, Password: password}
	cfg.SslOpts = &gocql.SslOptions{CaPath: s.CA, EnableHostVerification: true}
	cfg.Logger = &testLogger{t: t}
	session, err := cfg.CreateSession()
	if err != nil {
		return nil, err
	}
	t.Cleanup(session.Close)
	return session, nil
}
