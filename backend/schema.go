package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// SchemaVersion is the storage layout this release reads and writes. Each
// object is one JSON entry under its own prefix (entityPrefix, …); indexes
// are rebuilt from those entries at load.
const SchemaVersion = 1

const schemaKey = "meta/schema"

type schemaRecord struct {
	Version int `json:"version"`
}

// upgrades[v] turns a store at version v into one at version v+1.
var upgrades = map[int]func(context.Context, *Store) error{}

// upgradeSchema records the schema version of a new store and upgrades the
// data of an older one, one version at a time.
func (s *Store) upgradeSchema(ctx context.Context) error {
	var rec schemaRecord
	found, err := s.storage.GetJSON(ctx, schemaKey, &rec)
	if err != nil {
		return err
	}
	if !found {
		rec.Version = SchemaVersion
		return s.writeSchema(ctx, rec)
	}
	if rec.Version > SchemaVersion {
		return fmt.Errorf("storage schema version %d is newer than this plugin understands (%d): run a newer plugin version", rec.Version, SchemaVersion)
	}
	for rec.Version < SchemaVersion {
		up, ok := upgrades[rec.Version]
		if !ok {
			return fmt.Errorf("no upgrade from storage schema version %d", rec.Version)
		}
		if err := up(ctx, s); err != nil {
			return fmt.Errorf("upgrading storage schema from version %d: %w", rec.Version, err)
		}
		rec.Version++
		if err := s.writeSchema(ctx, rec); err != nil {
			return err
		}
		s.logger.Info("upgraded storage schema", "version", rec.Version)
	}
	return nil
}

func (s *Store) writeSchema(ctx context.Context, rec schemaRecord) error {
	err := s.storage.PutJSON(ctx, schemaKey, rec)
	if errors.Is(err, logical.ErrReadOnly) {
		// A read-only node serves what the writer recorded.
		return nil
	}
	return err
}
