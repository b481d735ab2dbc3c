package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	gosync "sync"
	"time"
)

// Notifier is where the controller POSTs its events: a generic JSON
// receiver (the body signed with Secret, as X-Ringmaster-Signature:
// sha256=<hex HMAC-SHA256>, when a secret is set) or a Slack-compatible
// incoming webhook ({"text": ...}).
type Notifier struct {
	URL    string
	Slack  bool
	Secret []byte
}

// Event is one notification.
type Event struct {
	// Kind is applied, failed, stalled, drift_corrected or suspended.
	Kind        string    `json:"event"`
	Environment string    `json:"environment"`
	Revision    string    `json:"revision,omitempty"`
	Generation  int64     `json:"generation,omitempty"`
	Message     string    `json:"message,omitempty"`
	At          time.Time `json:"at"`
	Controller  string    `json:"controller"`
}

// Limits of the notifications: an event equal to one sent within
// dedupWindow (same environment, kind, revision and message) is not sent
// again, and each environment sends at most ratePerEnv events a minute.
const (
	dedupWindow = 10 * time.Minute
	ratePerEnv  = 10
	queueLength = 100
	sendTimeout = 10 * time.Second
)

// notifications queues events and sends them from one goroutine, so that a
// slow receiver never holds a reconcile up.
type notifications struct {
	targets []Notifier
	client  *http.Client
	log     *slog.Logger
	queue   chan Event

	mu     gosync.Mutex
	sent   map[string]time.Time   // dedup key → when last sent
	recent map[string][]time.Time // environment → sends in the last minute
	now    func() time.Time
}

func newNotifications(targets []Notifier, log *slog.Logger) *notifications {
	return &notifications{targets: targets, client: &http.Client{Timeout: sendTimeout}, log: log,
		queue: make(chan Event, queueLength), sent: map[string]time.Time{}, recent: map[string][]time.Time{}, now: time.Now}
}

// notify queues ev unless it repeats one sent lately, the environment is
// over its rate, or the queue is full (each is logged).
func (n *notifications) notify(ev Event) {
	if n == nil || len(n.targets) == 0 {
		return
	}
	now := n.now()
	key := ev.Environment + "\x00" + ev.Kind + "\x00" + ev.Revision + "\x00" + ev.Message
	n.mu.Lock()
	if last, ok := n.sent[key]; ok && now.Sub(last) < dedupWindow {
		n.mu.Unlock()
		return
	}
	var keep []time.Time
	for _, t := range n.recent[ev.Environment] {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	if len(keep) >= ratePerEnv {
		n.recent[ev.Environment] = keep
		n.mu.Unlock()
		n.log.Warn("notification dropped: over the rate of its environment", "environment", ev.Environment, "event", ev.Kind, "per_minute", ratePerEnv)
		return
	}
	n.recent[ev.Environment] = append(keep, now)
	n.sent[key] = now
	for k, t := range n.sent {
		if now.Sub(t) >= dedupWindow {
			delete(n.sent, k)
		}
	}
	n.mu.Unlock()
	ev.At = now.UTC()
	select {
	case n.queue <- ev:
	default:
		n.log.Warn("notification dropped: queue full", "environment", ev.Environment, "event", ev.Kind)
	}
}

// run sends queued events until ctx ends.
func (n *notifications) run(ctx context.Context) {
	defer n.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-n.queue:
			for _, t := range n.targets {
				if err := n.send(ctx, t, ev); err != nil {
					n.log.Warn("notification not delivered", "url", redactURL(t.URL), "event", ev.Kind, "error", err)
				}
			}
		}
	}
}

func (n *notifications) send(ctx context.Context, t Notifier, ev Event) error {
	var body []byte
	var err error
	if t.Slack {
		text := fmt.Sprintf("ringmaster %s: %s %s", ev.Environment, ev.Kind, ev.Revision)
		if ev.Message != "" {
			text += ": " + ev.Message
		}
		body, err = json.Marshal(map[string]string{"text": text})
	} else {
		body, err = json.Marshal(ev)
	}
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if len(t.Secret) > 0 && !t.Slack {
		req.Header.Set("X-Ringmaster-Signature", Sign(t.Secret, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// redactURL keeps a webhook URL's secret path out of logs.
func redactURL(u string) string {
	if len(u) > 24 {
		return u[:24] + "…"
	}
	return u
}
