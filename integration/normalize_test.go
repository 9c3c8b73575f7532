//go:build integration

package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNormalizerKeepsIDIdentity feeds compareOutcomes answers of two
// engines that differ only in which id is where, and requires that they
// differ once normalized (the normalizer once replaced every id by one
// placeholder, so these compared equal), while the same answers with other
// raw ids, or with an id set in another raw order, still compare equal.
func TestNormalizerKeepsIDIdentity(t *testing.T) {
	const (
		a1, b1 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
		a2, b2 = "ffffffff-ffff-ffff-ffff-ffffffffffff", "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"
		g1, g2 = "33333333-3333-3333-3333-333333333333", "44444444-4444-4444-4444-444444444444"
	)
	steps := []step{
		{method: "POST", path: "entity"},
		{method: "POST", path: "entity"},
		{method: "GET", path: "group/id/{g}"},
	}
	// answers are one engine's outcomes: entities a and b, then the group
	// g with the given members, message, and aliases x and y whose
	// canonical ids are x and y.
	answers := func(a, b, g string, members []any, msg, x, y string) []outcome {
		return []outcome{
			{Status: 200, Data: map[string]any{"id": a, "name": "a"}},
			{Status: 200, Data: map[string]any{"id": b, "name": "b"}},
			{Status: 200, Data: map[string]any{"id": g, "member_entity_ids": members, "aliases": []any{
				map[string]any{"canonical_id": x, "name": "x"}, map[string]any{"canonical_id": y, "name": "y"},
			}}, Warnings: []string{msg}},
		}
	}
	equal := func(builtin, plugin []outcome) bool {
		for _, p := range compareOutcomes(t, comparison{}, steps, builtin, plugin) {
			if !assert.ObjectsAreEqual(p.builtin, p.plugin) {
				return false
			}
		}
		return true
	}
	builtin := answers(a1, b1, g1, []any{a1}, "entity "+a1+" joined", a1, b1)

	require.True(t, equal(builtin, answers(a2, b2, g2, []any{a2}, "entity "+a2+" joined", a2, b2)),
		"other raw ids in the same places compare equal")
	require.True(t, equal(answers(a1, b1, g1, []any{a1, b1}, "", a1, b1), answers(a2, b2, g2, []any{b2, a2}, "", a2, b2)),
		"an id set read in another raw order (Vault sorts by the ids themselves) compares equal")

	require.False(t, equal(builtin, answers(a2, b2, g2, []any{b2}, "entity "+a2+" joined", a2, b2)),
		"the group lists the other entity")
	require.False(t, equal(builtin, answers(a2, b2, g2, []any{a2}, "entity "+b2+" joined", a2, b2)),
		"the message names the other entity")
	require.False(t, equal(builtin, answers(a2, b2, g2, []any{a2}, "entity "+a2+" joined", b2, a2)),
		"the aliases point at each other's entity")
	require.False(t, equal(builtin, answers(a2, b2, a2, []any{a2}, "entity "+a2+" joined", a2, b2)),
		"the group answers with an entity's id")
}
