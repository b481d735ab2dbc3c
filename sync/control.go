package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Operator controls of the controller, kept in ZooKeeper beside the
// environment: meta/suspend and requests/.

// Suspension is meta/suspend: while it holds, the controller applies
// nothing to the environment (a person's apply still may). Until zero
// means until `ringmaster resume`.
type Suspension struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// Expired tells whether the suspension has run out at now.
func (s *Suspension) Expired(now time.Time) bool { return !s.Until.IsZero() && !now.Before(s.Until) }

// String says who suspended, why and until when.
func (s *Suspension) String() string {
	until := "until resumed"
	if !s.Until.IsZero() {
		until = "until " + s.Until.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("by %s since %s, %s: %s", s.By, s.Since.UTC().Format(time.RFC3339), until, s.Reason)
}

// ReadSuspension returns the environment's suspension, nil when none.
func ReadSuspension(ctx context.Context, tree Tree, root string) (*Suspension, error) {
	nodes, err := tree.Read(ctx, path.Join(root, state.MetaDir))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(root, state.MetaDir), err)
	}
	return suspensionOf(nodes)
}

func suspensionOf(meta map[string]*state.Znode) (*Suspension, error) {
	z, ok := meta[strings.TrimPrefix(state.SuspendPath, state.MetaDir+"/")]
	if !ok || len(z.Data) == 0 {
		return nil, nil
	}
	var s Suspension
	if err := json.Unmarshal(z.Data, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", state.SuspendPath, err)
	}
	return &s, nil
}

// Suspend records s as the environment's suspension, replacing any.
func Suspend(ctx context.Context, tree Tree, root string, s Suspension) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	p := path.Join(root, state.SuspendPath)
	cur, err := tree.Read(ctx, path.Join(root, state.MetaDir))
	if err != nil {
		return fmt.Errorf("read %s: %w", path.Join(root, state.MetaDir), err)
	}
	op := ZnodeOp{Kind: OpCreate, Path: p, Data: data}
	if z, ok := cur[strings.TrimPrefix(state.SuspendPath, state.MetaDir+"/")]; ok {
		op = ZnodeOp{Kind: OpSet, Path: p, Data: data, Version: z.Version}
	}
	if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{op}, nil); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Resume removes the environment's suspension; it returns the one removed,
// nil when there was none.
func Resume(ctx context.Context, tree Tree, root string) (*Suspension, error) {
	cur, err := tree.Read(ctx, path.Join(root, state.MetaDir))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(root, state.MetaDir), err)
	}
	s, err := suspensionOf(cur)
	z, ok := cur[strings.TrimPrefix(state.SuspendPath, state.MetaDir+"/")]
	if !ok {
		return nil, err
	}
	p := path.Join(root, state.SuspendPath)
	if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpDelete, Path: p, Version: z.Version}}, nil); err != nil {
		return nil, fmt.Errorf("delete %s: %w", p, err)
	}
	if s == nil {
		s = &Suspension{}
	}
	return s, nil
}

// Request is a reconcile request, requests/<id>: asked by `ringmaster
// reconcile`, answered by the controller that leads the environment,
// which fills in the handling fields.
type Request struct {
	ID     string    `json:"-"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Set when handled.
	HandledAt  time.Time `json:"handledAt,omitzero"`
	HandledBy  string    `json:"handledBy,omitempty"`
	Result     string    `json:"result,omitempty"` // applied, no_change, failed, stalled, suspended, drift_reported, dry_run
	Message    string    `json:"message,omitempty"`
	Revision   string    `json:"revision,omitempty"`
	Generation int64     `json:"generation,omitempty"`
	version    int32
}

// SetVersion records the version the request node was read at (a request
// decoded from a watched cache): AnswerRequests checks it.
func (r *Request) SetVersion(v int32) { r.version = v }

// Handled tells whether a controller has answered the request.
func (r *Request) Handled() bool { return !r.HandledAt.IsZero() }

// RequestReconcile writes a new request and returns it (with its ID).
func RequestReconcile(ctx context.Context, tree Tree, root, by, reason string, now time.Time) (*Request, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	r := &Request{ID: fmt.Sprintf("req-%020d-%s", now.UnixNano(), hex.EncodeToString(b[:])), By: by, Reason: reason, At: now.UTC()}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	p := path.Join(root, state.RequestsDir, r.ID)
	if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpCreate, Path: p, Data: data}}, nil); err != nil {
		return nil, fmt.Errorf("write %s: %w", p, err)
	}
	return r, nil
}

// ReadRequests returns the environment's requests, oldest first.
func ReadRequests(ctx context.Context, tree Tree, root string) ([]*Request, error) {
	nodes, err := tree.Read(ctx, path.Join(root, state.RequestsDir))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(root, state.RequestsDir), err)
	}
	var out []*Request
	for id, z := range nodes {
		r, err := DecodeRequest(id, z.Data)
		if err != nil {
			continue // not ours to judge: left alone
		}
		r.version = z.Version
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DecodeRequest decodes request id's payload.
func DecodeRequest(id string, data []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("request %s: %w", id, err)
	}
	r.ID = id
	return &r, nil
}

// keptRequests is how many handled requests stay for `status` to show.
const keptRequests = 20

// AnswerRequests records the answer in every request not yet handled and
// removes handled ones beyond the last keptRequests. A request changed in
// between (answered by another) is left as it is.
func AnswerRequests(ctx context.Context, tree Tree, root string, pending []*Request, answer Request) error {
	var errs []error
	for _, r := range pending {
		a := answer
		a.ID, a.By, a.Reason, a.At = r.ID, r.By, r.Reason, r.At
		data, err := json.Marshal(a)
		if err != nil {
			return err
		}
		p := path.Join(root, state.RequestsDir, r.ID)
		if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpSet, Path: p, Data: data, Version: r.version}}, nil); err != nil && !errors.Is(err, ErrStalePlan) {
			errs = append(errs, fmt.Errorf("answer %s: %w", p, err))
		}
	}
	all, err := ReadRequests(ctx, tree, root)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var handled []*Request
	for _, r := range all {
		if r.Handled() {
			handled = append(handled, r)
		}
	}
	for len(handled) > keptRequests {
		r := handled[0]
		handled = handled[1:]
		p := path.Join(root, state.RequestsDir, r.ID)
		if _, err := tree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpDelete, Path: p, Version: r.version}}, nil); err != nil && !errors.Is(err, ErrStalePlan) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
