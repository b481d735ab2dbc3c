package state

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ACLPolicy names the ZooKeeper identities of an environment's three roles.
// What each role may do where is internal/zkacl's rule; the policy only
// says who holds which role.
//
// Invariant (render checks it): Writers is not empty, and no identity
// carries a secret (a digest id is a user and a hash, never a password).
type ACLPolicy struct {
	// Writers are the controller and the CLI: every permission on the
	// managed tree.
	Writers []ACLIdentity
	// Agents are the node agents: they read the tree and register (and
	// update) their own membership node.
	Agents []ACLIdentity
	// Readers are applications: they read, nothing else.
	Readers []ACLIdentity
}

// ACLIdentity is one ZooKeeper identity, as an ACL entry names it:
// Scheme "digest" with ID "user:base64(sha1(user:password))", "x509" with
// the client certificate's subject DN, "ip" with an address or CIDR,
// "sasl" with a principal, or "world" with "anyone".
type ACLIdentity struct {
	Scheme, ID string
	Origin     Origin
}

// String renders "scheme:id".
func (a ACLIdentity) String() string { return a.Scheme + ":" + a.ID }

// ParseACLIdentity reads "scheme:id". A digest id must be a user and the
// 28-character base64 SHA-1 hash ZooKeeper compares with: text that is not
// a hash is refused, for it is most likely a password.
func ParseACLIdentity(s string) (ACLIdentity, error) {
	scheme, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return ACLIdentity{}, fmt.Errorf("identity %q: want scheme:id (digest:user:hash, x509:CN=..., ip:10.0.0.0/8, sasl:principal)", s)
	}
	switch scheme {
	case "digest":
		user, hash, ok := strings.Cut(id, ":")
		if !ok || user == "" {
			return ACLIdentity{}, fmt.Errorf("identity %q: a digest id is user:hash", s)
		}
		if raw, err := base64.StdEncoding.DecodeString(hash); err != nil || len(raw) != 20 {
			return ACLIdentity{}, fmt.Errorf("digest identity of user %q: %q is not a digest hash (28 base64 characters of SHA-1); never write a password here: `ringmaster acl digest %s` prints the id to use", user, redact(hash), user)
		}
	case "x509", "sasl", "ip":
	case "world":
		if id != "anyone" {
			return ACLIdentity{}, fmt.Errorf("identity %q: the world scheme has one id, anyone", s)
		}
	default:
		return ACLIdentity{}, fmt.Errorf("identity %q: unknown scheme %q (want digest, x509, ip, sasl or world)", s, scheme)
	}
	return ACLIdentity{Scheme: scheme, ID: id}, nil
}

// redact shows the length of a would-be secret, not the secret.
func redact(s string) string { return fmt.Sprintf("<%d characters>", len(s)) }
