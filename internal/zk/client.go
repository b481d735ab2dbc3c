// Package zk is ringmaster's ZooKeeper layer over go-zookeeper
// (github.com/go-zookeeper/zk v1.0.4): a connection with a session state
// machine (auth, TLS dialer), pipelined tree reads, fenced multi-transaction
// writes and a lock that reports its own loss.
//
// Safety rests on the fence, not on the client's view of its session: every
// transaction Write sends starts with a version check of the writer's lock
// node, an ephemeral node that ZooKeeper deletes when the session expires.
// A writer whose session expired while it was paused (GC, SIGSTOP, a
// partition) therefore commits nothing, whatever it believes. The session
// state machine and Lock.Lost only make the writer stop sooner.
//
// The package imports go-zookeeper as gozk; its types appear in this API as
// zk.Conn, zk.Stat and zk.Logger for a caller that imports it as zk.
package zk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	gosync "sync"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// Errors callers test with errors.Is.
var (
	// ErrFenced means a transaction's fence check failed: the lock node is
	// gone or has another version, so the writer no longer holds the lock
	// and the transaction committed nothing.
	ErrFenced = errors.New("lock lost")
	// ErrSessionInDoubt means the client is disconnected from the ensemble:
	// the session may still live or may have expired, and nothing is sent
	// until it is known again.
	ErrSessionInDoubt = errors.New("zookeeper session in doubt")
	// ErrOutcomeUnknown means a transaction was sent but the connection was
	// lost before its answer: it committed entirely or not at all, and the
	// client cannot tell which.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrClosed means the Client was closed.
	ErrClosed = errors.New("zookeeper client closed")
)

// Config says how to reach the ensemble. Only Servers is required.
type Config struct {
	// Servers are host:port client addresses of the ensemble.
	Servers []string
	// SessionTimeout is the session timeout the client asks for (the server
	// clamps it to its own bounds); default 10s.
	SessionTimeout time.Duration
	// ConnectTimeout bounds how long Connect waits for a session; default
	// 30s.
	ConnectTimeout time.Duration
	// DisconnectGrace is how long a disconnection may last before the
	// session is "in doubt" (state InDoubt, held locks reported lost);
	// default SessionTimeout/3.
	DisconnectGrace time.Duration
	// Auth holds credentials added with AddAuth once the session is
	// established; go-zookeeper re-sends them on every reconnect.
	Auth []Auth
	// TLS, when set, makes the client dial every server over TLS with it
	// (ServerName defaults to the server's host).
	TLS *tls.Config
	// ACL is given to every node the client creates; default
	// world:anyone with all permissions. ACLFor, when set, overrides it:
	// it gives the ACL of each node created, by its absolute path.
	ACL    []gozk.ACL
	ACLFor func(path string) []gozk.ACL
	// Logger receives go-zookeeper's error lines (failed dials, lost
	// connections; not its informational ones); default: discarded.
	Logger gozk.Logger
	// Confine, when set (an absolute, clean path other than "/"), is the
	// only subtree the client writes: Write, Lock and ReleaseLock refuse,
	// before sending anything, any node that does not lie strictly below
	// it (ErrOutsideConfine). Parents Write adds may be its ancestors.
	Confine string
	// MaxTxnBytes is the batch size Write fills each transaction to, by
	// estimated bytes: default DefaultMaxTxnBytes, at most TxnCeiling. It
	// bounds the heap that writes pin on every ZooKeeper server, which
	// keeps its last 500 transactions in memory (see DefaultMaxTxnBytes).
	MaxTxnBytes int
}

// ErrOutsideConfine means a write addressed a node outside Config.Confine;
// nothing of it was sent.
var ErrOutsideConfine = errors.New("outside the client's confined subtree")

// Auth is one credential, as zookeeper's addauth takes it:
// Auth{Scheme: "digest", Credential: "user:password"}.
type Auth struct {
	// Scheme is the auth scheme, "digest" for user:password.
	Scheme string
	// Credential is the scheme's credential, "user:password" for digest.
	Credential string
}

// SessionState is the Client's view of its session.
type SessionState int

// Session states. A Client is Connected when Connect returns; from there it
// moves between Connected, Disconnected and InDoubt while go-zookeeper
// reconnects, and ends in Expired or Closed, which are final.
const (
	// Connecting: no session yet (only seen while Connect runs).
	Connecting SessionState = iota
	// Connected: the session is established on a server.
	Connected
	// Disconnected: the connection dropped less than DisconnectGrace ago;
	// go-zookeeper is reconnecting and the session probably lives.
	Disconnected
	// InDoubt: disconnected for longer than DisconnectGrace; the session
	// may have expired. A reconnection within the session brings the
	// Client back to Connected.
	InDoubt
	// Expired: the server expired the session; its ephemeral nodes (locks)
	// are gone. Final: go-zookeeper opens a new session underneath, but
	// this Client stays Expired; close it and connect again.
	Expired
	// Closed: Close was called. Final.
	Closed
)

