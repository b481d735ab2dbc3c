// Package openfeature is an OpenFeature provider (github.com/open-feature/go-sdk)
// for the feature flags ringmaster applies to ZooKeeper: an application
// evaluates them in memory, a whole generation at a time, and hears of
// every change.
//
//	import (
//		of "github.com/open-feature/go-sdk/openfeature"
//		rmof "github.com/ringmaster-io/ringmaster/client/openfeature"
//	)
//
//	p := rmof.New(client.Config{Servers: []string{"zk1:2181"}, Root: "/ringmaster/prod"})
//	if err := of.SetProviderWithContextAndWait(ctx, p); err != nil { ... }
//	on := of.NewDefaultClient().Boolean(ctx, "checkout-v2", false, of.NewEvaluationContext("user-42", nil))
//
// Invariants:
//   - Evaluation makes no request: it reads the compiled flags of the
//     current generation (an atomic pointer swapped whole at each
//     generation, see package client), so an application never sees half
//     of an apply.
//   - Events: PROVIDER_READY is the SDK's once Init returned; then
//     PROVIDER_CONFIGURATION_CHANGED names the flags a generation changed
//     (added, changed or removed); PROVIDER_STALE while the ZooKeeper
//     session is disconnected or the tree cannot be read (evaluation keeps
//     serving the last generation); PROVIDER_READY when it is back. Init
//     fails (PROVIDER_ERROR) when the first generation cannot be read.
//   - Shutdown stops every goroutine the provider started and closes its
//     session (unless the Client was the caller's, see NewWithClient).
package openfeature

import (
	"context"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/ringmaster-io/ringmaster/client"
	"github.com/ringmaster-io/ringmaster/client/openfeature/flagd"
)

// Name is the provider's name in the SDK's metadata and events.
const Name = "ringmaster"

// DefaultInitTimeout bounds Init (the SDK's context-free initialisation).
const DefaultInitTimeout = 30 * time.Second

// Provider serves one environment's flags. Create it with New or
// NewWithClient; the SDK calls Init and Shutdown.
type Provider struct {
	cfg    client.Config
	shared *client.Client // the caller's Client (NewWithClient), not closed by Shutdown

	flags  atomic.Pointer[flagSet]
	events chan of.Event

	mu     gosync.Mutex
	client *client.Client
	stop   func() // stops listening to the Client
	closed chan struct{}
	stale  bool
}

// flagSet is one generation's flags, compiled; never modified once
// published.
type flagSet struct {
	generation int64
	flags      map[string]*compiled
}

// compiled is one flag: its definition, or why it does not parse.
type compiled struct {
	flag *flagd.Flag
	err  error
}

// New returns a provider that connects with cfg when the SDK initialises
// it.
func New(cfg client.Config) *Provider {
	return &Provider{cfg: cfg, events: make(chan of.Event, 64), closed: make(chan struct{})}
}

// NewWithClient returns a provider over a Client the caller opened (and
// closes), sharing its session with the caller's config watches.
func NewWithClient(c *client.Client) *Provider {
	p := New(client.Config{})
	p.shared = c
	return p
}

// Metadata names the provider.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: Name} }

// Hooks returns none.
func (p *Provider) Hooks() []of.Hook { return nil }

// EventChannel is where the provider's events go (see the package
// invariants). The SDK reads it; a program using the provider without the
// SDK must read it too (after 64 unread events, updates wait).
func (p *Provider) EventChannel() <-chan of.Event { return p.events }

// Init connects and loads the first generation within DefaultInitTimeout.
func (p *Provider) Init(ec of.EvaluationContext) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultInitTimeout)
	defer cancel()
	return p.InitWithContext(ctx, ec)
}

// InitWithContext connects and loads the first generation before ctx ends.
func (p *Provider) InitWithContext(ctx context.Context, _ of.EvaluationContext) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return nil
	}
	c := p.shared
	if c == nil {
		var err error
		if c, err = client.Open(ctx, p.cfg); err != nil {
			return &of.ProviderInitError{ErrorCode: of.ProviderFatalCode, Message: err.Error()}
		}
	}
	p.client = c
	p.install(c.Snapshot(), nil)
	p.stop = c.Listen(p.hear)
	return nil
}

