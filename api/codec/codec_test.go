package codec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func keyB64(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func keys(t *testing.T, current string, ids ...string) *Keys {
	t.Helper()
	var parts []string
	for i, id := range ids {
		parts = append(parts, fmt.Sprintf("%q: %q", id, keyB64(byte(i+1))))
	}
	k, err := ParseKeys([]byte(fmt.Sprintf(`{"current": %q, "keys": {%s}}`, current, strings.Join(parts, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func plain(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesThePlaintext(t *testing.T) {
	c := New(keys(t, "k1", "k1"))
	in := plain(t, map[string]string{"label": "nightly-secret-label"})
	enc, err := c.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].Data, []byte("nightly-secret-label")) {
		t.Fatal("the encrypted payload holds the plaintext")
	}
	if got := string(enc[0].Metadata[MetadataKeyID]); got != "k1" {
		t.Fatalf("key ID %q, want k1", got)
	}
	if got := string(enc[0].Metadata[converter.MetadataEncoding]); got != Encoding {
		t.Fatalf("encoding %q", got)
	}
	again, _ := c.Encode([]*commonpb.Payload{in})
	if bytes.Equal(again[0].Data, enc[0].Data) {
		t.Fatal("two encryptions of one payload are equal: the nonce is not random")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec[0].Data, in.Data) || string(dec[0].Metadata[converter.MetadataEncoding]) != "json/plain" {
		t.Fatalf("decoded %v, want %v", dec[0], in)
	}
}

// Rotation: with key 2 current, payloads sealed under key 1 still open,
// and new ones are sealed under key 2; a file without key 1 says which key
// is missing.
func TestKeyRotation(t *testing.T) {
	old := New(keys(t, "k1", "k1"))
	sealed1, err := old.Encode([]*commonpb.Payload{plain(t, "written under k1")})
	if err != nil {
		t.Fatal(err)
	}
	rotated := New(keys(t, "k2", "k1", "k2"))
	dec, err := rotated.Decode(sealed1)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != "written under k1" {
		t.Fatalf("decoded %q, %v", s, err)
	}
	sealed2, _ := rotated.Encode([]*commonpb.Payload{plain(t, "new")})
	if got := string(sealed2[0].Metadata[MetadataKeyID]); got != "k2" {
		t.Fatalf("new payloads sealed under %q, want k2", got)
	}
	if _, err := New(keys(t, "k2", "k2")).Decode(sealed1); err == nil || !strings.Contains(err.Error(), `key "k1"`) {
		t.Fatalf("want an error naming key k1, got %v", err)
	}
}

func TestTamperedAndPlainPayloads(t *testing.T) {
	c := New(keys(t, "k1", "k1"))
	enc, _ := c.Encode([]*commonpb.Payload{plain(t, "x")})
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := c.Decode(enc); err == nil {
		t.Fatal("a tampered payload decoded")
	}
	enc, _ = c.Encode([]*commonpb.Payload{plain(t, "x")})
	enc[0].Metadata[MetadataKeyID] = []byte("k2")
	if _, err := New(keys(t, "k1", "k1", "k2")).Decode(enc); err == nil {
		t.Fatal("a payload relabelled to another key decoded")
	}
	p := plain(t, "written before encryption")
	dec, err := c.Decode([]*commonpb.Payload{p})
	if err != nil || dec[0] != p {
		t.Fatalf("a plain payload passes as it is: %v %v", dec, err)
	}
}

func TestParseKeysSaysWhatIsWrong(t *testing.T) {
	for in, want := range map[string]string{
		`{"current": "k1", "keys": {}}`:                                      "no keys",
		`{"current": "k9", "keys": {"k1": "` + keyB64(1) + `"}}`:             `current key "k9"`,
		`{"current": "k1", "keys": {"k1": "c2hvcnQ="}}`:                      "32 bytes",
		`{"current": "k 1", "keys": {"k 1": "` + keyB64(1) + `"}}`:           "key ID",
		`{"current": "k1", "keys": {"k1": "` + keyB64(1) + `"}, "extra": 1}`: "unknown field",
		`not json`: "want {",
	} {
		_, err := ParseKeys([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", in, err, want)
		}
	}
}

func TestLoadKeysRefusesAFileOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(`{"current": "k1", "keys": {"k1": "`+keyB64(1)+`"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("got %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKeys(path); err != nil || k.Current() != "k1" {
		t.Fatalf("got %v, %v", k, err)
	}
}
