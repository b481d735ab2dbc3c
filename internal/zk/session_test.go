package zk

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// TestConnectFailureNamesServers needs no cluster: nothing listens on the
// address.
func TestConnectFailureNamesServers(t *testing.T) {
	noLeaks(t)
	start := time.Now()
	c, err := Connect(context.Background(), Config{Servers: []string{"127.0.0.1:1"}, ConnectTimeout: 1500 * time.Millisecond})
	if err == nil {
		c.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	for _, want := range []string{"127.0.0.1:1", "no session within 1.5s", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap the deadline: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Connect took %s with a 1.5s timeout", d)
	}
	if _, err := Connect(context.Background(), Config{}); err == nil {
		t.Error("Connect without servers succeeded")
	}
}

func TestHealthyAndClose(t *testing.T) {
	_, c := zkTest(t)
	if st := c.State(); st != Connected || c.Healthy() != nil {
		t.Fatalf("after Connect: %s, %v", st, c.Healthy())
	}
	if c.SessionID() == 0 || c.SessionID() != c.Conn().SessionID() || c.Server() == "" {
		t.Errorf("session %x (conn %x) on %q", c.SessionID(), c.Conn().SessionID(), c.Server())
	}
	c.Close()
	c.Close()
	err := c.Healthy()
	if c.State() != Closed || !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %s, %v", c.State(), err)
	}
	if _, werr := c.Write(context.Background(), Fence{}, []Op{{Kind: OpCreate, Path: "/x"}}, nil); !errors.Is(werr, ErrClosed) {
		t.Errorf("Write after Close: %v", werr)
	}
}

// TestSessionInDoubtAndBack cuts one client off the ensemble (through a
// proxy) past its grace, then lets it back within its session.
func TestSessionInDoubtAndBack(t *testing.T) {
	noLeaks(t)
	z := itest.ZooKeeper(t)
	p := itest.StartProxy(t, z.Servers[0], nil)
	c := connect(t, []string{p.Addr()}, func(cfg *Config) {
		cfg.SessionTimeout = 10 * time.Second
		cfg.DisconnectGrace = 1500 * time.Millisecond
	})
	ctx := ctxFor(t, time.Minute)
	l, err := c.Lock(ctx, z.Path("locks", "x"), ThisProcess())
	if err != nil {
		t.Fatal(err)
	}
	session := c.SessionID()

	p.Cut()
	awaitDisconnect(t, c, 10*time.Second)
	if err := c.Healthy(); !errors.Is(err, ErrSessionInDoubt) || !strings.Contains(err.Error(), "disconnected from "+p.Addr()) {
		t.Errorf("Healthy while cut off: %v", err)
	}
	// A write waits through the grace, then gives up with nothing sent.
	res, err := c.Write(ctx, l.Fence(), []Op{{Kind: OpCreate, Path: z.Path("w"), Data: []byte("x")}}, nil)
	if !errors.Is(err, ErrSessionInDoubt) || res.Batches != 0 || !strings.Contains(err.Error(), "nothing sent") {
		t.Errorf("Write while cut off: %+v, %v; want in doubt, nothing sent", res, err)
	}
	if st := c.State(); st != InDoubt {
		t.Errorf("state after the write gave up: %s, want in doubt", st)
	}
	awaitClosed(t, l.Lost(), "Lost when the session is in doubt", 5*time.Second)
	if err := l.Err(); !errors.Is(err, ErrSessionInDoubt) {
		t.Errorf("Lost reason: %v", err)
	}

	p.Restore()
	awaitState(t, c, Connected, 20*time.Second)
	if c.SessionID() != session || c.Conn().SessionID() != session {
		t.Errorf("session %x after reconnecting, want the same %x", c.Conn().SessionID(), session)
	}
	if ok, _, _ := z.Synced(t).Exists(z.Path("w")); ok {
		t.Error("the refused write landed")
	}
	// The session survived, so did its lock node: Unlock removes it.
	if ok, _, _ := z.Synced(t).Exists(l.Path()); !ok {
		t.Error("lock node of a surviving session is gone")
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := z.Synced(t).Exists(l.Path()); ok {
		t.Error("Unlock left the node")
	}
}

// TestSessionExpiry keeps a client cut off until ZooKeeper expires its
// session: its lock node goes, and the Client ends Expired.
func TestSessionExpiry(t *testing.T) {
	noLeaks(t)
	z := itest.ZooKeeper(t)
	p := itest.StartProxy(t, z.Servers[0], nil)
	c := connect(t, []string{p.Addr()}, func(cfg *Config) { cfg.SessionTimeout = 4 * time.Second })
	ctx := ctxFor(t, time.Minute)
	l, err := c.Lock(ctx, z.Path("locks", "x"), ThisProcess())
	if err != nil {
		t.Fatal(err)
	}
	p.Cut()
	awaitGone(t, z.Conn, l.Path(), 30*time.Second)
	awaitClosed(t, l.Lost(), "Lost", 10*time.Second)
	p.Restore()
	awaitState(t, c, Expired, 30*time.Second)
	if err := c.Healthy(); !errors.Is(err, gozk.ErrSessionExpired) {
		t.Errorf("Healthy after expiry: %v", err)
	}
	if _, err := c.Write(ctx, l.Fence(), []Op{{Kind: OpCreate, Path: z.Path("w")}}, nil); !errors.Is(err, gozk.ErrSessionExpired) {
		t.Errorf("Write after expiry: %v", err)
	}
	if _, err := c.Lock(ctx, z.Path("locks", "x"), ThisProcess()); err == nil {
		t.Error("Lock on an expired Client succeeded")
	}
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("Unlock of an expired lock: %v", err)
	}
}