// String names the state in lower case.
func (s SessionState) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case InDoubt:
		return "in doubt"
	case Expired:
		return "expired"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// Client is one ZooKeeper session. It is safe for concurrent use; every
// request goes through one go-zookeeper connection, which pipelines them.
type Client struct {
	conn    *gozk.Conn
	events  <-chan gozk.Event
	servers []string
	acl     []gozk.ACL
	aclFor  func(string) []gozk.ACL
	// digests are the digest ids of the client's credentials.
	digests []string
	// refused is closed when every server has refused a TLS dial for good
	// (see tlsRefused; refusedBy, under mu, holds those that did):
	// Connect stops waiting for a session.
	refused    chan struct{}
	refusedBy  map[string]bool
	refuseOnce gosync.Once
	confine    string
	// identity names the credentials the session presents, for
	// permission errors ("digest user app", "no credentials").
	identity string
	timeout  time.Duration // session timeout asked for
	grace    time.Duration
	maxTxn   int // Config.MaxTxnBytes

	mu          gosync.Mutex
	state       SessionState
	since       time.Time // when state was entered
	lostAt      time.Time // when the current disconnection began
	server      string    // current or last server
	sessionID   int64
	changed     chan struct{} // closed and replaced on every state change
	epoch       int           // counts disconnections, for the grace timer
	graceTimer  *time.Timer
	lastDialErr error

	closeOnce gosync.Once

	// caches are the TreeCaches fed by this session's watch events.
	caches map[*TreeCache]struct{}

	// afterBatch, when set (tests only), runs after each committed batch
	// of Write, with the batch's index.
	afterBatch func(batch int)
}

