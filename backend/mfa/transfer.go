package mfa

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// Import and export of MFA methods, login enforcements and the entities'
// MFA state (TOTP seeds with their replay and lockout state, recovery code
// hashes). The batch holds s.state.mu for writing.

// --- methods ---

type mfaMethodTransfer struct {
	transfer.NoPrepare
	s *Service
}

func (k mfaMethodTransfer) Parallel() bool { return false }

// placeholder stands in for a provider credential the source did not
// give while the method's other settings are checked as a write checks
// them; the record's own (empty) value is what is stored.
const placeholder = "-"

func (k mfaMethodTransfer) Decode(it *transfer.Item) error {
	var d dump.MFAMethod
	if err := transfer.Decode(it, &d, func() string { return d.ID }); err != nil {
		return err
	}
	if err := transfer.CheckName("method id", d.ID); err != nil {
		return err
	}
	m := &MFAMethod{ID: d.ID, Name: d.Name, Type: d.Type, NamespaceID: core.NamespaceID, UsernameFormat: d.UsernameFormat}
	settings := 0
	for _, set := range []bool{d.TOTP != nil, d.Okta != nil, d.Duo != nil, d.PingID != nil} {
		if set {
			settings++
		}
	}
	if settings > 1 {
		return errors.New("a method has the settings of one type only")
	}
	var err error
	switch d.Type {
	case MFATOTP:
		if d.TOTP == nil {
			return errors.New("a totp method needs its totp settings")
		}
		t := d.TOTP
		m.TOTP, err = parseTOTP(MFAMethodInput{
			Issuer: t.Issuer, Period: time.Duration(t.Period) * time.Second, KeySize: t.KeySize, QRSize: t.QRSize,
			Algorithm: t.Algorithm, Digits: t.Digits, Skew: t.Skew, MaxValidationAttempts: t.MaxValidationAttempts,
		})
	case MFAOkta:
		if d.Okta == nil {
			return errors.New("an okta method needs its okta settings")
		}
		o := d.Okta
		m.Okta, err = parseOkta(MFAMethodInput{
			OrgName: o.OrgName, APIToken: cmp.Or(o.APIToken, placeholder), BaseURL: o.BaseURL,
			Production: core.Some(o.Production), PrimaryEmail: o.PrimaryEmail,
		})
		if err == nil {
			m.Okta.APIToken = o.APIToken
		}
	case MFADuo:
		if d.Duo == nil {
			return errors.New("a duo method needs its duo settings")
		}
		du := d.Duo
		m.Duo, err = parseDuo(MFAMethodInput{
			SecretKey: cmp.Or(du.SecretKey, placeholder), IntegrationKey: cmp.Or(du.IntegrationKey, placeholder),
			APIHostname: du.APIHostname, PushInfo: du.PushInfo, UsePasscode: du.UsePasscode,
		})
		if err == nil {
			m.Duo.SecretKey, m.Duo.IntegrationKey = du.SecretKey, du.IntegrationKey
		}
	case MFAPingID:
		if d.PingID == nil {
			return errors.New("a pingid method needs its pingid settings")
		}
		p := *d.PingID
		if p.IDPURL != "" {
			err = core.CheckSecureURL("idp_url", p.IDPURL)
		}
		m.PingID = &PingSettings{
			UseBase64Key: p.UseBase64Key, UseSignature: p.UseSignature, Token: p.Token, IDPURL: p.IDPURL,
			OrgAlias: p.OrgAlias, AdminURL: p.AdminURL, AuthenticatorURL: p.AuthenticatorURL,
		}
	default:
		return fmt.Errorf("unrecognized type %q", d.Type)
	}
	if err != nil {
		return err
	}
	it.Obj = m
	return nil
}

func (k mfaMethodTransfer) LockKeys(*transfer.Item) []string { return nil }

func (k mfaMethodTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	m := it.Obj.(*MFAMethod)
	if m.Name != "" && !b.ClaimOrDuplicate(it, "mfa-method-name", m.Name, fmt.Sprintf("method name %q", m.Name)) {
		return nil
	}
	cur := k.s.state.methods[m.ID]
	switch holder := k.s.state.methodByName(m.Name); {
	case holder != nil && holder.ID != m.ID:
		b.Taken(it, "a login MFA method configuration with the method name %s already exists: %s", m.Name, holder.ID)
	default:
		transfer.Compare(b, it, cur, m, "MFA method "+m.ID)
	}
	return nil
}

func (k mfaMethodTransfer) Refs(*transfer.Batch, *transfer.Item) {}

func (k mfaMethodTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	return k.s.storage.PutJSON(ctx, mfaMethodPrefix+it.Rec.ID, it.Obj)
}

