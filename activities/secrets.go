package activities

import (
	"context"
	"fmt"

	"github.com/stratabackup/strata/api/seal"
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
		pub, _ := seal.ParsePublicKey(got)
		return 0, fmt.Errorf("the catalog's channel secrets are sealed to key %s, but this worker holds key %s: give every worker the same key (--secret-key-file or %s)",
			pub.ID, key.Public().ID, secrets.EnvKey)
	}
	chs, err := cat.ListChannels(ctx, "")
	if err != nil {
		return 0, err
	}
	for _, ch := range chs {
		if (ch.URL == "" || seal.IsSealed(ch.URL)) && (ch.Secret == "" || seal.IsSealed(ch.Secret)) {
			continue
		}
		url, err := sealOnce(key, seal.ChannelURL(ch.ID), ch.URL)
		if err != nil {
			return resealed, err
		}
		secret, err := sealOnce(key, seal.ChannelSecret(ch.ID), ch.Secret)
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

func sealOnce(key *secrets.Key, context, v string) (string, error) {
	if seal.IsSealed(v) {
		return v, nil
	}
	return seal.Seal(key.Public(), context, v)
}
