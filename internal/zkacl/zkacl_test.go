package zkacl

import (
	"testing"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

func TestRuleByClass(t *testing.T) {
	w := state.ACLIdentity{Scheme: "digest", ID: "rm:x3lyDVPSyVNKbZYzzI8jP8dpSls="}
	ag := state.ACLIdentity{Scheme: "x509", ID: "CN=agent"}
	rd := state.ACLIdentity{Scheme: "digest", ID: "app:x3lyDVPSyVNKbZYzzI8jP8dpSls="}
	r := New("/rm/prod", &state.ACLPolicy{Writers: []state.ACLIdentity{w}, Agents: []state.ACLIdentity{ag}, Readers: []state.ACLIdentity{rd, w}})
	for abs, want := range map[string]string{
		"/rm/prod":                      "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:r",
		"/rm/prod/data/flags/x":         "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:r",
		"/rm/prod/agents/dc1":           "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:cr",
		"/rm/prod/agents/dc1/r1/n1":     "auth::cdrwa, digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r",
		"/rm/prod/repairs/ks-repair-g2": "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:rw",
		"/rm/prod/locks/repair":         "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:cdr",
		"/rm/prod/locks/apply":          "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:r",
		"/rm/prod/agentsmore/x":         "digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=:r, digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=:cdrwa, x509:CN=agent:r",
	} {
		if got := Format(r.For(abs)); got != want {
			t.Errorf("For(%s)\n got %s\nwant %s", abs, got, want)
		}
	}
	if !r.Repairable("/rm/prod/data/x", false) || r.Repairable("/rm/prod/locks/apply/_c_x-lock-1", true) || r.Repairable("/rm/prod/agents/dc1/r1/n1", false) {
		t.Error("repairable: data yes, ephemeral nodes and memberships no")
	}
	var open *Rule
	if got := Format(open.For("/x")); got != "world:anyone:cdrwa" {
		t.Errorf("no policy: %s", got)
	}
	if !Equal([]gozk.ACL{{Perms: 1, Scheme: "a", ID: "1"}, {Perms: 3, Scheme: "b", ID: "2"}}, []gozk.ACL{{Perms: 3, Scheme: "b", ID: "2"}, {Perms: 1, Scheme: "a", ID: "1"}}) {
		t.Error("Equal depends on order")
	}
}
