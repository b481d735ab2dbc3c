// Package flagd evaluates feature flags written in flagd's flag model the
// way flagd evaluates them. It is pure logic: no I/O, no logging, no
// goroutines. An OpenFeature provider that reads one flag definition per
// ZooKeeper node builds on it with Parse and (*Flag).Evaluate.
//
// # Reference behaviour
//
// The semantics follow flagd v0.16.x (open-feature/flagd core/pkg/evaluator,
// flagd releases 0.15.0 through 0.16.1) and the flagd-testbed conformance
// suite (evaluator/gherkin, "fractional-v2" examples):
//
//   - state "DISABLED": targeting is not evaluated; the result has reason
//     DISABLED, no variant and no value, and no error. The caller uses its
//     code default (flagd >= 0.16.0; older flagd returned FLAG_DISABLED).
//   - No targeting (absent, null or {}): reason STATIC with defaultVariant.
//   - Targeting present: the evaluation context is copied, the "$flagd"
//     property {"flagKey": <key>, "timestamp": <unix seconds>} is set on
//     the copy (replacing any caller value), and the JsonLogic rule runs.
//     A string result names the variant; true and false name the variants
//     "true" and "false". A named variant that exists gives TARGETING_MATCH,
//     or SPLIT when fractional assigned it: the rule is a fractional, or an
//     if (at any depth of ifs) whose branch taken is one. (flagd reports
//     TARGETING_MATCH for both; OpenFeature defines SPLIT for a pseudorandom
//     assignment. A fractional used as an if's condition only picks a
//     branch: TARGETING_MATCH.) An if is resolved branch by branch, so
//     branches not taken never run.
//     A null result gives DEFAULT with defaultVariant.
//     A name that is not a variant, or a result that is neither a string nor
//     a boolean, gives ERROR with GENERAL. A rule that fails to evaluate (an
//     unknown operator, for example) gives ERROR with PARSE_ERROR.
//   - No defaultVariant (absent or null): wherever defaultVariant would be
//     used the result has reason DEFAULT (STATIC is never reported for it),
//     no variant and no value: the caller uses its code default.
//   - "targetingKey" is an ordinary context property, read by rules with
//     {"var": "targetingKey"} and by fractional's default bucketing key.
//     A missing targeting key is never an error (flagd does not use
//     TARGETING_KEY_MISSING); fractional then yields null.
//   - Custom operators return null, never an error, on bad input, so a rule
//     falls through to its default.
//
// Custom operators, registered once on the global operator registry of
// github.com/diegoholiveira/jsonlogic/v3:
//
//   - fractional: [bucketBy?, [variant, weight?]...], at least one entry.
//     bucketBy is the first argument when it evaluates to a string; when it
//     is absent or null the bucketing value is $flagd.flagKey immediately
//     followed by the string targetingKey (no separator), and without a
//     string targetingKey the operator yields null. A weight defaults to 1
//     and must be a whole number in [0, 2^31-1]; the weights' sum must be in
//     [1, 2^31-1], else null. Weights need not sum to 100: the 32-bit
//     MurmurHash3 (x86, seed 0) h of the bucketing value's UTF-8 bytes picks
//     bucket (h*total)>>32 in [0, total), and the first variant whose
//     cumulative weight exceeds the bucket wins. Variants may be strings,
//     booleans, numbers or null; a variant or weight given as a JsonLogic
//     expression is evaluated first.
//   - sem_ver: [version, op, version] with op one of = != < <= > >= ^ ~
//     (^ same major, ~ same major and minor). Versions are strings, with an
//     optional "v" or "V" prefix, parsed as golang.org/x/mod/semver does
//     (so "1" and "1.2" are 1.0.0 and 1.2.0, build metadata is ignored).
//     Anything else yields null.
//   - starts_with, ends_with: [string, string]; anything else yields null.
//
// # Invariants
//
// A *Flag is immutable after Parse and safe for concurrent use. The targeting
// rule is decoded once by Parse; Evaluate never decodes JSON. Variant values
// and metadata maps in a Result are shared with the Flag and must be treated
// as read-only. Evaluating a flag without targeting does not allocate.
//
// Parse is stricter than flagd at load time: flagd logs a warning for a
// definition that violates its JSON schema and evaluates it anyway, while
// Parse rejects it (state other than ENABLED or DISABLED, no variants,
// variants of more than one JSON type, a defaultVariant that is not a
// variant, non-scalar metadata).
//
// # jsonlogic v3.5.1
//
// The Go module proxy serves jsonlogic v3.5.1 only; flagd 0.15.5+ uses a
// newer release. Where the two differ on flagd's own conformance cases this
// package matches flagd:
//
//   - v3.5.1 answers an unknown operator given one argument with the
//     argument's truthiness (and given three, as a range test); flagd fails
//     the evaluation. Parse finds unknown operators (including "$ref", which
//     needs flagd's $evaluators) and every evaluation of such a rule then
//     returns PARSE_ERROR, as in flagd.
//   - v3.5.1 evaluates expressions nested one array level deep only; newer
//     releases recurse. fractional evaluates expressions given as its
//     variants and weights itself.
//
// Elsewhere the differences remain: an expression nested two arrays deep in
// a built-in operator's arguments is not evaluated, and "and"/"or" return
// values that differ from JsonLogic's when a rule uses them for their value
// rather than their truthiness.
//
// # Other choices
//
// A numeric sem_ver argument yields null, as in flagd's Go evaluator (some
// other flagd providers convert numbers to version strings). A negative
// fractional weight yields null, as in flagd's Go evaluator (the testbed's
// provider suite clamps it to 0). A targeting result that is a number yields
// GENERAL, as flagd's documentation says (flagd's Go evaluator would look up
// the number's decimal text as a variant name). The hash is
// github.com/twmb/murmur3, the implementation flagd uses.
package flagd
