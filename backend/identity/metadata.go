package identity

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/go-secure-stdlib/strutil"
)

// Limits on entity and group metadata, as the built-in engine applies them.
const (
	metaMaxKeyPairs       = 64
	metaKeyMaxLength      = 128
	metaValueMaxLength    = 512
	metaKeyReservedPrefix = "vault-"
)

var metaKeyFormat = regexp.MustCompile(`^[a-zA-Z0-9=/+_-]+$`)

// validateMetadata checks metadata the way Vault does. Keys are checked in
// sorted order so that the same input always reports the same pair.
func validateMetadata(meta map[string]string) error {
	if len(meta) > metaMaxKeyPairs {
		return fmt.Errorf("metadata cannot contain more than %d key/value pairs", metaMaxKeyPairs)
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if err := validateMetaPair(k, meta[k]); err != nil {
			return fmt.Errorf("failed to load metadata pair (%q, %q): %v", k, meta[k], err)
		}
	}
	return nil
}

func validateMetaPair(key, value string) error {
	switch {
	case key == "":
		return fmt.Errorf("key cannot be blank")
	case !metaKeyFormat.MatchString(key):
		return fmt.Errorf("key contains invalid characters")
	case len(key) > metaKeyMaxLength:
		return fmt.Errorf("key is too long (limit: %d characters)", metaKeyMaxLength)
	case strings.HasPrefix(key, metaKeyReservedPrefix):
		return fmt.Errorf("key prefix %q is reserved for internal use", metaKeyReservedPrefix)
	case len(value) > metaValueMaxLength:
		return fmt.Errorf("value is too long (limit: %d characters)", metaValueMaxLength)
	}
	return nil
}

// normalizePolicies trims, drops empty entries, de-duplicates and sorts, as
// Vault stores entity policies.
func normalizePolicies(p []string) []string {
	return strutil.RemoveDuplicates(p, false)
}

// containsRoot reports whether the policy list names the root policy, in any
// letter case.
func containsRoot(p []string) bool {
	return slices.ContainsFunc(p, func(s string) bool { return strings.EqualFold(s, "root") })
}
