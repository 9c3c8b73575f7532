package paths

import (
	"context"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/identity"
	"net/http"
	"strings"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/mfa"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

func field(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
}

var (
	methodIDField = field("The unique identifier for this MFA method.")
	entityIDField = field("Entity ID on which the operation acts.")
)

var enrollmentResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"url":     {Type: framework.TypeString, Description: "The otpauth:// URL of the secret."},
	"barcode": {Type: framework.TypeString, Description: "A PNG QR code of the URL, base64-encoded."},
}}}}

func (h *mfaHandler) totpPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "mfa/method/totp/generate$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: "generate", OperationSuffix: "totp-secret"},
			Fields:       map[string]*framework.FieldSchema{"method_id": methodIDField},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.generate, Summary: "Generate a TOTP secret for the caller's entity.", Responses: enrollmentResponse},
			},
			HelpSynopsis:    "Update or create TOTP secret for the given method ID on the given entity.",
			HelpDescription: "Generates a TOTP secret for the entity of this mount that the calling token maps to (see lookup/self), unless it has one.",
		},
		{
			Pattern:      "mfa/method/totp/admin-generate$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: "admin-generate", OperationSuffix: "totp-secret"},
			Fields:       map[string]*framework.FieldSchema{"method_id": methodIDField, "entity_id": entityIDField},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.adminGenerate, Summary: "Generate a TOTP secret for an entity.", Responses: enrollmentResponse},
			},
			HelpSynopsis:    "Update or create TOTP secret for the given method ID on the given entity.",
			HelpDescription: "Generates a TOTP secret for the given entity, unless it has one.",
		},
		{
			Pattern:      "mfa/method/totp/admin-destroy$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: "admin-destroy", OperationSuffix: "totp-secret"},
			Fields:       map[string]*framework.FieldSchema{"method_id": methodIDField, "entity_id": entityIDField},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: h.adminDestroy, Summary: "Destroy an entity's TOTP secret.", Responses: noContent},
			},
			HelpSynopsis:    "Destroys a TOTP secret for the given MFA method ID on the given entity",
			HelpDescription: "Deletes the entity's TOTP secret for the method, with its validation state and recovery codes.",
		},
		{
			Pattern:      "mfa/entity-status/" + framework.GenericNameRegex("entity_id") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: "read", OperationSuffix: "entity-status"},
			Fields:       map[string]*framework.FieldSchema{"entity_id": entityIDField},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: h.entityStatus, Summary: "Read an entity's enrollment and lockout state for every MFA method.", Responses: entityStatusResponse},
			},
			HelpSynopsis:    "An entity's MFA state, without secrets (not in Vault's built-in engine).",
			HelpDescription: `For every MFA method: whether the entity is enrolled (TOTP: holds a seed; Duo, Okta and PingID need no enrollment here), its refused attempts since the last success or lockout reset, whether they lock it out of the method, and how many unused recovery codes it has. Never returns a seed or a code.`,
		},
	}
}

var entityStatusResponse = map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
	"methods": {Type: framework.TypeMap, Description: "By method id: type, name, enrolled, failed_attempts, max_validation_attempts, locked_out, recovery_codes_remaining."},
}}}}

func (h *mfaHandler) entityStatus(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	list, err := h.mfa.EntityStatus(ctx, d.Get("entity_id").(string))
	if err != nil {
		return respondErr(req, err)
	}
	methods := make(map[string]any, len(list))
	for _, m := range list {
		methods[m.MethodID] = map[string]any{
			"type": m.Type, "name": m.Name, "enrolled": m.Enrolled,
			"failed_attempts": m.FailedAttempts, "max_validation_attempts": m.MaxValidationAttempts,
			"locked_out": m.LockedOut, "recovery_codes_remaining": m.RecoveryCodesRemaining,
		}
	}
	return &logical.Response{Data: map[string]any{"methods": methods}}, nil
}

func (h *mfaHandler) generate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	methodID := d.Get("method_id").(string)
	if methodID == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	v, _, err := h.callers.entity(ctx, req, h.identity)
	if err != nil {
		if e, ok := core.AsError(err); ok && e == errNoCallerEntity {
			return logical.ErrorResponse("missing entityID"), nil
		}
		return respondErr(req, err)
	}
	return h.enroll(ctx, req, methodID, v.ID)
}

func (h *mfaHandler) adminGenerate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	methodID, entityID := d.Get("method_id").(string), d.Get("entity_id").(string)
	if methodID == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	if entityID == "" {
		return logical.ErrorResponse("missing entityID"), nil
	}
	return h.enroll(ctx, req, methodID, entityID)
}

