package mfa

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/parseutil"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Storage of MFA configuration. Everything under mfa/ is declared
// seal-wrapped: methods hold provider secrets, and TOTP seeds and recovery
// code hashes live there too.
const (
	mfaPrefix            = "mfa/"
	mfaMethodPrefix      = "mfa/method/"
	mfaEnforcementPrefix = "mfa/enforcement/"
	// MFASealWrapPrefix is the storage prefix holding MFA secrets.
	MFASealWrapPrefix = mfaPrefix
)

// MFA method types.
const (
	MFATOTP   = "totp"
	MFAOkta   = "okta"
	MFADuo    = "duo"
	MFAPingID = "pingid"
)

// defaultMaxTOTPValidateAttempts is what max_validation_attempts 0 means.
const defaultMaxTOTPValidateAttempts = 5

// MFAMethod is a login MFA method: its type's settings and, for the push
// providers, their credentials. Stored under mfa/method/<id>.
type MFAMethod struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Type           string        `json:"type"`
	NamespaceID    string        `json:"namespace_id"`
	UsernameFormat string        `json:"username_format,omitempty"`
	TOTP           *TOTPSettings `json:"totp,omitempty"`
	Okta           *OktaSettings `json:"okta,omitempty"`
	Duo            *DuoSettings  `json:"duo,omitempty"`
	PingID         *PingSettings `json:"pingid,omitempty"`
}

// TOTPSettings are the settings of a TOTP method.
type TOTPSettings struct {
	Issuer                string `json:"issuer"`
	Period                int    `json:"period"`
	Algorithm             string `json:"algorithm"`
	Digits                int    `json:"digits"`
	Skew                  int    `json:"skew"`
	KeySize               int    `json:"key_size"`
	QRSize                int    `json:"qr_size"`
	MaxValidationAttempts int    `json:"max_validation_attempts"`
}

// OktaSettings are the settings of an Okta method.
type OktaSettings struct {
	OrgName      string `json:"org_name"`
	APIToken     string `json:"api_token"`
	BaseURL      string `json:"base_url"`
	Production   bool   `json:"production"`
	PrimaryEmail bool   `json:"primary_email"`
}

// DuoSettings are the settings of a Duo method.
type DuoSettings struct {
	SecretKey      string `json:"secret_key"`
	IntegrationKey string `json:"integration_key"`
	APIHostname    string `json:"api_hostname"`
	PushInfo       string `json:"push_info"`
	UsePasscode    bool   `json:"use_passcode"`
}

// PingSettings are the settings of a PingID method, from its settings file.
type PingSettings struct {
	UseBase64Key     string `json:"use_base64_key"`
	UseSignature     bool   `json:"use_signature"`
	Token            string `json:"token"`
	IDPURL           string `json:"idp_url"`
	OrgAlias         string `json:"org_alias"`
	AdminURL         string `json:"admin_url"`
	AuthenticatorURL string `json:"authenticator_url"`
}

// MFAMethodInput is a method write: the type from the path, the fields of
// the request. Set tells which fields the request carried.
type MFAMethodInput struct {
	Type           string
	MethodName     core.Opt[string]
	UsernameFormat core.Opt[string]

	// TOTP
	Issuer                string
	Period                time.Duration
	KeySize, QRSize       int
	Algorithm             string
	Digits, Skew          int
	MaxValidationAttempts int

	// Okta
	OrgName, APIToken string
	BaseURL           string
	Production        core.Opt[bool]
	PrimaryEmail      bool

	// Duo
	SecretKey, IntegrationKey, APIHostname, PushInfo string
	UsePasscode                                      bool

	// PingID
	SettingsFileBase64 string
}

// mfaState is the MFA configuration in memory, guarded by one lock.
//
// Lock order (see Store): stripes, then mu, then s.oidc.mu, then the index
// lock. Configuration writes (methods, enforcements) hold mu alone, or with
// the index lock inside it, and never take a stripe. Every write of an
// entity's MFA secret (mfa/secret/...) holds its stripes and, inside them,
// mu for reading, and re-checks there that its method exists; a method
// delete holds mu for writing while it deletes the method and its secrets,
// so no secret of a deleted method can be written after it.
type mfaState struct {
	mu           core.RWMutex
	methods      map[string]*MFAMethod
	enforcements map[string]*MFAEnforcement // by name
}

func newMFAState() *mfaState {
	return &mfaState{mu: core.RWMutex{Rank: core.RankMFAConfig}, methods: map[string]*MFAMethod{}, enforcements: map[string]*MFAEnforcement{}}
}

func (s *Service) loadMFA(ctx context.Context) error {
	st := newMFAState()
	if err := core.LoadPrefix(ctx, s.storage, mfaMethodPrefix, func(id string, m *MFAMethod) { st.methods[id] = m }); err != nil {
		return err
	}
	if err := core.LoadPrefix(ctx, s.storage, mfaEnforcementPrefix, func(name string, e *MFAEnforcement) { st.enforcements[name] = e }); err != nil {
		return err
	}
	s.state = st
	return nil
}

