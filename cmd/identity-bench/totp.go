package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpBench validates TOTP codes of enrolled entities, each entity once, so
// that no code is refused as a replay.
type totpBench struct {
	method   string
	entities []string
	keys     []*otp.Key
}

// newTOTPBench makes a TOTP method on mount and enrolls entities in it.
func newTOTPBench(ctx context.Context, b *bench, mount string, entities []string) (*totpBench, error) {
	method, err := b.create(ctx, mount+"/mfa/method/totp", map[string]any{"issuer": "identity-bench"})
	if err != nil {
		return nil, err
	}
	t := &totpBench{method: method, entities: entities, keys: make([]*otp.Key, len(entities))}
	res, err := b.measure(ctx, "totp enrollment", len(entities), func(i int) call {
		return call{method: "POST", path: mount + "/mfa/method/totp/admin-generate", body: map[string]any{"method_id": method, "entity_id": entities[i]}}
	})
	if err != nil {
		return nil, err
	}
	for i, data := range res.data {
		url, _ := data["url"].(string)
		if t.keys[i], err = otp.NewKeyFromURL(url); err != nil {
			return nil, fmt.Errorf("enrollment of %s: %w", entities[i], err)
		}
	}
	return t, nil
}

// call validates the current code of entity i.
func (t *totpBench) call(mount string, i int) call {
	k := t.keys[i]
	code, err := totp.GenerateCodeCustom(k.Secret(), time.Now(), totp.ValidateOpts{Period: uint(k.Period()), Digits: k.Digits(), Algorithm: k.Algorithm()})
	if err != nil {
		panic(err) // the key came from the plugin's own URL
	}
	return call{method: "POST", path: mount + "/mfa/admin-validate", body: map[string]any{"method_id": t.method, "entity_id": t.entities[i], "passcode": code}}
}
