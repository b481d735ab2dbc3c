// Package testcluster starts and stops the real local cluster that
// ringmaster's development, tests and demo run against: an Apache ZooKeeper
// ensemble and an Apache Cassandra cluster, both on loopback, run from the
// release jars that Maven fetches from Maven Central into a cache folder.
//
// Every server is a plain JVM process started in its own session, so it
// outlives the command that started it; its pid is kept in a file and every
// JVM carries a marker argument naming the cluster folder, so Down finds and
// stops all of them even when a pid file is lost. The package imports only
// the standard library: it talks to ZooKeeper through four-letter words, to
// Cassandra through a minimal native-protocol handshake and nodetool.
package testcluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ZooKeeperServer is one member of the ensemble.
type ZooKeeperServer struct {
	// ID is the server's myid, unique in the ensemble, from 1.
	ID int `json:"id"`
	// Host is the loopback address the server binds.
	Host string `json:"host"`
	// ClientPort serves clients and four-letter words.
	ClientPort int `json:"clientPort"`
	// PeerPort and ElectionPort are the quorum ports; unused standalone.
	PeerPort     int `json:"peerPort"`
	ElectionPort int `json:"electionPort"`
	// SecurePort, in a secure cluster, serves clients over TLS (Netty's
	// secureClientPort), with a client certificate required.
	SecurePort int `json:"securePort,omitempty"`
}

// Name is the server's name in logs, folders and commands: "zk<ID>".
func (s ZooKeeperServer) Name() string { return "zk" + strconv.Itoa(s.ID) }

// Address is host:clientPort.
func (s ZooKeeperServer) Address() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.ClientPort))
}

// SecureAddress is host:securePort, or "" without one.
func (s ZooKeeperServer) SecureAddress() string {
	if s.SecurePort == 0 {
		return ""
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.SecurePort))
}

// CassandraNode is one node of the Cassandra cluster.
type CassandraNode struct {
	// Name is unique in the cluster ("cass1"); it names the node's folder.
	Name string `json:"name"`
	// Address is the loopback address the node listens on for gossip and CQL.
	Address string `json:"address"`
	// Datacenter and Rack are written to cassandra-rackdc.properties for
	// GossipingPropertyFileSnitch.
	Datacenter string `json:"datacenter"`
	Rack       string `json:"rack"`
	// NativePort is the CQL port, StoragePort the gossip port.
	NativePort  int `json:"nativePort"`
	StoragePort int `json:"storagePort"`
	// JMXPort is local to 127.0.0.1 and distinct per node, for nodetool.
	JMXPort int `json:"jmxPort"`
}

// CQLAddress is address:nativePort.
func (n CassandraNode) CQLAddress() string {
	return net.JoinHostPort(n.Address, strconv.Itoa(n.NativePort))
}

// Spec is the shape of a cluster: which servers, on which ports. A Spec is
// pure data; Cluster runs it.
type Spec struct {
	// Name identifies the variant ("full", "single").
	Name      string            `json:"name"`
	ZooKeeper []ZooKeeperServer `json:"zookeeper"`
	Cassandra []CassandraNode   `json:"cassandra"`
	// CassandraHeap is the -Xmx and -Xms of every Cassandra node, e.g. "1G".
	CassandraHeap string `json:"cassandraHeap"`
	// ZooKeeperHeap is the -Xmx of every ZooKeeper server.
	ZooKeeperHeap string `json:"zooKeeperHeap"`
	// Secure runs the servers locked down: ZooKeeper with digest
	// authentication enforced, a "super" user, and a TLS port beside the
	// plain one; Cassandra with PasswordAuthenticator, CassandraAuthorizer
	// and client encryption required. Its TLS material and passwords are
	// the cluster's Security.
	Secure bool `json:"secure,omitempty"`
}

