// Package seal is the public half of Strata's secret sealing: what a
// caller needs to seal a secret (a channel's webhook URL or signing key)
// to the worker's public key before sending it, so that the secret is
// ciphertext in every request, workflow history and catalog row, and only
// the worker, holding the private key (package secrets), opens it.
//
// Sealing is HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM), bound to what the value belongs to (the channel's ID and
// field), so a sealed value copied to another channel does not open there.
package seal

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ChannelURL and ChannelSecret are what a channel's sealed URL and secret
// are bound to.
func ChannelURL(channelID string) string    { return "strata channel " + channelID + " url" }
func ChannelSecret(channelID string) string { return "strata channel " + channelID + " secret" }

// Prefix starts every sealed value: "sealed:v1:<key ID>:<base64>".
const Prefix = "sealed:v1:"

// The HPKE suite every sealed value uses.
var (
	KEM  = hpke.DHKEM(ecdh.X25519())
	KDF  = hpke.HKDFSHA256()
	AEAD = hpke.AES256GCM()
)

// PublicKey is what sealing needs; its String form is what the worker
// publishes ("<key ID>:<base64>").
type PublicKey struct {
	ID  string
	raw []byte
}

// NewPublicKey wraps a raw X25519 public key.
func NewPublicKey(raw []byte) PublicKey {
	return PublicKey{ID: KeyID(raw), raw: append([]byte(nil), raw...)}
}

func (p PublicKey) String() string { return p.ID + ":" + base64.StdEncoding.EncodeToString(p.raw) }

// ParsePublicKey reads PublicKey.String's form.
func ParsePublicKey(s string) (PublicKey, error) {
	id, b64, ok := strings.Cut(s, ":")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != 32 || KeyID(raw) != id {
		return PublicKey{}, errors.New("seal: malformed public key")
	}
	return PublicKey{ID: id, raw: raw}, nil
}

// KeyID names a key by its public half: the first 8 bytes of its SHA-256.
func KeyID(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Seal encrypts plaintext to pub, bound to context (what the value belongs
// to, e.g. ChannelSecret("ch-1")). An empty plaintext stays empty.
func Seal(pub PublicKey, context, plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	pk, err := KEM.NewPublicKey(pub.raw)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	ct, err := hpke.Seal(pk, KDF, AEAD, []byte(context), []byte(plaintext))
	if err != nil {
		return "", fmt.Errorf("seal: sealing: %w", err)
	}
	return Prefix + pub.ID + ":" + base64.StdEncoding.EncodeToString(ct), nil
}

// IsSealed reports whether s is a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// Parts splits a sealed value into the ID of the key it was sealed to and
// its ciphertext.
func Parts(sealed string) (keyID string, ciphertext []byte, err error) {
	id, b64, ok := strings.Cut(strings.TrimPrefix(sealed, Prefix), ":")
	if !IsSealed(sealed) || !ok {
		return "", nil, errors.New("seal: malformed sealed value")
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, errors.New("seal: malformed sealed value")
	}
	return id, ct, nil
}
