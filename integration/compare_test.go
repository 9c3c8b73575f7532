//go:build integration

package integration

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// step is one request of a scenario that is played against both engines.
// Placeholders like {alice} in the path or body stand for ids captured by
// earlier steps (capture: the name to store data.id under).
type step struct {
	method  string
	path    string
	body    map[string]any
	capture string
	// captureCanonical stores data.canonical_id under this name.
	captureCanonical string
	// known500 documents an intended difference: the built-in engine
	// answers 500 where the plugin answers 400 with the same message.
	known500 bool
	// changedIn is the Vault minor version (21 for 1.21) whose built-in
	// engine first answers the step as want, which the plugin answers on
	// every version. On an older Vault the step is not sent to the built-in
	// engine, whose older answer would change what later steps see, and
	// the plugin's status and errors must be want's.
	changedIn int
	want      outcome
}

// builtinSkips reports whether the built-in engine of this Vault answers
// s otherwise than the plugin, by design (changedIn).
func (s step) builtinSkips(t *testing.T) bool {
	return s.changedIn != 0 && vaultBefore(t, s.changedIn)
}

// outcome is what is compared between the engines.
type outcome struct {
	Status   int
	Data     any
	Errors   []string
	Warnings []string
}

// compareWithBuiltin plays steps on identity/ and on the plugin mount and
// requires the same status, data, errors and warnings at every step, after
// normalizeAnswers and an idNamer per engine.
func compareWithBuiltin(t *testing.T, steps []step) {
	t.Helper()
	compareWith(t, comparison{}, steps)
}

// comparison is how compareWith plays its steps.
type comparison struct {
	// mount is the plugin mount; the shared mount when "".
	mount string
	// vars are placeholders besides {userpass} and {approle}.
	vars map[string]string
	// mountPaths compares mount_path too, which a plugin mount knows when
	// it has a Vault token to read the auth mount table.
	mountPaths bool
}

// compareWith is compareWithBuiltin as c says.
func compareWith(t *testing.T, c comparison, steps []step) {
	t.Helper()
	builtin := play(t, "identity", steps, c)
	plugin := play(t, cmp.Or(c.mount, mount), steps, c)
	for _, d := range compareOutcomes(t, c, steps, builtin, plugin) {
		// Every step is compared, so that one run lists every mismatch.
		assert.Equal(t, d.builtin, d.plugin, d.label)
	}
}

// stepPair is one step's normalized outcomes, to be equal.
type stepPair struct {
	label           string
	builtin, plugin outcome
}

// compareOutcomes normalizes the raw outcomes of both engines step by step:
// each engine's ids are named by one idNamer across the whole comparison,
// after the plugin's additions are dropped (so that they take no number).
// It checks the documented 500s itself and returns the pairs to compare.
func compareOutcomes(t *testing.T, c comparison, steps []step, builtin, plugin []outcome) []stepPair {
	t.Helper()
	bn, pn := newIDNamer(c.mountPaths), newIDNamer(c.mountPaths)
	var pairs []stepPair
	for i, s := range steps {
		b, p := builtin[i], plugin[i]
		label := fmt.Sprintf("step %d: %s %s %v", i, s.method, s.path, s.body)
		if s.builtinSkips(t) {
			require.Equal(t, s.want, outcome{Status: p.Status, Errors: p.Errors}, label+" (the built-in engine of this Vault answers otherwise)")
			continue
		}
		if s.known500 {
			require.Equal(t, http.StatusInternalServerError, b.Status, label)
			require.Equal(t, http.StatusBadRequest, p.Status, label)
			require.Len(t, b.Errors, 1, label)
			require.Equal(t, bn.strings([]string{unwrapMultierror(b.Errors[0])}), pn.strings(p.Errors), label)
			continue
		}
		normalizeAnswers(t, label, b.Data, p.Data)
		b, p = bn.outcome(s.path, b), pn.outcome(s.path, p)
		if s.method == "GET" && b.Status == http.StatusOK {
			assert.NotEmpty(t, b.Data, label)
		}
		pairs = append(pairs, stepPair{label, b, p})
	}
	return pairs
}

