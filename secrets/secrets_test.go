package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratabackup/strata/api/seal"
)

func TestSealOpen(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.ParsePublicKey(k.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal.Seal(pub, "channel ch-1 secret", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealed(sealed) || strings.Contains(sealed, "s3cret") {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := k.Open("channel ch-1 secret", sealed); err != nil || got != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Bound to what it belongs to: another channel's context does not open it.
	if _, err := k.Open("channel ch-2 secret", sealed); err == nil {
		t.Fatal("a sealed value opened for another channel")
	}
	// Another worker's key cannot open it, and says so.
	other, _ := Generate()
	if _, err := other.Open("channel ch-1 secret", sealed); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("other key: %v", err)
	}
	// Values stored before sealing pass through; empty stays empty.
	if got, _ := k.Open("x", "legacy"); got != "legacy" {
		t.Fatal(got)
	}
	if s, _ := seal.Seal(pub, "x", ""); s != "" {
		t.Fatal(s)
	}
	if _, err := seal.ParsePublicKey("abc:" + strings.Repeat("A", 44)); err == nil {
		t.Fatal("a public key whose ID does not match it was accepted")
	}
}

func TestKeyFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", FileName)
	k, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || again.Public().String() != k.Public().String() {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file was accepted: %v", err)
	}
	if _, err := Decode("not a key"); err == nil {
		t.Fatal("bad key accepted")
	}
}