func (k mfaMethodTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		k.s.state.methods[it.Rec.ID] = it.Obj.(*MFAMethod)
	}
}

func methodRecord(m *MFAMethod) dump.MFAMethod {
	d := dump.MFAMethod{ID: m.ID, Name: m.Name, Type: m.Type, UsernameFormat: m.UsernameFormat}
	if t := m.TOTP; t != nil {
		d.TOTP = &dump.TOTP{
			Issuer: t.Issuer, Period: t.Period, Algorithm: t.Algorithm, Digits: t.Digits, Skew: t.Skew,
			KeySize: t.KeySize, QRSize: t.QRSize, MaxValidationAttempts: t.MaxValidationAttempts,
		}
	}
	if o := m.Okta; o != nil {
		d.Okta = &dump.Okta{OrgName: o.OrgName, APIToken: o.APIToken, BaseURL: o.BaseURL, Production: o.Production, PrimaryEmail: o.PrimaryEmail}
	}
	if du := m.Duo; du != nil {
		d.Duo = &dump.Duo{SecretKey: du.SecretKey, IntegrationKey: du.IntegrationKey, APIHostname: du.APIHostname, PushInfo: du.PushInfo, UsePasscode: du.UsePasscode}
	}
	if p := m.PingID; p != nil {
		d.PingID = &dump.PingID{
			UseBase64Key: p.UseBase64Key, UseSignature: p.UseSignature, Token: p.Token, IDPURL: p.IDPURL,
			OrgAlias: p.OrgAlias, AdminURL: p.AdminURL, AuthenticatorURL: p.AuthenticatorURL,
		}
	}
	return d
}

func (k mfaMethodTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	s.state.mu.RLock()
	var list []*MFAMethod
	for _, id := range transfer.PageAfter(core.SortedKeys(s.state.methods), after, limit) {
		list = append(list, s.state.methods[id])
	}
	s.state.mu.RUnlock()
	return transfer.RecordsOf(dump.KindMFAMethod, list, func(m *MFAMethod) (string, any) { return m.ID, methodRecord(m) })
}

// --- login enforcements ---

type mfaEnforcementTransfer struct{ s *Service }

// Prepare looks up, before any lock, the auth mounts and mount types the
// enforcement names ("accessor/<accessor>" and "type/<type>" in it.Aux).
func (k mfaEnforcementTransfer) Prepare(ctx context.Context, it *transfer.Item) {
	e := it.Obj.(*MFAEnforcement)
	known := map[string]bool{}
	for _, a := range e.AuthMethodAccessors {
		_, known["accessor/"+a] = k.s.identity.ResolveMount(ctx, a)
	}
	for _, t := range e.AuthMethodTypes {
		known["type/"+t] = k.s.identity.HasMountType(ctx, t)
	}
	it.Aux = known
}

func (k mfaEnforcementTransfer) Parallel() bool { return false }

func (k mfaEnforcementTransfer) Decode(it *transfer.Item) error {
	var d dump.MFAEnforcement
	if err := transfer.Decode(it, &d, func() string { return d.ID }); err != nil {
		return err
	}
	if err := transfer.CheckNames("enforcement id", d.ID, "enforcement name", d.Name); err != nil {
		return err
	}
	it.Obj = &MFAEnforcement{
		ID: d.ID, Name: d.Name, NamespaceID: core.NamespaceID, MFAMethodIDs: d.MFAMethodIDs,
		AuthMethodAccessors: d.AuthMethodAccessors, AuthMethodTypes: d.AuthMethodTypes,
		IdentityGroupIDs: d.IdentityGroupIDs, IdentityEntityIDs: d.IdentityEntityIDs,
	}
	return nil
}

func (k mfaEnforcementTransfer) LockKeys(*transfer.Item) []string { return nil }

func (st *mfaState) enforcementByID(id string) *MFAEnforcement {
	for _, e := range st.enforcements {
		if e.ID == id {
			return e
		}
	}
	return nil
}

func (k mfaEnforcementTransfer) Check(_ context.Context, b *transfer.Batch, it *transfer.Item) error {
	e := it.Obj.(*MFAEnforcement)
	if !b.ClaimOrDuplicate(it, "mfa-enforcement-name", e.Name, fmt.Sprintf("login enforcement name %q", e.Name)) {
		return nil
	}
	cur := k.s.state.enforcementByID(e.ID)
	switch holder := k.s.state.enforcements[e.Name]; {
	case holder != nil && holder.ID != e.ID:
		b.Taken(it, "login enforcement name %q is already used by enforcement %s", e.Name, holder.ID)
	default:
		transfer.Compare(b, it, cur, e, "login enforcement "+e.ID)
	}
	return nil
}

