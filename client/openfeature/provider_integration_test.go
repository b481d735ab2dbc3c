package openfeature

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/ringmaster-io/ringmaster/client"
	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// newAPI is an SDK instance of its own serving p, shut down when the test
// ends.
func newAPI(tb testing.TB, p *Provider) *of.EvaluationAPI {
	tb.Helper()
	api := isolated.NewAPI()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := api.SetProviderAndWait(ctx, p); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api
}

// ringmaster builds the command once per test binary.
func ringmaster(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ringmaster")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ringmaster-io/ringmaster/cmd/ringmaster").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func flagManifest(name, defaultVariant string) string {
	return fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: FeatureFlag\nmetadata: {name: %s}\nspec:\n  state: ENABLED\n  variants: {\"on\": true, \"off\": false}\n  defaultVariant: %q\n", name, defaultVariant)
}

// events records the provider's events as the SDK hands them out.
type events struct {
	ch chan of.EventDetails
}

func listen(api *of.EvaluationAPI, types ...of.EventType) *events {
	e := &events{ch: make(chan of.EventDetails, 100)}
	for _, t := range types {
		cb := func(d of.EventDetails) {
			d.EventMetadata = map[string]any{"type": string(t)}
			e.ch <- d
		}
		api.AddHandler(t, &cb)
	}
	return e
}

func (e *events) await(t *testing.T, typ of.EventType, ok func(of.EventDetails) bool) of.EventDetails {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case d := <-e.ch:
			if d.EventMetadata["type"] == string(typ) && (ok == nil || ok(d)) {
				return d
			}
		case <-deadline:
			t.Fatalf("no %s event within 60 s", typ)
		}
	}
}

// TestProviderFollowsApplies runs the real command: `ringmaster apply` of
// a flag change reaches an application's provider as
// PROVIDER_CONFIGURATION_CHANGED naming the flag, with the new value.
// Then the only ZooKeeper server the provider knows is stopped: it turns
// STALE and keeps evaluating the last generation, and READY once the
// server is back; no evaluation fails meanwhile.
func TestProviderFollowsApplies(t *testing.T) {
	itest.NoLeaks(t)
	cl := itest.Disruptive(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	bin := ringmaster(t)
	repo := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apply := func() {
		t.Helper()
		out, err := exec.Command(bin, "apply", "--repo", repo, "--env", "it", "--auto-approve").CombinedOutput()
		if err != nil {
			t.Fatalf("ringmaster apply: %v\n%s", err, out)
		}
	}
	write("ringmaster.yaml", itest.RepositoryManifest)
	write("environments/it/environment.yaml", itest.EnvironmentManifest(t, "it", root, ""))
	write("base/flags/dark-mode.yaml", flagManifest("dark-mode", "off"))
	write("base/flags/other.yaml", flagManifest("other", "off"))
	apply()

	// The provider knows one server only, so that stopping it cuts it off.
	victim := cl.Spec.ZooKeeper[0]
	p := New(client.Config{Servers: []string{victim.Address()}, Root: root, SessionTimeout: 30 * time.Second})
	api := newAPI(t, p)
	ev := listen(api, of.ProviderConfigChange, of.ProviderStale, of.ProviderReady)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ofc := api.NewClient()
	if on, err := ofc.BooleanValue(ctx, "dark-mode", true, of.EvaluationContext{}); err != nil || on {
		t.Fatalf("dark-mode before: %v, %v", on, err)
	}

	write("base/flags/dark-mode.yaml", flagManifest("dark-mode", "on"))
	apply()
	d := ev.await(t, of.ProviderConfigChange, nil)
	if !slices.Equal(d.FlagChanges, []string{"dark-mode"}) {
		t.Fatalf("changed flags %v, want [dark-mode]", d.FlagChanges)
	}
	if on, err := ofc.BooleanValue(ctx, "dark-mode", false, of.EvaluationContext{}); err != nil || !on {
		t.Fatalf("dark-mode after the apply: %v, %v", on, err)
	}

	// Evaluations run all along the outage; none may fail.
	var evaluations, failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			on, err := ofc.BooleanValue(context.Background(), "dark-mode", false, of.EvaluationContext{})
			evaluations.Add(1)
			if err != nil || !on {
				failures.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	restart := itest.StopServer(t, cl, victim.Name())
	ev.await(t, of.ProviderStale, nil)
	restart()
	ev.await(t, of.ProviderReady, nil)
	close(stop)
	<-done
	if n := evaluations.Load(); n == 0 || failures.Load() != 0 {
		t.Fatalf("%d of %d evaluations during the outage failed", failures.Load(), n)
	}
	t.Logf("%d evaluations during the outage, none failed", evaluations.Load())
}
