// Package agent is the node agent behind `ringmaster agent`: it runs beside
// one Cassandra node, registers it in ZooKeeper, and keeps the node's
// runtime settings equal to the NodeSettings of the environment's current
// generation.
//
// Invariants:
//   - Membership: while the agent's session lives, the ephemeral znode
//     <root>/agents/<dc>/<rack>/<node> holds a Member record: the node's
//     host id and state, the generation the agent has applied, each
//     setting's result, and when. It goes with the session (the agent or
//     its host died). The agent writes nothing else (its client is
//     confined to <root>/agents).
//   - It watches meta/generation (and meta/in-progress) only, never the
//     data subtree, and applies a generation whole: not while an apply is
//     in progress, and again from the start when the generation moved
//     while it read.
//   - Settings merge cluster → dc/<dc> → rack/<dc>/<rack> → node/<node>:
//     the most specific scope that names a setting wins it. Only a setting
//     whose running value differs is set; each set is read back, and a
//     value the node does not report back is a failure, not a success. A
//     failed setting keeps the node's previous value, is reported with its
//     error, and does not stop the others.
//   - A node that restarted (a new gossip generation) lost its runtime
//     settings: the agent applies the current generation again. A node
//     that does not answer is reported down and left alone; a ZooKeeper
//     disconnection leaves the node as it is, and the current generation
//     is read again when the session is back (or a new one is made).
//   - A staged rollout (meta/rollout) that has not reached the node's
//     stage keeps its settings as they are; the agent watches that record
//     too, and applies when its stage comes.
//   - A setting removed from the manifests keeps its running value until
//     the node restarts (the agent cannot know the node's default).
//   - A setting changed on the node by hand (nodetool) is reported as
//     drifted at the next check (those read over CQL), and put back by the
//     next generation.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sort"
	gosync "sync"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Member is an agent's membership record.
type Member struct {
	Node       string `json:"node"`
	Datacenter string `json:"datacenter"`
	Rack       string `json:"rack"`
	// Agent is the agent's version.
	Agent  string `json:"agent"`
	HostID string `json:"hostId,omitempty"`
	// State is "UN" (up, NORMAL), "UP" (up, Status says what else) or
	// "DOWN" (the node does not answer the agent).
	State  string `json:"state"`
	Status string `json:"status,omitempty"`
	// Generation is the generation whose settings the agent applied (0:
	// none yet); Revision its revision.
	Generation int64  `json:"generation"`
	Revision   string `json:"revision,omitempty"`
	// Results has one entry per setting of the generation.
	Results map[string]Result `json:"results,omitempty"`
	// Error says why the generation is not applied, when it is not.
	Error string `json:"error,omitempty"`
	// Waiting says which staged rollout keeps the node at its settings.
	Waiting string `json:"waiting,omitempty"`
	// At is when the record was written; Since when the agent registered
	// (in its current session).
	At    time.Time `json:"at"`
	Since time.Time `json:"since"`
}

// Result outcomes of one setting.
const (
	Applied    = "applied"    // set, and read back equal
	Unchanged  = "unchanged"  // the node already ran it
	Unverified = "unverified" // set; the node cannot report it back
	Failed     = "failed"     // refused, or read back different: the node keeps its value
	// Drifted: the node runs another value than the one applied (changed
	// outside ringmaster, with nodetool); the next generation puts it back.
	Drifted = "drifted"
)