// Shutdown stops following and closes the session it opened.
func (p *Provider) Shutdown() {
	_ = p.ShutdownWithContext(context.Background())
}

// ShutdownWithContext is Shutdown; it does not block on anything ctx could
// bound.
func (p *Provider) ShutdownWithContext(context.Context) error {
	p.mu.Lock()
	c, stop, closed := p.client, p.stop, p.closed
	p.client, p.stop = nil, nil
	p.closed = make(chan struct{})
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	stop()
	close(closed) // an event being sent is dropped
	if p.shared == nil {
		c.Close()
	}
	p.flags.Store(nil)
	return nil
}

// hear turns the Client's updates into the provider's state and events.
// It runs on the Client's goroutine.
func (p *Provider) hear(u client.Update) {
	switch u.Kind {
	case client.Loaded:
		// A generation read means the tree is readable again.
		p.setStale(false, fmt.Sprintf("generation %d read", u.Snapshot.Generation))
		if len(u.Flags) == 0 {
			return
		}
		p.install(u.Snapshot, u.Flags)
		p.send(of.ProviderConfigChange, of.ProviderEventDetails{
			Message:       fmt.Sprintf("generation %d (%s)", u.Snapshot.Generation, u.Snapshot.Revision),
			FlagChanges:   u.Flags,
			EventMetadata: map[string]any{"generation": u.Snapshot.Generation, "revision": u.Snapshot.Revision},
		})
	case client.Stale, client.Failed:
		msg := "disconnected from ZooKeeper: serving the last generation"
		if u.Err != nil {
			msg += ": " + u.Err.Error()
		}
		p.setStale(true, msg)
	case client.Connected:
		p.setStale(false, "connected to ZooKeeper again")
	}
}

// setStale sends PROVIDER_STALE or PROVIDER_READY when the state changes.
func (p *Provider) setStale(stale bool, msg string) {
	if p.stale == stale {
		return
	}
	p.stale = stale
	if stale {
		p.send(of.ProviderStale, of.ProviderEventDetails{Message: msg})
	} else {
		p.send(of.ProviderReady, of.ProviderEventDetails{Message: msg})
	}
}

// send delivers an event, giving up only when the provider shuts down.
func (p *Provider) send(t of.EventType, d of.ProviderEventDetails) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	select {
	case p.events <- of.Event{ProviderName: Name, EventType: t, ProviderEventDetails: d}:
	case <-closed:
	}
}

// install compiles the flags of snap named in changed (all when changed is
// nil) on top of the current set, and publishes the result.
func (p *Provider) install(snap *client.Snapshot, changed []string) {
	next := &flagSet{generation: snap.Generation, flags: map[string]*compiled{}}
	cur := p.flags.Load()
	if cur != nil && changed != nil {
		for name, c := range cur.flags {
			next.flags[name] = c
		}
	} else {
		changed = make([]string, 0, len(snap.Flags))
		for name := range snap.Flags {
			changed = append(changed, name)
		}
	}
	for _, name := range changed {
		raw, ok := snap.Flags[name]
		if !ok {
			delete(next.flags, name)
			continue
		}
		f, err := flagd.Parse(name, raw)
		next.flags[name] = &compiled{flag: f, err: err}
	}
	p.flags.Store(next)
}