// Connect opens a session with the ensemble and waits until it is
// established (at most ConnectTimeout, and not beyond ctx), then adds
// cfg.Auth. The error names the servers and the last dial error.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("connect to zookeeper: no servers given")
	}
	if cfg.Confine != "" {
		if err := checkPath(cfg.Confine); err != nil || cfg.Confine == "/" {
			return nil, fmt.Errorf("connect to zookeeper: confine %q: not an absolute, clean path below /", cfg.Confine)
		}
	}
	if cfg.MaxTxnBytes < 0 || cfg.MaxTxnBytes > TxnCeiling {
		return nil, fmt.Errorf("connect to zookeeper: transaction size %d bytes: want 1 to %d (0: the default %d)", cfg.MaxTxnBytes, TxnCeiling, DefaultMaxTxnBytes)
	}
	if cfg.MaxTxnBytes == 0 {
		cfg.MaxTxnBytes = DefaultMaxTxnBytes
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.DisconnectGrace <= 0 {
		cfg.DisconnectGrace = cfg.SessionTimeout / 3
	}
	if cfg.ACL == nil {
		cfg.ACL = gozk.WorldACL(gozk.PermAll)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = discard{}
	}
	c := &Client{
		servers:   append([]string(nil), cfg.Servers...),
		acl:       cfg.ACL,
		aclFor:    cfg.ACLFor,
		confine:   cfg.Confine,
		identity:  identityOf(cfg.Auth),
		digests:   digestIDs(cfg.Auth),
		timeout:   cfg.SessionTimeout,
		grace:     cfg.DisconnectGrace,
		maxTxn:    cfg.MaxTxnBytes,
		state:     Connecting,
		since:     time.Now(),
		changed:   make(chan struct{}),
		refused:   make(chan struct{}),
		refusedBy: map[string]bool{},
	}
	where := strings.Join(c.servers, ",")
	conn, events, err := gozk.Connect(c.servers, cfg.SessionTimeout,
		gozk.WithLogger(logger),
		gozk.WithLogInfo(false),
		gozk.WithEventCallback(c.onEvent),
		gozk.WithDialer(c.dialer(cfg.TLS)))
	if err != nil {
		return nil, fmt.Errorf("connect to zookeeper %s: %w", where, err)
	}
	c.mu.Lock() // onEvent reads conn
	c.conn, c.events = conn, events
	c.mu.Unlock()

	wctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	for {
		st, changed := c.WatchState()
		if st == Connected {
			break
		}
		refused := false
		select {
		case <-changed:
			continue
		case <-wctx.Done():
		case <-c.refused:
			refused = true
		}
		c.mu.Lock()
		dialErr := c.lastDialErr
		c.mu.Unlock()
		c.Close()
		if refused {
			return nil, fmt.Errorf("connect to zookeeper %s: TLS refused (check the CA, the client certificate and its key): %w", where, dialErr)
		}
		msg := fmt.Sprintf("connect to zookeeper %s: no session within %s", where, cfg.ConnectTimeout)
		if ctx.Err() != nil {
			msg = fmt.Sprintf("connect to zookeeper %s: no session", where)
		}
		if dialErr != nil {
			return nil, fmt.Errorf("%s (last dial error: %v): %w", msg, dialErr, wctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", msg, wctx.Err())
	}
	c.mu.Lock()
	c.sessionID = conn.SessionID()
	c.mu.Unlock()
	for _, a := range cfg.Auth {
		if err := conn.AddAuth(a.Scheme, []byte(a.Credential)); err != nil {
			c.Close()
			return nil, fmt.Errorf("connect to zookeeper %s: add %s credentials: %w", c.Server(), a.Scheme, err)
		}
	}
	return c, nil
}

// confined checks that p (absolute and clean) lies strictly below the
// client's Confine, when one is set.
func (c *Client) confined(p string) error {
	if c.confine == "" || strings.HasPrefix(p, c.confine+"/") {
		return nil
	}
	return fmt.Errorf("%s: %w %s", p, ErrOutsideConfine, c.confine)
}

// ACLOf is the ACL the client gives a node it creates at p. An entry of
// the "auth" scheme (the creating session's identities) becomes the
// client's digest identities when it has any: ZooKeeper would also grant
// the session's certificate identity, which other clients may present too.
func (c *Client) ACLOf(p string) []gozk.ACL {
	acl := c.acl
	if c.aclFor != nil {
		acl = c.aclFor(p)
	}
	if len(c.digests) == 0 {
		return acl
	}
	var out []gozk.ACL
	for _, a := range acl {
		if a.Scheme != "auth" {
			out = append(out, a)
			continue
		}
		for _, id := range c.digests {
			out = append(out, gozk.ACL{Perms: a.Perms, Scheme: "digest", ID: id})
		}
	}
	return out
}

// digestIDs are the digest ids of the digest credentials in auth.
func digestIDs(auth []Auth) []string {
	var out []string
	for _, a := range auth {
		if user, password, ok := strings.Cut(a.Credential, ":"); a.Scheme == "digest" && ok {
			out = append(out, DigestID(user, password))
		}
	}
	return out
}

// Conn is the underlying go-zookeeper connection, for calls this package
// does not wrap. It stays valid until Close; after expiry it carries a new
// session that this Client does not track.
func (c *Client) Conn() *gozk.Conn { return c.conn }

// Server is the address of the server the client is connected to, or was
// last connected to.
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// SessionID is the id of the session established by Connect (what
// ZooKeeper records as the ephemeral owner of the Client's nodes).
func (c *Client) SessionID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// Close ends the session (its ephemeral nodes, and so its locks, go with
// it) and waits for go-zookeeper's goroutines to finish (at most a few
// seconds when no server answers). Close is idempotent.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.graceTimer != nil {
			c.graceTimer.Stop()
		}
		c.setLocked(Closed, time.Now())
		for t := range c.caches {
			t.fail(fmt.Errorf("%w: the client closed", ErrCacheInvalid))
		}
		c.mu.Unlock()
		c.conn.Close()
		// The library closes its event channel when its loop has returned.
		deadline := time.NewTimer(5 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case _, ok := <-c.events:
				if !ok {
					return
				}
			case <-deadline.C:
				return
			}
		}
	})
}

// State is the Client's current view of its session.
func (c *Client) State() SessionState {
	st, _ := c.WatchState()
	return st
}

// Healthy is nil when the session is Connected; otherwise an error naming
// the state, since when, and the server, wrapping ErrSessionInDoubt
// (Disconnected, InDoubt), gozk.ErrSessionExpired (Expired) or ErrClosed.
func (c *Client) Healthy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healthyLocked()
}