// Full is the cluster make test and make demo use: a three-server ZooKeeper
// ensemble on 127.0.0.1:2181-2183 and two Cassandra nodes, dc1 on 127.0.0.1
// and dc2 on 127.0.0.2, CQL on 9042 of each, JMX on 7199 and 7299.
func Full() Spec {
	s := Spec{Name: "full", CassandraHeap: "1G", ZooKeeperHeap: "1g"}
	for i := 1; i <= 3; i++ {
		s.ZooKeeper = append(s.ZooKeeper, ZooKeeperServer{
			ID: i, Host: "127.0.0.1", ClientPort: 2180 + i,
			PeerPort: 2887 + i, ElectionPort: 3887 + i,
		})
	}
	s.Cassandra = []CassandraNode{
		{Name: "cass1", Address: "127.0.0.1", Datacenter: "dc1", Rack: "rack1", NativePort: 9042, StoragePort: 7000, JMXPort: 7199},
		{Name: "cass2", Address: "127.0.0.2", Datacenter: "dc2", Rack: "rack1", NativePort: 9042, StoragePort: 7000, JMXPort: 7299},
	}
	return s
}

// Single is a quick variant for local work: one standalone ZooKeeper on
// 127.0.0.1:2181 and one Cassandra node in dc1 on 127.0.0.1:9042.
func Single() Spec {
	f := Full()
	f.Name = "single"
	f.ZooKeeper = f.ZooKeeper[:1]
	f.Cassandra = f.Cassandra[:1]
	return f
}

// SecureCluster is the locked-down variant (Spec.Secure) that the security
// tests use beside Full, from its own folder: one standalone ZooKeeper,
// plain on 127.0.0.1:2191 and TLS on 2192, and one Cassandra node in dc1 on
// 127.0.0.3:9042 (JMX 7399), a cluster of its own.
func SecureCluster() Spec {
	return Spec{
		Name: "secure", CassandraHeap: "768M", ZooKeeperHeap: "512m", Secure: true,
		ZooKeeper: []ZooKeeperServer{{ID: 1, Host: "127.0.0.1", ClientPort: 2191, SecurePort: 2192, PeerPort: 2897, ElectionPort: 3897}},
		Cassandra: []CassandraNode{{Name: "scass1", Address: "127.0.0.3", Datacenter: "dc1", Rack: "rack1", NativePort: 9042, StoragePort: 7000, JMXPort: 7399}},
	}
}

// SpecByName returns Full, Single or SecureCluster.
func SpecByName(name string) (Spec, error) {
	switch name {
	case "full", "":
		return Full(), nil
	case "single":
		return Single(), nil
	case "secure":
		return SecureCluster(), nil
	}
	return Spec{}, fmt.Errorf("unknown cluster variant %q (want full, single or secure)", name)
}

// ZooKeeperConnect is the comma-separated client address list of the
// ensemble, as ZooKeeper clients take it.
func (s Spec) ZooKeeperConnect() string {
	addrs := make([]string, len(s.ZooKeeper))
	for i, z := range s.ZooKeeper {
		addrs[i] = z.Address()
	}
	return strings.Join(addrs, ",")
}

// CassandraContactPoints is the comma-separated list of node addresses.
func (s Spec) CassandraContactPoints() string {
	addrs := make([]string, len(s.Cassandra))
	for i, n := range s.Cassandra {
		addrs[i] = n.Address
	}
	return strings.Join(addrs, ",")
}

// Datacenters lists the Cassandra datacenters in node order, without repeats.
func (s Spec) Datacenters() []string {
	var dcs []string
	seen := map[string]bool{}
	for _, n := range s.Cassandra {
		if !seen[n.Datacenter] {
			seen[n.Datacenter] = true
			dcs = append(dcs, n.Datacenter)
		}
	}
	return dcs
}

// ZooKeeperByName finds a server by its Name ("zk2").
func (s Spec) ZooKeeperByName(name string) (ZooKeeperServer, bool) {
	for _, z := range s.ZooKeeper {
		if z.Name() == name {
			return z, true
		}
	}
	return ZooKeeperServer{}, false
}

// CassandraByName finds a node by its Name ("cass2").
func (s Spec) CassandraByName(name string) (CassandraNode, bool) {
	for _, n := range s.Cassandra {
		if n.Name == name {
			return n, true
		}
	}
	return CassandraNode{}, false
}
