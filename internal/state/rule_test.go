package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// oldPlanRules is the "rules" array of a plan file as written before Rule
// moved here (then policies.Rule, without json tags), produced by that
// code. Plans written since must encode the same and old ones must load.
const oldPlanRules = `[{"Name":"acme/rf-at-least-3","Expression":"resource.replication.factors.all(dc, resource.replication.factors[dc] \u003e= 3)","Message":"keyspace {{resource.name}} needs RF \u003e= 3","Severity":"deny","Match":"resource","Kinds":["Keyspace"],"Origin":{"File":"policies/acme.yaml","Line":7,"Column":7}},{"Name":"acme/no-deletes","Expression":"change.action != \"delete\"","Message":"","Severity":"warn","Match":"change","Kinds":null,"Origin":{"File":"policies/acme.yaml","Line":12,"Column":7}}]`

func TestRuleJSONCompatible(t *testing.T) {
	want := []Rule{
		{Name: "acme/rf-at-least-3", Expression: `resource.replication.factors.all(dc, resource.replication.factors[dc] >= 3)`,
			Message: "keyspace {{resource.name}} needs RF >= 3", Severity: SeverityDeny, Match: MatchResource,
			Kinds: []string{"Keyspace"}, Origin: Origin{File: "policies/acme.yaml", Line: 7, Column: 7}},
		{Name: "acme/no-deletes", Expression: `change.action != "delete"`, Severity: SeverityWarn, Match: MatchChange,
			Origin: Origin{File: "policies/acme.yaml", Line: 12, Column: 7}},
	}

	dec := json.NewDecoder(bytes.NewReader([]byte(oldPlanRules)))
	dec.DisallowUnknownFields() // every old key still has its field
	var got []Rule
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode old plan rules: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant %+v", got, want)
	}

	enc, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != oldPlanRules {
		t.Errorf("encoding changed:\n got %s\nwant %s", enc, oldPlanRules)
	}
}

func TestSeverityValid(t *testing.T) {
	for _, tc := range []struct {
		s    Severity
		want bool
	}{
		{SeverityDeny, true},
		{SeverityWarn, true},
		{"", false},
		{"info", false},
		{"Deny", false},
	} {
		if got := tc.s.Valid(); got != tc.want {
			t.Errorf("Severity(%q).Valid() = %t, want %t", tc.s, got, tc.want)
		}
	}
}
