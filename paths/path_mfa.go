package paths

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"
)

// methodIDRegex is Vault's: a lowercase UUID, anything else is another path.
const methodIDRegex = `(?P<method_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`

func mfaMethodFields(typ string) map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"method_name": {Type: framework.TypeString, Description: "The unique name identifier for this MFA method."},
	}
	switch typ {
	case mfa.MFATOTP:
		f["issuer"] = &framework.FieldSchema{Type: framework.TypeString, Description: "The name of the key's issuing organization."}
		f["period"] = &framework.FieldSchema{Type: framework.TypeDurationSecond, Default: 30, Description: "The length of time used to generate a counter for the TOTP token calculation."}
		f["key_size"] = &framework.FieldSchema{Type: framework.TypeInt, Default: 20, Description: "Determines the size in bytes of the generated key."}
		f["qr_size"] = &framework.FieldSchema{Type: framework.TypeInt, Default: 200, Description: "The pixel size of the generated square QR code."}
		f["algorithm"] = &framework.FieldSchema{Type: framework.TypeString, Default: "SHA1", Description: "The hashing algorithm used to generate the TOTP token. Options include SHA1, SHA256 and SHA512."}
		f["digits"] = &framework.FieldSchema{Type: framework.TypeInt, Default: 6, Description: "The number of digits in the generated TOTP token. This value can either be 6 or 8."}
		f["skew"] = &framework.FieldSchema{Type: framework.TypeInt, Default: 1, Description: "The number of delay periods that are allowed when validating a TOTP token. This value can either be 0 or 1."}
		f["max_validation_attempts"] = &framework.FieldSchema{Type: framework.TypeInt, Description: "Max number of allowed validation attempts (0 means 5). Reaching it locks the entity out of the method until an administrator resets it."}
		f["enable_self_enrollment"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "Enterprise-only self enrollment; not available."}
	case mfa.MFAOkta:
		f["username_format"] = &framework.FieldSchema{Type: framework.TypeString, Description: "A template string for mapping Identity names to MFA method names. Values to substitute should be placed in {{}}. For example, \"{{identity.entity.name}}@example.com\"."}
		f["org_name"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Name of the organization to be used in the Okta API."}
		f["api_token"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Okta API key.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}}
		f["base_url"] = &framework.FieldSchema{Type: framework.TypeString, Description: "The base domain to use for the Okta API (okta.com by default). A value with a scheme (https://okta.internal) is used as the whole address; it must use https unless its host is a loopback address."}
		f["primary_email"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "If true, the username will only match the primary email for the account."}
		f["production"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "(DEPRECATED) Use base_url instead."}
	case mfa.MFADuo:
		f["username_format"] = &framework.FieldSchema{Type: framework.TypeString, Description: "A template string for mapping Identity names to MFA method names. Values to substitute should be placed in {{}}."}
		f["secret_key"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Secret key for Duo.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}}
		f["integration_key"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Integration key for Duo.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}}
		f["api_hostname"] = &framework.FieldSchema{Type: framework.TypeString, Description: "API host name for Duo. A value with a scheme is used as the whole address; it must use https unless its host is a loopback address."}
		f["push_info"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Push information for Duo."}
		f["use_passcode"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "If true, the user is reminded to use the passcode upon MFA validation."}
	case mfa.MFAPingID:
		f["username_format"] = &framework.FieldSchema{Type: framework.TypeString, Description: "A template string for mapping Identity names to MFA method names."}
		f["settings_file_base64"] = &framework.FieldSchema{Type: framework.TypeString, Description: "The settings file provided by Ping, Base64-encoded. This must be a settings file suitable for third-party clients, not the PingID SDK or PingFederate."}
	}
	return f
}

var mfaMethodReadResponse = map[int][]framework.Response{http.StatusOK: {{Description: "The method's settings, without its secrets."}}}