func (s *Service) invalidateMFA(ctx context.Context, key string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	switch {
	case strings.HasPrefix(key, mfaMethodPrefix):
		id := strings.TrimPrefix(key, mfaMethodPrefix)
		m := new(MFAMethod)
		found, err := s.storage.GetJSON(ctx, key, m)
		if err != nil {
			return err
		}
		if found {
			s.state.methods[id] = m
		} else {
			delete(s.state.methods, id)
		}
	case strings.HasPrefix(key, mfaEnforcementPrefix):
		name := strings.TrimPrefix(key, mfaEnforcementPrefix)
		e := new(MFAEnforcement)
		found, err := s.storage.GetJSON(ctx, key, e)
		if err != nil {
			return err
		}
		if found {
			s.state.enforcements[name] = e
		} else {
			delete(s.state.enforcements, name)
		}
	}
	return nil
}

// WriteMFAMethod creates or updates a method with Vault's rules: an id
// selects the method (an unknown id changes nothing: nil result); otherwise
// a method_name already in use selects that method, which takes the path's
// type; otherwise a new method is made. It returns the method and whether
// the write answers with its id (any write not addressed by id).
func (s *Service) WriteMFAMethod(ctx context.Context, id string, in MFAMethodInput) (*MFAMethod, bool, error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var m *MFAMethod
	if id != "" {
		cur := s.state.methods[id]
		if cur == nil {
			return nil, false, nil
		}
		c := *cur
		m = &c
	} else if in.MethodName.Set && in.MethodName.Val != "" {
		if cur := s.state.methodByName(in.MethodName.Val); cur != nil {
			c := *cur
			m = &c
		}
	}
	if m == nil {
		newID, err := core.NewID()
		if err != nil {
			return nil, false, err
		}
		m = &MFAMethod{ID: newID, NamespaceID: core.NamespaceID}
	}
	if in.MethodName.Set {
		if other := s.state.methodByName(in.MethodName.Val); other != nil && other.ID != m.ID && in.MethodName.Val != "" {
			return nil, false, core.UserErrorf("a login MFA method configuration with the method name %s already exists", in.MethodName.Val)
		}
		m.Name = in.MethodName.Val
	}
	m.Type = in.Type
	if in.UsernameFormat.Set {
		m.UsernameFormat = in.UsernameFormat.Val
	}
	m.TOTP, m.Okta, m.Duo, m.PingID = nil, nil, nil, nil
	var err error
	switch in.Type {
	case MFATOTP:
		m.TOTP, err = parseTOTP(in)
	case MFAOkta:
		m.Okta, err = parseOkta(in)
	case MFADuo:
		m.Duo, err = parseDuo(in)
	case MFAPingID:
		m.PingID, err = parsePingID(in.SettingsFileBase64)
	default:
		err = fmt.Errorf("unrecognized type %q", in.Type)
	}
	if err != nil {
		return nil, false, core.UserErrorf("%s", err.Error())
	}
	if err := s.storage.PutJSON(ctx, mfaMethodPrefix+m.ID, m); err != nil {
		return nil, false, err
	}
	s.state.methods[m.ID] = m
	return m, id == "", nil
}

func (st *mfaState) methodByName(name string) *MFAMethod {
	for _, m := range st.methods {
		if m.Name == name && name != "" {
			return m
		}
	}
	return nil
}

func parseTOTP(in MFAMethodInput) (*TOTPSettings, error) {
	switch in.Algorithm {
	case "SHA1", "SHA256", "SHA512":
	default:
		return nil, fmt.Errorf("unrecognized algorithm")
	}
	if in.Digits != 6 && in.Digits != 8 {
		return nil, fmt.Errorf("digits can only be 6 or 8")
	}
	if in.Period <= 0 {
		return nil, fmt.Errorf("period must be greater than zero")
	}
	if in.Skew != 0 && in.Skew != 1 {
		return nil, fmt.Errorf("skew must be 0 or 1")
	}
	if in.KeySize <= 0 {
		return nil, fmt.Errorf("key_size must be greater than zero")
	}
	if in.Issuer == "" {
		return nil, fmt.Errorf("issuer must be set")
	}
	if in.MaxValidationAttempts < 0 {
		return nil, fmt.Errorf("max_validation_attempts must be greater than zero")
	}
	max := in.MaxValidationAttempts
	if max == 0 {
		max = defaultMaxTOTPValidateAttempts
	}
	return &TOTPSettings{
		Issuer: in.Issuer, Period: int(in.Period / time.Second), Algorithm: in.Algorithm, Digits: in.Digits,
		Skew: in.Skew, KeySize: in.KeySize, QRSize: in.QRSize, MaxValidationAttempts: max,
	}, nil
}

