package backend

import (
	"encoding/hex"
	"fmt"

	uuid "github.com/hashicorp/go-uuid"
)

// newID returns an identifier in Vault's format: 16 random bytes printed as
// 8-4-4-4-12 lowercase hex, without RFC 4122 version bits.
func newID() (string, error) {
	id, err := uuid.GenerateUUID()
	if err != nil {
		return "", fmt.Errorf("failed to generate id: %w", err)
	}
	return id, nil
}

// newName returns a generated object name as Vault makes them: the prefix, an
// underscore and 8 lowercase hex digits. taken reports names already in use;
// a colliding name is drawn again.
func newName(prefix string, taken func(string) bool) (string, error) {
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
