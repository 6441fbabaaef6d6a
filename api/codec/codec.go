// Package codec encrypts what Strata writes to Temporal: every payload
// (workflow and activity inputs and results, heartbeat details, query and
// update arguments and results, memos, schedule actions) and, through the
// failure converter, failure messages and stack traces. The worker and
// every caller (the Go client, the starter CLI) use the same key file; the
// codec server (Handler) lets the Web UI and the temporal CLI show
// decrypted payloads to whoever can reach it.
//
// Payloads are sealed with AES-256-GCM under the key file's current key;
// the key's ID travels in the payload's metadata, so payloads written
// under an older key still open while that key is in the file. Search
// attributes are not payloads: they stay plaintext (Strata puts only IDs
// and statuses there).
package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// EnvKeyFile names the key file when no flag does.
const EnvKeyFile = "STRATA_ENCRYPTION_KEY_FILE"

// Metadata of an encrypted payload.
const (
	// Encoding is the encrypted payload's encoding.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that sealed the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	// Cipher is the only cipher: AES-256-GCM, a 12-byte random nonce
	// before the ciphertext, the key ID as additional data.
	Cipher = "AES256_GCM"
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Keys are the keys of a key file: the current one seals, every one opens.
type Keys struct {
	current string
	aeads   map[string]cipher.AEAD
}

// keyFile is the key file's JSON.
type keyFile struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
}

// ParseKeys reads a key file's content: {"current": "k2", "keys": {"k1":
// "<base64 of 32 random bytes>", "k2": "…"}}.
func ParseKeys(b []byte) (*Keys, error) {
	var f keyFile
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf(`encryption keys: want {"current": "ID", "keys": {"ID": "<base64 of 32 bytes>", ...}}: %v`, err)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("encryption keys: no keys")
	}
	k := &Keys{current: f.Current, aeads: map[string]cipher.AEAD{}}
	ids := make([]string, 0, len(f.Keys))
	for id := range f.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("encryption keys: key ID %q: use 1 to 64 letters, digits, dots, hyphens and underscores", id)
		}
		raw, err := base64.StdEncoding.DecodeString(f.Keys[id])
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("encryption keys: key %s is not the base64 of 32 bytes (make one with `head -c 32 /dev/urandom | base64`)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("encryption keys: key %s: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("encryption keys: key %s: %w", id, err)
		}
		k.aeads[id] = aead
	}
	if _, ok := k.aeads[f.Current]; !ok {
		return nil, fmt.Errorf("encryption keys: current key %q is not among the keys %v", f.Current, ids)
	}
	return k, nil
}

// LoadKeys reads a key file, which must be private to its owner.
func LoadKeys(path string) (*Keys, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("encryption keys: %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	k, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadKeysFromEnv loads the key file EnvKeyFile names, nil if it names
// none.
func LoadKeysFromEnv() (*Keys, error) {
	if p := os.Getenv(EnvKeyFile); p != "" {
		return LoadKeys(p)
	}
	return nil, nil
}

// Current is the ID of the key that seals.
func (k *Keys) Current() string { return k.current }

// Codec is the PayloadCodec of a key set.
type Codec struct{ keys *Keys }

// New is the codec of keys.
func New(keys *Keys) *Codec { return &Codec{keys: keys} }

// Encode seals every payload under the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys.aeads[c.keys.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.keys.current),
				MetadataCipher:             []byte(Cipher),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.keys.current)),
		}
	}
	return out, nil
}

// Decode opens every encrypted payload; others pass as they are (written
// before encryption was turned on).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		if c := string(p.GetMetadata()[MetadataCipher]); c != Cipher {
			return nil, fmt.Errorf("payload encrypted with cipher %q, not %s", c, Cipher)
		}
		aead, ok := c.keys.aeads[id]
		if !ok {
			return nil, fmt.Errorf("payload encrypted with key %q, which the key file does not hold (it has %s)", id, c.keys.ids())
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("encrypted payload does not open with key %q (altered, or another key of that name)", id)
		}
		var dp commonpb.Payload
		if err := proto.Unmarshal(plain, &dp); err != nil {
			return nil, fmt.Errorf("decrypted payload: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

func (k *Keys) ids() string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b, _ := json.Marshal(ids)
	return string(b)
}

// DataConverter is the SDK's default converter with payloads sealed.
func DataConverter(keys *Keys) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(keys))
}

// Apply sets a Temporal client's data and failure converters to seal
// with keys; nil keys leave them as they are. Failure messages and stack
// traces are sealed too (the SDK's EncodeCommonAttributes): in the
// history a failure's message reads "Encoded failure".
func Apply(o *client.Options, keys *Keys) {
	if keys == nil {
		return
	}
	dc := DataConverter(keys)
	o.DataConverter = dc
	o.FailureConverter = FailureConverter(dc)
}

// FailureConverter is the SDK's default failure converter with messages
// and stack traces encoded by dc.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return failureConverter{temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter: dc, EncodeCommonAttributes: true,
	})}
}

// failureConverter decodes a copy of each failure: the SDK's converter
// decodes in place, and the SDK records some failures it has decoded (a
// failed local activity's, in its marker), which would write the message
// back in plaintext.
type failureConverter struct{ converter.FailureConverter }

func (f failureConverter) FailureToError(failure *failurepb.Failure) error {
	if failure == nil {
		return nil
	}
	return f.FailureConverter.FailureToError(proto.Clone(failure).(*failurepb.Failure))
}
