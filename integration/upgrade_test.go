//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// The release an upgrade starts from: release 0.7.0 is this commit (the
// repository has no tags). Its plugin is built from the commit once and
// cached by commit next to the Vault builds.
const (
	releaseCommit  = "fd1f586"
	releaseVersion = "v0.7.0"
	modulePath     = "github.com/vault-identity/vault-plugin-secrets-identity"
)

var (
	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error
	currentOnce sync.Once
	currentBin  string
	currentVer  string
	currentErr  error
)

// cacheDir is where scripts/vault.sh caches its Vault builds.
func cacheDir() (string, error) {
	if d := os.Getenv("VAULT_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vault-plugin-secrets-identity"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "vault-plugin-secrets-identity"), nil
}

// goBuild builds the plugin's main package in dir with version injected,
// into out.
func goBuild(dir, version, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X "+modulePath+"/plugin.Version="+version,
		"-o", out, "./cmd/vault-plugin-secrets-identity")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %v: %s", dir, err, b)
	}
	return nil
}

// releasePlugin is the path of the release's plugin binary, built from
// releaseCommit (git archive of the commit, then go build) the first time
// and cached by the commit's full hash.
func releasePlugin(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() { releaseBin, releaseErr = buildRelease(t) })
	require.NoError(t, releaseErr)
	return releaseBin
}

func buildRelease(t *testing.T) (string, error) {
	out, err := exec.Command("git", "rev-parse", "--verify", "--quiet", releaseCommit+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("commit %s (release %s) is not in this clone: fetch the full history (git fetch --unshallow, or clone without --depth) to run the upgrade tests", releaseCommit, releaseVersion)
	}
	commit := strings.TrimSpace(string(out))
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, fmt.Sprintf("vault-plugin-secrets-identity-%s-%s", releaseVersion, commit[:16]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	src := t.TempDir()
	start := time.Now()
	// From the top of the repository: in a subdirectory git archive
	// would take only that subdirectory.
	archive := exec.Command("sh", "-c", `git -C "$(git rev-parse --show-toplevel)" archive "$1" | tar -x -C "$2"`, "sh", commit, src)
	if b, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %v: %s", releaseCommit, err, b)
	}
	tmp := bin + ".tmp." + strconv.Itoa(os.Getpid())
	if err := goBuild(src, releaseVersion, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	t.Logf("built the %s plugin from commit %s in %s, cached as %s", releaseVersion, releaseCommit, time.Since(start).Round(time.Second), bin)
	return bin, nil
}

// currentPlugin is the build under test and the version it reports:
// PLUGIN_BIN as it is when its version is not the release's; otherwise
// (VERSION not bumped since the release) the working tree built again
// with the next patch version and "-dev", since Vault's catalog holds one
// binary per name and version and checks the version a binary reports.
func currentPlugin(t *testing.T, opts devvault.Options) (string, string) {
	t.Helper()
	currentOnce.Do(func() {
		if opts.PluginVersion != releaseVersion {
			currentBin, currentVer = opts.PluginBin, opts.PluginVersion
			return
		}
		parts := strings.Split(strings.TrimPrefix(releaseVersion, "v"), ".")
		patch, _ := strconv.Atoi(parts[2])
		currentVer = fmt.Sprintf("v%s.%s.%d-dev", parts[0], parts[1], patch+1)
		cache, err := cacheDir()
		if err != nil {
			currentErr = err
			return
		}
		// One file, replaced by each run (atomically: a run that is
		// copying it keeps reading the file it opened).
		currentBin = filepath.Join(cache, "vault-plugin-secrets-identity-working-tree-"+currentVer)
		tmp := currentBin + ".tmp." + strconv.Itoa(os.Getpid())
		if currentErr = os.MkdirAll(cache, 0o755); currentErr != nil {
			return
		}
		if currentErr = goBuild("..", currentVer, tmp); currentErr != nil {
			return
		}
		currentErr = os.Rename(tmp, currentBin)
	})
	require.NoError(t, currentErr)
	return currentBin, currentVer
}

// upgradeServer is a dev server of its own for an upgrade test, where the
// release is the plugin's default version and the build under test is
// registered beside it under the same name. For the test's duration it is
// the package's server, so that the suite's helpers (stores, users, code
// flow, load) act on it; the shared server comes back at cleanup.
type upgradeServer struct {
	*devvault.Server
	newBin, newVersion string
}

func startUpgradeServer(t *testing.T) *upgradeServer {
	t.Helper()
	ctx := context.Background()
	opts, err := devvault.FromEnv()
	require.NoError(t, err)
	old := releasePlugin(t)
	newBin, newVersion := currentPlugin(t, opts)
	s, err := devvault.Start(ctx, devvault.Options{VaultBin: opts.VaultBin, PluginBin: old, PluginVersion: releaseVersion})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	_, err = s.RegisterVersion(ctx, newBin, newVersion)
	require.NoError(t, err)

	shared, sharedUserpass, sharedApprole := server, userpassAccessor, approleAccessor
	t.Cleanup(func() { server, userpassAccessor, approleAccessor = shared, sharedUserpass, sharedApprole })
	server = s
	for kind, dst := range map[string]*string{"userpass": &userpassAccessor, "approle": &approleAccessor} {
		require.Equal(t, http.StatusNoContent, do(t, "POST", "sys/auth/"+kind, map[string]any{"type": kind}).Status)
		*dst = do(t, "GET", "sys/auth", nil).Data[kind+"/"].(map[string]any)["accessor"].(string)
	}
	t.Logf("release %s (%s) and the build under test %s registered as %s", releaseVersion, old, newBin, newVersion)
	return &upgradeServer{Server: s, newBin: newBin, newVersion: newVersion}
}

// switchVersion tunes mounts to version and reloads the plugin, as an
// operator does (vault secrets tune -plugin-version, vault plugin reload),
// and returns how long the reload request took.
func switchVersion(t *testing.T, version string, mounts ...string) time.Duration {
	t.Helper()
	for _, m := range mounts {
		r := do(t, "POST", "sys/mounts/"+m+"/tune", map[string]any{"plugin_version": version})
		require.Equal(t, http.StatusNoContent, r.Status, "tune %s: %v", m, r.Errors)
	}
	start := time.Now()
	r := do(t, "PUT", "sys/plugins/reload/backend", map[string]any{"plugin": devvault.PluginName})
	require.Equal(t, http.StatusOK, r.Status, "reload: %v", r.Errors)
	took := time.Since(start)
	for _, m := range mounts {
		require.Equal(t, version, do(t, "GET", "sys/mounts/"+m, nil).Data["running_plugin_version"], "mount %s runs %s", m, version)
	}
	return took
}

// mountServes waits until mnt's plugin answers its info with version, or
// returns the mount's last error.
func mountServes(t *testing.T, mnt, version string) error {
	t.Helper()
	var last devvault.Reply
	err := devvault.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() bool {
		last = do(t, "GET", mnt+"/info", nil)
		return last.Status == http.StatusOK && last.Data["plugin_version"] == version
	})
	if err != nil {
		return fmt.Errorf("%s/info: %d %v %v", mnt, last.Status, last.Errors, last.Data)
	}
	return nil
}