func (k mfaEnforcementTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	e := it.Obj.(*MFAEnforcement)
	for _, id := range e.MFAMethodIDs {
		if !b.Will(dump.KindMFAMethod, id) && k.s.state.methods[id] == nil {
			it.Missing(dump.KindMFAMethod, id, "mfa_method_ids: %q names no MFA method", id)
		}
	}
	known := it.Aux.(map[string]bool)
	for _, a := range e.AuthMethodAccessors {
		if !known["accessor/"+a] {
			it.Problem(transfer.ProblemInvalid, "auth_method_accessors: invalid mount accessor %q", a)
		}
	}
	for _, t := range e.AuthMethodTypes {
		if !known["type/"+t] {
			it.Problem(transfer.ProblemInvalid, "auth_method_types: no auth method of type %q", t)
		}
	}
	for _, id := range e.IdentityGroupIDs {
		if !b.Will(dump.KindGroup, id) && !k.s.identity.GroupExists(id) {
			it.Missing(dump.KindGroup, id, "identity_group_ids: %q names no group", id)
		}
	}
	for _, id := range e.IdentityEntityIDs {
		if !b.Will(dump.KindEntity, id) && k.s.identity.EntityRecord(id) == nil {
			it.Missing(dump.KindEntity, id, "identity_entity_ids: %q names no entity", id)
		}
	}
}

// write stores the enforcement under its name; one renamed by an
// overwrite leaves its old name.
func (k mfaEnforcementTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	e := it.Obj.(*MFAEnforcement)
	if cur, _ := it.Cur.(*MFAEnforcement); cur != nil && cur.Name != e.Name {
		if err := k.s.storage.Remove(ctx, mfaEnforcementPrefix+cur.Name); err != nil {
			return err
		}
		delete(k.s.state.enforcements, cur.Name)
	}
	return k.s.storage.PutJSON(ctx, mfaEnforcementPrefix+e.Name, e)
}

func (k mfaEnforcementTransfer) Publish(b *transfer.Batch, written []*transfer.Item) {
	for _, it := range written {
		e := it.Obj.(*MFAEnforcement)
		k.s.state.enforcements[e.Name] = e
	}
}

// export leaves out the entity and group ids of objects deleted since the
// enforcement was written (the engine keeps them; they select nothing),
// since an import checks every reference.
func (k mfaEnforcementTransfer) Export(_ context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	s.state.mu.RLock()
	byID := map[string]MFAEnforcement{}
	for _, e := range s.state.enforcements {
		byID[e.ID] = *e
	}
	s.state.mu.RUnlock()
	var list []MFAEnforcement
	for _, id := range transfer.PageAfter(core.SortedKeys(byID), after, limit) {
		e := byID[id]
		if e.IdentityEntityIDs != nil {
			e.IdentityEntityIDs = slices.DeleteFunc(slices.Clone(e.IdentityEntityIDs), func(id string) bool { return s.identity.EntityRecord(id) == nil })
		}
		if e.IdentityGroupIDs != nil {
			e.IdentityGroupIDs = slices.DeleteFunc(slices.Clone(e.IdentityGroupIDs), func(id string) bool { return !s.identity.GroupExists(id) })
		}
		list = append(list, e)
	}
	return transfer.RecordsOf(dump.KindMFAEnforcement, list, func(e MFAEnforcement) (string, any) {
		return e.ID, dump.MFAEnforcement{
			ID: e.ID, Name: e.Name, MFAMethodIDs: e.MFAMethodIDs, AuthMethodAccessors: e.AuthMethodAccessors,
			AuthMethodTypes: e.AuthMethodTypes, IdentityGroupIDs: e.IdentityGroupIDs, IdentityEntityIDs: e.IdentityEntityIDs,
		}
	})
}

// --- the entities' MFA state ---

type mfaSecretTransfer struct {
	transfer.NoPrepare
	s *Service
}

// secretImport is an mfa-secret record's object.
type secretImport struct {
	methodID, entityID string
	sec                *entitySecret
}

func (k mfaSecretTransfer) Parallel() bool { return true }

func (k mfaSecretTransfer) Decode(it *transfer.Item) error {
	var d dump.MFASecret
	if err := transfer.Decode(it, &d, func() string { return dump.MFASecretID(d.MethodID, d.EntityID) }); err != nil {
		return err
	}
	if err := transfer.CheckNames("method_id", d.MethodID, "entity_id", d.EntityID); err != nil {
		return err
	}
	if d.Key != "" {
		if _, err := decodeSeed(d.Key); err != nil {
			return errors.New("key: not a base32 TOTP seed")
		}
	}
	if d.LastStep < 0 || d.Failures < 0 {
		return errors.New("last_step and failures must not be negative")
	}
	for _, h := range d.RecoveryHashes {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || strings.ToLower(h) != h {
			return errors.New("recovery_hashes: each must be a SHA-256 in lower-case hex")
		}
	}
	it.Obj = &secretImport{methodID: d.MethodID, entityID: d.EntityID, sec: &entitySecret{
		Key: d.Key, LastStep: d.LastStep, Failures: d.Failures, RecoveryHashes: d.RecoveryHashes,
	}}
	return nil
}