func (h *mfaHandler) enroll(ctx context.Context, req *logical.Request, methodID, entityID string) (*logical.Response, error) {
	e, err := h.mfa.GenerateTOTP(ctx, methodID, entityID)
	if err != nil {
		return respondErr(req, err)
	}
	if e.Warning != "" {
		return &logical.Response{Warnings: []string{e.Warning}}, nil
	}
	return &logical.Response{Data: map[string]any{"url": e.URL, "barcode": e.Barcode}}, nil
}

func (h *mfaHandler) adminDestroy(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	methodID, entityID := d.Get("method_id").(string), d.Get("entity_id").(string)
	if methodID == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	if entityID == "" {
		return logical.ErrorResponse("missing entity ID"), nil
	}
	return done(req, h.mfa.DestroyTOTP(ctx, methodID, entityID))
}

// stepUpPaths serve what Vault does inside its login flow, for applications
// to call: validation, lockout reset, recovery codes, and which methods
// apply.
func (h *mfaHandler) stepUpPaths() []*framework.Path {
	validateFields := map[string]*framework.FieldSchema{
		"method_id":     methodIDField,
		"passcode":      field("The passcode: a TOTP code, or a provider's passcode. Omitted for a push (Duo, Okta, PingID)."),
		"recovery_code": field("A recovery code, used instead of the passcode; each works once."),
	}
	adminValidateFields := map[string]*framework.FieldSchema{"entity_id": entityIDField}
	for k, v := range validateFields {
		adminValidateFields[k] = v
	}
	valid := map[int][]framework.Response{http.StatusOK: {{Description: "The credentials are valid.", Fields: map[string]*framework.FieldSchema{
		"valid": {Type: framework.TypeBool, Description: "Always true; refusals are errors (403)."},
	}}}}
	codes := map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
		"recovery_codes": {Type: framework.TypeStringSlice, Description: "The new single-use codes; shown once."},
	}}}}
	update := func(pattern, verb, suffix string, fields map[string]*framework.FieldSchema, fn framework.OperationFunc, summary string, resp map[int][]framework.Response, help string) *framework.Path {
		return &framework.Path{
			Pattern:      pattern,
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "mfa", OperationVerb: verb, OperationSuffix: suffix},
			Fields:       fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: fn, Summary: summary, Responses: resp},
			},
			HelpSynopsis:    summary,
			HelpDescription: help,
		}
	}
	return []*framework.Path{
		update("mfa/validate$", "validate", "", validateFields, h.validate, "Validate MFA credentials of the caller's entity.", valid, mfaValidateHelp),
		update("mfa/admin-validate$", "admin-validate", "", adminValidateFields, h.adminValidate, "Validate MFA credentials of an entity.", valid, mfaValidateHelp),
		update("mfa/admin-reset-lockout$", "reset", "lockout", map[string]*framework.FieldSchema{"method_id": methodIDField, "entity_id": entityIDField},
			h.resetLockout, "Clear an entity's refused attempts for a method.", noContent, mfaValidateHelp),
		update("mfa/recovery-codes/generate$", "generate", "recovery-codes", map[string]*framework.FieldSchema{
			"method_id":     methodIDField,
			"passcode":      field("A current TOTP code of the method; exactly one of passcode and recovery_code is required."),
			"recovery_code": field("An unused recovery code of the method, used up; exactly one of passcode and recovery_code is required."),
		}, h.recoveryCodes, "Make new recovery codes for the caller's entity, proving a current factor.", codes, recoveryHelp),
		update("mfa/recovery-codes/admin-generate$", "admin-generate", "recovery-codes", map[string]*framework.FieldSchema{"method_id": methodIDField, "entity_id": entityIDField},
			h.adminRecoveryCodes, "Make new recovery codes for an entity.", codes, recoveryHelp),
		update("mfa/evaluate$", "evaluate", "", map[string]*framework.FieldSchema{
			"entity_id":      entityIDField,
			"mount_accessor": field("Accessor of the auth mount of the login."),
			"mount_type":     field("Type of the auth mount of the login."),
		}, h.evaluate, "Tell which login enforcements and MFA methods apply to a login.",
			map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
				"enforcements":   {Type: framework.TypeStringSlice, Description: "Names of the enforcements that apply."},
				"mfa_method_ids": {Type: framework.TypeStringSlice, Description: "Methods they require."},
			}}}}, "Answers which enforcements apply to a login of the entity through the auth mount with this accessor and type, and the MFA methods they require."),
	}
}

// caller resolves the request's entity, or answers Vault's error.
func (h *mfaHandler) caller(ctx context.Context, req *logical.Request) (string, error) {
	v, _, err := h.callers.entity(ctx, req, h.identity)
	if err != nil {
		return "", err
	}
	return v.ID, nil
}

func (h *mfaHandler) validate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if d.Get("method_id").(string) == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	entityID, err := h.caller(ctx, req)
	if err != nil {
		return respondErr(req, err)
	}
	return h.check(ctx, req, d, entityID)
}