// Result is one setting's outcome.
type Result struct {
	Value   string `json:"value"`
	Scope   string `json:"scope"`
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// Converged tells whether m applied generation gen with every setting
// applied and its node up and NORMAL.
func (m *Member) Converged(gen int64) bool {
	if m.Generation != gen || m.State != "UN" || m.Error != "" || m.Waiting != "" {
		return false
	}
	for _, r := range m.Results {
		if r.Result == Failed || r.Result == Drifted {
			return false
		}
	}
	return true
}

// Config is an agent's configuration.
type Config struct {
	// ZooKeeper: the ensemble, the environment's root, credentials, TLS.
	ZooKeeper zk.Config
	Root      string
	// Node identifies the node; Datacenter and Rack are its topology
	// ("" asks the node, from system.local).
	Node, Datacenter, Rack string
	// Cassandra is the node.
	Cassandra Node
	// Version is the agent's version, in its membership record.
	Version string
	// CheckInterval is how often the node is checked for a restart or an
	// outage; 0 means 10 s.
	CheckInterval time.Duration
	// RepairTimeout bounds one try of a repair job's part; nodetool is
	// stopped after it (a repair whose participant restarted can wait
	// forever) and the try counts as failed. 0 means 3 h.
	RepairTimeout time.Duration
	// WriteYAML, when set, is a file the agent keeps holding the node's
	// settings as a cassandra.yaml fragment, for the next boot.
	WriteYAML string
	Logger    *slog.Logger
}

// Run runs the agent until ctx ends, then removes its membership and
// returns nil; it returns an error only when it cannot start (bad
// configuration, another agent holds the node's membership).
func Run(ctx context.Context, cfg Config) error {
	if err := state.CheckRoot(cfg.Root); err != nil {
		return fmt.Errorf("agent: root: %w", err)
	}
	if err := state.CheckSegment(cfg.Node); err != nil {
		return fmt.Errorf("agent: node id: %w", err)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 10 * time.Second
	}
	if cfg.RepairTimeout <= 0 {
		cfg.RepairTimeout = 3 * time.Hour
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &agent{cfg: cfg, log: log.With("node", cfg.Node)}
	if err := a.topology(ctx); err != nil {
		return err
	}
	a.member = Member{Node: cfg.Node, Datacenter: a.dc, Rack: a.rack, Agent: cfg.Version, State: "DOWN"}
	return a.run(ctx)
}

type agent struct {
	cfg      Config
	log      *slog.Logger
	dc, rack string
	zc       *zk.Client
	member   Member
	// gossip is the node's gossip generation when last seen (0: unknown).
	gossip int64
	// genEv, inEv and roEv watch the generation, the in-progress record
	// and the rollout.
	genEv, inEv, roEv <-chan gozk.Event
	// read holds the scopes as read at generation readGen (nil: none yet,
	// or a new session: read them all).
	read    map[string][]byte
	readGen int64
	// want is what the last generation applied asked for.
	want map[string]Want
}

// topology fills the datacenter and rack, asking the node when not given,
// and checks them as path segments.
func (a *agent) topology(ctx context.Context) error {
	a.dc, a.rack = a.cfg.Datacenter, a.cfg.Rack
	for a.dc == "" || a.rack == "" {
		info, err := a.cfg.Cassandra.Info(ctx)
		if err == nil {
			a.dc, a.rack = cmpOr(a.dc, info.Datacenter), cmpOr(a.rack, info.Rack)
			break
		}
		a.log.Warn("the node does not answer; its datacenter and rack are needed (or give --datacenter and --rack)", "error", err)
		if !sleep(ctx, a.cfg.CheckInterval) {
			return ctx.Err()
		}
	}
	for what, v := range map[string]string{"datacenter": a.dc, "rack": a.rack} {
		if err := state.CheckSegment(v); err != nil {
			return fmt.Errorf("agent: %s: %w", what, err)
		}
	}
	return nil
}

func (a *agent) memberPath() string {
	return path.Join(a.cfg.Root, state.AgentsDir, a.dc, a.rack, a.cfg.Node)
}

// run connects, registers and follows until ctx ends.
func (a *agent) run(ctx context.Context) error {
	first := true
	for {
		err := a.session(ctx, first)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		first = false
		a.log.Warn("the ZooKeeper session ended; connecting again", "error", err)
		if !sleep(ctx, time.Second) {
			return nil
		}
	}
}

// fatalError ends the agent: retrying cannot help.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// session runs one ZooKeeper session: register, then follow generations
// and the node until the session expires or ctx ends.
func (a *agent) session(ctx context.Context, first bool) error {
	zcfg := a.cfg.ZooKeeper
	// Its membership, and repair jobs and their lock, are all it writes:
	// nothing outside the environment's root (ACLs narrow it further).
	zcfg.Confine = a.cfg.Root
	zc, err := zk.Connect(ctx, zcfg)
	if err != nil {
		return err
	}
	a.zc, a.read = zc, nil
	defer func() {
		// A clean stop removes the membership at once (not at the
		// session's expiry).
		if ctx.Err() != nil {
			_ = zc.Conn().Delete(a.memberPath(), -1)
		}
		zc.Close()
	}()
	a.check(ctx)
	if err := a.register(ctx); err != nil {
		if first {
			return &fatalError{err}
		}
		return err
	}
	a.sync(ctx)
	if r, ok := a.cfg.Cassandra.(Repairer); ok {
		rctx, stop := context.WithCancel(ctx)
		var wg gosync.WaitGroup
		wg.Go(func() { a.repairs(rctx, zc, r) })
		defer func() { stop(); wg.Wait() }()
	}
	ticker := time.NewTicker(a.cfg.CheckInterval)
	defer ticker.Stop()
	retry := (<-chan time.Time)(nil)
	for {
		st, changed := zc.WatchState()
		switch st {
		case zk.Expired, zk.Closed:
			return zc.Healthy()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			if st, _ := zc.WatchState(); st == zk.Connected {
				retry = time.After(0) // back: read the generation again
			}
			continue
		case <-a.genEv:
		case <-a.inEv:
		case <-a.roEv:
		case <-retry:
		case <-ticker.C:
			if !a.check(ctx) {
				continue // nothing new about the node
			}
		}
		retry = nil
		if !a.sync(ctx) {
			retry = time.After(a.cfg.CheckInterval)
		}
	}
}

// registrationWait bounds the wait for another session's registration of
// the same node to go (a previous process's, until its session expires).
const registrationWait = 45 * time.Second

// register creates the membership znode. Another agent's (another
// session's) is an error naming it.
func (a *agent) register(ctx context.Context) error {
	if err := a.zc.EnsurePath(ctx, path.Dir(a.memberPath())); err != nil {
		return fmt.Errorf("agent: register: %w", err)
	}
	a.member.Since = time.Now().UTC()
	data, _ := json.Marshal(a.stamp())
	// Under an ACL policy the node is the agent's alone to change (its
	// session's identities); everyone else may read it.
	_, err := a.zc.Conn().Create(a.memberPath(), data, gozk.FlagEphemeral, a.zc.ACLOf(a.memberPath()))
	if errors.Is(err, gozk.ErrNodeExists) {
		raw, st, ev, gerr := a.zc.Conn().GetW(a.memberPath())
		if errors.Is(gerr, gozk.ErrNoNode) {
			return a.register(ctx) // gone meanwhile
		}
		if gerr == nil && st.EphemeralOwner == a.zc.SessionID() {
			return a.publish(ctx)
		}
		var other Member
		_ = json.Unmarshal(raw, &other)
		// A restarted agent finds the registration of its previous
		// process until that session expires: wait for it, bounded.
		a.log.Info("the node is registered by another session; waiting for it to end", "session", fmt.Sprintf("0x%x", st.EphemeralOwner))
		select {
		case <-ev:
			return a.register(ctx)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(registrationWait):
		}
		return fmt.Errorf("agent: node %s is registered at %s by agent %s (session 0x%x, since %s) for more than %s: is another agent running for it?",
			a.cfg.Node, a.memberPath(), other.Agent, st.EphemeralOwner, other.Since.Format(time.RFC3339), registrationWait)
	}
	if err != nil {
		return fmt.Errorf("agent: register %s: %w", a.memberPath(), err)
	}
	a.log.Info("registered", "path", a.memberPath())
	return nil
}

// stamp is the membership record as of now.
func (a *agent) stamp() Member {
	a.member.At = time.Now().UTC()
	return a.member
}

// publish writes the membership record.
func (a *agent) publish(ctx context.Context) error {
	data, err := json.Marshal(a.stamp())
	if err != nil {
		return err
	}
	if _, err := a.zc.Conn().Set(a.memberPath(), data, -1); err != nil {
		return fmt.Errorf("agent: update %s: %w", a.memberPath(), err)
	}
	return nil
}

// check asks the node how it is. It returns true when something changed
// that calls for a sync: the node restarted, or came back.
func (a *agent) check(ctx context.Context) bool {
	info, err := a.cfg.Cassandra.Info(ctx)
	if err != nil {
		if a.member.State != "DOWN" {
			a.log.Warn("the node does not answer: left alone until it is back", "error", err)
			a.member.State, a.member.Status, a.member.Error = "DOWN", "", "node does not answer: "+err.Error()
			if a.zc != nil {
				_ = a.publish(ctx)
			}
		}
		return false
	}
	wasDown := a.member.State == "DOWN"
	restarted := a.gossip != 0 && info.GossipGeneration != a.gossip
	a.gossip = info.GossipGeneration
	a.member.HostID, a.member.Status = info.HostID, info.Status
	a.member.State = "UP"
	if info.UpNormal() {
		a.member.State = "UN"
	}
	if restarted {
		a.log.Info("the node restarted: applying the current generation again", "gossip_generation", info.GossipGeneration)
	}
	if wasDown && a.member.Error != "" {
		a.member.Error = ""
	}
	if !restarted && !wasDown && a.zc != nil {
		a.checkDrift(ctx)
	}
	return restarted || wasDown
}

// checkDrift reads back the settings the last generation applied and
// reports those the node no longer runs (set by hand, with nodetool) as
// drifted, and those back as they were as unchanged. Settings that only
// nodetool can read (a JVM per call) are left out of this periodic check.
func (a *agent) checkDrift(ctx context.Context) {
	if a.member.State != "UN" || a.member.Waiting != "" || len(a.want) == 0 {
		return
	}
	var names []string
	for name, r := range a.member.Results {
		if !runtimeOnly[name] && (r.Result == Applied || r.Result == Unchanged || r.Result == Drifted) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	running, err := a.cfg.Cassandra.Running(ctx, names)
	if err != nil {
		return
	}
	changed := false
	for _, name := range names {
		v, ok := running[name]
		if !ok {
			continue
		}
		def, w, r := state.Settings[name], a.want[name], a.member.Results[name]
		switch {
		case !same(v, w.Value) && r.Result != Drifted:
			r.Result, r.Message = Drifted, fmt.Sprintf("the node runs %s, changed outside ringmaster; the next generation puts back %s", state.FormatSetting(def, v), state.FormatSetting(def, w.Value))
			a.log.Warn("drift: a setting was changed on the node", "setting", name, "running", state.FormatSetting(def, v), "applied", r.Value)
		case same(v, w.Value) && r.Result == Drifted:
			r.Result, r.Message = Unchanged, ""
		default:
			continue
		}
		a.member.Results[name] = r
		changed = true
	}
	if changed {
		_ = a.publish(ctx)
	}
}

// sync applies the current generation's settings if no apply is in
// progress, and publishes the outcome. False means try again later (a
// read failed, or the node is down).
func (a *agent) sync(ctx context.Context) bool {
	conn := a.zc.Conn()
	root := a.cfg.Root
	for range 20 {
		// The generation and the in-progress record first (both at once),
		// then the scopes (all at once): the scopes must be read after
		// the watches are set, so that a change is seen as a fired watch.
		var (
			genData, roData          []byte
			genEv, inEv, roEv        <-chan gozk.Event
			genErr, inErr, roErr     error
			inProgress, again, roAgn bool
			wg                       gosync.WaitGroup
		)
		wg.Go(func() { roData, roEv, roAgn, roErr = getW(conn, path.Join(root, state.RolloutPath)) })
		wg.Go(func() { genData, genEv, again, genErr = getW(conn, path.Join(root, state.GenerationPath)) })
		wg.Go(func() { inProgress, _, inEv, inErr = conn.ExistsW(path.Join(root, state.InProgressPath)) })
		wg.Wait()
		if again || roAgn {
			continue // created between two requests
		}
		if err := errors.Join(genErr, inErr, roErr); err != nil {
			a.log.Warn("reading the generation failed", "error", err)
			return false
		}
		a.genEv, a.inEv, a.roEv = genEv, inEv, roEv
		if inProgress {
			return true // its end is a generation: the watches say when
		}
		ro, err := rmsync.DecodeRollout(roData)
		if err != nil {
			a.log.Warn("meta/rollout does not decode", "error", err)
			return false
		}
		if ro.Gates(a.dc, a.rack) {
			// A staged rollout has not reached this node's stage: its
			// settings stay as they are until it does.
			waiting := fmt.Sprintf("rollout of generation %d: stage %d of %d (%s) waits for %s (%s)", ro.Generation,
				ro.Spec.Stage(a.dc, a.rack)+1, ro.Stages(), ro.StageName(ro.Spec.Stage(a.dc, a.rack)), ro.StageName(ro.Stage), ro.State)
			if a.member.Waiting != waiting {
				a.member.Waiting = waiting
				a.log.Info("waiting for the rollout to reach this node's stage", "rollout", ro.String())
				if err := a.publish(ctx); err != nil {
					return false
				}
			}
			return true
		}
		a.member.Waiting = ""
		var gen struct {
			Generation int64    `json:"generation"`
			Revision   string   `json:"revision"`
			Changed    []string `json:"changed"`
			ChangedAll bool     `json:"changedAll"`
		}
		if len(genData) > 0 {
			if err := json.Unmarshal(genData, &gen); err != nil {
				a.log.Warn("meta/generation does not decode", "error", err)
				return false
			}
		}
		// The generation after the one read last lists what it changed:
		// only those of the node's scopes are read again.
		scopes := scopePaths(a.dc, a.rack, a.cfg.Node)
		docs := make([][]byte, len(scopes))
		errs := make([]error, len(scopes))
		listed := a.read != nil && gen.Generation == a.readGen+1 && !gen.ChangedAll
		for i, p := range scopes {
			if listed && !slices.Contains(gen.Changed, p) {
				docs[i] = a.read[p]
				continue
			}
			wg.Go(func() {
				data, _, err := conn.Get(path.Join(root, p))
				if !errors.Is(err, gozk.ErrNoNode) {
					docs[i], errs[i] = data, err
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			a.log.Warn("reading the settings failed", "error", err)
			return false
		}
		if fired(genEv) || fired(inEv) || fired(roEv) {
			continue // an apply moved the tree while it was read
		}
		a.read, a.readGen = map[string][]byte{}, gen.Generation
		for i, p := range scopes {
			a.read[p] = docs[i]
		}
		return a.apply(ctx, gen.Generation, gen.Revision, docs)
	}
	return false
}

// apply sets what differs and publishes the results of generation gen.
func (a *agent) apply(ctx context.Context, gen int64, revision string, docs [][]byte) bool {
	if a.member.State == "DOWN" {
		return false
	}
	want, errs := merge(docs)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	running, err := a.cfg.Cassandra.Running(ctx, names)
	if err != nil {
		a.member.Error = "read the node's settings: " + err.Error()
		_ = a.publish(ctx)
		a.log.Warn("reading the node's settings failed", "error", err)
		return false
	}
	results := map[string]Result{}
	changed := 0
	for _, name := range names {
		def, w := state.Settings[name], want[name]
		r := Result{Value: state.FormatSetting(def, w.Value), Scope: w.Scope}
		if v, ok := running[name]; ok && same(v, w.Value) {
			r.Result = Unchanged
			results[name] = r
			continue
		}
		if err := def.CheckRange(w.Value); err != nil {
			r.Result, r.Message = Failed, err.Error()
			results[name] = r
			continue
		}
		if err := a.cfg.Cassandra.Set(ctx, def, w.Value); err != nil {
			r.Result, r.Message = Failed, "the node refused it, and keeps its value: "+err.Error()
			results[name] = r
			a.log.Warn("setting refused", "setting", name, "value", r.Value, "error", err)
			continue
		}
		changed++
		back, err := a.cfg.Cassandra.Running(ctx, []string{name})
		v, ok := back[name]
		switch {
		case err != nil:
			r.Result, r.Message = Failed, "set, but reading it back failed: "+err.Error()
		case !ok:
			r.Result, r.Message = Unverified, "set; the node does not report this setting back"
		case !same(v, w.Value):
			r.Result, r.Message = Failed, "set, but the node reports "+state.FormatSetting(def, v)
		default:
			r.Result = Applied
		}
		results[name] = r
	}
	a.member.Generation, a.member.Revision, a.member.Results, a.member.Error = gen, revision, results, ""
	a.want = want
	if len(errs) > 0 {
		a.member.Error = errors.Join(errs...).Error()
	}
	if err := a.publish(ctx); err != nil {
		a.log.Warn("publishing the results failed", "error", err)
		return false
	}
	if a.cfg.WriteYAML != "" {
		if err := writeYAML(a.cfg.WriteYAML, want); err != nil {
			a.log.Warn("writing the cassandra.yaml fragment failed", "path", a.cfg.WriteYAML, "error", err)
		}
	}
	a.log.Info("generation applied", "generation", gen, "revision", revision, "settings", len(names), "changed", changed)
	return true
}

// getW reads p with a data watch, or watches for its creation when it
// is absent (data nil); again is true when it was created between the two
// requests (read it again).
func getW(conn *gozk.Conn, p string) (data []byte, ev <-chan gozk.Event, again bool, err error) {
	data, _, ev, err = conn.GetW(p)
	if errors.Is(err, gozk.ErrNoNode) {
		var ok bool
		ok, _, ev, err = conn.ExistsW(p)
		return nil, ev, err == nil && ok, err
	}
	return data, ev, false, err
}

func fired(ev <-chan gozk.Event) bool {
	select {
	case <-ev:
		return true
	default:
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
