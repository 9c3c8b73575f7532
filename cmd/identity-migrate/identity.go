package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Reading Vault's built-in identity/ engine through its API.

// credentials are the MFA provider secrets the built-in engine never
// returns, given on the command line by method name or id.
type credentials struct {
	duoSecretKey, duoIntegrationKey, oktaAPIToken, pingIDSettings secretFlags
}

// lookup finds a credential of the method, by name first.
func (f secretFlags) lookup(name, id string) (string, bool) {
	if v, ok := f[name]; ok && name != "" {
		return v, true
	}
	v, ok := f[id]
	return v, ok
}

// readers is how many reads of the source run at once.
const readers = 16

// readAll reads every path with readers reads at once.
func readAll(ctx context.Context, v vault, paths []string, prog func(int)) ([]obj, error) {
	out := make([]obj, len(paths))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	var mu sync.Mutex
	done := 0
	for i, p := range paths {
		g.Go(func() error {
			o, err := v.read(ctx, p)
			if err != nil {
				return err
			}
			out[i] = o
			mu.Lock()
			done++
			if prog != nil && done%500 == 0 {
				prog(done)
			}
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// identityReader builds the records of the built-in engine.
type identityReader struct {
	v     vault
	creds credentials
	prog  *progress
	s     *source
	// records by kind, joined in dependency order at the end.
	byKind map[string][]dump.Record
	// what exists, to leave out references to deleted objects.
	entities, groups map[string]bool
	// the aliases, for the entities an enforcement reaches by mount.
	aliases []aliasInfo
	// group hierarchy and members, for the entities of a group.
	members  map[string][]string
	children map[string][]string
	clientID map[string]bool
}

type aliasInfo struct {
	entity, accessor, mountType string
}

func (r *identityReader) add(kind, id string, v any) error {
	rec, err := dump.NewRecord(kind, id, v)
	if err != nil {
		return err
	}
	r.byKind[kind] = append(r.byKind[kind], rec)
	return nil
}

func (r *identityReader) note(format string, args ...any) {
	r.s.notes = append(r.s.notes, fmt.Sprintf(format, args...))
}

// readIdentity reads the whole built-in store.
func readIdentity(ctx context.Context, v vault, creds credentials, prog *progress) (*source, error) {
	r := &identityReader{
		v: v, creds: creds, prog: prog,
		s:        &source{header: dump.Header{Source: dump.SourceIdentity, Mount: "identity"}, reenroll: map[string][]string{}, providers: map[string]string{}},
		byKind:   map[string][]dump.Record{},
		entities: map[string]bool{}, groups: map[string]bool{},
		members: map[string][]string{}, children: map[string][]string{}, clientID: map[string]bool{},
	}
	for _, step := range []func(context.Context) error{r.readEntities, r.readGroups, r.readOIDC, r.readMFA} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	for _, k := range dump.Kinds {
		r.s.records = append(r.s.records, r.byKind[k]...)
	}
	return r.s, nil
}

func (r *identityReader) readEntities(ctx context.Context) error {
	ids, err := r.v.list(ctx, "identity/entity/id")
	if err != nil {
		return err
	}
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = "identity/entity/id/" + url.PathEscape(id)
	}
	ents, err := readAll(ctx, r.v, paths, r.prog.reading)
	if err != nil {
		return err
	}
	var aliases []dump.Alias
	for _, e := range ents {
		if e == nil {
			continue // deleted meanwhile
		}
		id := e.str("id")
		r.entities[id] = true
		if err := r.add(dump.KindEntity, id, dump.Entity{
			ID: id, Name: e.str("name"), Metadata: e.strMap("metadata"), Policies: e.strs("policies"),
			Disabled: e.bool("disabled"), MergedEntityIDs: e.strs("merged_entity_ids"),
			CreationTime: e.time("creation_time"), LastUpdateTime: e.time("last_update_time"),
		}); err != nil {
			return err
		}
		for _, a := range e.list("aliases") {
			aliases = append(aliases, aliasOf(a))
			r.aliases = append(r.aliases, aliasInfo{entity: id, accessor: a.str("mount_accessor"), mountType: a.str("mount_type")})
		}
	}
	sort.Slice(aliases, func(i, j int) bool { return aliases[i].ID < aliases[j].ID })
	for _, a := range aliases {
		if err := r.add(dump.KindEntityAlias, a.ID, a); err != nil {
			return err
		}
	}
	r.prog.reading(len(ents) + len(aliases))
	return nil
}

func aliasOf(a obj) dump.Alias {
	return dump.Alias{
		ID: a.str("id"), CanonicalID: a.str("canonical_id"), MountAccessor: a.str("mount_accessor"), Name: a.str("name"),
		Metadata: a.strMap("metadata"), CustomMetadata: a.strMap("custom_metadata"), MergedFromCanonicalIDs: a.strs("merged_from_canonical_ids"),
		CreationTime: a.time("creation_time"), LastUpdateTime: a.time("last_update_time"),
	}
}

// keep returns the ids of list that exist, noting those left out.
func (r *identityReader) keep(list []string, exists map[string]bool, what string) []string {
	if list == nil {
		return nil
	}
	out := []string{}
	for _, id := range list {
		if exists[id] {
			out = append(out, id)
		} else {
			r.note("%s %s no longer exists in identity/ and was left out", what, id)
		}
	}
	return out
}

func (r *identityReader) readGroups(ctx context.Context) error {
	ids, err := r.v.list(ctx, "identity/group/id")
	if err != nil {
		return err
	}
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = "identity/group/id/" + url.PathEscape(id)
	}
	groups, err := readAll(ctx, r.v, paths, nil)
	if err != nil {
		return err
	}
	byID := map[string]obj{}
	for _, g := range groups {
		if g != nil {
			byID[g.str("id")] = g
			r.groups[g.str("id")] = true
		}
	}
	recs := map[string]dump.Group{}
	for id, g := range byID {
		d := dump.Group{
			ID: id, Name: g.str("name"), Type: g.str("type"), Metadata: g.strMap("metadata"), Policies: g.strs("policies"),
			MemberEntityIDs: r.keep(g.strs("member_entity_ids"), r.entities, "group "+g.str("name")+": member entity"),
			ParentGroupIDs:  r.keep(g.strs("parent_group_ids"), r.groups, "group "+g.str("name")+": parent group"),
			ModifyIndex:     uint64(g.int("modify_index")),
			CreationTime:    g.time("creation_time"), LastUpdateTime: g.time("last_update_time"),
		}
		recs[id] = d
		r.members[id] = d.MemberEntityIDs
		for _, p := range d.ParentGroupIDs {
			r.children[p] = append(r.children[p], id)
		}
	}
	// Parents before children: by depth, then id.
	depth := map[string]int{}
	var depthOf func(id string, path map[string]bool) int
	depthOf = func(id string, path map[string]bool) int {
		if d, ok := depth[id]; ok {
			return d
		}
		path[id] = true
		d := 0
		for _, p := range recs[id].ParentGroupIDs {
			if !path[p] {
				d = max(d, depthOf(p, path)+1)
			}
		}
		delete(path, id)
		depth[id] = d
		return d
	}
	order := make([]string, 0, len(recs))
	for id := range recs {
		depthOf(id, map[string]bool{})
		order = append(order, id)
	}
	sort.Slice(order, func(i, j int) bool {
		if depth[order[i]] != depth[order[j]] {
			return depth[order[i]] < depth[order[j]]
		}
		return order[i] < order[j]
	})
	var galiases []dump.Alias
	for _, id := range order {
		if err := r.add(dump.KindGroup, id, recs[id]); err != nil {
			return err
		}
		if a := byID[id].sub("alias"); a.str("id") != "" {
			ga := aliasOf(a)
			ga.CanonicalID, ga.CustomMetadata = id, nil
			galiases = append(galiases, ga)
		}
	}
	sort.Slice(galiases, func(i, j int) bool { return galiases[i].ID < galiases[j].ID })
	for _, a := range galiases {
		if err := r.add(dump.KindGroupAlias, a.ID, a); err != nil {
			return err
		}
	}
	return nil
}

// readNamed lists a family of named objects and reads each.
func (r *identityReader) readNamed(ctx context.Context, path string) ([]string, []obj, error) {
	names, err := r.v.list(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = path + "/" + url.PathEscape(n)
	}
	objs, err := readAll(ctx, r.v, paths, nil)
	return names, objs, err
}

func (r *identityReader) readOIDC(ctx context.Context) error {
	cfg, err := r.v.read(ctx, "identity/oidc/config")
	if err != nil {
		return err
	}
	if cfg != nil {
		if err := r.add(dump.KindOIDCConfig, dump.OIDCConfigID, dump.OIDCConfig{Issuer: cfg.str("issuer")}); err != nil {
			return err
		}
	}
	if disc, err := r.v.rawJSON(ctx, "identity/oidc/.well-known/openid-configuration"); err == nil {
		r.s.identityIssuer, _ = disc["issuer"].(string)
	}
	names, keys, err := r.readNamed(ctx, "identity/oidc/key")
	if err != nil {
		return err
	}
	for i, k := range keys {
		if k == nil {
			continue
		}
		r.s.newKeys = append(r.s.newKeys, names[i])
		if err := r.add(dump.KindOIDCKey, names[i], dump.OIDCKey{
			Name: names[i], Algorithm: k.str("algorithm"), RotationPeriod: k.int("rotation_period"),
			VerificationTTL: k.int("verification_ttl"), AllowedClientIDs: k.strs("allowed_client_ids"),
		}); err != nil {
			return err
		}
	}
	names, scopes, err := r.readNamed(ctx, "identity/oidc/scope")
	if err != nil {
		return err
	}
	for i, sc := range scopes {
		if sc != nil {
			if err := r.add(dump.KindOIDCScope, names[i], dump.OIDCScope{Name: names[i], Template: sc.str("template"), Description: sc.str("description")}); err != nil {
				return err
			}
		}
	}
	names, assignments, err := r.readNamed(ctx, "identity/oidc/assignment")
	if err != nil {
		return err
	}
	for i, a := range assignments {
		// allow_all is built into both engines, and cannot change.
		if a != nil && names[i] != "allow_all" {
			if err := r.add(dump.KindOIDCAssignment, names[i], dump.OIDCAssignment{Name: names[i], EntityIDs: a.strs("entity_ids"), GroupIDs: a.strs("group_ids")}); err != nil {
				return err
			}
		}
	}
	names, clients, err := r.readNamed(ctx, "identity/oidc/client")
	if err != nil {
		return err
	}
	for i, c := range clients {
		if c == nil {
			continue
		}
		r.clientID[c.str("client_id")] = true
		if err := r.add(dump.KindOIDCClient, names[i], dump.OIDCClient{
			Name: names[i], ClientID: c.str("client_id"), ClientSecret: c.str("client_secret"), ClientType: c.str("client_type"),
			RedirectURIs: c.strs("redirect_uris"), Assignments: c.strs("assignments"), Key: c.str("key"),
			IDTokenTTL: c.int("id_token_ttl"), AccessTokenTTL: c.int("access_token_ttl"),
		}); err != nil {
			return err
		}
	}
	apiAddr := r.v.c.Address()
	if l, err := r.v.c.Sys().LeaderWithContext(ctx); err == nil && l.LeaderAddress != "" {
		apiAddr = l.LeaderAddress
	}
	names, providers, err := r.readNamed(ctx, "identity/oidc/provider")
	if err != nil {
		return err
	}
	for i, p := range providers {
		if p == nil {
			continue
		}
		r.s.providers[names[i]] = p.str("issuer")
		if err := r.add(dump.KindOIDCProvider, names[i], dump.OIDCProvider{
			Name: names[i], Issuer: configuredIssuer(p.str("issuer"), apiAddr),
			AllowedClientIDs: r.keep(p.strs("allowed_client_ids"), withStar(r.clientID), "provider "+names[i]+": allowed client id"),
			ScopesSupported:  p.strs("scopes_supported"),
		}); err != nil {
			return err
		}
	}
	names, roles, err := r.readNamed(ctx, "identity/oidc/role")
	if err != nil {
		return err
	}
	for i, ro := range roles {
		if ro != nil {
			if err := r.add(dump.KindOIDCRole, names[i], dump.OIDCRole{
				Name: names[i], Key: ro.str("key"), Template: ro.str("template"), TTL: ro.int("ttl"), ClientID: ro.str("client_id"),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func withStar(m map[string]bool) map[string]bool {
	out := map[string]bool{"*": true}
	for k := range m {
		out[k] = true
	}
	return out
}

// configuredIssuer is the issuer setting behind a provider's issuer URL:
// "" (the default) when its address is Vault's API address.
func configuredIssuer(issuerURL, apiAddr string) string {
	u, err := url.Parse(issuerURL)
	if err != nil || u.Host == "" {
		return ""
	}
	addr := u.Scheme + "://" + u.Host
	if addr == strings.TrimSuffix(apiAddr, "/") {
		return ""
	}
	return addr
}

func (r *identityReader) readMFA(ctx context.Context) error {
	ids, err := r.v.list(ctx, "identity/mfa/method")
	if err != nil {
		return err
	}
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = "identity/mfa/method/" + url.PathEscape(id)
	}
	methods, err := readAll(ctx, r.v, paths, nil)
	if err != nil {
		return err
	}
	totp := map[string]string{} // id → name
	for _, m := range methods {
		if m == nil {
			continue
		}
		d, err := r.method(m)
		if err != nil {
			return err
		}
		if d.Type == "totp" {
			totp[d.ID] = cmpOr(d.Name, d.ID)
		}
		if err := r.add(dump.KindMFAMethod, d.ID, d); err != nil {
			return err
		}
	}
	names, enfs, err := r.readNamed(ctx, "identity/mfa/login-enforcement")
	if err != nil {
		return err
	}
	reached := map[string]map[string]bool{} // TOTP method → entities
	for i, e := range enfs {
		if e == nil {
			continue
		}
		d := dump.MFAEnforcement{
			ID: e.str("id"), Name: names[i], MFAMethodIDs: e.strs("mfa_method_ids"),
			AuthMethodAccessors: e.strs("auth_method_accessors"), AuthMethodTypes: e.strs("auth_method_types"),
			IdentityGroupIDs:  r.keep(e.strs("identity_group_ids"), r.groups, "login enforcement "+names[i]+": group"),
			IdentityEntityIDs: r.keep(e.strs("identity_entity_ids"), r.entities, "login enforcement "+names[i]+": entity"),
		}
		if err := r.add(dump.KindMFAEnforcement, d.ID, d); err != nil {
			return err
		}
		for _, m := range d.MFAMethodIDs {
			if _, ok := totp[m]; ok {
				if reached[m] == nil {
					reached[m] = map[string]bool{}
				}
				for id := range r.enforced(d) {
					reached[m][id] = true
				}
			}
		}
	}
	for id, name := range totp {
		if ents, ok := reached[id]; ok {
			r.s.reenroll[name] = sortedSet(ents)
		} else {
			r.s.reenrollUnknown = append(r.s.reenrollUnknown, name)
		}
	}
	sort.Strings(r.s.reenrollUnknown)
	return nil
}

// enforced returns the entities whose logins an enforcement applies to:
// those it names, the members of its groups and of their subgroups, and
// those with an alias on its mounts or mount types.
func (r *identityReader) enforced(e dump.MFAEnforcement) map[string]bool {
	out := map[string]bool{}
	for _, id := range e.IdentityEntityIDs {
		out[id] = true
	}
	seen := map[string]bool{}
	queue := slices.Clone(e.IdentityGroupIDs)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] {
			continue
		}
		seen[g] = true
		for _, m := range r.members[g] {
			out[m] = true
		}
		queue = append(queue, r.children[g]...)
	}
	for _, a := range r.aliases {
		if slices.Contains(e.AuthMethodAccessors, a.accessor) || (a.mountType != "" && slices.Contains(e.AuthMethodTypes, a.mountType)) {
			out[a.entity] = true
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// method is a method record; provider credentials come from the command
// line, and a method without them is imported without them and listed as
// needing action.
func (r *identityReader) method(m obj) (dump.MFAMethod, error) {
	d := dump.MFAMethod{ID: m.str("id"), Name: m.str("name"), Type: m.str("type"), UsernameFormat: m.str("username_format")}
	label := cmpOr(d.Name, d.ID)
	missing := func(what string, flags ...string) {
		for i, f := range flags {
			flags[i] = f + " " + label + "=…"
		}
		pronoun := "it"
		if strings.Contains(what, " and ") {
			pronoun = "them"
		}
		r.s.needs = append(r.s.needs, fmt.Sprintf("MFA method %s (%s, id %s): the built-in engine does not return its %s; give %s with %s, or write the method again on the plugin mount: until then every validation with it fails", label, d.Type, d.ID, what, pronoun, strings.Join(flags, " and ")))
	}
	c := r.creds
	switch d.Type {
	case "totp":
		d.TOTP = &dump.TOTP{
			Issuer: m.str("issuer"), Period: int(m.int("period")), Algorithm: m.str("algorithm"), Digits: int(m.int("digits")),
			Skew: int(m.int("skew")), KeySize: int(m.int("key_size")), QRSize: int(m.int("qr_size")), MaxValidationAttempts: int(m.int("max_validation_attempts")),
		}
	case "duo":
		d.Duo = &dump.Duo{APIHostname: m.str("api_hostname"), PushInfo: m.str("pushinfo"), UsePasscode: m.bool("use_passcode")}
		var ok1, ok2 bool
		d.Duo.SecretKey, ok1 = c.duoSecretKey.lookup(d.Name, d.ID)
		d.Duo.IntegrationKey, ok2 = c.duoIntegrationKey.lookup(d.Name, d.ID)
		if !ok1 || !ok2 {
			missing("secret_key and integration_key", "--duo-secret-key", "--duo-integration-key")
		}
	case "okta":
		d.Okta = &dump.Okta{OrgName: m.str("org_name"), BaseURL: m.str("base_url"), Production: m.bool("production")}
		if _, ok := m["production"]; !ok {
			d.Okta.Production = true
		}
		var ok bool
		if d.Okta.APIToken, ok = c.oktaAPIToken.lookup(d.Name, d.ID); !ok {
			missing("api_token", "--okta-api-token")
		}
		r.s.needs = append(r.s.needs, fmt.Sprintf("MFA method %s (okta, id %s): the built-in engine does not return primary_email; set it again on the plugin mount if it was true", label, d.ID))
	case "pingid":
		d.PingID = &dump.PingID{
			UseSignature: m.bool("use_signature"), IDPURL: m.str("idp_url"), OrgAlias: m.str("org_alias"),
			AdminURL: m.str("admin_url"), AuthenticatorURL: m.str("authenticator_url"),
		}
		path, ok := c.pingIDSettings.lookup(d.Name, d.ID)
		if !ok {
			missing("token and use_base64_key (from its settings file)", "--pingid-settings-file")
			break
		}
		token, key, err := pingIDSecrets(path)
		if err != nil {
			return d, err
		}
		d.PingID.Token, d.PingID.UseBase64Key = token, key
	default:
		return d, fmt.Errorf("MFA method %s has an unknown type %q", d.ID, d.Type)
	}
	return d, nil
}

// pingIDSecrets reads token and use_base64_key from a PingID settings file
// (key=value lines), base64-encoded or not.
func pingIDSecrets(path string) (string, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw))); err == nil {
		raw = dec
	}
	var token, key string
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		switch {
		case !ok:
		case k == "token":
			token = v
		case k == "use_base64_key":
			key = v
		}
	}
	if token == "" || key == "" {
		return "", "", fmt.Errorf("%s: a PingID settings file with token and use_base64_key expected", path)
	}
	return token, key, nil
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// remarshal turns a decoded JSON value into v.
func remarshal(in, v any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