func (c *Client) healthyLocked() error {
	now := time.Now()
	session := fmt.Sprintf("zookeeper session 0x%x", c.sessionID)
	switch c.state {
	case Connected:
		return nil
	case Connecting:
		return fmt.Errorf("%s: not established yet: %w", session, ErrSessionInDoubt)
	case Disconnected, InDoubt:
		return fmt.Errorf("%s %s: disconnected from %s since %s (%s ago, grace %s): %w",
			session, c.state, c.server, stamp(c.lostAt), roundDur(now.Sub(c.lostAt)), c.grace, ErrSessionInDoubt)
	case Expired:
		return fmt.Errorf("%s expired (noticed %s on %s, %s ago): %w",
			session, stamp(c.since), c.server, roundDur(now.Sub(c.since)), gozk.ErrSessionExpired)
	default:
		return fmt.Errorf("%s: closed since %s: %w", session, stamp(c.since), ErrClosed)
	}
}

// WatchState returns the session's state and a channel closed at its
// next change.
func (c *Client) WatchState() (SessionState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.changed
}

// awaitSession returns nil once the session is Connected. While it is
// Disconnected (within grace) it waits; InDoubt, Expired, Closed or the end
// of ctx return an error at once.
func (c *Client) awaitSession(ctx context.Context) error {
	for {
		c.mu.Lock()
		st, changed, err := c.state, c.changed, c.healthyLocked()
		c.mu.Unlock()
		switch st {
		case Connected:
			return nil
		case Disconnected, Connecting:
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w (waited for a reconnection until: %w)", err, ctx.Err())
			}
		default:
			return err
		}
	}
}

// onEvent drives the state machine from go-zookeeper's session events. It
// runs on go-zookeeper's goroutines and must not block.
func (c *Client) onEvent(ev gozk.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.caches {
		t.deliver(ev)
	}
	if ev.Type != gozk.EventSession {
		return
	}
	if ev.Server != "" {
		c.server = ev.Server
	}
	now := time.Now()
	switch c.state {
	case Expired, Closed:
		return
	case Connecting:
		if ev.State == gozk.StateHasSession {
			c.setLocked(Connected, now)
		}
		return
	}
	switch ev.State {
	case gozk.StateHasSession:
		if c.state == Connected {
			return
		}
		if c.conn != nil && c.sessionID != 0 && c.conn.SessionID() != c.sessionID {
			// A new session: the old one expired without our hearing it.
			c.stopGraceLocked()
			c.setLocked(Expired, now)
			return
		}
		c.stopGraceLocked()
		c.setLocked(Connected, now)
	case gozk.StateExpired:
		c.stopGraceLocked()
		c.setLocked(Expired, now)
	default: // Disconnected, Connecting, Connected (TCP up, no session yet), AuthFailed
		if c.state != Connected {
			return
		}
		c.lostAt = now
		c.setLocked(Disconnected, now)
		c.epoch++
		epoch := c.epoch
		c.graceTimer = time.AfterFunc(c.grace, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.state == Disconnected && c.epoch == epoch {
				c.setLocked(InDoubt, time.Now())
			}
		})
	}
}

func (c *Client) stopGraceLocked() {
	if c.graceTimer != nil {
		c.graceTimer.Stop()
		c.graceTimer = nil
	}
}

// setLocked moves to st and wakes every watcher of the state.
func (c *Client) setLocked(st SessionState, now time.Time) {
	if c.state == st {
		return
	}
	c.state, c.since = st, now
	close(c.changed)
	c.changed = make(chan struct{})
	if st == Expired {
		for t := range c.caches {
			t.fail(fmt.Errorf("%w: the session expired, and its watches with it", ErrCacheInvalid))
		}
	}
}

// dialer dials plain TCP or TLS and remembers the last dial error, which
// Connect reports when no session comes.
func (c *Client) dialer(tlsCfg *tls.Config) gozk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		var conn net.Conn
		var err error
		if tlsCfg == nil {
			conn, err = net.DialTimeout(network, address, timeout)
		} else {
			cfg := tlsCfg.Clone()
			if cfg.ServerName == "" {
				if host, _, splitErr := net.SplitHostPort(address); splitErr == nil {
					cfg.ServerName = host
				}
			}
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
			// go-zookeeper's dial timeout is 1s; leave the handshake a
			// little more.
			ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
			conn, err = d.DialContext(ctx, network, address)
			cancel()
			if err == nil {
				conn, err = awaitRefusal(conn)
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", address, err)
			}
		}
		if err != nil {
			c.mu.Lock()
			c.lastDialErr = err
			c.mu.Unlock()
			if tlsRefused(err) {
				c.mu.Lock()
				c.refusedBy[address] = true
				all := len(c.refusedBy) >= len(c.servers)
				c.mu.Unlock()
				if all {
					c.refuseOnce.Do(func() { close(c.refused) })
				}
			}
		}
		return conn, err
	}
}

