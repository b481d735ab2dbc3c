// Package zkacl is the rule of who may do what in an environment's
// ZooKeeper tree, given the identities its ACL policy names for the three
// roles (writers, agents, readers; state.ACLPolicy):
//
//   - every node (data/, meta/, locks/, the root): writers may do anything,
//     agents and readers may read;
//   - the agents' folders (agents/, agents/<dc>, agents/<dc>/<rack>):
//     agents may also create, which is how an agent registers;
//   - repair jobs (repairs/ and below): agents may also write, to record
//     their part of a job;
//   - the repair lock's folder (locks/repair): agents may also create and
//     delete, to take and release the lock (ZooKeeper checks deletes on
//     the folder, so an agent could also remove another's contender: the
//     lock's holders are trusted alike);
//   - an agent's membership node (agents/<dc>/<rack>/<node>, ephemeral):
//     the agent that created it may do anything (ZooKeeper's "auth"
//     scheme, which the zk client narrows to its digest identities: a
//     certificate may be shared by many sessions), writers and readers
//     may read. An agent that authenticates by certificate alone shares
//     its membership with every session presenting the same certificate:
//     give each agent a digest identity, or a certificate, of its own. No agent may delete in the agents' folders (a node's
//     membership ends with its session), so none can remove another's.
//
// ZooKeeper has no permission on names: an agent may register under any
// node name that is free, but may not change or remove a node another
// identity created. ACL checks are per node, never inherited.
package zkacl

import (
	"fmt"
	"slices"
	"strings"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Rule gives the ACL of each node of one environment's tree. A nil *Rule
// (no policy) leaves every node open (world:anyone, all permissions).
type Rule struct {
	root                     string
	writers, agents, readers []state.ACLIdentity
}

// New returns the rule for the environment rooted at root; nil for a nil
// policy.
func New(root string, p *state.ACLPolicy) *Rule {
	if p == nil {
		return nil
	}
	return &Rule{root: root, writers: p.Writers, agents: p.Agents, readers: p.Readers}
}

// Class names the kinds of nodes the rule tells apart.
type Class string

// Node classes.
const (
	// Managed is every node but the agents' own.
	Managed Class = "managed"
	// AgentFolder is agents/, agents/<dc> and agents/<dc>/<rack>.
	AgentFolder Class = "agent folder"
	// Membership is agents/<dc>/<rack>/<node> and below.
	Membership Class = "membership"
	// RepairJob is repairs/ and the jobs below it.
	RepairJob Class = "repair job"
	// RepairLock is the folder of the repair lock's contenders.
	RepairLock Class = "repair lock"
)

// ClassOf tells which class the node at abs is in.
func (r *Rule) ClassOf(abs string) Class {
	rel := strings.TrimPrefix(strings.TrimPrefix(abs, r.root), "/")
	switch {
	case rel == state.RepairsDir || strings.HasPrefix(rel, state.RepairsDir+"/"):
		return RepairJob
	case rel == state.RepairLock:
		return RepairLock
	}
	if rel != state.AgentsDir && !strings.HasPrefix(rel, state.AgentsDir+"/") {
		return Managed
	}
	if depth := strings.Count(rel, "/"); depth < 3 {
		return AgentFolder
	}
	return Membership
}

// For is the ACL of the node at abs (an absolute path in or above the
// root).
func (r *Rule) For(abs string) []gozk.ACL {
	if r == nil {
		return gozk.WorldACL(gozk.PermAll)
	}
	b := builder{}
	switch r.ClassOf(abs) {
	case Managed:
		b.add(r.writers, gozk.PermAll)
		b.add(r.agents, gozk.PermRead)
		b.add(r.readers, gozk.PermRead)
	case AgentFolder:
		b.add(r.writers, gozk.PermAll)
		b.add(r.agents, gozk.PermRead|gozk.PermCreate)
		b.add(r.readers, gozk.PermRead)
	case RepairJob:
		b.add(r.writers, gozk.PermAll)
		b.add(r.agents, gozk.PermRead|gozk.PermWrite)
		b.add(r.readers, gozk.PermRead)
	case RepairLock:
		b.add(r.writers, gozk.PermAll)
		b.add(r.agents, gozk.PermRead|gozk.PermCreate|gozk.PermDelete)
		b.add(r.readers, gozk.PermRead)
	case Membership:
		b.acl = append(b.acl, gozk.ACL{Perms: gozk.PermAll, Scheme: "auth", ID: ""})
		b.add(r.writers, gozk.PermRead)
		b.add(r.readers, gozk.PermRead)
	}
	return b.acl
}

// builder merges the permissions of an identity named in several roles
// into one entry, in first-named order.
type builder struct{ acl []gozk.ACL }

func (b *builder) add(ids []state.ACLIdentity, perms int32) {
	for _, id := range ids {
		i := slices.IndexFunc(b.acl, func(a gozk.ACL) bool { return a.Scheme == id.Scheme && a.ID == id.ID })
		if i >= 0 {
			b.acl[i].Perms |= perms
			continue
		}
		b.acl = append(b.acl, gozk.ACL{Perms: perms, Scheme: id.Scheme, ID: id.ID})
	}
}

// Equal tells whether two ACLs grant the same permissions to the same
// identities, in any order.
func Equal(a, b []gozk.ACL) bool {
	return Format(a) == Format(b)
}

// Format renders an ACL as ZooKeeper's getAcl lists it, one
// "scheme:id:perms" entry per identity ("digest:rm:...=:cdrwa"), sorted.
func Format(acl []gozk.ACL) string {
	parts := make([]string, len(acl))
	for i, a := range acl {
		parts[i] = fmt.Sprintf("%s:%s:%s", a.Scheme, a.ID, Perms(a.Perms))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Perms renders permission bits as ZooKeeper's shell does: "cdrwa".
func Perms(p int32) string {
	var b strings.Builder
	for _, x := range []struct {
		bit int32
		c   byte
	}{{gozk.PermCreate, 'c'}, {gozk.PermDelete, 'd'}, {gozk.PermRead, 'r'}, {gozk.PermWrite, 'w'}, {gozk.PermAdmin, 'a'}} {
		if p&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Repairable tells whether the ACL of a node the rule covers is the
// writers' to keep: every node but the agents' memberships and other
// ephemeral nodes (locks, elections), which belong to their sessions.
func (r *Rule) Repairable(abs string, ephemeral bool) bool {
	return !ephemeral && r.ClassOf(abs) != Membership
}
