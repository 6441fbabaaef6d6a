// Package secrets seals the secrets Strata stores (notification channels'
// webhook URLs and signing keys) so that only the worker can read them.
//
// The worker holds an X25519 private key (a key file or an environment
// variable; generated into the data dir when none is given) and publishes
// its public key in the catalog. Whoever adds a channel seals its secrets
// to that public key with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM), bound to the channel's ID, so the catalog,
// its backups and its SQLite WAL hold only ciphertext, and a sealed value
// copied to another channel does not open there.
package secrets

import (
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stratabackup/strata/api/seal"
)

// PublicKeySetting is the catalog setting where the worker publishes its
// public key for whoever adds channels.
const PublicKeySetting = "secrets.public_key"

// The public half (sealing, PublicKey) lives in api/seal, which callers
// import; this package holds the private key that opens what they seal.

// FileName is the key file the worker generates in its data dir.
const FileName = "secret.key"

// EnvKey holds the private key (base64) when no key file is given.
const EnvKey = "STRATA_SECRET_KEY"

// Key is the worker's private key.
type Key struct {
	priv hpke.PrivateKey
	pub  seal.PublicKey
}

func newKey(raw []byte) (*Key, error) {
	priv, err := seal.KEM.NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("secrets: invalid private key: %w", err)
	}
	return &Key{priv: priv, pub: seal.NewPublicKey(priv.PublicKey().Bytes())}, nil
}

// Generate makes a new key.
func Generate() (*Key, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return newKey(raw)
}

// Public is the key's public half.
func (k *Key) Public() seal.PublicKey { return k.pub }

// Encode is the private key as base64 (the key file's content and
// STRATA_SECRET_KEY's form).
func (k *Key) Encode() string {
	raw, _ := k.priv.Bytes()
	return base64.StdEncoding.EncodeToString(raw)
}

// Decode reads Encode's form.
func Decode(s string) (*Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != 32 {
		return nil, errors.New("secrets: a key is the base64 of 32 bytes")
	}
	return newKey(raw)
}

// Load reads a key file. It must be private to its owner (no group or
// other permissions): a key anyone can read protects nothing.
func Load(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets: key file %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: key file: %w", err)
	}
	k, err := Decode(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadOrCreate reads the key file at path, creating it (mode 0600) with a
// new key if it does not exist. created says which.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		k, err := Load(path)
		return k, false, err
	}
	k, err = Generate()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		k, err := Load(path) // created concurrently
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("secrets: creating key file: %w", err)
	}
	_, werr := f.WriteString(k.Encode() + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("secrets: writing key file: %w", werr)
	}
	return k, true, nil
}

// ErrOtherKey says a value was sealed to another key than this worker's.
var ErrOtherKey = errors.New("secrets: sealed to another key")

// Open decrypts a sealed value sealed for context. A value that is not
// sealed (stored before sealing existed) is returned as it is.
func (k *Key) Open(context, sealed string) (string, error) {
	if !seal.IsSealed(sealed) {
		return sealed, nil
	}
	id, ct, err := seal.Parts(sealed)
	if err != nil {
		return "", err
	}
	if id != k.pub.ID {
		return "", fmt.Errorf("%w %s (this worker's key is %s)", ErrOtherKey, id, k.pub.ID)
	}
	pt, err := hpke.Open(k.priv, seal.KDF, seal.AEAD, []byte(context), ct)
	if err != nil {
		return "", errors.New("secrets: sealed value does not open (altered, or sealed for another value)")
	}
	return string(pt), nil
}
