package paths

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vault-identity/vault-plugin-secrets-identity/backend/transfer"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// transferPaths serves import, export and export/keys: the whole store as
// records of the dump format (internal/dump), with their ids, for
// identity-migrate. They are administrators' paths: their answers and
// requests hold client secrets, TOTP seeds and MFA provider credentials
// (and export/keys the private keys), so the ACL should grant them to few.
func transferPaths(c Config) []*framework.Path {
	s := c.Store
	attrs := func(verb string) *framework.DisplayAttributes {
		return &framework.DisplayAttributes{OperationPrefix: "identity-plugin", OperationVerb: verb}
	}
	return []*framework.Path{
		{
			Pattern:      "import$",
			DisplayAttrs: attrs("import"),
			Fields: map[string]*framework.FieldSchema{
				"records": {
					Type:        framework.TypeSlice,
					Description: "Up to 1000 records of the dump format: objects {\"kind\", \"id\", \"data\"}.",
				},
				"records_jsonl": {
					Type:        framework.TypeString,
					Description: "The same records as one string, a record per line (the dump file's lines); cheaper for Vault to pass on than an array. Give records or records_jsonl.",
				},
				"on_conflict": {
					Type:        framework.TypeString,
					Default:     transfer.OnConflictFail,
					Description: `What to do with a record whose id exists with other values, or whose name or alias another object holds: "fail" refuses the batch, "skip" leaves the stored object, "overwrite" replaces the object with the same id (a name held by another id still refuses the batch).`,
				},
				"dry_run": {
					Type:        framework.TypeBool,
					Description: "Check the batch and answer what would be done, writing nothing.",
				},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						return importRecords(ctx, req, d, s)
					},
					Summary: "Create objects with the ids of the records given, checking the whole batch before writing any of it.",
					Responses: map[int][]framework.Response{
						http.StatusOK:         {{Description: "What was done with each record.", Fields: importFields}},
						http.StatusBadRequest: {{Description: "The batch was refused and nothing of it written; data.problems lists every record's problem (index, kind, id, code, reason, and ref_kind and ref_id for a missing reference), data.actions what would have been done with each record (\"\" when bad data or a conflict left it undecided)."}},
					},
				},
			},
			HelpSynopsis:    "Import records of the dump format with their ids.",
			HelpDescription: importHelp,
		},
		{
			Pattern:      "export$",
			DisplayAttrs: attrs("export"),
			Fields: map[string]*framework.FieldSchema{
				"after":          {Type: framework.TypeString, Query: true, Description: "The next value of the previous page; empty for the first page."},
				"limit":          {Type: framework.TypeInt, Query: true, Description: "At most this many records (1000 when 0, at most 1000)."},
				"include_grants": {Type: framework.TypeBool, Query: true, Description: "Also export the grants of refresh token families (refresh and access tokens, by hash)."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
						page, err := s.Export(ctx, transfer.ExportRequest{
							After: d.Get("after").(string), Limit: d.Get("limit").(int), IncludeGrants: d.Get("include_grants").(bool),
						})
						if err != nil {
							return respondErr(req, err)
						}
						return &logical.Response{Data: map[string]any{"records": page.Records, "next": page.Next}}, nil
					},
					Summary: "Read a page of the store's records, in dependency order.",
					Responses: map[int][]framework.Response{http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
						"records": {Type: framework.TypeSlice, Description: "Records of the dump format."},
						"next":    {Type: framework.TypeString, Description: "The after value of the next page; empty after the last page."},
					}}}},
				},
			},
			HelpSynopsis:    "Export the store as records of the dump format.",
			HelpDescription: exportHelp,
		},
		{
			Pattern:      "export/keys$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "identity-plugin", OperationVerb: "export", OperationSuffix: "keys"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
						recs, err := s.ExportKeys(ctx)
						if err != nil {
							return respondErr(req, err)
						}
						return &logical.Response{Data: map[string]any{"records": recs}}, nil
					},
					Summary: "Read every OIDC key with its private keys, when the mount's config allows it.",
					Responses: map[int][]framework.Response{
						http.StatusOK: {{Description: "OK", Fields: map[string]*framework.FieldSchema{
							"records": {Type: framework.TypeSlice, Description: "oidc-key records with their material."},
						}}},
						http.StatusBadRequest: {{Description: "The mount's config does not allow key export (allow_key_export)."}},
					},
				},
			},
			HelpSynopsis:    "Export the OIDC keys with their private keys.",
			HelpDescription: "Returns every OIDC key of the mount as an oidc-key record with its key ring and the private keys of its current and next keys, so that a restored mount signs with the same keys and relying parties keep verifying. Refused with 400 unless the mount's config has allow_key_export=true. Grant read on this path only to whoever may hold the signing keys; Vault's audit devices record every call.",
		},
	}
}

