package controller

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// maxWebhookBody bounds what a webhook request may send.
const maxWebhookBody = 1 << 20

// Webhook receives push notifications and only requests a reconcile: it
// never reads what the body says about commits (the controller fetches
// the branch itself). It accepts, with the shared secret:
//
//   - GitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>;
//   - GitLab: X-Gitlab-Token: <the secret>;
//   - anything else: X-Ringmaster-Signature: sha256=<hex HMAC-SHA256>.
//
// A request without a valid signature gets 401 and triggers nothing; an
// accepted one gets 202. The handler is mounted at a path the operator
// chooses, which should not be guessable.
type Webhook struct {
	Secret  []byte
	Trigger func(reason string)
	Logger  *slog.Logger
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body unreadable or over 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	kind, ok := h.verify(r.Header, body)
	if !ok {
		if h.Logger != nil {
			h.Logger.Warn("webhook refused: missing or invalid signature", "remote", r.RemoteAddr)
		}
		http.Error(w, "missing or invalid signature", http.StatusUnauthorized)
		return
	}
	if h.Logger != nil {
		h.Logger.Info("webhook accepted: reconcile requested", "kind", kind, "remote", r.RemoteAddr)
	}
	h.Trigger("webhook (" + kind + ")")
	w.WriteHeader(http.StatusAccepted)
}

// verify checks the request's signature; kind names the scheme that
// matched.
func (h *Webhook) verify(hdr http.Header, body []byte) (kind string, ok bool) {
	if len(h.Secret) == 0 {
		return "", false
	}
	if sig := hdr.Get("X-Hub-Signature-256"); sig != "" {
		return "github", validHMAC(h.Secret, body, sig)
	}
	if tok := hdr.Get("X-Gitlab-Token"); tok != "" {
		return "gitlab", subtle.ConstantTimeCompare([]byte(tok), h.Secret) == 1
	}
	if sig := hdr.Get("X-Ringmaster-Signature"); sig != "" {
		return "generic", validHMAC(h.Secret, body, sig)
	}
	return "", false
}

// validHMAC tells whether sig is "sha256=" and the hex HMAC-SHA256 of body.
func validHMAC(secret, body []byte, sig string) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign is the value of X-Hub-Signature-256 (or X-Ringmaster-Signature)
// for body: what a sender computes.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
