package workercmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCatalogTLSIsRequiredOutsideDev(t *testing.T) {
	for dsn, wantErr := range map[string]bool{
		"postgres://u@db.example/strata?sslmode=disable":                true,
		"postgres://u@db.example/strata?sslmode=prefer":                 true,
		"postgres://u@db.example/strata?sslmode=allow":                  true,
		"postgres://u@db.example/strata":                                true, // pgx's default is prefer
		"postgres://u@db.example/strata?sslmode=require":                false,
		"postgres://u@db.example/strata?sslmode=verify-full":            false,
		"postgres://u@%2Fvar%2Frun%2Fpostgresql/strata?sslmode=disable": false, // a Unix socket
		"/var/lib/strata/catalog.db":                                    false, // SQLite
	} {
		err := checkCatalogTLS(dsn, false)
		if (err != nil) != wantErr {
			t.Errorf("%s: err = %v, want error %v", dsn, err, wantErr)
		}
		if err != nil && (!strings.Contains(err.Error(), "verify-full") || !strings.Contains(err.Error(), "--allow-insecure-catalog")) {
			t.Errorf("%s: %v does not say what to do", dsn, err)
		}
		if err := checkCatalogTLS(dsn, true); err != nil {
			t.Errorf("%s with --allow-insecure-catalog: %v", dsn, err)
		}
	}
}

func TestSettingsThatContradictAreRefused(t *testing.T) {
	o := parseFlags(nil)
	if err := checkConfig(o); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, args := range map[string][]string{
		"lock ttl past its maximum":    {"--lock-ttl", "48h"},
		"timeout past its maximum":     {"--backup-timeout", "200h"},
		"negative grace":               {"--reconcile-grace=-1s"},
		"zero freshness":               {"--freshness-multiple", "0"},
		"progress step of 200":         {"--progress-step", "200"},
		"max lock ttl shorter than 1s": {"--max-lock-ttl", "10ms", "--lock-ttl", "5ms"},
	} {
		if err := checkConfig(parseFlags(args)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if o := parseFlags([]string{"--dev"}); !o.notifyAllowPrivate || o.cfg.PollInterval != time.Second {
		t.Errorf("--dev: allow-private %v, poll %s", o.notifyAllowPrivate, o.cfg.PollInterval)
	}
	if o := parseFlags([]string{"--dev", "--notify-allow-private=false"}); o.notifyAllowPrivate {
		t.Error("--notify-allow-private=false is ignored in dev")
	}
	if o := parseFlags(nil); o.notifyAllowPrivate {
		t.Error("private destinations are allowed outside dev by default")
	}
}

// An older version left the data dir and its files readable by others.
func TestDataDirIsMadePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"catalog.db", "catalog.db-wal", "dev.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := privateDataDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", fi.Mode())
	}
	for _, f := range []string{"catalog.db", "catalog.db-wal", "dev.json"} {
		fi, _ := os.Stat(filepath.Join(dir, f))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
}

// /metrics is on by default with --dev, on loopback; production serves it
// only where told.
func TestMetricsListenDefaults(t *testing.T) {
	t.Setenv("STRATA_METRICS_LISTEN", "")
	assert.Equal(t, "127.0.0.1:9464", parseFlags([]string{"--dev"}).metricsListen)
	assert.Equal(t, "", parseFlags(nil).metricsListen)
	assert.Equal(t, "", parseFlags([]string{"--dev", "--metrics-listen", ""}).metricsListen)
	assert.Equal(t, "0.0.0.0:9000", parseFlags([]string{"--metrics-listen", "0.0.0.0:9000"}).metricsListen)
}