// resolve evaluates flag; a non-nil *of.ResolutionError means the caller's
// default is returned with it.
func (p *Provider) resolve(flag string, fc of.FlattenedContext) (flagd.Result, *of.ResolutionError) {
	set := p.flags.Load()
	if set == nil {
		e := of.NewProviderNotReadyResolutionError("the ringmaster provider is not initialised")
		return flagd.Result{Reason: flagd.ReasonError}, &e
	}
	c, ok := set.flags[flag]
	if !ok {
		e := of.NewFlagNotFoundResolutionError(fmt.Sprintf("flag %q is not in generation %d", flag, set.generation))
		return flagd.Result{Reason: flagd.ReasonError}, &e
	}
	if c.err != nil {
		e := of.NewParseErrorResolutionError(fmt.Sprintf("flag %q of generation %d: %v", flag, set.generation, c.err))
		return flagd.Result{Reason: flagd.ReasonError}, &e
	}
	r := c.flag.Evaluate(fc)
	if r.ErrorCode == "" {
		return r, nil
	}
	var e of.ResolutionError
	switch r.ErrorCode {
	case flagd.ErrorFlagNotFound:
		e = of.NewFlagNotFoundResolutionError(r.ErrorMessage)
	case flagd.ErrorParse:
		e = of.NewParseErrorResolutionError(r.ErrorMessage)
	case flagd.ErrorTypeMismatch:
		e = of.NewTypeMismatchResolutionError(r.ErrorMessage)
	default:
		e = of.NewGeneralResolutionError(r.ErrorMessage)
	}
	return r, &e
}

// detail is the provider part of a resolution.
func detail(r flagd.Result, e *of.ResolutionError) of.ProviderResolutionDetail {
	d := of.ProviderResolutionDetail{Reason: of.Reason(r.Reason), Variant: r.Variant}
	if r.Metadata != nil {
		d.FlagMetadata = of.FlagMetadata(r.Metadata)
	}
	if e != nil {
		d.ResolutionError, d.Reason, d.Variant = *e, of.ErrorReason, ""
	}
	return d
}

// evaluate is the typed evaluations' common part: the caller's default
// when there is no value (an error, DISABLED, DEFAULT without a default
// variant), TYPE_MISMATCH when the value is not of the type asked for.
func evaluate[T any](p *Provider, flag string, def T, fc of.FlattenedContext, typed func(flagd.Result) (T, bool)) of.GenericResolutionDetail[T] {
	r, e := p.resolve(flag, fc)
	if e != nil || !r.HasValue() {
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: detail(r, e)}
	}
	v, ok := typed(r)
	if !ok {
		m := of.NewTypeMismatchResolutionError(fmt.Sprintf("flag %q: variant %q is %T, not %T", flag, r.Variant, r.Value, def))
		return of.GenericResolutionDetail[T]{Value: def, ProviderResolutionDetail: detail(r, &m)}
	}
	return of.GenericResolutionDetail[T]{Value: v, ProviderResolutionDetail: detail(r, nil)}
}

// BooleanEvaluation resolves a boolean flag.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, fc of.FlattenedContext) of.BoolResolutionDetail {
	return evaluate(p, flag, def, fc, flagd.Result.BoolValue)
}

// StringEvaluation resolves a string flag.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, fc of.FlattenedContext) of.StringResolutionDetail {
	return evaluate(p, flag, def, fc, flagd.Result.StringValue)
}

// FloatEvaluation resolves a number flag.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, fc of.FlattenedContext) of.FloatResolutionDetail {
	return evaluate(p, flag, def, fc, flagd.Result.FloatValue)
}

// IntEvaluation resolves a number flag as an integer (a fractional
// number is truncated toward zero, as flagd does).
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, fc of.FlattenedContext) of.IntResolutionDetail {
	return evaluate(p, flag, def, fc, flagd.Result.IntValue)
}

// ObjectEvaluation resolves an object flag (a map[string]any, shared:
// do not modify it).
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, fc of.FlattenedContext) of.InterfaceResolutionDetail {
	return evaluate(p, flag, def, fc, func(r flagd.Result) (any, bool) {
		v, ok := r.ObjectValue()
		return v, ok
	})
}

// Interfaces the SDK looks for.
var (
	_ of.FeatureProvider          = (*Provider)(nil)
	_ of.ContextAwareStateHandler = (*Provider)(nil)
	_ of.EventHandler             = (*Provider)(nil)
)
