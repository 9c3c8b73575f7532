// Package dump is the versioned file format in which identity-migrate and
// the plugin's import and export paths carry an identity store: JSON lines,
// a header first, one record per line, and a trailer with the counts and a
// SHA-256 of every line before it, so that a truncated or edited file is
// refused before anything is written.
//
// This file holds the records: one kind per object of the store, in the
// order in which they depend on one another. Their data is the object as
// the plugin stores it, with durations in seconds; the format is
// independent of the plugin's storage so that a version 1 dump stays
// readable when the storage changes.
package dump

import (
	"encoding/json"
	"time"
)

// Record kinds.
const (
	KindEntity         = "entity"
	KindEntityAlias    = "entity-alias"
	KindGroup          = "group"
	KindGroupAlias     = "group-alias"
	KindMFAMethod      = "mfa-method"
	KindMFAEnforcement = "mfa-enforcement"
	KindMFASecret      = "mfa-secret"
	KindOIDCConfig     = "oidc-config"
	KindOIDCKey        = "oidc-key"
	KindOIDCScope      = "oidc-scope"
	KindOIDCAssignment = "oidc-assignment"
	KindOIDCClient     = "oidc-client"
	KindOIDCProvider   = "oidc-provider"
	KindOIDCRole       = "oidc-role"
	KindOIDCGrant      = "oidc-grant"
)

// Kinds lists every kind in dependency order: a record refers only to
// records of earlier kinds, or, for groups (their parents), of its own.
var Kinds = []string{
	KindEntity, KindEntityAlias, KindGroup, KindGroupAlias,
	KindMFAMethod, KindMFAEnforcement, KindMFASecret,
	KindOIDCConfig, KindOIDCKey, KindOIDCScope, KindOIDCAssignment, KindOIDCClient, KindOIDCProvider, KindOIDCRole,
	KindOIDCGrant,
}

// KindOrder returns the position of kind in Kinds, -1 if unknown.
func KindOrder(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return i
		}
	}
	return -1
}

// OIDCConfigID is the id of the one oidc-config record.
const OIDCConfigID = "config"

// Record is one object. ID is the object's id (entities, aliases, groups,
// group aliases, MFA methods and enforcements), its name (OIDC objects),
// "<method id>/<entity id>" (mfa-secret), "<kind>/<key>" (oidc-grant)
// or OIDCConfigID.
type Record struct {
	Kind string          `json:"kind"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// NewRecord encodes v as the data of a record.
func NewRecord(kind, id string, v any) (Record, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Record{}, err
	}
	return Record{Kind: kind, ID: id, Data: raw}, nil
}

// Entity is an entity record.
type Entity struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies,omitempty"`
	Disabled        bool              `json:"disabled,omitempty"`
	MergedEntityIDs []string          `json:"merged_entity_ids,omitempty"`
	// ModifyIndex is the plugin's count of the entity's writes; 0 (a
	// source without one) imports as 1.
	ModifyIndex    uint64    `json:"modify_index,omitempty"`
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
}

// Alias is an entity-alias record and, with CanonicalID naming an external
// group and no custom metadata, a group-alias record.
type Alias struct {
	ID                     string            `json:"id"`
	CanonicalID            string            `json:"canonical_id"`
	MountAccessor          string            `json:"mount_accessor"`
	Name                   string            `json:"name"`
	Metadata               map[string]string `json:"metadata"`
	CustomMetadata         map[string]string `json:"custom_metadata"`
	MergedFromCanonicalIDs []string          `json:"merged_from_canonical_ids,omitempty"`
	CreationTime           time.Time         `json:"creation_time"`
	LastUpdateTime         time.Time         `json:"last_update_time"`
}