func (h *mfaHandler) adminValidate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if d.Get("method_id").(string) == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	if d.Get("entity_id").(string) == "" {
		return logical.ErrorResponse("missing entity ID"), nil
	}
	return h.check(ctx, req, d, d.Get("entity_id").(string))
}

// credentials reads the factor a request presents for entityID.
func credentials(d *framework.FieldData, entityID string) mfa.MFAValidation {
	return mfa.MFAValidation{
		MethodID:     d.Get("method_id").(string),
		EntityID:     entityID,
		Passcode:     strings.TrimSpace(d.Get("passcode").(string)),
		RecoveryCode: d.Get("recovery_code").(string),
	}
}

func (h *mfaHandler) check(ctx context.Context, req *logical.Request, d *framework.FieldData, entityID string) (*logical.Response, error) {
	if err := h.mfa.ValidateMFA(ctx, credentials(d, entityID)); err != nil {
		return respondErr(req, err)
	}
	return &logical.Response{Data: map[string]any{"valid": true}}, nil
}

func (h *mfaHandler) resetLockout(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	methodID, entityID := d.Get("method_id").(string), d.Get("entity_id").(string)
	if methodID == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	if entityID == "" {
		return logical.ErrorResponse("missing entity ID"), nil
	}
	return done(req, h.mfa.ResetMFALockout(ctx, methodID, entityID))
}

func (h *mfaHandler) recoveryCodes(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if d.Get("method_id").(string) == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	entityID, err := h.caller(ctx, req)
	if err != nil {
		return respondErr(req, err)
	}
	codes, err := h.mfa.GenerateOwnRecoveryCodes(ctx, credentials(d, entityID))
	if err != nil {
		return respondErr(req, err)
	}
	return &logical.Response{Data: map[string]any{"recovery_codes": codes}}, nil
}

func (h *mfaHandler) adminRecoveryCodes(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	methodID, entityID := d.Get("method_id").(string), d.Get("entity_id").(string)
	if methodID == "" {
		return logical.ErrorResponse("missing method ID"), nil
	}
	if entityID == "" {
		return logical.ErrorResponse("missing entity ID"), nil
	}
	return h.makeCodes(ctx, req, methodID, entityID)
}

func (h *mfaHandler) makeCodes(ctx context.Context, req *logical.Request, methodID, entityID string) (*logical.Response, error) {
	codes, err := h.mfa.GenerateRecoveryCodes(ctx, methodID, entityID)
	if err != nil {
		return respondErr(req, err)
	}
	return &logical.Response{Data: map[string]any{"recovery_codes": codes}}, nil
}

func (h *mfaHandler) evaluate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	entityID := d.Get("entity_id").(string)
	if entityID != "" {
		v, err := h.identity.Entity(ctx, identity.EntitySelector{ID: entityID})
		if err != nil {
			return respondErr(req, err)
		}
		if v == nil {
			return logical.ErrorResponse("invalid entity ID"), nil
		}
	}
	ev, err := h.mfa.EvaluateMFA(ctx, entityID, d.Get("mount_accessor").(string), d.Get("mount_type").(string))
	if err != nil {
		return respondErr(req, err)
	}
	return &logical.Response{Data: map[string]any{"enforcements": ev.Enforcements, "mfa_method_ids": ev.MethodIDs}}, nil
}

var (
	mfaValidateHelp = strings.TrimSpace(`
Step-up MFA for applications: a plugin cannot intercept Vault logins, so an
application asks here whether credentials are valid. mfa/validate checks the
caller's entity (see lookup/self), mfa/admin-validate a given entity. A TOTP
code is accepted only for a time step later than the last accepted one (each
code works once, also across restarts), within the method's skew. Every
refusal is counted in storage; at max_validation_attempts the entity is
locked out of the method until mfa/admin-reset-lockout. For Duo, Okta and
PingID methods an empty passcode sends a push. Refusals answer 403.
`)
	recoveryHelp = strings.TrimSpace(`
Makes ten new single-use recovery codes for the entity and method, replacing
earlier ones. They are shown once; only their SHA-256 hashes are stored. Pass
one as recovery_code to mfa/validate instead of a passcode.

Recovery codes exist only for TOTP methods (Duo, Okta and PingID have their
own bypass codes), and only for an entity enrolled in the method (see
mfa/method/totp/generate); a code satisfies only the method it was made for,
and only while the entity stays enrolled. mfa/recovery-codes/generate, for the
caller's entity, requires exactly one current factor in the same request: a
passcode, checked as mfa/validate checks it (a wrong one counts towards the
lockout, a correct one uses up its time step), or an unused recovery code,
which is used up. mfa/recovery-codes/admin-generate, for administrators,
requires no factor.
`)
)