// play runs steps against one mount and returns the raw outcomes.
func play(t *testing.T, mnt string, steps []step, c comparison) []outcome {
	t.Helper()
	ids := map[string]string{}
	vars := map[string]string{"userpass": userpassAccessor, "approle": approleAccessor}
	maps.Copy(vars, c.vars)
	subst := func(s string) string {
		for _, m := range []map[string]string{ids, vars} {
			for k, v := range m {
				s = strings.ReplaceAll(s, "{"+k+"}", v)
			}
		}
		return s
	}
	out := make([]outcome, len(steps))
	for i, s := range steps {
		if mnt == "identity" && s.builtinSkips(t) {
			continue
		}
		var body any
		if s.body != nil {
			raw, _ := json.Marshal(s.body)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(subst(string(raw))), &m))
			body = m
		}
		r := do(t, s.method, mnt+"/"+subst(s.path), body)
		if s.capture != "" || s.captureCanonical != "" {
			require.Equal(t, http.StatusOK, r.Status, "%s %s on %s: %v", s.method, s.path, mnt, r.Errors)
		}
		if s.capture != "" {
			id, _ := r.Data["id"].(string)
			if id == "" {
				id, _ = r.Data["method_id"].(string)
			}
			ids[s.capture] = id
		}
		if s.captureCanonical != "" {
			ids[s.captureCanonical] = r.Data["canonical_id"].(string)
		}
		data := r.Body["data"]
		if _, wrapped := r.Body["request_id"]; !wrapped && r.Body != nil {
			data = r.Body // a raw response (OIDC endpoints): compare the body
		}
		out[i] = outcome{Status: r.Status, Data: data, Errors: r.Errors, Warnings: r.Warnings}
	}
	t.Cleanup(func() {
		for _, id := range ids {
			for _, kind := range []string{"entity", "group", "entity-alias", "group-alias"} {
				do(t, "DELETE", mnt+"/"+kind+"/id/"+id, nil)
			}
		}
	})
	return out
}

