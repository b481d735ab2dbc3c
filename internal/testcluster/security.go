package testcluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Security is the TLS material and the passwords of a secure cluster
// (Spec.Secure), made by Up at the first start and kept in the cluster
// folder (tls/, credentials.json, mode 0600): generated per cluster, never
// committed. Paths are absolute.
type Security struct {
	// CA is the PEM certificate of the cluster's own certificate authority,
	// which signed every certificate below. Servers trust only it.
	CA string `json:"ca"`
	// ServerPEM holds a server's private key (PKCS #8) and its certificate,
	// valid for 127.0.0.1, 127.0.0.3 and localhost: the keystore of
	// ZooKeeper and Cassandra.
	ServerPEM string `json:"serverPem"`
	// ClientCert and ClientKey are a client certificate (CN=ringmaster)
	// the CA signed: ZooKeeper's TLS port requires one.
	ClientCert string `json:"clientCert"`
	ClientKey  string `json:"clientKey"`
	// ZooKeeperSuperPassword is the password of ZooKeeper's "super" digest
	// user, which bypasses ACLs: tests clean up with it.
	ZooKeeperSuperPassword string `json:"zooKeeperSuperPassword"`
	// CassandraSuperPassword replaces the default superuser's "cassandra"
	// password once the node first runs.
	CassandraSuperPassword string `json:"cassandraSuperPassword"`
}

func (c *Cluster) securityFile() string { return filepath.Join(c.Dir, "credentials.json") }

// LoadSecurity reads the secure cluster's TLS files and passwords.
func (c *Cluster) LoadSecurity() (*Security, error) {
	raw, err := os.ReadFile(c.securityFile())
	if err != nil {
		return nil, fmt.Errorf("the %s cluster has no credentials (make cluster-up-secure makes them): %w", c.Spec.Name, err)
	}
	var s Security
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.securityFile(), err)
	}
	return &s, nil
}

// ensureSecurity loads the cluster's security material, making it first
// when there is none.
func (c *Cluster) ensureSecurity() (*Security, error) {
	if s, err := c.LoadSecurity(); err == nil {
		return s, nil
	}
	dir := filepath.Join(c.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	s := &Security{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerPEM:  filepath.Join(dir, "server.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	var err error
	if s.ZooKeeperSuperPassword, err = randomPassword(); err != nil {
		return nil, err
	}
	if s.CassandraSuperPassword, err = randomPassword(); err != nil {
		return nil, err
	}
	ca, caKey, caDER, err := newCertificate(pkix.Name{CommonName: "ringmaster dev cluster CA"}, nil, nil, true)
	if err != nil {
		return nil, err
	}
	_, serverKey, serverDER, err := newCertificate(pkix.Name{CommonName: "ringmaster dev server"}, ca, caKey, false,
		net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.3"))
	if err != nil {
		return nil, err
	}
	_, clientKey, clientDER, err := newCertificate(pkix.Name{CommonName: "ringmaster"}, ca, caKey, false)
	if err != nil {
		return nil, err
	}
	serverPEM, err := pemKeyAndCert(serverKey, serverDER)
	if err != nil {
		return nil, err
	}
	clientKeyPEM, err := pemKeyAndCert(clientKey, nil)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		s.CA:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		s.ServerPEM:  serverPEM,
		s.ClientCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}),
		s.ClientKey:  clientKeyPEM,
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
	}
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.securityFile(), raw, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", c.securityFile(), err)
	}
	return s, nil
}

// newCertificate makes an RSA key (the JDK reads PKCS #8 RSA keys from PEM
// in every version) and a certificate for it, signed by parent (self-signed
// when parent is nil), valid for a year and, as a server certificate, for
// ips and localhost.
func newCertificate(subject pkix.Name, parent *x509.Certificate, parentKey *rsa.PrivateKey, isCA bool, ips ...net.IP) (*x509.Certificate, *rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate key for %s: %w", subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
	}
	if len(ips) > 0 {
		tmpl.IPAddresses = ips
		tmpl.DNSNames = []string{"localhost"}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sign certificate for %s: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, der, nil
}

// pemKeyAndCert encodes key as an unencrypted PKCS #8 PEM block, followed
// by the certificate when der is not nil.
func pemKeyAndCert(key *rsa.PrivateKey, der []byte) ([]byte, error) {
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	if der != nil {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", errors.New("no randomness for a password")
	}
	return hex.EncodeToString(b), nil
}

// DigestID is ZooKeeper's digest ACL id of user with password:
// "user:base64(sha1(user:password))", as DigestAuthenticationProvider
// computes it.
func DigestID(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// secureSuperuser gives Cassandra's default superuser "cassandra" the
// cluster's generated password, once the node has created the role. It is
// idempotent: a node whose superuser has the password already is left as
// it is.
func (c *Cluster) secureSuperuser(ctx context.Context) error {
	sec, err := c.LoadSecurity()
	if err != nil {
		return err
	}
	var names []string
	for _, n := range c.Spec.Cassandra {
		names = append(names, n.Name)
	}
	n := c.Spec.Cassandra[0]
	return c.poll(ctx, "Cassandra superuser password", names, 500*time.Millisecond, func(ctx context.Context) error {
		if err := c.CQLExec(ctx, n, "cassandra", sec.CassandraSuperPassword, "SELECT role FROM system_auth.roles LIMIT 1"); err == nil {
			return nil
		}
		stmt := fmt.Sprintf("ALTER ROLE cassandra WITH PASSWORD = '%s'", sec.CassandraSuperPassword)
		return c.CQLExec(ctx, n, "cassandra", "cassandra", stmt)
	})
}