// Group is a group record, without its alias (a group-alias record of its
// own). The hierarchy is on the child, in ParentGroupIDs, as both engines
// store it.
type Group struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies"`
	MemberEntityIDs []string          `json:"member_entity_ids"`
	ParentGroupIDs  []string          `json:"parent_group_ids"`
	ModifyIndex     uint64            `json:"modify_index,omitempty"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
}

// MFAMethod is an mfa-method record. Provider credentials the source
// could not give (the built-in engine never returns them) are empty.
type MFAMethod struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	Type           string  `json:"type"`
	UsernameFormat string  `json:"username_format,omitempty"`
	TOTP           *TOTP   `json:"totp,omitempty"`
	Okta           *Okta   `json:"okta,omitempty"`
	Duo            *Duo    `json:"duo,omitempty"`
	PingID         *PingID `json:"pingid,omitempty"`
}

// TOTP is a TOTP method's settings; Period is in seconds.
type TOTP struct {
	Issuer                string `json:"issuer"`
	Period                int    `json:"period"`
	Algorithm             string `json:"algorithm"`
	Digits                int    `json:"digits"`
	Skew                  int    `json:"skew"`
	KeySize               int    `json:"key_size"`
	QRSize                int    `json:"qr_size"`
	MaxValidationAttempts int    `json:"max_validation_attempts"`
}

// Okta is an Okta method's settings.
type Okta struct {
	OrgName      string `json:"org_name"`
	APIToken     string `json:"api_token"`
	BaseURL      string `json:"base_url"`
	Production   bool   `json:"production"`
	PrimaryEmail bool   `json:"primary_email"`
}

// Duo is a Duo method's settings.
type Duo struct {
	SecretKey      string `json:"secret_key"`
	IntegrationKey string `json:"integration_key"`
	APIHostname    string `json:"api_hostname"`
	PushInfo       string `json:"push_info"`
	UsePasscode    bool   `json:"use_passcode"`
}

// PingID is a PingID method's settings, from its settings file.
type PingID struct {
	UseBase64Key     string `json:"use_base64_key"`
	UseSignature     bool   `json:"use_signature"`
	Token            string `json:"token"`
	IDPURL           string `json:"idp_url"`
	OrgAlias         string `json:"org_alias"`
	AdminURL         string `json:"admin_url"`
	AuthenticatorURL string `json:"authenticator_url"`
}

// MFAEnforcement is an mfa-enforcement record.
type MFAEnforcement struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	MFAMethodIDs        []string `json:"mfa_method_ids"`
	AuthMethodAccessors []string `json:"auth_method_accessors"`
	AuthMethodTypes     []string `json:"auth_method_types"`
	IdentityGroupIDs    []string `json:"identity_group_ids"`
	IdentityEntityIDs   []string `json:"identity_entity_ids"`
}

// MFASecret is an entity's MFA state for one method, held by the plugin
// only: the TOTP seed, the last accepted time step (replay protection),
// the refused attempts (lockout) and the hashes of unused recovery codes.
type MFASecret struct {
	MethodID       string   `json:"method_id"`
	EntityID       string   `json:"entity_id"`
	Key            string   `json:"key,omitempty"`
	LastStep       int64    `json:"last_step,omitempty"`
	Failures       int      `json:"failures,omitempty"`
	RecoveryHashes []string `json:"recovery_hashes,omitempty"`
}

// MFASecretID is the record id of an mfa-secret.
func MFASecretID(methodID, entityID string) string { return methodID + "/" + entityID }

// OIDCConfig is the oidc-config record: the issuer address ("" for the
// default).
type OIDCConfig struct {
	Issuer string `json:"issuer"`
}

// OIDCKey is an oidc-key record: the key's configuration, and its key
// material only in a dump made with keys (never from the built-in engine,
// which does not give private keys).
type OIDCKey struct {
	Name             string       `json:"name"`
	Algorithm        string       `json:"algorithm"`
	RotationPeriod   int64        `json:"rotation_period"`
	VerificationTTL  int64        `json:"verification_ttl"`
	AllowedClientIDs []string     `json:"allowed_client_ids"`
	Material         *KeyMaterial `json:"material,omitempty"`
}

// KeyMaterial is a key's ring of public keys and the private halves of its
// current and next keys, as JSON Web Keys.
type KeyMaterial struct {
	KeyRing          []RingKey         `json:"key_ring"`
	SigningKeyID     string            `json:"signing_key_id"`
	NextSigningKeyID string            `json:"next_signing_key_id"`
	NextRotation     time.Time         `json:"next_rotation"`
	PrivateKeys      []json.RawMessage `json:"private_keys"`
}

// RingKey is a public key of a key ring; ExpireAt is zero until rotated.
type RingKey struct {
	KeyID    string          `json:"key_id"`
	ExpireAt time.Time       `json:"expire_at"`
	Public   json.RawMessage `json:"public"`
}

// OIDCScope is an oidc-scope record.
type OIDCScope struct {
	Name        string `json:"name"`
	Template    string `json:"template"`
	Description string `json:"description"`
}

// OIDCAssignment is an oidc-assignment record.
type OIDCAssignment struct {
	Name      string   `json:"name"`
	EntityIDs []string `json:"entity_ids"`
	GroupIDs  []string `json:"group_ids"`
}

// OIDCClient is an oidc-client record, with its client_id and secret.
// TTLs are in seconds.
type OIDCClient struct {
	Name                      string   `json:"name"`
	ClientID                  string   `json:"client_id"`
	ClientSecret              string   `json:"client_secret"`
	ClientType                string   `json:"client_type"`
	RedirectURIs              []string `json:"redirect_uris"`
	Assignments               []string `json:"assignments"`
	Key                       string   `json:"key"`
	IDTokenTTL                int64    `json:"id_token_ttl"`
	AccessTokenTTL            int64    `json:"access_token_ttl"`
	RefreshTokenTTL           int64    `json:"refresh_token_ttl"`
	ClientCredentialsEntityID string   `json:"client_credentials_entity_id"`
	GroupFilter               []string `json:"group_filter,omitempty"`
	AccessTokenFormat         string   `json:"access_token_format,omitempty"`
	JWKS                      string   `json:"jwks,omitempty"`
	DeviceGrant               bool     `json:"device_grant,omitempty"`
	PostLogoutRedirectURIs    []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI      string   `json:"backchannel_logout_uri,omitempty"`
}

// OIDCProvider is an oidc-provider record. Issuer is the configured
// address ("" for the default), not the provider's issuer URL.
type OIDCProvider struct {
	Name             string   `json:"name"`
	Issuer           string   `json:"issuer"`
	AllowedClientIDs []string `json:"allowed_client_ids"`
	ScopesSupported  []string `json:"scopes_supported"`
	SignInMethods    []string `json:"sign_in_methods"`
}

// OIDCRole is an oidc-role record; TTL is in seconds.
type OIDCRole struct {
	Name      string   `json:"name"`
	Key       string   `json:"key"`
	Template  string   `json:"template"`
	TTL       int64    `json:"ttl"`
	ClientID  string   `json:"client_id"`
	Audiences []string `json:"audiences,omitempty"`
}

// Grant kinds an oidc-grant record may carry: the records of refresh
// token families (refresh tokens, their access tokens, the family's span
// and its revocation). Codes, device codes and spent client assertion ids
// live for minutes and are not carried.
const (
	GrantAccess  = "access"
	GrantRefresh = "refresh"
	GrantSpan    = "span"
	GrantFamily  = "family"
)

// GrantKinds are the grant kinds, in the order they are exported.
var GrantKinds = []string{GrantAccess, GrantFamily, GrantRefresh, GrantSpan}

// OIDCGrant is an oidc-grant record: a stored grant of the provider as the
// plugin keeps it, under Key: the SHA-256 of its token (refresh, access)
// or its family's id (span, family).
type OIDCGrant struct {
	Kind   string          `json:"kind"`
	Key    string          `json:"key"`
	Record json.RawMessage `json:"record"`
}
