package state

import (
	"strings"
	"testing"
)

// TestParseIDRoundTrip: every id the constructors build parses back to
// its parts and prints as itself.
func TestParseIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want ObjectID
		name string
	}{
		{KeyspaceID("events"), ObjectID{Kind: KindKeyspace, Keyspace: "events"}, "events"},
		{TableID("events", "clicks"), ObjectID{Kind: KindTable, Keyspace: "events", Table: "clicks"}, "events.clicks"},
		{ColumnID("events", "clicks", "at"), ObjectID{Kind: KindColumn, Keyspace: "events", Table: "clicks", Column: "at"}, "events.clicks.at"},
		{ZnodeID("data/config/svc.v2/key"), ObjectID{Kind: KindZnode, Path: "data/config/svc.v2/key"}, "data/config/svc.v2/key"},
	} {
		got, err := ParseID(tc.id)
		if err != nil || got != tc.want {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", tc.id, got, err, tc.want)
			continue
		}
		if got.String() != tc.id || got.Name() != tc.name {
			t.Errorf("%q: String %q, Name %q", tc.id, got.String(), got.Name())
		}
	}
}

// TestParseIDRejects: malformed ids are errors that quote the id.
func TestParseIDRejects(t *testing.T) {
	for _, id := range []string{"", "keyspace", "keyspace/", "keyspace/a.b", "table/events", "table/.clicks", "column/a.b", "flag/x", "znode/"} {
		if o, err := ParseID(id); err == nil {
			t.Errorf("ParseID(%q) = %+v, want an error", id, o)
		} else if !strings.Contains(err.Error(), "object id") {
			t.Errorf("ParseID(%q): %v", id, err)
		}
	}
}

// TestLayoutPathsStayUnderTheRoot: every path of the layout is a clean
// relative path, so Under never leaves the root.
func TestLayoutPathsStayUnderTheRoot(t *testing.T) {
	for _, rel := range []string{DataDir, FlagsDir, SettingsDir, ConfigDir, MetaDir, GenerationPath, InventoryPath,
		InventoryShardsDir, StatusPath, SchemaPath, AttemptPath, InProgressPath, SuspendPath, LocksDir, ApplyLock,
		RepairLock, ElectionDir, ControllerElection, AgentsDir, RequestsDir, RepairsDir, AgentPath("dc1", "rack1", "n1")} {
		if err := CheckRelPath(rel); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
		if p := Under("/ringmaster/prod", rel); !Within("/ringmaster/prod", p) {
			t.Errorf("Under(%q) = %s, outside the root", rel, p)
		}
	}
}

// TestZnodeKind: a live znode's kind follows from its folder, so that it
// matches render's kind for the same object.
func TestZnodeKind(t *testing.T) {
	for rel, want := range map[string]string{
		"data/flags/new-ingest": "FeatureFlag", "data/settings/dc/dc1": "NodeSettings",
		"data/config/svc/a/b": "ConfigEntry", "data/config": "", "data/other/x": "", "meta/status": "",
		"data/configs/x": "",
	} {
		if got := ZnodeKind(rel); got != want {
			t.Errorf("ZnodeKind(%q) = %q, want %q", rel, got, want)
		}
	}
}