func (k mfaSecretTransfer) LockKeys(it *transfer.Item) []string {
	o := it.Obj.(*secretImport)
	return []string{kSecret(o.methodID, o.entityID), identity.EntityLockKey(o.entityID)}
}

func (k mfaSecretTransfer) Check(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	o := it.Obj.(*secretImport)
	cur, err := k.s.readSecret(ctx, o.methodID, o.entityID)
	if err != nil {
		return err
	}
	if cur == nil {
		it.Action = transfer.ActionCreated
		return nil
	}
	it.Cur = cur
	same, diff := transfer.SameJSON(cur, o.sec)
	b.Settle(it, same, "MFA secret "+it.Rec.ID, diff)
	return nil
}

func (k mfaSecretTransfer) Refs(b *transfer.Batch, it *transfer.Item) {
	o := it.Obj.(*secretImport)
	// The method as the batch leaves it.
	m := k.s.state.methods[o.methodID]
	if pm, ok := b.Pending(dump.KindMFAMethod, o.methodID).(*MFAMethod); ok {
		m = pm
	}
	switch {
	case m == nil:
		it.Missing(dump.KindMFAMethod, o.methodID, "method_id %q names no MFA method", o.methodID)
	case m.Type != MFATOTP && (o.sec.Key != "" || len(o.sec.RecoveryHashes) > 0):
		it.Problem(transfer.ProblemInvalid, "only a TOTP method's secret holds a seed or recovery codes")
	}
	if !b.Will(dump.KindEntity, o.entityID) && k.s.identity.EntityRecord(o.entityID) == nil {
		it.Missing(dump.KindEntity, o.entityID, "entity_id %q names no entity", o.entityID)
	}
}

func (k mfaSecretTransfer) Write(ctx context.Context, b *transfer.Batch, it *transfer.Item) error {
	o := it.Obj.(*secretImport)
	return k.s.storage.PutJSON(ctx, secretKey(o.methodID, o.entityID), o.sec)
}

func (k mfaSecretTransfer) Publish(*transfer.Batch, []*transfer.Item) {}

// export lists the secrets in storage, of methods and entities that exist.
func (k mfaSecretTransfer) Export(ctx context.Context, after string, limit int, _ transfer.ExportRequest) ([]dump.Record, []string, error) {
	s := k.s
	methods, err := s.storage.List(ctx, totpPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to list %q: %w", totpPrefix, err)
	}
	var keys []string
	for _, m := range methods {
		mid, ok := strings.CutSuffix(m, "/")
		if !ok {
			continue
		}
		entities, err := s.storage.List(ctx, totpPrefix+m)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to list %q: %w", totpPrefix+m, err)
		}
		for _, e := range entities {
			keys = append(keys, dump.MFASecretID(mid, e))
		}
	}
	slices.Sort(keys)
	return transfer.PageOfKeys(dump.KindMFASecret, keys, after, limit, func(k string) (any, bool, error) {
		mid, eid, _ := strings.Cut(k, "/")
		s.state.mu.RLock()
		live := s.state.methods[mid] != nil
		s.state.mu.RUnlock()
		if !live || s.identity.EntityRecord(eid) == nil {
			return nil, false, nil
		}
		sec, err := s.readSecret(ctx, mid, eid)
		if err != nil || sec == nil {
			return nil, false, err
		}
		return dump.MFASecret{
			MethodID: mid, EntityID: eid, Key: sec.Key, LastStep: sec.LastStep, Failures: sec.Failures, RecoveryHashes: sec.RecoveryHashes,
		}, true, nil
	})
}

// TransferKinds are MFA's record kinds for import and export.
func (s *Service) TransferKinds() map[string]transfer.Kind {
	return map[string]transfer.Kind{
		dump.KindMFAMethod:      mfaMethodTransfer{s: s},
		dump.KindMFAEnforcement: mfaEnforcementTransfer{s: s},
		dump.KindMFASecret:      mfaSecretTransfer{s: s},
	}
}

// HoldForImport runs f holding the configuration lock for writing, as an
// import batch with records of this part does, inside its stripes.
func (s *Service) HoldForImport(f func() error) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return f()
}
