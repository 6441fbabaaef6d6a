// Package devenv records where `worker --dev` serves (Temporal address,
// namespace, Web UI) in DataDir/dev.json, so that the starter and the Go
// client find a running dev setup without flags. It holds no secret: a
// client needs only the Temporal connection.
package devenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDataDir is where `worker --dev` keeps its state unless told otherwise.
const DefaultDataDir = ".strata"

// FileName is the file in the data directory.
const FileName = "dev.json"

// Env describes a running dev worker.
type Env struct {
	TemporalAddress string `json:"temporalAddress"`
	Namespace       string `json:"namespace"`
	UIURL           string `json:"uiUrl"`
	PID             int    `json:"pid"`
	// EncryptionKeyFile is the key file the worker encrypts payloads with
	// (its path, not its keys), so that a client of the dev setup uses it
	// too; CodecEndpoint is its codec server.
	EncryptionKeyFile string `json:"encryptionKeyFile,omitempty"`
	CodecEndpoint     string `json:"codecEndpoint,omitempty"`
}

// Write stores env in dir atomically.
func Write(dir string, env Env) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, FileName+".tmp")
	_ = os.Remove(tmp) // a leftover keeps its old mode
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, FileName))
}

// Read loads env from dir; the error says how to start a dev worker when
// there is none.
func Read(dir string) (Env, error) {
	var env Env
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return env, fmt.Errorf("no Strata dev setup found in %s: start one with `go run ./worker --dev`, or give --temporal-address (or TEMPORAL_ADDRESS, or a TEMPORAL_PROFILE)", dir)
	}
	if err != nil {
		return env, err
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return env, nil
}
