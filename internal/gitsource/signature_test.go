package gitsource

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// TestTrustedKeys: with trusted keys, a commit signed by one of them is
// read and its signer named; an unsigned commit, one signed by another
// key and the working tree are refused, naming the commit and the key.
func TestTrustedKeys(t *testing.T) {
	trusted, trustedPub := itest.SigningKey(t, "alice")
	other, _ := itest.SigningKey(t, "mallory")
	remote := itest.NewGitRemote(t)
	remote.CommitSigned(t, "signed", map[string]string{"a.yaml": "a: 1\n"}, trusted)
	if _, err := Open(context.Background(), remote.URL, Options{TrustedKeys: "not a key"}); err == nil || !strings.Contains(err.Error(), "trusted keys") {
		t.Fatalf("a bad keyring: %v", err)
	}
	for _, loc := range []string{remote.URL, remote.Dir} {
		src, err := Open(context.Background(), loc, Options{TrustedKeys: trustedPub})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := src.Snapshot(context.Background(), "main")
		if err != nil {
			t.Fatalf("%s: a signed commit: %v", loc, err)
		}
		if !strings.Contains(snap.Signer, "alice") {
			t.Fatalf("signer %q", snap.Signer)
		}
		if _, err := src.Snapshot(context.Background(), ""); loc == remote.Dir && (!errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "--ref")) {
			t.Fatalf("the working tree: %v", err)
		}
	}

	remote.CommitSigned(t, "unsigned", map[string]string{"a.yaml": "a: 2\n"}, nil)
	src, err := Open(context.Background(), remote.URL, Options{TrustedKeys: trustedPub})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Snapshot(context.Background(), "main")
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "is not signed") || !strings.Contains(err.Error(), "main (") {
		t.Fatalf("an unsigned commit: %v", err)
	}
	if _, err := src.Snapshot(context.Background(), "main~1"); err != nil {
		t.Fatalf("the signed commit before it: %v", err)
	}

	remote.CommitSigned(t, "signed by another", map[string]string{"a.yaml": "a: 3\n"}, other)
	must(t, src.Fetch(context.Background()))
	_, err = src.Snapshot(context.Background(), "main")
	wantKey := strings.ToUpper(other.PrimaryKey.KeyIdString())
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "signed by key "+wantKey) {
		t.Fatalf("a commit signed by another key (%s): %v", wantKey, err)
	}
}
