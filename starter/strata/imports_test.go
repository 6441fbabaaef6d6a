package strata_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The client needs only a Temporal connection: it imports the SDK and the
// API packages, never the worker's (activities, catalog, providers,
// internal, workflows), so a caller cannot reach the catalog through it.
func TestClientImportsOnlyTheSDKAndTheAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/stratabackup/strata/starter/strata").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/stratabackup/strata/"
	var checked int
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, module) {
			continue
		}
		checked++
		rel := strings.TrimPrefix(p, module)
		if rel != "api" && !strings.HasPrefix(rel, "api/") && rel != "starter/strata" {
			t.Errorf("the client imports %s: only the api packages and the SDK are allowed", p)
		}
	}
	if checked < 2 {
		t.Fatalf("go list found %d of the module's packages; the check would prove nothing:\n%s", checked, out)
	}
}
