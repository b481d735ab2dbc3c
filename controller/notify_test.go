package controller

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// receiver records what it is sent.
type receiver struct {
	mu     gosync.Mutex
	bodies []string
	sigs   []string
	got    chan struct{}
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.sigs = append(r.sigs, req.Header.Get("X-Ringmaster-Signature"))
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) await(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d notifications arrived", n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// TestNotificationsDedupRateSign: an event repeated within the window is
// sent once; an environment sends at most ratePerEnv a minute (another
// environment is not held back); generic bodies are signed, Slack ones
// carry text.
func TestNotificationsDedupRateSign(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // last: after the servers close
	gen, genSrv := newReceiver(t)
	slack, slackSrv := newReceiver(t)
	n := newNotifications([]Notifier{{URL: genSrv.URL, Secret: []byte("k")}, {URL: slackSrv.URL, Slack: true}}, slog.New(slog.DiscardHandler))
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n.now = func() time.Time { return clock }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ev := Event{Kind: "failed", Environment: "prod", Revision: "main (abc)", Message: "lock busy"}
	n.notify(ev)
	n.notify(ev) // a repeat: dropped
	bodies := gen.await(t, 1)
	slack.await(t, 1)
	var got Event
	if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil || got.Kind != "failed" || got.Environment != "prod" {
		t.Fatalf("generic body %s: %v", bodies[0], err)
	}
	gen.mu.Lock()
	sig := gen.sigs[0]
	gen.mu.Unlock()
	if sig != Sign([]byte("k"), []byte(bodies[0])) {
		t.Fatalf("signature %q does not match the body", sig)
	}
	slack.mu.Lock()
	if !strings.Contains(slack.bodies[0], `"text":"ringmaster prod: failed main (abc): lock busy"`) {
		t.Fatalf("slack body %s", slack.bodies[0])
	}
	slack.mu.Unlock()

	// Ten minutes on, prod's rate has room again: of ratePerEnv+5 distinct
	// events it sends ratePerEnv; staging's, queued after them, is not held
	// back, and arrives last (the queue keeps order), so nothing over the
	// rate was queued.
	clock = clock.Add(dedupWindow)
	for i := range ratePerEnv + 5 {
		n.notify(Event{Kind: "failed", Environment: "prod", Message: strings.Repeat("x", i+1)})
	}
	n.notify(Event{Kind: "applied", Environment: "staging"})
	all := gen.await(t, ratePerEnv+1)
	if last := all[len(all)-1]; !strings.Contains(last, `"environment":"staging"`) {
		t.Fatalf("the last notification is %s, want staging's", last)
	}
	prod := 0
	for _, b := range all {
		if strings.Contains(b, `"environment":"prod"`) {
			prod++
		}
	}
	if prod != 1+ratePerEnv {
		t.Fatalf("%d prod notifications, want %d (the first, then the rate)", prod, 1+ratePerEnv)
	}
}
