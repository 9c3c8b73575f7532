//go:build integration

package integration

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
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
// normalize and normalizeAnswers.
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
	for i, s := range steps {
		b, p := builtin[i], plugin[i]
		label := fmt.Sprintf("step %d: %s %s %v", i, s.method, s.path, s.body)
		if s.known500 {
			require.Equal(t, http.StatusInternalServerError, b.Status, label)
			require.Equal(t, http.StatusBadRequest, p.Status, label)
			require.Len(t, b.Errors, 1, label)
			require.Equal(t, []string{unwrapMultierror(b.Errors[0])}, p.Errors, label)
			continue
		}
		normalizeAnswers(t, label, b.Data, p.Data)
		// Every step is compared, so that one run lists every mismatch.
		assert.Equal(t, b, p, label)
		if s.method == "GET" && b.Status == http.StatusOK {
			assert.NotEmpty(t, b.Data, label)
		}
	}
}

// play runs steps against one mount and returns normalized outcomes.
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
		var errs []string
		for _, e := range r.Errors {
			errs = append(errs, normalize(e).(string))
		}
		data := r.Body["data"]
		if _, wrapped := r.Body["request_id"]; !wrapped && r.Body != nil {
			data = r.Body // a raw response (OIDC endpoints): compare the body
		}
		out[i] = outcome{Status: r.Status, Data: normalizeWith(data, c.mountPaths), Errors: errs, Warnings: r.Warnings}
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
	genNameRe = regexp.MustCompile(`^(entity|group)_[0-9a-f]{8}$`)
	accRe     = regexp.MustCompile(`auth_(userpass|approle)_[0-9a-f]{8}`)
	timeRe    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
)

// normalize replaces what differs by nature between two stores (ids,
// generated names, times) and sorts what is ordered by id. It drops
// mount_path, which a plugin mount without a Vault token cannot know.
func normalize(v any) any { return normalizeWith(v, false) }

// normalizeWith is normalize, keeping mount_path when mountPaths.
func normalizeWith(v any, mountPaths bool) any {
	switch x := v.(type) {
	case string:
		switch {
		case timeRe.MatchString(x):
			return "<time>"
		case genNameRe.MatchString(x):
			return "<generated-name>"
		}
		return accRe.ReplaceAllString(uuidRe.ReplaceAllString(x, "<id>"), "auth_${1}_<accessor>")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeWith(e, mountPaths)
		}
		sort.SliceStable(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		var byID []any
		for k, e := range x {
			if k == "mount_path" && !mountPaths {
				continue // without a Vault token, only the built-in engine knows mount paths
			}
			if k == "client_id" {
				e = "<client-id>" // generated at random
			}
			if m, ok := e.(map[string]any); ok && k == "custom_metadata" && len(m) == 0 {
				// The built-in engine reads empty custom metadata as {} or
				// null depending on whether the alias was copied since.
				e = nil
			}
			if uuidRe.MatchString(k) {
				byID = append(byID, normalizeWith(e, mountPaths))
				continue
			}
			out[k] = normalizeWith(e, mountPaths)
		}
		if byID != nil {
			sort.SliceStable(byID, func(i, j int) bool { return fmt.Sprint(byID[i]) < fmt.Sprint(byID[j]) })
			out["<by-id>"] = byID
		}
		return out
	}
	return v
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
