package zk

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	gosync "sync"

	gozk "github.com/go-zookeeper/zk"
)

// ReadConcurrency bounds the requests ReadTree, Locks and Write's parent
// checks keep in flight at once on the connection.
var ReadConcurrency = 256

// Node is one znode as read.
type Node struct {
	// Path is relative to the root given to ReadTree, without a leading
	// slash ("data/flags/x"); Get sets the absolute path it was given.
	Path string
	// Data is the node's payload (nil when empty).
	Data []byte
	// Stat is the node's metadata; Stat.Version is what a Set or Delete
	// op checks.
	Stat gozk.Stat
	// ACL is the node's ACL, read by ReadACLs only (which reads no Data).
	ACL []gozk.ACL
}

// ReadTree returns every node strictly below root, keyed by Node.Path. A
// missing root gives an empty map. It syncs the session's server with the
// leader first, so every write committed before the call is seen. The read is pipelined (up to
// ReadConcurrency requests in flight) and is not a snapshot: nodes deleted
// while it runs are left out, nodes created while it runs may or may not be
// in it. Each node's Data and Stat are consistent with each other.
func (c *Client) ReadTree(ctx context.Context, root string) (map[string]*Node, error) {
	if err := checkPath(root); err != nil {
		return nil, fmt.Errorf("read tree: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read tree %s: %w", root, err)
	}
	// Sync first: the server this session reads from may lag the leader,
	// and a diff or plan must see every write committed before it began.
	if _, err := retryRead(ctx, c, func() (string, error) { return c.conn.Sync(root) }); err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return nil, c.opError("read tree: sync", root, err)
	}
	kids, err := c.children(ctx, root)
	if errors.Is(err, gozk.ErrNoNode) {
		return map[string]*Node{}, nil
	}
	if err != nil {
		return nil, c.opError("read tree: list", root, err)
	}
	out := make(map[string]*Node, len(kids))
	if err := c.readBelow(ctx, root, kids, false, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readBelow reads the subtrees of root's children kids into out, keyed by
// path relative to root: each node's data, or with acls its ACL.
func (c *Client) readBelow(ctx context.Context, root string, kids []string, acls bool, out map[string]*Node) error {
	if len(kids) == 0 {
		return nil
	}
	r := &treeReader{c: c, ctx: ctx, root: root, acls: acls, out: out}
	r.mu.Lock()
	for _, k := range kids {
		r.queue = append(r.queue, join(root, k))
	}
	r.spawn()
	r.mu.Unlock()
	r.wg.Wait()
	return r.err
}

// treeReader is one ReadTree: a queue of paths to visit and up to
// ReadConcurrency workers that visit them, each queueing the children it
// finds. Workers start as the queue grows and end when it is empty.
type treeReader struct {
	c    *Client
	ctx  context.Context
	root string
	// acls: read each node's ACL instead of its data (ReadACLs).
	acls bool
	wg   gosync.WaitGroup

	mu      gosync.Mutex
	queue   []string
	workers int // running
	active  int // running and visiting a node
	out     map[string]*Node
	err     error
}

// spawn starts workers while some queued path has no idle worker for it.
// r.mu is held.
func (r *treeReader) spawn() {
	for r.err == nil && r.workers < max(ReadConcurrency, 1) && r.workers-r.active < len(r.queue) {
		r.workers++
		r.wg.Add(1)
		go r.work()
	}
}

func (r *treeReader) work() {
	defer r.wg.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) > 0 && r.err == nil {
		p := r.queue[len(r.queue)-1]
		r.queue = r.queue[:len(r.queue)-1]
		r.active++
		r.mu.Unlock()
		node, kids, err := r.visit(p)
		r.mu.Lock()
		r.active--
		switch {
		case err != nil:
			if r.err == nil {
				r.err = err
			}
		case node != nil:
			r.out[node.Path] = node
			for _, k := range kids {
				r.queue = append(r.queue, join(p, k))
			}
			r.spawn()
		}
	}
	r.workers--
}

// visit reads p and, when it has any, its children. A node that vanished
// gives nil and no error.
func (r *treeReader) visit(p string) (*Node, []string, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("read tree %s: %w", r.root, err)
	}
	var node *Node
	if r.acls {
		acl, stat, err := r.c.getACL(r.ctx, p)
		if errors.Is(err, gozk.ErrNoNode) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, r.c.opError("read ACLs: get", p, err)
		}
		node = &Node{Path: rel(r.root, p), ACL: acl, Stat: *stat}
	} else {
		data, stat, err := r.c.getNode(r.ctx, p)
		if errors.Is(err, gozk.ErrNoNode) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, r.c.opError("read tree: get", p, err)
		}
		node = &Node{Path: rel(r.root, p), Data: data, Stat: *stat}
	}
	stat := &node.Stat
	if stat.NumChildren == 0 {
		return node, nil, nil
	}
	kids, err := r.c.children(r.ctx, p)
	if errors.Is(err, gozk.ErrNoNode) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, r.c.opError("read tree: list", p, err)
	}
	return node, kids, nil
}

// Get reads one node; Node.Path is p. A missing node is an error wrapping
// gozk.ErrNoNode.
func (c *Client) Get(ctx context.Context, p string) (*Node, error) {
	if err := checkPath(p); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	n, err := call(ctx, func() (*Node, error) {
		data, stat, err := c.conn.Get(p)
		if err != nil {
			return nil, err
		}
		return &Node{Path: p, Data: data, Stat: *stat}, nil
	})
	if err != nil {
		return nil, c.opError("get", p, err)
	}
	return n, nil
}

// EnsurePath creates p and its missing ancestors as persistent, empty
// nodes. It is idempotent: existing nodes are left as they are.
func (c *Client) EnsurePath(ctx context.Context, p string) error {
	if err := checkPath(p); err != nil {
		return fmt.Errorf("ensure path: %w", err)
	}
	if p == "/" {
		return nil
	}
	// Most calls find the path there already: one round trip.
	ok, err := call(ctx, func() (bool, error) {
		ok, _, err := c.conn.Exists(p)
		return ok, err
	})
	if err != nil {
		return c.opError("ensure path: exists", p, err)
	}
	if ok {
		return nil
	}
	for _, a := range append(ancestors(p), p) {
		_, err := call(ctx, func() (string, error) { return c.conn.Create(a, nil, 0, c.ACLOf(a)) })
		if errors.Is(err, gozk.ErrNoAuth) {
			// ZooKeeper checks the parent's ACL before whether the node
			// exists: an identity that may not create there is refused
			// even for a node that is there already.
			if ok, xerr := c.exists(ctx, a); xerr == nil && ok {
				continue
			}
		}
		if err != nil && !errors.Is(err, gozk.ErrNodeExists) {
			return c.opError("ensure path: create", a, err)
		}
	}
	return nil
}

// checkPath accepts absolute, clean znode paths.
func checkPath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("znode path %q is not absolute", p)
	}
	if p != "/" && (strings.HasSuffix(p, "/") || strings.Contains(p, "//") || path.Clean(p) != p) {
		return fmt.Errorf("znode path %q is not clean", p)
	}
	return nil
}

// join is path.Join for a clean parent and a child name.
func join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// rel is p relative to root, without a leading slash.
func rel(root, p string) string {
	if root == "/" {
		return p[1:]
	}
	return p[len(root)+1:]
}

// ancestors lists the proper ancestors of p below "/", shallowest first.
func ancestors(p string) []string {
	var out []string
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}
