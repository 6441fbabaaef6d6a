package localfaults

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers/local"
)

var every = catalog.Faults{
	SnapshotDelay: catalog.Duration(90 * time.Second), SnapshotFail: true, SnapshotHang: true,
	RestoreDelay: catalog.Duration(2 * time.Hour), RestoreFail: true,
}

func TestConvertKeepsEveryFault(t *testing.T) {
	got := Convert(every)
	want := local.Faults{
		SnapshotDelay: catalog.Duration(90 * time.Second), SnapshotFail: true, SnapshotHang: true,
		RestoreDelay: catalog.Duration(2 * time.Hour), RestoreFail: true,
	}
	if got != want {
		t.Errorf("Convert = %+v, want %+v", got, want)
	}
}

// Snapshot metadata on disk holds faults in JSON; both types must write
// and read the same documents.
func TestBothTypesShareTheirJSON(t *testing.T) {
	for _, f := range []catalog.Faults{{}, every, {RestoreDelay: catalog.Duration(time.Second)}} {
		cb, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := json.Marshal(Convert(f))
		if err != nil {
			t.Fatal(err)
		}
		if string(cb) != string(lb) {
			t.Errorf("catalog JSON %s, local JSON %s", cb, lb)
		}
		var back local.Faults
		if err := json.Unmarshal(cb, &back); err != nil {
			t.Fatal(err)
		}
		if back != Convert(f) {
			t.Errorf("catalog JSON %s decodes to local %+v", cb, back)
		}
	}
}

func TestFromCatalogPassesClusterAndError(t *testing.T) {
	boom := errors.New("catalog down")
	get := FromCatalog(func(_ context.Context, id string) (catalog.Faults, error) {
		if id == "bad" {
			return catalog.Faults{}, boom
		}
		return catalog.Faults{SnapshotFail: id == "cl-1"}, nil
	})
	if f, err := get(context.Background(), "cl-1"); err != nil || !f.SnapshotFail {
		t.Errorf("get(cl-1) = %+v, %v", f, err)
	}
	if _, err := get(context.Background(), "bad"); !errors.Is(err, boom) {
		t.Errorf("get(bad) error = %v, want the catalog's", err)
	}
}