func mfaPaths(c Config, callers *callers) []*framework.Path {
	h := &mfaHandler{mfa: c.Store.MFA(), identity: c.Store.Identity(), callers: callers}
	var out []*framework.Path
	for _, typ := range []string{mfa.MFATOTP, mfa.MFAOkta, mfa.MFADuo, mfa.MFAPingID} {
		out = append(out, h.methodPaths(typ)...)
	}
	idField := map[string]*framework.FieldSchema{"method_id": {Type: framework.TypeString, Description: "The unique identifier for this MFA method."}}
	out = append(out,
		&framework.Path{
			Pattern:      "mfa/method/" + methodIDRegex + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: "read", OperationSuffix: "method-configuration"},
			Fields:       idField,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.readAnyMethod, Summary: "Read an MFA method of any type.", Responses: mfaMethodReadResponse},
			},
			HelpSynopsis:    "Read the current configuration for the given ID regardless of the MFA method type",
			HelpDescription: "Reads a method's settings; secrets such as API tokens and keys are never returned.",
		},
		listPath("mfa/method/?$", framework.DisplayAttributes{OperationPrefix: "mfa", OperationSuffix: "methods"}, h.listMethods(""),
			"List MFA methods of every type.", "List MFA method configurations for all MFA methods", "Lists method ids in ascending order with each method's settings in key_info."),
		&framework.Path{
			Pattern:      "mfa/login-enforcement/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationSuffix: "login-enforcement"},
			Fields: map[string]*framework.FieldSchema{
				"name":                  {Type: framework.TypeString, Description: "Name for this login enforcement configuration"},
				"mfa_method_ids":        {Type: framework.TypeStringSlice, Required: true, Description: "Array of Method IDs that determine what methods will be enforced"},
				"auth_method_accessors": {Type: framework.TypeStringSlice, Description: "Array of auth mount accessor IDs"},
				"auth_method_types":     {Type: framework.TypeStringSlice, Description: "Array of auth mount types"},
				"identity_group_ids":    {Type: framework.TypeStringSlice, Description: "Array of identity group IDs"},
				"identity_entity_ids":   {Type: framework.TypeStringSlice, Description: "Array of identity entity IDs"},
			},
			Operations: verbOps(
				&op{h.writeEnforcement, "Create or update a login enforcement.", noContent},
				&op{h.readEnforcement, "Read a login enforcement.", enforcementReadResponse},
				&op{h.deleteEnforcement, "Delete a login enforcement.", noContent},
			),
			HelpSynopsis:    "Manage login enforcement configurations",
			HelpDescription: mfaEnforcementHelp,
		},
		listPath("mfa/login-enforcement/?$", framework.DisplayAttributes{OperationPrefix: "mfa", OperationSuffix: "login-enforcements"}, h.listEnforcements,
			"List login enforcements.", "List login enforcements", "Lists enforcement names in ascending id order with each one's settings in key_info."),
	)
	out = append(out, h.stepUpPaths()...)
	return out
}

func (h *mfaHandler) methodPaths(typ string) []*framework.Path {
	create := mfaMethodFields(typ)
	update := mfaMethodFields(typ)
	update["method_id"] = &framework.FieldSchema{Type: framework.TypeString, Description: "The unique identifier for this MFA method."}
	write := h.writeMethod(typ)
	paths := []*framework.Path{
		{
			Pattern:      "mfa/method/" + typ + "/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationSuffix: typ + "-method"},
			Fields:       create,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: write, Summary: "Create a " + typ + " MFA method (or update the one with this method_name).", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "create"},
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{"method_id": {Type: framework.TypeString, Description: "ID of the method."}}}}}},
				logical.ListOperation: &framework.PathOperation{Callback: h.listMethods(typ), Summary: "List " + typ + " MFA methods.", DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"}, Responses: listResponse},
			},
			HelpSynopsis:    "Create " + typ + " MFA methods, or list them.",
			HelpDescription: mfaMethodHelp,
		},
		{
			Pattern:      "mfa/method/" + typ + "/" + methodIDRegex + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationSuffix: typ + "-method"},
			Fields:       update,
			Operations: verbOps(
				&op{write, "Update a " + typ + " MFA method.", noContent},
				&op{h.readMethod(typ), "Read a " + typ + " MFA method.", mfaMethodReadResponse},
				&op{h.deleteMethod(typ), "Delete a " + typ + " MFA method.", noContent},
			),
			HelpSynopsis:    "Read, update or delete a " + typ + " MFA method.",
			HelpDescription: mfaMethodHelp,
		},
	}
	if typ == mfa.MFATOTP {
		paths = append(paths, h.totpPaths()...)
	}
	return paths
}

