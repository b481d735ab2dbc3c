package state

// Severity is how much a policy finding weighs: a deny blocks the change
// set, a warn is shown and lets it through.
//
// Invariant: a valid Severity is SeverityDeny or SeverityWarn (see Valid).
type Severity string

// Severities.
const (
	// SeverityDeny blocks the change set: CI fails, plan and apply refuse.
	SeverityDeny Severity = "deny"
	// SeverityWarn is reported but does not block.
	SeverityWarn Severity = "warn"
)

// Valid tells whether s is SeverityDeny or SeverityWarn.
func (s Severity) Valid() bool { return s == SeverityDeny || s == SeverityWarn }

// Match values of a Rule: what its expression runs on.
const (
	// MatchResource runs the expression once per resource of the desired
	// state, with the variables `resource` and `env`.
	MatchResource = "resource"
	// MatchChange runs the expression once per change, with the variables
	// `change` and `env`.
	MatchChange = "change"
)

// Rule is a user policy rule declared in a Policy manifest: package render
// produces it, package policies compiles and evaluates it, and a plan file
// carries it (encoded as JSON with these field names as keys).
//
// Invariants, as render produces it: Name is "<policy>/<rule>", the
// declaring Policy's name and the rule's name within it, unique among the
// rules of an environment; Severity is SeverityDeny or SeverityWarn; Match
// is MatchResource or MatchChange. Rules built elsewhere may leave Severity
// and Match empty, meaning SeverityDeny and MatchResource; policies.Compile
// checks every field.
//
// Expression is CEL returning bool: true means compliant. Kinds, when
// non-empty, limits the rule to those resource kinds (Keyspace, Table,
// FeatureFlag, NodeSettings, ConfigEntry, Znode; Znode also matches
// ConfigEntry) or, for change rules, to changes of those object kinds
// (Keyspace, Table, Znode) or of znodes rendered from those manifest kinds
// (FeatureFlag, NodeSettings, ConfigEntry). Message may hold {{ expr }}
// placeholders, CEL expressions over the same variables, filled in when the
// rule fails. Origin is where the rule was declared.
type Rule struct {
	Name, Expression, Message string
	Severity                  Severity
	Match                     string
	Kinds                     []string
	Origin                    Origin
}
