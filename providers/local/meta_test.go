package local

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/providers"
)

// oldMeta is snapshot.json as workers wrote it when the metadata held the
// catalog's fault type: a resumed copy must still apply its faults.
const oldMeta = `{
  "id": "snap-0123456789abcdef",
  "backupId": "bk-1",
  "clusterId": "cl-1",
  "nodeId": "n1",
  "volumeId": "v1",
  "source": "/data/local/volumes/v1",
  "sizeGb": 10,
  "faults": {
    "snapshotDelay": "1m30s",
    "snapshotFail": true,
    "snapshotHang": true,
    "restoreDelay": "2h0m0s",
    "restoreFail": true
  },
  "createdAt": "2030-01-02T03:04:05Z",
  "state": "pending",
  "progress": 40,
  "owner": "host-1-abcd",
  "attempt": 2,
  "heartbeat": "2030-01-02T03:05:05Z"
}
`

func TestMetadataWithFaultsWrittenBeforeStillDecodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(oldMeta), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{
		SnapshotDelay: api.Duration(90 * time.Second), SnapshotFail: true, SnapshotHang: true,
		RestoreDelay: api.Duration(2 * time.Hour), RestoreFail: true,
	}
	if m.Faults != want {
		t.Errorf("faults = %+v, want %+v", m.Faults, want)
	}
	if m.ID != "snap-0123456789abcdef" || m.State != providers.StatePending || m.Attempt != 2 || m.Progress != 40 {
		t.Errorf("metadata = %+v", m)
	}

	// Written again, it reads back the same.
	if err := writeMeta(dir, m); err != nil {
		t.Fatal(err)
	}
	again, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Faults != want {
		t.Errorf("after a rewrite, faults = %+v, want %+v", again.Faults, want)
	}
}

func TestMetadataWithoutFaultsDecodesToNone(t *testing.T) {
	dir := t.TempDir()
	b := []byte(`{"id":"snap-0123456789abcdef","faults":{},"state":"completed"}`)
	if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Faults != (Faults{}) {
		t.Errorf("faults = %+v, want none", m.Faults)
	}
}
