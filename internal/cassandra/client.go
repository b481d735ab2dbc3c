// Package cassandra is ringmaster's Cassandra driver: it reads the live
// schema from system_schema into the shared model (internal/state), in the
// same canonical form render gives the desired state, turns typed changes
// (diff) into DDL, applies one statement at a time with schema agreement,
// and verifies afterwards that the live schema matches the change.
//
// Every operation is bounded in time: queries by Config.Timeout, schema
// agreement by Config.SchemaAgreementTimeout. A node that is down while DDL
// runs makes Apply fail with ErrSchemaDisagreement, naming the nodes that
// did not take the change, instead of hanging.
package cassandra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Defaults of Config.
const (
	DefaultPort                   = 9042
	DefaultTimeout                = 15 * time.Second
	DefaultSchemaAgreementTimeout = 60 * time.Second
)

// Config says how to reach a Cassandra cluster. Credentials come from the
// caller (flags, environment, files), never from the repository.
type Config struct {
	// ContactPoints are "host" or "host:port" addresses; at least one. The
	// driver discovers the other nodes from them.
	ContactPoints []string
	// Port is the native protocol port of contact points given without
	// one (0: DefaultPort).
	Port int
	// LocalDatacenter is the datacenter whose nodes coordinate queries
	// (DC-aware round robin inside token-aware routing); nodes of other
	// datacenters are used only when no local one answers. Empty: all
	// nodes are used alike.
	LocalDatacenter string
	// Username and Password enable password authentication when Username
	// is set.
	Username, Password string
	// TLS enables TLS with this configuration when non-nil. Host names are
	// verified unless it sets InsecureSkipVerify.
	TLS *tls.Config
	// Timeout bounds one request to a node, and connecting to one
	// (0: DefaultTimeout).
	Timeout time.Duration
	// SchemaAgreementTimeout bounds the wait, after DDL, for every node to
	// report the same schema version (0: DefaultSchemaAgreementTimeout).
	SchemaAgreementTimeout time.Duration
	// Logger receives the driver's own log lines (reconnections, nodes
	// going down). Nil discards them.
	Logger gocql.StdLogger
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.SchemaAgreementTimeout <= 0 {
		cfg.SchemaAgreementTimeout = DefaultSchemaAgreementTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = discard{}
	}
	return cfg
}

// addresses renders the contact points with their ports, for messages.
func (cfg Config) addresses() string {
	out := make([]string, len(cfg.ContactPoints))
	for i, cp := range cfg.ContactPoints {
		if _, _, err := net.SplitHostPort(cp); err == nil {
			out[i] = cp
		} else {
			out[i] = net.JoinHostPort(cp, strconv.Itoa(cfg.Port))
		}
	}
	return strings.Join(out, ", ")
}

// Client is a connection to one Cassandra cluster. It is safe for
// concurrent use; Close releases it.
type Client struct {
	cfg     Config
	session *gocql.Session
	// owner is the role that must give back the data permissions Cassandra
	// grants it on what it creates: the logged-in role when the cluster's
	// authorizer checks permissions; "" otherwise.
	owner string
}

// DataPermissionsOwner is the role that gives back, after each CREATE, the
// data permissions Cassandra grants it (see GiveUpDataPermissions): the
// logged-in role, unless there is none or the cluster grants everything
// to everyone (AllowAllAuthorizer, where REVOKE is refused).
func (c *Client) DataPermissionsOwner() string { return c.owner }

// Connect opens a session with the cluster. Data queries run at
// LOCAL_QUORUM; schema reads run at ONE against a single coordinator. The
// error names the contact points. Connecting is bounded by ctx and by
// Config.Timeout per node.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if len(cfg.ContactPoints) == 0 {
		return nil, errors.New("connect to Cassandra: no contact points")
	}
	cc := gocql.NewCluster(cfg.ContactPoints...)
	cc.Port = cfg.Port
	cc.Consistency = gocql.LocalQuorum
	cc.Timeout = cfg.Timeout
	cc.ConnectTimeout = cfg.Timeout
	cc.WriteTimeout = cfg.Timeout
	cc.MaxWaitSchemaAgreement = cfg.SchemaAgreementTimeout
	cc.Logger = cfg.Logger
	var inner gocql.HostSelectionPolicy
	if cfg.LocalDatacenter != "" {
		inner = gocql.DCAwareRoundRobinPolicy(cfg.LocalDatacenter)
	} else {
		inner = gocql.RoundRobinHostPolicy()
	}
	cc.PoolConfig.HostSelectionPolicy = &pinningPolicy{HostSelectionPolicy: gocql.TokenAwareHostPolicy(inner)}
	if cfg.Username != "" {
		cc.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLS != nil {
		cc.SslOpts = &gocql.SslOptions{Config: cfg.TLS.Clone(), EnableHostVerification: !cfg.TLS.InsecureSkipVerify}
	}

	s, err := createSession(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to Cassandra at %s: %w", cfg.addresses(), err)
	}
	c := &Client{cfg: cfg, session: s}
	if cfg.Username != "" && authorizerChecks(c.readAuthorizer(ctx)) {
		c.owner = cfg.Username
	}
	return c, nil
}

