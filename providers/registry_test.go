package providers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stratabackup/strata/providers"
)

func TestOpenPassesTheConfigToTheFactory(t *testing.T) {
	var got providers.Config
	providers.Register("test-open", func(_ context.Context, cfg providers.Config) (providers.Instance, error) {
		got = cfg
		return providers.Instance{Close: func() error { return nil }}, nil
	})
	in, err := providers.Open(context.Background(), "test-open", providers.Config{Region: "r1", Endpoint: "http://e", Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Region != "r1" || got.Endpoint != "http://e" || got.Project != "p" {
		t.Errorf("factory got %+v", got)
	}
	if in.Close == nil {
		t.Error("the factory's Instance was not returned")
	}
}

func TestOpenReturnsTheFactorysError(t *testing.T) {
	boom := &providers.Error{Provider: "test-fail", Kind: providers.Permission, Message: "no credentials"}
	providers.Register("test-fail", func(context.Context, providers.Config) (providers.Instance, error) {
		return providers.Instance{}, boom
	})
	if _, err := providers.Open(context.Background(), "test-fail", providers.Config{}); !errors.Is(err, boom) {
		t.Errorf("Open = %v, want the factory's error", err)
	}
}

func TestRegisterRefusesDuplicatesAndNils(t *testing.T) {
	f := func(context.Context, providers.Config) (providers.Instance, error) { return providers.Instance{}, nil }
	providers.Register("test-dup", f)
	for name, call := range map[string]func(){
		"duplicate": func() { providers.Register("test-dup", f) },
		"no name":   func() { providers.Register("", f) },
		"no func":   func() { providers.Register("test-nil", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			call()
		}()
	}
}