var importFields = map[string]*framework.FieldSchema{
	"actions": {Type: framework.TypeStringSlice, Description: `What was done with each record, in the order given: "created", "unchanged", "skipped" or "overwritten".`},
	"counts":  {Type: framework.TypeMap, Description: "How many records got each action."},
	"dry_run": {Type: framework.TypeBool, Description: "Whether nothing was written."},
}

// importedRecords reads the records of an import request: records, or
// records_jsonl.
func importedRecords(d *framework.FieldData) ([]dump.Record, error) {
	var recs []dump.Record
	jsonl, ok := d.GetOk("records_jsonl")
	if _, both := d.GetOk("records"); ok && both {
		return nil, errors.New("give records or records_jsonl, not both")
	}
	if ok {
		for i, line := range strings.Split(strings.TrimSuffix(jsonl.(string), "\n"), "\n") {
			var r dump.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("records_jsonl: line %d is not a record {\"kind\", \"id\", \"data\"}: %v", i+1, err)
			}
			recs = append(recs, r)
		}
		return recs, nil
	}
	raw, err := json.Marshal(d.Get("records"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, fmt.Errorf("records: each record is an object {\"kind\", \"id\", \"data\"}: %v", err)
	}
	return recs, nil
}

func importRecords(ctx context.Context, req *logical.Request, d *framework.FieldData, s *backend.Store) (*logical.Response, error) {
	recs, err := importedRecords(d)
	if err != nil {
		return logical.ErrorResponse("%s", err.Error()), nil
	}
	dry := d.Get("dry_run").(bool)
	out, err := s.Import(ctx, transfer.ImportRequest{Records: recs, OnConflict: d.Get("on_conflict").(string), DryRun: dry})
	var refused *transfer.ImportRefusedError
	if errors.As(err, &refused) {
		return logical.ErrorResponseWithData(map[string]any{"problems": refused.Problems, "actions": actions(refused.Records)}, "%s", refused.Error()), nil
	}
	if err != nil {
		return respondErr(req, err)
	}
	counts := map[string]int{transfer.ActionCreated: 0, transfer.ActionUnchanged: 0, transfer.ActionSkipped: 0, transfer.ActionOverwritten: 0}
	for _, o := range out {
		counts[o.Action]++
	}
	return &logical.Response{Data: map[string]any{"actions": actions(out), "counts": counts, "dry_run": dry}}, nil
}

// actions are the outcomes' actions in the records' order: a list of
// strings is far cheaper for Vault to pass on than a list of objects.
func actions(out []transfer.ImportOutcome) []string {
	list := make([]string, len(out))
	for _, o := range out {
		list[o.Index] = o.Action
	}
	return list
}

var importHelp = strings.TrimSpace(`
Creates the objects of up to 1000 records of the dump format (see
identity-migrate and the README's "Moving from identity/"), keeping their
ids, names, client ids and client secrets: entities, entity aliases, groups,
group aliases, MFA methods, login enforcements, the entities' MFA state,
the OIDC issuer, keys, scopes, assignments, clients, providers, roles and
grants of refresh token families.

The whole batch is checked before anything is written: each record's data,
ids and names held by another object, and every reference (an alias's
canonical_id, group members and parents, mount accessors as the rest of the
engine checks them, a client's key and assignments, a provider's scopes and
allowed client ids, a role's key, an enforcement's methods, groups and
entities). A reference may name an object of the same batch or one already
in the store. A batch with any problem is refused with 400, data.problems
listing each one, and nothing is written.

A record identical to the stored object is "unchanged" and not written, so
importing the same records again changes nothing. on_conflict decides about
a record whose id exists with other values, or whose name or alias is held
by another object: fail (the default), skip, or overwrite (the object with
the same id; never another one). dry_run answers what would be done.
`)

var exportHelp = strings.TrimSpace(`
Returns a page of the store's records in dependency order (entities, entity
aliases, groups with parents before children, group aliases, MFA methods,
login enforcements, MFA state, the OIDC issuer, keys, scopes, assignments,
clients, providers, roles, then grants when include_grants is true), so that
importing the pages in order never refers to an object not yet seen. Read
with after=<next of the previous page> until next is empty. Keys are
exported with their configuration only; export/keys gives the private keys.
The records hold client secrets, TOTP seeds, recovery code hashes and MFA
provider credentials.
`)