var (
	uuidRe    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	wholeUUID = regexp.MustCompile(`^` + uuidRe.String() + `$`)
	genNameRe = regexp.MustCompile(`^(entity|group)_[0-9a-f]{8}$`)
	// clientIDRe is the form of the client ids of OIDC clients (32
	// characters) and roles (26).
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9]{20,}$`)
	timeRe     = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
)

// idNamer replaces what differs by nature between two stores (ids, client
// ids, generated names, times) by names that keep the identity of ids: each
// distinct id becomes <kind#n>, numbered per kind in the order of first
// appearance within one engine's answers, so that an answer naming the
// wrong object, or listing ids in another order, no longer compares equal.
// One idNamer serves one engine for a whole comparison. Maps are walked in
// a fixed order ("id", then "keys", then the other keys sorted, then the
// keys that are ids), so that the numbering does not depend on the values
// of the ids.
//
// Arrays keep their order, except where it carries nothing comparable:
// arrays of ids (Vault sorts them by the id itself, which is random per
// store; the plugin sorts group id lists, a documented difference) are
// sorted by name after naming, and an entity's aliases (oldest first in
// the plugin, in the order they joined in Vault: documented) are sorted by
// name and mount before naming.
//
// It drops mount_path unless mountPaths: a plugin mount without a Vault
// token cannot know it.
type idNamer struct {
	mountPaths bool
	names      map[string]string
	counts     map[string]int
}

func newIDNamer(mountPaths bool) *idNamer {
	return &idNamer{mountPaths: mountPaths, names: map[string]string{}, counts: map[string]int{}}
}

// normalize names the ids of one value on its own (a fresh idNamer).
func normalize(v any) any { return newIDNamer(false).value("", "", v) }

// outcome normalizes one step's outcome: data, then errors and warnings.
func (n *idNamer) outcome(path string, o outcome) outcome {
	o.Data = n.value(objectKind(path), "", o.Data)
	if m, ok := o.Data.(map[string]any); ok {
		// A list's keys compare as a set: Vault lists entity and group
		// names in the order of their objects' ids, which is random per
		// store, and OIDC objects in its in-memory table's order (id
		// lists are sorted by their names when they are named).
		if keys, ok := m["keys"].([]any); ok {
			sort.SliceStable(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		}
	}
	o.Errors = n.strings(o.Errors)
	o.Warnings = n.strings(o.Warnings)
	return o
}

func (n *idNamer) strings(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = n.str("", s)
	}
	return out
}

// name is raw's name, given at its first sight.
func (n *idNamer) name(kind, raw string) string {
	if name, ok := n.names[raw]; ok {
		return name
	}
	n.counts[kind]++
	name := fmt.Sprintf("<%s#%d>", kind, n.counts[kind])
	n.names[raw] = name
	return name
}

// str normalizes a string found with the given kind of id ("" when the key
// says nothing): a whole id, a generated name, a time, or ids in a text.
func (n *idNamer) str(kind, s string) string {
	switch {
	case timeRe.MatchString(s):
		return "<time>"
	case genNameRe.MatchString(s):
		return n.name(strings.SplitN(s, "_", 2)[0]+"-name", s)
	case kind == "client" && clientIDRe.MatchString(s):
		return n.name("client", s)
	case wholeUUID.MatchString(s):
		return n.name(cmp.Or(kind, "id"), s)
	}
	return uuidRe.ReplaceAllStringFunc(s, func(id string) string { return n.name("id", id) })
}

// objectKind is the kind of the object a request path answers with.
func objectKind(path string) string {
	for _, p := range []struct{ prefix, kind string }{
		{"entity-alias", "entity-alias"}, {"alias", "entity-alias"}, {"group-alias", "group-alias"},
		{"entity", "entity"}, {"lookup/entity", "entity"}, {"group", "group"}, {"lookup/group", "group"},
		{"mfa/method", "mfa-method"}, {"mfa/login-enforcement", "mfa-enforcement"},
	} {
		if path == p.prefix || strings.HasPrefix(path, p.prefix+"/") {
			return p.kind
		}
	}
	return ""
}

// keyKinds are the kinds of the ids held by a key, wherever it is.
var keyKinds = map[string]string{
	"entity_id": "entity", "member_entity_ids": "entity", "identity_entity_ids": "entity",
	"merged_entity_ids": "entity", "client_credentials_entity_id": "entity", "sub": "entity",
	"group_ids": "group", "direct_group_ids": "group", "inherited_group_ids": "group",
	"member_group_ids": "group", "parent_group_ids": "group", "identity_group_ids": "group",
	"mfa_method_ids": "mfa-method", "method_id": "mfa-method",
	"client_id": "client", "allowed_client_ids": "client",
}

// value normalizes v, found under key in an object of kind obj (the
// object's own kind for a whole answer, with key "").
func (n *idNamer) value(obj, key string, v any) any {
	switch x := v.(type) {
	case string:
		return n.str(n.kindOf(obj, key), x)
	case []any:
		kind := n.kindOf(obj, key)
		if key == "aliases" {
			x = slices.Clone(x)
			sort.SliceStable(x, func(i, j int) bool { return aliasOrder(x[i]) < aliasOrder(x[j]) })
		}
		out := make([]any, len(x))
		allIDs := len(x) > 0
		for i, e := range x {
			s, ok := e.(string)
			allIDs = allIDs && ok && (wholeUUID.MatchString(s) || kind == "client" && clientIDRe.MatchString(s))
			out[i] = n.value(obj, key, e)
		}
		if allIDs {
			sort.SliceStable(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		}
		return out
	case map[string]any:
		// self is the kind of this object; in a list's key_info, of each
		// of its values.
		self := ""
		listed, inKeyInfo := strings.CutPrefix(obj, "key_info:")
		switch {
		case key == "":
			self = obj
		case inKeyInfo:
			self = listed
		case key == "key_info":
			self = "key_info:" + obj
		case key == "aliases":
			self = "entity-alias"
		case key == "alias":
			self = "group-alias"
		}
		out := make(map[string]any, len(x))
		for _, k := range mapOrder(x) {
			e := x[k]
			if k == "mount_path" && !n.mountPaths {
				continue // without a Vault token, only the built-in engine knows mount paths
			}
			if m, ok := e.(map[string]any); ok && k == "custom_metadata" && len(m) == 0 {
				// The built-in engine reads empty custom metadata as {} or
				// null depending on whether the alias was copied since.
				e = nil
			}
			nk := k
			if wholeUUID.MatchString(k) {
				nk = n.name(cmp.Or(strings.TrimPrefix(self, "key_info:"), "id"), k)
			}
			out[nk] = n.value(self, k, e)
		}
		return out
	}
	return v
}

// kindOf is the kind of the ids under key in an object of kind obj.
func (n *idNamer) kindOf(obj, key string) string {
	switch key {
	case "id":
		return obj
	case "canonical_id":
		return map[string]string{"entity-alias": "entity", "group-alias": "group"}[obj]
	}
	return keyKinds[key]
}

// mapOrder is the order in which an object's keys are named: "id", "keys",
// the other keys sorted, then the keys that are ids (named in the order of
// their values, the only order there is).
func mapOrder(m map[string]any) []string {
	var first, rest, ids []string
	for k := range m {
		switch {
		case k == "id" || k == "keys":
			first = append(first, k)
		case wholeUUID.MatchString(k):
			ids = append(ids, k)
		default:
			rest = append(rest, k)
		}
	}
	sort.Strings(first) // "id" before "keys"
	sort.Strings(rest)
	sort.Strings(ids)
	return slices.Concat(first, rest, ids)
}

// aliasOrder orders an entity's aliases the same way in both engines.
func aliasOrder(v any) string {
	m, _ := v.(map[string]any)
	return fmt.Sprint(m["mount_accessor"], "\x00", m["name"])
}

// additions are response keys the plugin adds to Vault's (documented in the
// README); they are compared only where the built-in engine has them too.
var additions = []string{"modify_index", "refresh_token_ttl", "client_credentials_entity_id", "sign_in_methods"}

func dropAdditions(builtin, plugin any) {
	b, ok1 := builtin.(map[string]any)
	p, ok2 := plugin.(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	for _, k := range additions {
		if _, ok := b[k]; !ok {
			delete(p, k)
		}
	}
}

// normalizeAnswers makes an answer of the built-in engine and the plugin's
// to the same request comparable: it drops the plugin's additions where the
// built-in engine lacks them, requires client secrets to have Vault's
// format and hides their value, turns the plugin's provider paths into the
// built-in engine's, accepts the documented differences of a discovery
// document, and does the same for each object of a list's key_info.
func normalizeAnswers(t *testing.T, label string, builtin, plugin any) {
	t.Helper()
	b, ok1 := builtin.(map[string]any)
	p, ok2 := plugin.(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	dropAdditions(b, p)
	for _, m := range []map[string]any{b, p} {
		if s, ok := m["client_secret"].(string); ok {
			require.Regexp(t, clientSecret, s, label)
			m["client_secret"] = "<client-secret>"
		}
	}
	for k, v := range p {
		if s, ok := v.(string); ok {
			p[k] = strings.Replace(s, "/v1/"+mount+"/oidc/provider/", "/v1/identity/oidc/provider/", 1)
		}
	}
	if _, ok := b["jwks_uri"]; ok {
		normalizeDiscovery(t, label, b, p)
	}
	bInfo, _ := b["key_info"].(map[string]any)
	pInfo, _ := p["key_info"].(map[string]any)
	for k := range bInfo {
		normalizeAnswers(t, label, bInfo[k], pInfo[k])
	}
}

// unwrapMultierror turns Vault's 500 text ("1 error occurred:\n\t* msg\n\n")
// into the message.
func unwrapMultierror(s string) string {
	s = strings.TrimPrefix(s, "1 error occurred:\n\t* ")
	return strings.TrimSuffix(s, "\n\n")
}
