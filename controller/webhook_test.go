package controller

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWebhook drives (*Webhook).ServeHTTP with each signature scheme,
// valid and forged: only a valid one triggers a reconcile, exactly once.
func TestWebhook(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"ref":"refs/heads/main"}`)
	big := bytes.Repeat([]byte("x"), maxWebhookBody+1)
	atLimit := bytes.Repeat([]byte("x"), maxWebhookBody)
	discard := slog.New(slog.DiscardHandler)

	tests := []struct {
		name       string
		method     string
		secret     []byte
		logger     *slog.Logger
		body       []byte
		header     map[string]string
		wantCode   int
		wantCalls  int
		wantReason string // substring of the reason given to Trigger
	}{
		{
			name: "github valid", secret: secret, body: body,
			header:   map[string]string{"X-Hub-Signature-256": Sign(secret, body)},
			wantCode: http.StatusAccepted, wantCalls: 1, wantReason: "github",
		},
		{
			name: "github valid with logger", secret: secret, logger: discard, body: body,
			header:   map[string]string{"X-Hub-Signature-256": Sign(secret, body)},
			wantCode: http.StatusAccepted, wantCalls: 1, wantReason: "github",
		},
		{
			name: "github signature of another body", secret: secret, logger: discard, body: body,
			header:   map[string]string{"X-Hub-Signature-256": Sign(secret, []byte("other"))},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "github signature with another secret", secret: secret, body: body,
			header:   map[string]string{"X-Hub-Signature-256": Sign([]byte("other"), body)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "github signature without sha256= prefix", secret: secret, logger: discard, body: body,
			header:   map[string]string{"X-Hub-Signature-256": strings.TrimPrefix(Sign(secret, body), "sha256=")},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "github signature not hex", secret: secret, body: body,
			header:   map[string]string{"X-Hub-Signature-256": "sha256=not-hex-zz"},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "gitlab valid", secret: secret, logger: discard, body: body,
			header:   map[string]string{"X-Gitlab-Token": string(secret)},
			wantCode: http.StatusAccepted, wantCalls: 1, wantReason: "gitlab",
		},
		{
			name: "gitlab wrong token", secret: secret, body: body,
			header:   map[string]string{"X-Gitlab-Token": "s3cret-not"},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "generic valid", secret: secret, body: body,
			header:   map[string]string{"X-Ringmaster-Signature": Sign(secret, body)},
			wantCode: http.StatusAccepted, wantCalls: 1, wantReason: "generic",
		},
		{
			name: "generic invalid", secret: secret, logger: discard, body: body,
			header:   map[string]string{"X-Ringmaster-Signature": Sign([]byte("other"), body)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "no signature header", secret: secret, logger: discard, body: body,
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "empty secret, github signed with empty key", body: body,
			header:   map[string]string{"X-Hub-Signature-256": Sign(nil, body)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "empty secret, generic signed with empty key", logger: discard, body: body,
			header:   map[string]string{"X-Ringmaster-Signature": Sign([]byte{}, body)},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "empty secret, gitlab token", secret: []byte{}, body: body,
			header:   map[string]string{"X-Gitlab-Token": "anything"},
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "empty secret, no header", body: body,
			wantCode: http.StatusUnauthorized,
		},
		{
			name: "GET refused", method: http.MethodGet, secret: secret,
			header:   map[string]string{"X-Hub-Signature-256": Sign(secret, nil)},
			wantCode: http.StatusMethodNotAllowed,
		},
		{
			name: "body over 1 MiB, validly signed", secret: secret, logger: discard, body: big,
			header:   map[string]string{"X-Hub-Signature-256": Sign(secret, big)},
			wantCode: http.StatusRequestEntityTooLarge,
		},
		{
			name: "body of exactly 1 MiB, validly signed", secret: secret, body: atLimit,
			header:   map[string]string{"X-Ringmaster-Signature": Sign(secret, atLimit)},
			wantCode: http.StatusAccepted, wantCalls: 1, wantReason: "generic",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var reason string
			h := &Webhook{
				Secret: tt.secret,
				Logger: tt.logger,
				Trigger: func(r string) {
					calls++
					reason = r
				},
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/hooks/abc", bytes.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tt.wantCode, rec.Body.String())
			}
			if calls != tt.wantCalls {
				t.Errorf("Trigger called %d times, want %d", calls, tt.wantCalls)
			}
			if tt.wantReason != "" && !strings.Contains(reason, tt.wantReason) {
				t.Errorf("Trigger reason = %q, want it to mention %q", reason, tt.wantReason)
			}
			if tt.wantCode == http.StatusMethodNotAllowed {
				if got := rec.Header().Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want %q", got, http.MethodPost)
				}
			}
		})
	}
}

// TestSignFormat checks that Sign yields "sha256=" and 64 hex digits, the
// form GitHub sends.
func TestSignFormat(t *testing.T) {
	sig := Sign([]byte("k"), []byte("b"))
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || len(hexSig) != 64 || strings.Trim(hexSig, "0123456789abcdef") != "" {
		t.Fatalf("Sign = %q, want sha256= and 64 lowercase hex digits", sig)
	}
	if !validHMAC([]byte("k"), []byte("b"), sig) {
		t.Fatalf("validHMAC rejects Sign's own output %q", sig)
	}
}
