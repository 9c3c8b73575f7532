package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

// Storage is the mount's storage with JSON encoding, concurrent prefix
// loads and a write hook. It is the source of truth: every acknowledged
// write is in it before the call returns.
type Storage struct {
	logical.Storage
	// Workers is how many reads LoadPrefix runs at once.
	Workers int
	// BeforeWrite, when set, runs before every put or delete of a key and
	// fails it if it fails. The identity store uses it to invalidate the
	// load snapshot's section of an object before the object changes.
	BeforeWrite func(ctx context.Context, key string) error
}

func (s *Storage) beforeWrite(ctx context.Context, key string) error {
	if s.BeforeWrite == nil {
		return nil
	}
	return s.BeforeWrite(ctx, key)
}

// PutJSON stores v, JSON-encoded, at key.
func (s *Storage) PutJSON(ctx context.Context, key string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("failed to encode %q: %w", key, err)
	}
	if err := s.beforeWrite(ctx, key); err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("failed to write %q: %w", key, err)
	}
	return nil
}

// GetJSON reads key into v and reports whether it existed.
func (s *Storage) GetJSON(ctx context.Context, key string, v any) (bool, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("failed to read %q: %w", key, err)
	}
	if entry == nil {
		return false, nil
	}
	if err := json.Unmarshal(entry.Value, v); err != nil {
		return false, fmt.Errorf("failed to decode %q: %w", key, err)
	}
	return true, nil
}

// Remove deletes key.
func (s *Storage) Remove(ctx context.Context, key string) error {
	if err := s.beforeWrite(ctx, key); err != nil {
		return err
	}
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("failed to delete %q: %w", key, err)
	}
	return nil
}

// LoadPrefix reads every entry under prefix with s.Workers concurrent reads
// and hands each one, decoded into a new T, to add with its name (the key
// without prefix). add is called by one goroutine at a time.
func LoadPrefix[T any](ctx context.Context, s *Storage, prefix string, add func(name string, v *T)) error {
	return LoadPrefixWhere(ctx, s, prefix, nil, add)
}

// LoadPrefixWhere is LoadPrefix for the keys want accepts (all when nil).
func LoadPrefixWhere[T any](ctx context.Context, s *Storage, prefix string, want func(key string) bool, add func(name string, v *T)) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("failed to list %q: %w", prefix, err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Workers, 1))
	var mu sync.Mutex
	for _, k := range keys {
		if strings.HasSuffix(k, "/") || want != nil && !want(prefix+k) {
			continue
		}
		g.Go(func() error {
			v := new(T)
			found, err := s.GetJSON(ctx, prefix+k, v)
			if err != nil || !found {
				return err
			}
			mu.Lock()
			add(k, v)
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// LoadOne reads key into a new T and, if it exists, hands it to set.
func LoadOne[T any](ctx context.Context, s *Storage, key string, set func(*T)) (bool, error) {
	v := new(T)
	found, err := s.GetJSON(ctx, key, v)
	if err != nil || !found {
		return false, err
	}
	set(v)
	return true, nil
}
