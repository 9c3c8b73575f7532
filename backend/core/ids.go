package core

import (
	"encoding/hex"
	"fmt"

	uuid "github.com/hashicorp/go-uuid"
)

// NewID returns an identifier in Vault's format: 16 random bytes printed as
// 8-4-4-4-12 lowercase hex, without RFC 4122 version bits.
func NewID() (string, error) {
	id, err := uuid.GenerateUUID()
	if err != nil {
		return "", fmt.Errorf("failed to generate id: %w", err)
	}
	return id, nil
}

// NewName returns a generated object name as Vault makes them: the prefix, an
// underscore and 8 lowercase hex digits. taken reports names already in use;
// a colliding name is drawn again.
func NewName(prefix string, taken func(string) bool) (string, error) {
	for {
		b, err := uuid.GenerateRandomBytes(4)
		if err != nil {
			return "", fmt.Errorf("failed to generate %s name: %w", prefix, err)
		}
		name := prefix + "_" + hex.EncodeToString(b)
		if !taken(name) {
			return name, nil
		}
	}
}