type mfaHandler struct {
	mfa      *mfa.Service
	identity *identity.Store
	callers  *callers
}

func (h *mfaHandler) writeMethod(typ string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if v, ok := d.GetOk("enable_self_enrollment"); ok && v.(bool) {
			return logical.ErrorResponse("enable_self_enrollment is an enterprise only feature"), nil
		}
		in := mfa.MFAMethodInput{
			Type:           typ,
			MethodName:     optional[string](d, "method_name"),
			UsernameFormat: optional[string](d, "username_format"),
		}
		get := func(k string) any {
			if _, ok := d.Schema[k]; !ok {
				return nil
			}
			return d.Get(k)
		}
		str := func(k string) string { s, _ := get(k).(string); return s }
		num := func(k string) int { n, _ := get(k).(int); return n }
		flag := func(k string) bool { b, _ := get(k).(bool); return b }
		switch typ {
		case mfa.MFATOTP:
			in.Issuer, in.Algorithm = str("issuer"), str("algorithm")
			in.Period = time.Duration(num("period")) * time.Second
			in.KeySize, in.QRSize, in.Digits, in.Skew, in.MaxValidationAttempts = num("key_size"), num("qr_size"), num("digits"), num("skew"), num("max_validation_attempts")
		case mfa.MFAOkta:
			in.OrgName, in.APIToken, in.BaseURL, in.PrimaryEmail = str("org_name"), str("api_token"), str("base_url"), flag("primary_email")
			in.Production = optional[bool](d, "production")
		case mfa.MFADuo:
			in.SecretKey, in.IntegrationKey, in.APIHostname, in.PushInfo, in.UsePasscode = str("secret_key"), str("integration_key"), str("api_hostname"), str("push_info"), flag("use_passcode")
		case mfa.MFAPingID:
			in.SettingsFileBase64 = str("settings_file_base64")
		}
		id := ""
		if v, ok := d.GetOk("method_id"); ok {
			id = v.(string)
		}
		m, answerID, err := h.mfa.WriteMFAMethod(ctx, id, in)
		if err != nil || m == nil || !answerID {
			return done(req, err)
		}
		return &logical.Response{Data: map[string]any{"method_id": m.ID}}, nil
	}
}

func (h *mfaHandler) readMethod(typ string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		m, err := h.mfa.MFAMethodByID(ctx, d.Get("method_id").(string))
		if err == nil && m != nil && m.Type != typ {
			return logical.ErrorResponse("failed to find the method ID under MFA type %s.", typ), nil
		}
		return found(req, m, err, methodData)
	}
}

func (h *mfaHandler) readAnyMethod(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, err := h.mfa.MFAMethodByID(ctx, d.Get("method_id").(string))
	return found(req, m, err, methodData)
}

func (h *mfaHandler) deleteMethod(typ string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		return done(req, h.mfa.DeleteMFAMethod(ctx, typ, d.Get("method_id").(string)))
	}
}

func (h *mfaHandler) listMethods(typ string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		methods, err := h.mfa.MFAMethods(ctx, typ)
		if err != nil {
			return respondErr(req, err)
		}
		keys := make([]string, 0, len(methods))
		info := map[string]any{}
		for _, m := range methods {
			keys = append(keys, m.ID)
			info[m.ID] = methodData(m)
		}
		return logical.ListResponseWithInfo(keys, info), nil
	}
}

// methodData is a method as Vault reads it out: settings without secrets.
func methodData(m *mfa.MFAMethod) map[string]any {
	d := map[string]any{"type": m.Type, "id": m.ID, "name": m.Name, "namespace_id": m.NamespaceID, "namespace_path": ""}
	switch {
	case m.TOTP != nil:
		t := m.TOTP
		d["issuer"], d["period"], d["digits"], d["skew"] = t.Issuer, t.Period, t.Digits, t.Skew
		d["key_size"], d["qr_size"], d["algorithm"], d["max_validation_attempts"] = t.KeySize, t.QRSize, t.Algorithm, t.MaxValidationAttempts
	case m.Okta != nil:
		d["org_name"] = m.Okta.OrgName
		if m.Okta.BaseURL != "" {
			d["base_url"] = m.Okta.BaseURL
		} else {
			d["production"] = m.Okta.Production
		}
		d["mount_accessor"], d["username_format"] = "", m.UsernameFormat
	case m.Duo != nil:
		d["api_hostname"], d["pushinfo"], d["use_passcode"] = m.Duo.APIHostname, m.Duo.PushInfo, m.Duo.UsePasscode
		d["mount_accessor"], d["username_format"] = "", m.UsernameFormat
	case m.PingID != nil:
		p := m.PingID
		d["use_signature"], d["idp_url"], d["org_alias"], d["admin_url"], d["authenticator_url"] = p.UseSignature, p.IDPURL, p.OrgAlias, p.AdminURL, p.AuthenticatorURL
	}
	return d
}

var enforcementReadResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"name":                  {Type: framework.TypeString, Description: "Name of the enforcement."},
	"id":                    {Type: framework.TypeString, Description: "ID of the enforcement."},
	"namespace_id":          {Type: framework.TypeString, Description: "Namespace of the enforcement."},
	"namespace_path":        {Type: framework.TypeString, Description: "Namespace path."},
	"mfa_method_ids":        {Type: framework.TypeStringSlice, Description: "Methods it requires."},
	"auth_method_accessors": {Type: framework.TypeStringSlice, Description: "Auth mounts it applies to."},
	"auth_method_types":     {Type: framework.TypeStringSlice, Description: "Auth method types it applies to."},
	"identity_group_ids":    {Type: framework.TypeStringSlice, Description: "Groups it applies to."},
	"identity_entity_ids":   {Type: framework.TypeStringSlice, Description: "Entities it applies to."},
}}}}

func (h *mfaHandler) writeEnforcement(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.mfa.WriteMFAEnforcement(ctx, d.Get("name").(string), mfa.MFAEnforcementInput{
		MFAMethodIDs:        optional[[]string](d, "mfa_method_ids"),
		AuthMethodAccessors: optional[[]string](d, "auth_method_accessors"),
		AuthMethodTypes:     optional[[]string](d, "auth_method_types"),
		IdentityGroupIDs:    optional[[]string](d, "identity_group_ids"),
		IdentityEntityIDs:   optional[[]string](d, "identity_entity_ids"),
	}))
}

func (h *mfaHandler) readEnforcement(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, err := h.mfa.MFAEnforcementByName(ctx, d.Get("name").(string))
	return found(req, e, err, enforcementData)
}

func enforcementData(e *mfa.MFAEnforcement) map[string]any {
	list := func(s []string) []string { return append([]string{}, s...) }
	return map[string]any{
		"name": e.Name, "id": e.ID, "namespace_id": e.NamespaceID, "namespace_path": "",
		"mfa_method_ids": list(e.MFAMethodIDs), "auth_method_accessors": list(e.AuthMethodAccessors),
		"auth_method_types": list(e.AuthMethodTypes), "identity_group_ids": list(e.IdentityGroupIDs),
		"identity_entity_ids": list(e.IdentityEntityIDs),
	}
}

func (h *mfaHandler) deleteEnforcement(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return done(req, h.mfa.DeleteMFAEnforcement(ctx, d.Get("name").(string)))
}

func (h *mfaHandler) listEnforcements(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	list, err := h.mfa.MFAEnforcements(ctx)
	if err != nil {
		return respondErr(req, err)
	}
	keys := make([]string, 0, len(list))
	info := map[string]any{}
	for _, e := range list {
		keys = append(keys, e.Name)
		info[e.Name] = enforcementData(e)
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

var (
	mfaMethodHelp = strings.TrimSpace(`
MFA methods: TOTP, and the Okta, Duo and PingID push providers. Writing to
mfa/method/<type> creates a method (or updates the one with the same
method_name) and answers its method_id; writing to mfa/method/<type>/<id>
updates it. A TOTP write sets every setting, omitted ones to their defaults.
Secrets (api_token, secret_key, integration_key, the PingID token and key)
are never returned.
`)
	mfaEnforcementHelp = strings.TrimSpace(`
A login enforcement names the MFA methods required for logins through the
listed auth mounts or auth method types, or of the listed entities or members
of the listed groups. mfa_method_ids is required on every write, and at least
one selector must be given in the same request. A plugin cannot intercept
Vault logins: applications ask mfa/evaluate which methods apply and
mfa/validate to check them.
`)
)
