package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FourLetterWord sends a ZooKeeper four-letter word (it must be whitelisted)
// to addr and returns the answer.
func FourLetterWord(ctx context.Context, addr, word string) (string, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("zookeeper %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, word); err != nil {
		return "", fmt.Errorf("zookeeper %s: send %s: %w", addr, word, err)
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("zookeeper %s: read %s answer: %w", addr, word, err)
	}
	return string(raw), nil
}

// ZooKeeperMode asks a server with srvr for its mode: "leader", "follower",
// "standalone", or an error when it does not serve (for example while it has
// no quorum: "This ZooKeeper instance is not currently serving requests").
func ZooKeeperMode(ctx context.Context, addr string) (string, error) {
	out, err := FourLetterWord(ctx, addr, "srvr")
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	return "", fmt.Errorf("zookeeper %s: not serving: %s", addr, strings.TrimSpace(out))
}

// Native protocol v4 opcodes this file speaks.
const (
	cqlVersion4       = 0x04
	opError           = 0x00
	opStartup         = 0x01
	opReady           = 0x02
	opAuthenticate    = 0x03
	opQuery           = 0x07
	opResult          = 0x08
	opAuthChallenge   = 0x0E
	opAuthResponse    = 0x0F
	opAuthSuccess     = 0x10
	consistencyQuorum = 0x0004
)