// refusalWait is how long a TLS dial waits, after its handshake, for the
// server to refuse the client's certificate (or its absence): with TLS 1.3
// the server says so only after the client thinks the handshake is done.
const refusalWait = 50 * time.Millisecond

// awaitRefusal reads from a fresh TLS connection for refusalWait (a
// ZooKeeper server never speaks first): a refusal arrives as an error;
// silence means the server took the connection. A byte read is kept for
// the caller.
func awaitRefusal(conn net.Conn) (net.Conn, error) {
	_ = conn.SetReadDeadline(time.Now().Add(refusalWait))
	one := make([]byte, 1)
	n, err := conn.Read(one)
	_ = conn.SetReadDeadline(time.Time{})
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		conn.Close()
		return nil, err
	}
	return &prefixedConn{Conn: conn, prefix: one[:n]}, nil
}

// prefixedConn is a connection whose first bytes were read already.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixedConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// tlsRefused tells whether a dial failed for a reason retrying will not
// mend: the server's certificate is not trusted, or the server refused
// ours (an alert during the handshake).
func tlsRefused(err error) bool {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	return errors.As(err, &unknown) || errors.As(err, &verify) || errors.As(err, &host) ||
		strings.Contains(err.Error(), "remote error: tls:")
}

// opError wraps err from op on p. Connection-level errors name the server.
func (c *Client) opError(op, p string, err error) error {
	if isConnError(err) {
		return fmt.Errorf("%s %s (zookeeper %s): %w", op, p, c.Server(), err)
	}
	if errors.Is(err, gozk.ErrNoAuth) {
		return fmt.Errorf("%s %s: the node's ACL does not let %s do it (with a wrong password, a digest user is another identity): %w", op, p, c.identity, err)
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

// identityOf names the credentials auth presents: the digest users (never
// their passwords), or "no credentials".
func identityOf(auth []Auth) string {
	var who []string
	for _, a := range auth {
		user, _, _ := strings.Cut(a.Credential, ":")
		who = append(who, a.Scheme+" user "+user)
	}
	if len(who) == 0 {
		return "a session with no credentials (world)"
	}
	return "the session's identity (" + strings.Join(who, ", ") + ")"
}

// isConnError tells the errors that concern the connection or session
// rather than the request.
func isConnError(err error) bool {
	return errors.Is(err, gozk.ErrConnectionClosed) || errors.Is(err, gozk.ErrNoServer) ||
		errors.Is(err, gozk.ErrSessionExpired) || errors.Is(err, gozk.ErrClosing) ||
		errors.Is(err, gozk.ErrSessionMoved)
}

// call runs f, returning early (f goes on in the background until
// go-zookeeper answers or fails it) when ctx ends.
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// stamp formats t in UTC with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// roundDur rounds d for messages: whole seconds from a second up.
func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// maxReadRetries bounds how often a read is retried after a connection
// hiccup.
const maxReadRetries = 3

// transient tells whether err is a connection hiccup the session survives:
// a server died or the connection dropped, the client moves to another
// server, and a read can be asked again once the session is back.
func transient(err error) bool {
	return errors.Is(err, gozk.ErrConnectionClosed) || errors.Is(err, gozk.ErrNoServer)
}

// retryRead runs the read f, and after a transient failure waits for the
// session and runs it again (reads are idempotent). It gives up with f's
// error when the session does not come back (in doubt, expired, closed).
func retryRead[T any](ctx context.Context, c *Client, f func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := f()
		if err == nil || attempt == maxReadRetries || !transient(err) {
			return v, err
		}
		if werr := c.awaitSession(ctx); werr != nil {
			return v, err
		}
	}
}

// getNode reads p's data and stat, retrying after connection hiccups.
func (c *Client) getNode(ctx context.Context, p string) ([]byte, *gozk.Stat, error) {
	type got struct {
		data []byte
		stat *gozk.Stat
	}
	g, err := retryRead(ctx, c, func() (got, error) {
		d, st, err := c.conn.Get(p)
		return got{d, st}, err
	})
	return g.data, g.stat, err
}

// children lists p's children, retrying after connection hiccups.
func (c *Client) children(ctx context.Context, p string) ([]string, error) {
	return retryRead(ctx, c, func() ([]string, error) {
		kids, _, err := c.conn.Children(p)
		return kids, err
	})
}

// exists tells whether p exists, retrying after connection hiccups.
func (c *Client) exists(ctx context.Context, p string) (bool, error) {
	return retryRead(ctx, c, func() (bool, error) {
		ok, _, err := c.conn.Exists(p)
		return ok, err
	})
}
