package policies

import (
	"sort"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Severity is how much a finding weighs: a deny blocks the change set, a
// warn is shown and lets it through. It is state.Severity, the type of
// state.Rule.Severity, so that a rule's severity is its findings'.
//
// Invariant: a Finding's Severity is always Deny or Warn.
type Severity = state.Severity

// Severities, the constants of state.Severity named here for callers of
// this package.
const (
	// Deny blocks the change set: CI fails, plan and apply refuse.
	Deny = state.SeverityDeny
	// Warn is reported but does not block.
	Warn = state.SeverityWarn
)

// Finding is one policy result about one object.
//
// Invariants: Code is a built-in guardrail code ("RM-POL-001" …) or
// "RM-USR:" followed by a user rule's name; Rule is the guardrail's or user
// rule's name; Severity is Deny or Warn; Message names the resource and the
// values involved and needs no other context; Object is the ID of the change
// or resource concerned (state.KeyspaceID, state.TableID, state.ColumnID,
// state.ZnodeID, FeatureFlagID, NodeSettingsID); Origin is where that object
// (or, for an allowed drop, its allowance) was declared, zero when unknown.
type Finding struct {
	Code     string
	Rule     string
	Severity Severity
	Message  string
	Object   string
	Origin   state.Origin
}

// Denied tells whether any finding has severity Deny.
func Denied(findings []Finding) bool {
	for _, f := range findings {
		if f.Severity == Deny {
			return true
		}
	}
	return false
}

// UserCodePrefix starts the Code of every finding a user rule produces; the
// rule's name follows it.
const UserCodePrefix = "RM-USR:"

// sortFindings orders findings deny first, then by Object, Code, Message and
// Rule, and drops exact duplicates. The order is total, so the result does
// not depend on map iteration order.
func sortFindings(fs []Finding) []Finding {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.Severity == Deny) != (b.Severity == Deny) {
			return a.Severity == Deny
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Message != b.Message {
			return a.Message < b.Message
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Origin.String() < b.Origin.String()
	})
	out := fs[:0]
	for i, f := range fs {
		if i > 0 && f == fs[i-1] {
			continue
		}
		out = append(out, f)
	}
	return out
}
