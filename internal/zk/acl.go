package zk

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"

	gozk "github.com/go-zookeeper/zk"
)

// ReadACLs returns root and every node below it with its ACL and Stat
// (Stat.Aversion is what SetACL checks), keyed by path relative to root
// (root itself is ""). No data is read. A missing root gives an empty map.
// As ReadTree, it syncs first and is pipelined, and is not a snapshot.
func (c *Client) ReadACLs(ctx context.Context, root string) (map[string]*Node, error) {
	if err := checkPath(root); err != nil {
		return nil, fmt.Errorf("read ACLs: %w", err)
	}
	if _, err := retryRead(ctx, c, func() (string, error) { return c.conn.Sync(root) }); err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return nil, c.opError("read ACLs: sync", root, err)
	}
	acl, stat, err := c.getACL(ctx, root)
	if errors.Is(err, gozk.ErrNoNode) {
		return map[string]*Node{}, nil
	}
	if err != nil {
		return nil, c.opError("read ACLs: get", root, err)
	}
	out := map[string]*Node{"": {Path: "", ACL: acl, Stat: *stat}}
	if stat.NumChildren == 0 {
		return out, nil
	}
	kids, err := c.children(ctx, root)
	if err != nil && !errors.Is(err, gozk.ErrNoNode) {
		return nil, c.opError("read ACLs: list", root, err)
	}
	if err := c.readBelow(ctx, root, kids, true, out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetACL replaces p's ACL if its ACL version is still aversion (-1: any).
// A confined client may set the ACL of its confining node too.
// A node changed since it was read fails with an error wrapping
// gozk.ErrBadVersion; one refused names the session's identity.
func (c *Client) SetACL(ctx context.Context, p string, acl []gozk.ACL, aversion int32) error {
	if p != c.confine { // the confined subtree's top is its own to keep
		if err := c.confined(p); err != nil {
			return err
		}
	}
	_, err := call(ctx, func() (*gozk.Stat, error) { return c.conn.SetACL(p, acl, aversion) })
	if err != nil {
		return c.opError("set ACL", p, err)
	}
	return nil
}

// getACL reads p's ACL and stat, retrying after connection hiccups.
func (c *Client) getACL(ctx context.Context, p string) ([]gozk.ACL, *gozk.Stat, error) {
	type got struct {
		acl  []gozk.ACL
		stat *gozk.Stat
	}
	g, err := retryRead(ctx, c, func() (got, error) {
		a, st, err := c.conn.GetACL(p)
		return got{a, st}, err
	})
	return g.acl, g.stat, err
}

// DigestID is the id ZooKeeper's digest scheme gives user with password,
// as an ACL names it: "user:base64(sha1(user:password))".
func DigestID(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}
