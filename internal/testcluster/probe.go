package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
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

// CQLReady performs the native-protocol (v4) STARTUP handshake with a
// Cassandra node and reports nil when the node answers READY or
// AUTHENTICATE, that is when it accepts CQL clients.
func CQLReady(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cassandra %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))

	var body bytes.Buffer
	writeShort := func(v int) { _ = binary.Write(&body, binary.BigEndian, uint16(v)) }
	writeString := func(s string) { writeShort(len(s)); body.WriteString(s) }
	writeShort(1)
	writeString("CQL_VERSION")
	writeString("3.0.0")

	const version4, opStartup, opError, opReady, opAuthenticate = 0x04, 0x01, 0x00, 0x02, 0x03
	frame := make([]byte, 9, 9+body.Len())
	frame[0] = version4
	binary.BigEndian.PutUint16(frame[2:4], 1) // stream id
	frame[4] = opStartup
	binary.BigEndian.PutUint32(frame[5:9], uint32(body.Len()))
	frame = append(frame, body.Bytes()...)
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("cassandra %s: send STARTUP: %w", addr, err)
	}
	header := make([]byte, 9)
	if _, err := io.ReadFull(conn, header); err != nil {
		return fmt.Errorf("cassandra %s: read answer to STARTUP: %w", addr, err)
	}
	switch header[4] {
	case opReady, opAuthenticate:
		return nil
	case opError:
		n := binary.BigEndian.Uint32(header[5:9])
		msg := make([]byte, min(n, 4096))
		_, _ = io.ReadFull(conn, msg)
		if len(msg) > 6 {
			msg = msg[6:] // error code (4) and message length (2)
		}
		return fmt.Errorf("cassandra %s: STARTUP refused: %s", addr, msg)
	default:
		return fmt.Errorf("cassandra %s: unexpected opcode 0x%02x to STARTUP", addr, header[4])
	}
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
