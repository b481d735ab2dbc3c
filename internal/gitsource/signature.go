package gitsource

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUntrusted means a revision was refused because it is not a commit
// signed by a trusted key (Options.TrustedKeys): unsigned, signed by a key
// not trusted, with a signature that does not verify, or a working tree.
var ErrUntrusted = errors.New("not signed by a trusted key")

// UntrustedError is a commit refused for its signature; it wraps
// ErrUntrusted.
type UntrustedError struct {
	// Commit is the commit's full hash, Revision its label.
	Commit, Revision string
	Err              error
}

func (e *UntrustedError) Error() string { return e.Err.Error() }
func (e *UntrustedError) Unwrap() error { return e.Err }

// trustedKeys parses an armored OpenPGP keyring; it is checked at Open so
// that a bad file is named at once.
func trustedKeys(armored string) (openpgp.EntityList, error) {
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("trusted keys: no public key in them")
	}
	return keys, nil
}

// verifyCommit checks that c carries an OpenPGP signature made by one of
// the trusted keys, and returns who signed it ("Name <email>, key
// 0123ABCD...").
func (s *Source) verifyCommit(c *object.Commit) (string, error) {
	id := short(c.Hash)
	if c.PGPSignature == "" {
		return "", fmt.Errorf("commit %s is not signed: %w (this repository is read with --trusted-keys)", id, ErrUntrusted)
	}
	signer := signatureKeyID(c.PGPSignature)
	entity, err := c.Verify(s.trustedArmored)
	if err != nil {
		return "", fmt.Errorf("commit %s is signed by key %s, whose signature does not verify against the trusted keys (%v): %w", id, signer, err, ErrUntrusted)
	}
	for name := range entity.Identities {
		return fmt.Sprintf("%s, key %s", name, signer), nil
	}
	return "key " + signer, nil
}

// signatureKeyID is the issuer key id of an armored signature, in hex, or
// "unknown".
func signatureKeyID(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "unknown (the signature is not armored OpenPGP)"
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "unknown (the signature does not parse)"
	}
	sig, ok := p.(*packet.Signature)
	if !ok || sig.IssuerKeyId == nil {
		return "unknown"
	}
	return fmt.Sprintf("%016X", *sig.IssuerKeyId)
}
