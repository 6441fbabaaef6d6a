package clouds_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stratabackup/strata/providers"
	_ "github.com/stratabackup/strata/providers/clouds"
)

func TestEveryCloudIsRegistered(t *testing.T) {
	if got := providers.Registered(); !slices.Equal(got, []string{"aws", "gcp"}) {
		t.Errorf("registered %v, want [aws gcp]", got)
	}
}

func TestOpenNamesTheLinkedClouds(t *testing.T) {
	_, err := providers.Open(context.Background(), "azure", providers.Config{Region: "westeurope"})
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.Invalid {
		t.Fatalf("Open(azure) = %v, want an Invalid provider error", err)
	}
	if want := `azure: provider "azure" is not linked into this binary (linked: [aws gcp])`; pe.Error() != want {
		t.Errorf("error %q, want %q", pe.Error(), want)
	}
}