func TestTLSDialer(t *testing.T) {
	noLeaks(t)
	z := itest.ZooKeeper(t)
	serverTLS, clientTLS := itest.SelfSignedTLS(t)
	p := itest.StartProxy(t, z.Servers[0], serverTLS)
	c := connect(t, []string{p.Addr()}, func(cfg *Config) { cfg.TLS = clientTLS })
	ctx := ctxFor(t, time.Minute)
	if _, err := c.Write(ctx, Fence{}, []Op{{Kind: OpCreate, Path: z.Path("tls"), Data: []byte("over tls")}}, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Get(ctx, z.Path("tls")); err != nil || string(n.Data) != "over tls" {
		t.Fatalf("Get over TLS: %v, %v", n, err)
	}
	// The proxy speaks only TLS: a plain client gets no session, and a
	// client that does not trust the certificate says why.
	_, err := Connect(ctx, Config{Servers: []string{p.Addr()}, ConnectTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("plain client got a session through a TLS-only proxy")
	}
	_, err = Connect(ctx, Config{Servers: []string{p.Addr()}, ConnectTimeout: 2 * time.Second, TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), p.Addr()) {
		t.Errorf("Connect with an untrusted certificate: %v; want the server and the certificate error", err)
	}
}

// TestDigestAuth: credentials are added on connect and again after a
// reconnection; nodes get the configured ACL.
func TestDigestAuth(t *testing.T) {
	noLeaks(t)
	z := itest.ZooKeeper(t)
	p := itest.StartProxy(t, z.Servers[0], nil)
	acl := gozk.DigestACL(gozk.PermAll, "ringmaster", "s3cret")
	owner := connect(t, []string{p.Addr()}, func(cfg *Config) {
		cfg.Auth = []Auth{{Scheme: "digest", Credential: "ringmaster:s3cret"}}
		cfg.ACL = acl
	})
	ctx := ctxFor(t, time.Minute)
	secret := z.Path("secret")
	if _, err := owner.Write(ctx, Fence{}, []Op{{Kind: OpCreate, Path: secret, Data: []byte("x")}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Conn.Delete(secret, -1) }) // delete needs the parent's ACL only
	got, _, err := owner.Conn().GetACL(secret)
	if err != nil || len(got) != 1 || got[0].Scheme != "digest" || !strings.HasPrefix(got[0].ID, "ringmaster:") {
		t.Errorf("ACL of a created node: %+v, %v; want the configured digest ACL", got, err)
	}
	stranger := connect(t, z.Servers)
	if _, err := stranger.Get(ctx, secret); !errors.Is(err, gozk.ErrNoAuth) {
		t.Errorf("Get without credentials: %v, want ErrNoAuth", err)
	}
	// After a reconnection (same session) the credentials still hold.
	p.Cut()
	awaitDisconnect(t, owner, 10*time.Second)
	p.Restore()
	awaitState(t, owner, Connected, 20*time.Second)
	if n, err := owner.Get(ctx, secret); err != nil || string(n.Data) != "x" {
		t.Errorf("Get with credentials after reconnecting: %v, %v", n, err)
	}
}