// storeView reads every object of a mount through the API: each list
// (with its key_info), each object the lists name, and the published
// keys. A field the build under test added to an answer would show as a
// difference from the release's view.
func storeView(t *testing.T, mnt string) map[string]any {
	t.Helper()
	view := map[string]any{}
	get := func(path string) {
		r := do(t, "GET", mnt+"/"+path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %v", path, r.Errors)
		view[path] = r.Data
	}
	for _, family := range []struct{ list, item string }{
		{"entity/id", "entity/id/"}, {"entity-alias/id", "entity-alias/id/"},
		{"group/id", "group/id/"}, {"group-alias/id", "group-alias/id/"},
		{"oidc/key", "oidc/key/"}, {"oidc/role", "oidc/role/"},
		{"oidc/client", "oidc/client/"}, {"oidc/provider", "oidc/provider/"},
		{"oidc/scope", "oidc/scope/"}, {"oidc/assignment", "oidc/assignment/"},
		{"mfa/method", "mfa/method/"}, {"mfa/login-enforcement", "mfa/login-enforcement/"},
	} {
		l := do(t, "LIST", mnt+"/"+family.list, nil)
		if l.Status == http.StatusNotFound {
			view["LIST "+family.list] = nil
			continue
		}
		require.Equal(t, http.StatusOK, l.Status, "LIST %s: %v", family.list, l.Errors)
		view["LIST "+family.list] = l.Data
		for _, k := range asSlice(l.Data["keys"]) {
			get(family.item + k.(string))
		}
	}
	get("oidc/config")
	get("oidc/.well-known/keys")
	for _, p := range asSlice(do(t, "LIST", mnt+"/oidc/provider", nil).Data["keys"]) {
		get("oidc/provider/" + p.(string) + "/.well-known/keys")
	}
	return view
}

// upgradeFixture is everything written under the release that the upgrade
// must keep, with the credentials that test it.
type upgradeFixture struct {
	prov  *provStore
	mfa   *mfaStore
	stepN time.Time // the TOTP step whose next step alice used

	idToken string // alice's identity token from role r
	// aliceAccess and aliceRefresh: a code-flow grant, its refresh token
	// unused; malloryRefresh was already used once (for malloryNext).
	aliceAccess, aliceRefresh   string
	malloryRefresh, malloryNext string
	introspected                string   // aliceAccess introspected under the release
	recovery                    []string // mallory's recovery codes; [0] used
}

// writeEverything writes under the release an object of every kind and
// uses the credentials whose state must survive.
func writeEverything(t *testing.T) *upgradeFixture {
	t.Helper()
	f := &upgradeFixture{prov: newProvStore(t, "up-oidc"), mfa: newMFAStore(t, "up-mfa")}
	p := f.prov
	// Identity objects beside the users' entities and aliases.
	e := mustWrite(t, p.path("entity"), map[string]any{"name": "up-robot", "policies": []string{"a", "b"}, "metadata": map[string]any{"team": "ops"}})
	robot := e.Data["id"].(string)
	mustWrite(t, p.path("entity-alias"), map[string]any{"name": "robot-role", "mount_accessor": approleAccessor, "canonical_id": robot, "custom_metadata": map[string]any{"k": "v"}})
	staff := mustWrite(t, p.path("group"), map[string]any{"name": "up-staff", "policies": "staff", "metadata": map[string]any{"floor": "3"},
		"member_entity_ids": []string{p.alice.entityID, p.mallory.entityID}}).Data["id"].(string)
	mustWrite(t, p.path("group"), map[string]any{"name": "up-all", "member_group_ids": []string{staff}, "member_entity_ids": []string{robot}})
	ext := mustWrite(t, p.path("group"), map[string]any{"name": "up-ext", "type": "external"}).Data["id"].(string)
	mustWrite(t, p.path("group-alias"), map[string]any{"name": "ldap-eng", "mount_accessor": userpassAccessor, "canonical_id": ext})
	// Identity tokens.
	mustWrite(t, p.path("oidc/config"), map[string]any{"issuer": "https://vault.upgrade.test:8200"})
	mustWrite(t, p.path("oidc/key/k"), map[string]any{"algorithm": "ES256", "rotation_period": "24h", "verification_ttl": "48h", "allowed_client_ids": "*"})
	mustWrite(t, p.path("oidc/role/r"), map[string]any{"key": "k", "ttl": "1h", "template": `{"groups": {{identity.entity.groups.names}}}`})
	tok := asToken(t, p.alice.token, "GET", p.path("oidc/token/r"), nil)
	require.Equal(t, http.StatusOK, tok.Status, tok.Errors)
	f.idToken = tok.Data["token"].(string)
	// The provider's other objects: a scope, an assignment and a client
	// that uses it, the scope offered by provider p.
	mustWrite(t, p.path("oidc/scope/groups"), map[string]any{"template": `{"groups": {{identity.entity.groups.names}}}`, "description": "group names"})
	mustWrite(t, p.path("oidc/assignment/staff"), map[string]any{"entity_ids": []string{p.alice.entityID}, "group_ids": []string{staff}})
	mustWrite(t, p.path("oidc/client/assigned"), map[string]any{"redirect_uris": p.redirect, "assignments": "staff", "id_token_ttl": "10m"})
	mustWrite(t, p.path("oidc/provider/p"), map[string]any{"scopes_supported": "groups", "allowed_client_ids": strings.Join([]string{p.app, p.app2, p.spa}, ",")})
	// Grants of the code flow: alice's refresh token unused, mallory's
	// used once.
	f.aliceAccess, f.aliceRefresh = p.grant(t, p.alice, p.app, p.appSecret)
	_, f.malloryRefresh = p.grant(t, p.mallory, p.app, p.appSecret)
	next := f.refresh(t, f.malloryRefresh)
	require.Equal(t, http.StatusOK, next.Status, next.Raw)
	f.malloryNext = next.Body["refresh_token"].(string)
	in := p.introspect(t, p.app, p.appSecret, f.aliceAccess)
	require.Equal(t, http.StatusOK, in.status)
	require.Contains(t, in.text, `"active":true`)
	f.introspected = in.String()

	// Step-up MFA: newMFAStore enrolled alice and mallory and locked lou
	// out. Alice uses the code of the next step (valid until the end of
	// the step after it, skew 1); mallory makes recovery codes with the
	// previous step's code and uses the first.
	m := f.mfa
	mustWrite(t, m.path("mfa/login-enforcement/up"), map[string]any{"mfa_method_ids": []string{m.method}, "auth_method_types": []string{"userpass"}})
	f.stepN = time.Now().Truncate(30 * time.Second)
	require.Equal(t, http.StatusOK, m.validate(t, m.alice.token, map[string]any{"passcode": m.code(t, m.alice, f.stepN.Add(30*time.Second))}).status)
	gen := asToken(t, m.mallory.token, "POST", m.path("mfa/recovery-codes/generate"), map[string]any{"method_id": m.method, "passcode": m.code(t, m.mallory, f.stepN.Add(-30*time.Second))})
	require.Equal(t, http.StatusOK, gen.Status, gen.Errors)
	for _, c := range asSlice(gen.Data["recovery_codes"]) {
		f.recovery = append(f.recovery, c.(string))
	}
	require.Equal(t, http.StatusOK, m.validate(t, m.mallory.token, map[string]any{"recovery_code": f.recovery[0]}).status)
	return f
}

func (f *upgradeFixture) refresh(t *testing.T, rt string) oauthReply {
	t.Helper()
	return oauthDo(t, http.MethodPost, f.prov.path("oidc/provider/p/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basicAuth(f.prov.app, f.prov.appSecret))
}

func (f *upgradeFixture) mounts() []string { return []string{f.prov.mount, f.mfa.mount} }

func (f *upgradeFixture) view(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range f.mounts() {
		out[m] = storeView(t, m)
	}
	return out
}

var (
	totpFailed = answer{http.StatusForbidden, "failed to validate TOTP passcode"}
	// lou's three refusals locked him out; an attempt while locked out is
	// refused without being counted, so every later one reads 4.
	lockedOut = func(attempts int) answer {
		return answer{http.StatusForbidden, fmt.Sprintf("maximum TOTP validation attempts %d exceeded the allowed attempts 3; an administrator must reset the lockout", attempts)}
	}
)

// TestPluginUpgradeFromRelease mounts the plugin at the release's version,
// writes an object of every kind and uses the credentials whose state must
// last, then moves the mounts to the build under test with a tune and a
// reload; everything reads back the same and every credential's state held.
// Then back down to the release and up again: the release serves the same
// objects (both versions have storage schema 1), or, had the build under
// test moved the schema on, it would refuse to load with the schema
// message and lose nothing.
func TestPluginUpgradeFromRelease(t *testing.T) {
	u := startUpgradeServer(t)
	f := writeEverything(t)
	m, p := f.mfa, f.prov
	before := f.view(t)

	took := switchVersion(t, u.newVersion, f.mounts()...)
	for _, mnt := range f.mounts() {
		require.NoError(t, mountServes(t, mnt, u.newVersion))
	}
	t.Logf("upgrade to %s: reload answered in %s", u.newVersion, took.Round(time.Millisecond))
	require.Equal(t, before, f.view(t), "what the release wrote reads back the same")
	t.Logf("%d and %d answers (lists, objects, key sets) read back the same on %s and %s",
		len(before[p.mount]), len(before[m.mount]), p.mount, m.mount)

	// The identity token from before verifies with the same key.
	require.Equal(t, map[string]any{"active": true}, do(t, "POST", p.path("oidc/introspect"), map[string]any{"token": f.idToken}).Body)
	// The access token introspects as before.
	require.Equal(t, f.introspected, p.introspect(t, p.app, p.appSecret, f.aliceAccess).String())
	// Mallory's refresh token, used under the release, is refused.
	requireOAuthError(t, f.refresh(t, f.malloryRefresh), http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token was already used; the grant is revoked"))
	// Alice's works once.
	next := f.refresh(t, f.aliceRefresh)
	require.Equal(t, http.StatusOK, next.Status, next.Raw)
	requireOAuthError(t, f.refresh(t, f.aliceRefresh), http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token was already used; the grant is revoked"))

	// The TOTP step alice used is still used (asked while it is still
	// within the validation window, so that only the replay record can
	// refuse it), lou is still locked out, and mallory's used recovery
	// code is spent while the next one works.
	require.Less(t, time.Now(), f.stepN.Add(90*time.Second), "the upgrade took too long for the replay check to mean anything")
	require.Equal(t, totpFailed, m.validate(t, m.alice.token, map[string]any{"passcode": m.code(t, m.alice, f.stepN.Add(30*time.Second))}), "the TOTP step used under the release")
	require.Equal(t, lockedOut(4), m.validate(t, m.lou.token, map[string]any{"passcode": m.code(t, m.lou, time.Now())}), "the lockout from the release")
	require.Equal(t, totpFailed, m.validate(t, m.mallory.token, map[string]any{"recovery_code": f.recovery[0]}), "the recovery code used under the release")
	require.Equal(t, http.StatusOK, m.validate(t, m.mallory.token, map[string]any{"recovery_code": f.recovery[1]}).status)
	upgraded := f.view(t)

	// Back down to the release.
	switchVersion(t, releaseVersion, f.mounts()...)
	var refused []string
	for _, mnt := range f.mounts() {
		if err := mountServes(t, mnt, releaseVersion); err != nil {
			require.Contains(t, err.Error(), "storage schema version", "the release refuses the newer data only with the schema message")
			refused = append(refused, mnt)
		}
	}
	if len(refused) == 0 {
		require.Equal(t, before, f.view(t), "the release reads back what it wrote")
		require.Equal(t, lockedOut(4), m.validate(t, m.lou.token, map[string]any{"passcode": m.code(t, m.lou, time.Now())}), "the lockout after the downgrade")
		require.Equal(t, totpFailed, m.validate(t, m.mallory.token, map[string]any{"recovery_code": f.recovery[1]}), "the recovery code used after the upgrade")
		require.Equal(t, http.StatusOK, m.validate(t, m.mallory.token, map[string]any{"recovery_code": f.recovery[2]}).status)
		requireOAuthError(t, f.refresh(t, next.Body["refresh_token"].(string)), http.StatusBadRequest, oauthErrBody("invalid_grant", "refresh token is invalid or expired"))
	} else {
		t.Logf("the release refused to load %v (storage schema)", refused)
	}

	// And up again: nothing was lost either way.
	switchVersion(t, u.newVersion, f.mounts()...)
	for _, mnt := range f.mounts() {
		require.NoError(t, mountServes(t, mnt, u.newVersion))
	}
	require.Equal(t, upgraded, f.view(t), "everything after going back down and up again")
	require.Equal(t, map[string]any{"active": true}, do(t, "POST", p.path("oidc/introspect"), map[string]any{"token": f.idToken}).Body)
	require.Equal(t, lockedOut(4), m.validate(t, m.lou.token, map[string]any{"passcode": m.code(t, m.lou, time.Now())}), "the lockout after going back down and up again")
}

// TestPluginUpgradeUnderLoad moves a mount from the release to the build
// under test while writers keep writing: requests refused during the
// reload are allowed, acknowledged ones must all be there afterwards.
func TestPluginUpgradeUnderLoad(t *testing.T) {
	u := startUpgradeServer(t)
	mnt := "up-load"
	require.NoError(t, u.Enable(context.Background(), mnt))
	groups := sharedGroups(t, mnt, 4)
	ack := newAcked()
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed int64
	done := make(chan struct{})
	go func() {
		ok, failed = mixedLoad(ctx, t, mnt, groups, 6, 100000, ack)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "50 acknowledged creates under the release", func() bool { return ack.count() >= 50 })
	atReload := ack.count()
	took := switchVersion(t, u.newVersion, mnt)
	require.NoError(t, mountServes(t, mnt, u.newVersion))
	waitFor(t, 60*time.Second, "50 more acknowledged creates under the build under test", func() bool { return ack.count() >= atReload+50 })
	cancel()
	<-done
	t.Logf("reload to %s answered in %s with %d creates acknowledged before it; %d requests answered, %d failed; %d entities and %d memberships to find",
		u.newVersion, took.Round(time.Millisecond), atReload, ok, failed, len(ack.entities), len(ack.members))
	checkStore(t, mnt, ack)
}
