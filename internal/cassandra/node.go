package cassandra

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/gocql/gocql"
)

// Node is a session with one Cassandra node and no other: what a node
// agent reads of its own node (system.local, its gossip view, its
// settings). Close releases it.
type Node struct {
	session *gocql.Session
	addr    string
}

// NodeInfo is what a node says of itself.
type NodeInfo struct {
	HostID, Datacenter, Rack, ReleaseVersion string
	// GossipGeneration changes every time the node starts: a new value
	// means it restarted (and lost its runtime settings).
	GossipGeneration int64
	// Status is the node's own gossip status ("NORMAL", "LEAVING", ...).
	Status string
}

// UpNormal tells whether the node is up (it answered) and NORMAL.
func (i NodeInfo) UpNormal() bool { return i.Status == "NORMAL" }

// ConnectNode opens a session with the node at cfg's only contact point,
// which queries no other node.
func ConnectNode(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if len(cfg.ContactPoints) != 1 {
		return nil, fmt.Errorf("connect to a Cassandra node: want one address, got %d", len(cfg.ContactPoints))
	}
	host := cfg.ContactPoints[0]
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	cc := gocql.NewCluster(cfg.ContactPoints...)
	cc.Port = cfg.Port
	cc.Consistency = gocql.One
	cc.Timeout, cc.ConnectTimeout, cc.WriteTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	cc.Logger = cfg.Logger
	cc.HostFilter = gocql.WhiteListHostFilter(host)
	cc.DisableInitialHostLookup = true
	cc.ReconnectInterval = cfg.Timeout
	if cfg.Username != "" {
		cc.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLS != nil {
		cc.SslOpts = &gocql.SslOptions{Config: cfg.TLS.Clone(), EnableHostVerification: !cfg.TLS.InsecureSkipVerify}
	}
	s, err := createSession(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to Cassandra node %s: %w", cfg.addresses(), err)
	}
	return &Node{session: s, addr: cfg.addresses()}, nil
}

// Close closes the session.
func (n *Node) Close() { n.session.Close() }

// Address is the node's address, for messages.
func (n *Node) Address() string { return n.addr }

// Info reads what the node says of itself.
func (n *Node) Info(ctx context.Context) (NodeInfo, error) {
	var i NodeInfo
	var hostID gocql.UUID
	var listen string
	err := n.session.Query(`SELECT host_id, data_center, rack, release_version, gossip_generation, listen_address FROM system.local`).
		WithContext(ctx).Scan(&hostID, &i.Datacenter, &i.Rack, &i.ReleaseVersion, &i.GossipGeneration, &listen)
	if err != nil {
		return i, fmt.Errorf("node %s: read system.local: %w", n.addr, err)
	}
	i.HostID = hostID.String()
	iter := n.session.Query(`SELECT address, status FROM system_views.gossip_info`).WithContext(ctx).Iter()
	var addr, status string
	for iter.Scan(&addr, &status) {
		if addr == listen {
			i.Status, _, _ = strings.Cut(status, ",")
		}
	}
	if err := iter.Close(); err != nil {
		return i, fmt.Errorf("node %s: read system_views.gossip_info: %w", n.addr, err)
	}
	return i, nil
}

// Settings reads the node's settings as it runs them
// (system_views.settings), by name.
func (n *Node) Settings(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	iter := n.session.Query(`SELECT name, value FROM system_views.settings`).WithContext(ctx).Iter()
	var name, value string
	for iter.Scan(&name, &value) {
		out[name] = value
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("node %s: read system_views.settings: %w", n.addr, err)
	}
	return out, nil
}

// Peer is a node of the cluster, as a coordinator knows it.
type Peer struct {
	Address, HostID, Datacenter, Rack string
}

// Nodes lists every node of the cluster as the coordinator knows it
// (itself and its peers).
func (c *Client) Nodes(ctx context.Context) ([]Peer, error) {
	var self Peer
	var hostID gocql.UUID
	var addr string
	if err := c.session.Query(`SELECT host_id, data_center, rack, broadcast_address FROM system.local`).WithContext(ctx).
		Scan(&hostID, &self.Datacenter, &self.Rack, &addr); err != nil {
		return nil, fmt.Errorf("read system.local: %w", err)
	}
	self.HostID, self.Address = hostID.String(), addr
	iter := c.session.Query(`SELECT peer, host_id, data_center, rack FROM system.peers_v2`).WithContext(ctx).Iter()
	out := []Peer{self}
	var p Peer
	for iter.Scan(&addr, &hostID, &p.Datacenter, &p.Rack) {
		p.Address, p.HostID = addr, hostID.String()
		out = append(out, p)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read system.peers_v2: %w", err)
	}
	return out, nil
}
