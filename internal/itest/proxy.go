package itest

import (
	"crypto/tls"
	"net"
	gosync "sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to one ZooKeeper server, optionally
// terminating TLS, and can cut every connection (refusing new ones) to
// simulate a partition between one client and the ensemble.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu    gosync.Mutex
	down  bool
	hold  bool // drop what the server sends
	conns map[net.Conn]bool
	wg    gosync.WaitGroup
}

// StartProxy listens on a loopback port and forwards to upstream (with
// TLS terminated by tlsCfg when it is not nil) until the test ends.
func StartProxy(t testing.TB, upstream string, tlsCfg *tls.Config) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn, fromServer bool) {
			defer p.wg.Done()
			defer dst.Close()
			defer src.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					p.mu.Lock()
					drop := fromServer && p.hold
					p.mu.Unlock()
					if !drop {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
				}
				if err != nil {
					return
				}
			}
		}
		p.wg.Add(2)
		go pipe(up, c, false)
		go pipe(c, up, true)
	}
}

// Cut closes every forwarded connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore accepts connections again and forwards answers again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.hold = false, false
}

// HoldAnswers drops everything the server sends from now on: requests
// still reach it, their answers are lost.
func (p *Proxy) HoldAnswers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = true
}
