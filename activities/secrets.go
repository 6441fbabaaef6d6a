package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/secrets"
)

// PublishSecretsKey publishes the worker's public key in the catalog, for
// whoever adds channels to seal their secrets to, and seals the channels
// stored before sealing existed. The first worker to publish wins: a worker
// whose key is not the published one refuses to start (every worker of a
// catalog must hold the same key file).
func PublishSecretsKey(ctx context.Context, cat catalog.Store, key *secrets.Key) (resealed int, err error) {
	want := key.Public().String()
	got, err := cat.InitSetting(ctx, secrets.PublicKeySetting, want)
	if err != nil {
		return 0, err
	}
	if got != want {
		pub, _ := secrets.ParsePublicKey(got)
		return 0, fmt.Errorf("the catalog's channel secrets are sealed to key %s, but this worker holds key %s: give every worker the same key (--secret-key-file or %s)",
			pub.ID, key.Public().ID, secrets.EnvKey)
	}
	chs, err := cat.ListChannels(ctx, "")
	if err != nil {
		return 0, err
	}
	for _, ch := range chs {
		if (ch.URL == "" || secrets.IsSealed(ch.URL)) && (ch.Secret == "" || secrets.IsSealed(ch.Secret)) {
			continue
		}
		url, err := seal(key, secrets.ChannelURL(ch.ID), ch.URL)
		if err != nil {
			return resealed, err
		}
		secret, err := seal(key, secrets.ChannelSecret(ch.ID), ch.Secret)
		if err != nil {
			return resealed, err
		}
		if err := cat.SealChannel(ctx, ch.ID, url, secret); err != nil {
			return resealed, err
		}
		resealed++
	}
	return resealed, nil
}

// LimitsSetting is the catalog setting where the worker publishes the
// bounds its flags set (--max-lock-ttl, --max-backup-timeout), so that the
// starter CLI and the Go client check against the worker's, not their
// defaults.
const LimitsSetting = "worker.limits"

type publishedLimits struct {
	MaxBackupTimeout time.Duration `json:"maxBackupTimeout"`
	MaxLockTTL       time.Duration `json:"maxLockTtl"`
}

// PublishLimits records cfg's bounds in the catalog.
func PublishLimits(ctx context.Context, cat catalog.Store, cfg Config) error {
	b, err := json.Marshal(publishedLimits{MaxBackupTimeout: cfg.MaxBackupTimeout, MaxLockTTL: cfg.MaxLockTTL})
	if err != nil {
		return err
	}
	return cat.SetSetting(ctx, LimitsSetting, string(b))
}

// ApplyPublishedLimits sets cfg's bounds to the ones a worker published,
// if any.
func ApplyPublishedLimits(ctx context.Context, cat catalog.Store, cfg *Config) error {
	v, ok, err := cat.GetSetting(ctx, LimitsSetting)
	if err != nil || !ok {
		return err
	}
	var l publishedLimits
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return fmt.Errorf("catalog setting %s: %w", LimitsSetting, err)
	}
	if l.MaxBackupTimeout > 0 {
		cfg.MaxBackupTimeout = l.MaxBackupTimeout
	}
	if l.MaxLockTTL > 0 {
		cfg.MaxLockTTL = l.MaxLockTTL
	}
	return nil
}

func seal(key *secrets.Key, context, v string) (string, error) {
	if secrets.IsSealed(v) {
		return v, nil
	}
	return secrets.Seal(key.Public(), context, v)
}