func parseOkta(in MFAMethodInput) (*OktaSettings, error) {
	if in.OrgName == "" {
		return nil, fmt.Errorf("org_name must be set")
	}
	if in.APIToken == "" {
		return nil, fmt.Errorf("api_token must be set")
	}
	o := &OktaSettings{OrgName: in.OrgName, APIToken: in.APIToken, BaseURL: in.BaseURL, Production: true, PrimaryEmail: in.PrimaryEmail}
	if in.Production.Set {
		o.Production = in.Production.Val
	}
	if o.BaseURL == "" && !in.Production.Set {
		o.BaseURL = "okta.com"
	}
	if err := checkHostSetting("base_url", o.BaseURL); err != nil {
		return nil, err
	}
	return o, nil
}

func parseDuo(in MFAMethodInput) (*DuoSettings, error) {
	switch {
	case in.SecretKey == "":
		return nil, fmt.Errorf("secret_key is empty")
	case in.IntegrationKey == "":
		return nil, fmt.Errorf("integration_key is empty")
	case in.APIHostname == "":
		return nil, fmt.Errorf("api_hostname is empty")
	}
	if err := checkHostSetting("api_hostname", in.APIHostname); err != nil {
		return nil, err
	}
	return &DuoSettings{SecretKey: in.SecretKey, IntegrationKey: in.IntegrationKey, APIHostname: in.APIHostname, PushInfo: in.PushInfo, UsePasscode: in.UsePasscode}, nil
}

// parsePingID reads a PingID settings file: key=value lines, # comments.
func parsePingID(file string) (*PingSettings, error) {
	if file == "" {
		return nil, fmt.Errorf("settings_file_base64 is empty")
	}
	raw, err := base64.StdEncoding.DecodeString(file)
	if err != nil {
		return nil, err
	}
	p := &PingSettings{}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("pingid settings file contains a non-empty non-comment line that is not in key=value format: %q", line)
		}
		switch k {
		case "use_base64_key":
			p.UseBase64Key = v
		case "use_signature":
			b, err := parseutil.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("error parsing use_signature value in pingid settings file")
			}
			p.UseSignature = b
		case "token":
			p.Token = v
		case "idp_url":
			p.IDPURL = v
		case "org_alias":
			p.OrgAlias = v
		case "admin_url":
			p.AdminURL = v
		case "authenticator_url":
			p.AuthenticatorURL = v
		default:
			return nil, fmt.Errorf("unknown key %q in pingid settings file", k)
		}
	}
	// Vault accepts a file without idp_url (unusable: every use is refused).
	if p.IDPURL != "" {
		if err := core.CheckSecureURL("idp_url", p.IDPURL); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// MFAMethodByID returns the method, or nil.
func (s *Service) MFAMethodByID(ctx context.Context, id string) (*MFAMethod, error) {
	return core.Copied(&s.state.mu, func() *MFAMethod { return s.state.methods[id] }), nil
}

// MFAMethods returns the methods of a type ("" for all), by ascending id.
func (s *Service) MFAMethods(ctx context.Context, typ string) ([]*MFAMethod, error) {
	return core.CopiesWhere(&s.state.mu, s.state.methods, func(m *MFAMethod) bool { return typ == "" || m.Type == typ }), nil
}

// DeleteMFAMethod deletes a method of the given type that no enforcement
// uses; an unknown id is not an error. Its TOTP seeds, recovery codes and
// validation state go with it, all under s.state.mu held for writing: secret
// writes hold it for reading and check the method under it, so none can
// land after the delete. It takes no stripe (lock order: see Store).
func (s *Service) DeleteMFAMethod(ctx context.Context, typ, id string) error {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	m := s.state.methods[id]
	if m == nil {
		return nil
	}
	if m.Type != typ {
		return core.UserErrorf("method type does not match the MFA config type")
	}
	var users []string
	for _, e := range s.state.enforcements {
		for _, mid := range e.MFAMethodIDs {
			if mid == id {
				users = append(users, e.ID)
			}
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return core.UserErrorf("methodID is still used by an enforcement configuration with ID: %s", users[0])
	}
	if err := s.storage.Remove(ctx, mfaMethodPrefix+id); err != nil {
		return err
	}
	delete(s.state.methods, id)
	return s.deleteUnder(ctx, totpPrefix+id+"/")
}

// deleteUnder deletes every entry under prefix (one level).
func (s *Service) deleteUnder(ctx context.Context, prefix string) error {
	keys, err := s.storage.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("failed to list %q: %w", prefix, err)
	}
	for _, k := range keys {
		if err := s.storage.Remove(ctx, prefix+k); err != nil {
			return err
		}
	}
	return nil
}