// CQLReady performs the native-protocol (v4) STARTUP handshake with a
// Cassandra node and reports nil when the node answers READY or
// AUTHENTICATE, that is when it accepts CQL clients.
func CQLReady(ctx context.Context, addr string) error {
	conn, err := cqlDial(ctx, addr, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = cqlStartup(conn, addr)
	return err
}

// CQLReady is CQLReady for node n of the cluster, over TLS in a secure
// cluster.
func (c *Cluster) CQLReady(ctx context.Context, n CassandraNode) error {
	tlsCfg, err := c.clientTLS()
	if err != nil {
		return err
	}
	conn, err := cqlDial(ctx, n.CQLAddress(), tlsCfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = cqlStartup(conn, n.CQLAddress())
	return err
}

// CQLExec runs one CQL statement on node n, logged in as user when the
// node asks for credentials: enough for the cluster's own setup (roles),
// without a driver.
func (c *Cluster) CQLExec(ctx context.Context, n CassandraNode, user, password, stmt string) error {
	tlsCfg, err := c.clientTLS()
	if err != nil {
		return err
	}
	addr := n.CQLAddress()
	conn, err := cqlDial(ctx, addr, tlsCfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	op, err := cqlStartup(conn, addr)
	if err != nil {
		return err
	}
	if op == opAuthenticate {
		token := append(append([]byte{0}, user...), append([]byte{0}, password...)...)
		var body bytes.Buffer
		_ = binary.Write(&body, binary.BigEndian, int32(len(token)))
		body.Write(token)
		if op, msg, err := cqlRoundTrip(conn, opAuthResponse, body.Bytes()); err != nil {
			return fmt.Errorf("cassandra %s: log in as %s: %w", addr, user, err)
		} else if op != opAuthSuccess {
			return fmt.Errorf("cassandra %s: log in as %s: %s", addr, user, cqlErrorText(op, msg))
		}
	}
	var body bytes.Buffer
	_ = binary.Write(&body, binary.BigEndian, int32(len(stmt)))
	body.WriteString(stmt)
	_ = binary.Write(&body, binary.BigEndian, uint16(consistencyQuorum))
	body.WriteByte(0) // no flags
	op, msg, err := cqlRoundTrip(conn, opQuery, body.Bytes())
	if err != nil {
		return fmt.Errorf("cassandra %s: %w", addr, err)
	}
	if op != opResult {
		return fmt.Errorf("cassandra %s: %s", addr, cqlErrorText(op, msg))
	}
	return nil
}

// clientTLS is the TLS configuration clients of a secure cluster use
// (trusting its CA, presenting its client certificate); nil otherwise.
func (c *Cluster) clientTLS() (*tls.Config, error) {
	sec, err := c.security()
	if err != nil || sec == nil {
		return nil, err
	}
	ca, err := os.ReadFile(sec.CA)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", sec.CA)
	}
	cert, err := tls.LoadX509KeyPair(sec.ClientCert, sec.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("load the cluster's client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func cqlDial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var conn net.Conn
	var err error
	if tlsCfg != nil {
		d := tls.Dialer{Config: tlsCfg}
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cassandra %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn, nil
}

// cqlStartup sends STARTUP and returns the answer's opcode: READY or
// AUTHENTICATE.
func cqlStartup(conn net.Conn, addr string) (byte, error) {
	var body bytes.Buffer
	writeShort := func(v int) { _ = binary.Write(&body, binary.BigEndian, uint16(v)) }
	writeString := func(s string) { writeShort(len(s)); body.WriteString(s) }
	writeShort(1)
	writeString("CQL_VERSION")
	writeString("3.0.0")
	op, msg, err := cqlRoundTrip(conn, opStartup, body.Bytes())
	if err != nil {
		return 0, fmt.Errorf("cassandra %s: STARTUP: %w", addr, err)
	}
	switch op {
	case opReady, opAuthenticate:
		return op, nil
	default:
		return 0, fmt.Errorf("cassandra %s: STARTUP refused: %s", addr, cqlErrorText(op, msg))
	}
}

// cqlRoundTrip sends one frame on stream 1 and reads the answer: its
// opcode and body (the first 4 KiB).
func cqlRoundTrip(conn net.Conn, op byte, body []byte) (byte, []byte, error) {
	frame := make([]byte, 9, 9+len(body))
	frame[0] = cqlVersion4
	binary.BigEndian.PutUint16(frame[2:4], 1) // stream id
	frame[4] = op
	binary.BigEndian.PutUint32(frame[5:9], uint32(len(body)))
	frame = append(frame, body...)
	if _, err := conn.Write(frame); err != nil {
		return 0, nil, fmt.Errorf("send: %w", err)
	}
	header := make([]byte, 9)
	if _, err := io.ReadFull(conn, header); err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	n := binary.BigEndian.Uint32(header[5:9])
	msg := make([]byte, min(n, 4096))
	if _, err := io.ReadFull(conn, msg); err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return header[4], msg, nil
}

// cqlErrorText renders an answer that is not the one expected: an ERROR's
// message, or the opcode.
func cqlErrorText(op byte, body []byte) string {
	if op == opError && len(body) > 6 {
		return string(body[6:]) // error code (4) and message length (2)
	}
	if op == opAuthChallenge {
		return "unexpected authentication challenge"
	}
	return fmt.Sprintf("unexpected opcode 0x%02x", op)
}

// NodeTool runs org.apache.cassandra.tools.NodeTool from the cluster's
// Cassandra jars against node over its local JMX port and returns its
// standard output; a failure carries its standard error.
func (c *Cluster) NodeTool(ctx context.Context, node CassandraNode, args ...string) (string, error) {
	jargs := []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
	jargs = append(jargs, jvm17Options...)
	jargs = append(jargs,
		"-Dcassandra.config=file://"+filepath.Join(c.serverDir(node.Name), "conf", "cassandra.yaml"),
		"-Dcassandra.logdir="+filepath.Join(c.serverDir(node.Name), "logs"),
		"-Dlogback.configurationFile="+filepath.Join(c.Dir, "run", "nodetool-logback.xml"),
		"-cp", filepath.Join(c.libDir(), "cassandra", "*"),
		"org.apache.cassandra.tools.NodeTool",
		"-h", "127.0.0.1", "-p", fmt.Sprint(node.JMXPort))
	jargs = append(jargs, args...)
	cmd := exec.CommandContext(ctx, c.java(), jargs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("nodetool %s on %s (JMX 127.0.0.1:%d): %w: %s",
			strings.Join(args, " "), node.Name, node.JMXPort, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return stdout.String(), nil
}

// UpNormal parses `nodetool status` output and returns the addresses of the
// nodes marked UN (up, normal).
func UpNormal(status string) []string {
	var up []string
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "UN" {
			up = append(up, f[1])
		}
	}
	return up
}