// readAuthorizer reads the coordinator's authorizer class from
// system_views.settings; "" when it cannot be read (a role without SELECT
// on it is refused, which only an authorizer that checks does).
func (c *Client) readAuthorizer(ctx context.Context) string {
	var v string
	_ = c.session.Query(`SELECT value FROM system_views.settings WHERE name = 'authorizer'`).WithContext(ctx).Consistency(gocql.One).Scan(&v)
	return v
}

// authorizerChecks tells whether an authorizer setting ("CassandraAuthorizer{}",
// "AllowAllAuthorizer{}", a class name) checks permissions: every one
// but AllowAllAuthorizer does; an unknown one ("") is taken to.
func authorizerChecks(setting string) bool {
	name := setting
	if i := strings.IndexAny(name, "{("); i >= 0 {
		name = name[:i]
	}
	name = name[strings.LastIndex(name, ".")+1:]
	return name != "AllowAllAuthorizer"
}

// createSession creates cc's session, giving up when ctx ends (a session
// made after that is closed).
func createSession(ctx context.Context, cc *gocql.ClusterConfig) (*gocql.Session, error) {
	type result struct {
		s   *gocql.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := cc.CreateSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Close closes the session. The Client must not be used afterwards.
func (c *Client) Close() { c.session.Close() }

// Session is the underlying driver session, for data queries (LOCAL_QUORUM
// by default). It stays owned by the Client: do not close it.
func (c *Client) Session() *gocql.Session { return c.session }

// discard is the default driver logger.
type discard struct{}

func (discard) Print(...any)          {}
func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}

// pinKey is the context key under which a query carries the host it must
// run on.
type pinKey struct{}

// pinTo returns a context whose queries run on host only.
func pinTo(ctx context.Context, host *gocql.HostInfo) context.Context {
	return context.WithValue(ctx, pinKey{}, host)
}

// pinningPolicy is the session's host selection policy: the wrapped one,
// except that a query whose context carries a host (pinTo) runs on that
// host alone, so that a sequence of reads of node-local tables
// (system_schema, system.peers_v2) sees one node's view.
type pinningPolicy struct {
	gocql.HostSelectionPolicy
}

// AddHosts forwards the driver's bulk registration when the wrapped policy
// supports it.
func (p *pinningPolicy) AddHosts(hosts []*gocql.HostInfo) {
	if bulk, ok := p.HostSelectionPolicy.(interface{ AddHosts([]*gocql.HostInfo) }); ok {
		bulk.AddHosts(hosts)
		return
	}
	for _, h := range hosts {
		p.HostSelectionPolicy.AddHost(h)
	}
}

// Pick implements gocql.HostSelectionPolicy.
func (p *pinningPolicy) Pick(q gocql.ExecutableQuery) gocql.NextHost {
	if withCtx, ok := q.(interface{ Context() context.Context }); ok {
		if h, ok := withCtx.Context().Value(pinKey{}).(*gocql.HostInfo); ok && h != nil {
			used := false
			return func() gocql.SelectedHost {
				if used {
					return nil
				}
				used = true
				return pinnedHost{h}
			}
		}
	}
	return p.HostSelectionPolicy.Pick(q)
}

type pinnedHost struct{ h *gocql.HostInfo }

func (p pinnedHost) Info() *gocql.HostInfo { return p.h }
func (pinnedHost) Mark(error)              {}

// hostName renders a host for messages: "127.0.0.1:9042 (dc1)".
func hostName(h *gocql.HostInfo) string {
	if h == nil {
		return "no node"
	}
	if dc := h.DataCenter(); dc != "" {
		return h.ConnectAddressAndPort() + " (" + dc + ")"
	}
	return h.ConnectAddressAndPort()
}
