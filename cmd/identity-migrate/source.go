package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// source is a store read whole: its records in dependency order, and what
// the report says about them.
type source struct {
	header  dump.Header
	records []dump.Record
	// file is the dump file the records come from, "" for a mount.
	file string
	// needs are what an operator must do after the import, notes what
	// the import changed on the way (references to deleted objects left
	// out).
	needs, notes []string
	// newKeys are the keys whose private keys the source did not give:
	// the target makes new ones.
	newKeys []string
	// reenroll lists, per TOTP method, the entities that must enroll
	// again; reenrollUnknown the TOTP methods no enforcement uses.
	reenroll        map[string][]string
	reenrollUnknown []string
	// providers are the source's OIDC providers with their issuers, for
	// the report of issuers that change; identityIssuer is the issuer of
	// its identity tokens.
	providers      map[string]string
	identityIssuer string
}

// where names record i for a message: its line in the dump file, or its
// position.
func (s *source) where(i int) string {
	if s.file != "" {
		return fmt.Sprintf("%s line %d", s.file, i+2)
	}
	return fmt.Sprintf("record %d", i+1)
}

// known is the set of objects the source gives, by kind and id (and OIDC
// clients by client_id too): references to them are fine in a check pass
// whose earlier batches were not written.
func (s *source) known() map[string]bool {
	out := map[string]bool{}
	for _, r := range s.records {
		out[r.Kind+"\x00"+r.ID] = true
		if r.Kind == dump.KindOIDCClient {
			var c dump.OIDCClient
			if jsonUnmarshal(r.Data, &c) == nil {
				out[r.Kind+"\x00"+c.ClientID] = true
			}
		}
	}
	return out
}

// readFile reads and checks a dump file whole: a truncated or edited file
// is refused here, before anything is written.
func readFile(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := dump.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was written", path, err)
	}
	s := &source{header: d.Header, records: d.Records, file: path}
	if d.Header.Source == dump.SourcePlugin && !d.Header.IncludeKeys {
		s.keysAreNew()
	}
	return s, nil
}

// keysAreNew lists the key records without material as new keys.
func (s *source) keysAreNew() {
	for _, r := range s.records {
		if r.Kind != dump.KindOIDCKey {
			continue
		}
		var k dump.OIDCKey
		if jsonUnmarshal(r.Data, &k) == nil && k.Material == nil {
			s.newKeys = append(s.newKeys, k.Name)
		}
	}
}

// exportOptions are what an export of a plugin mount includes.
type exportOptions struct {
	grants, keys bool
}

// readPlugin exports a plugin mount page by page; with keys, the key
// records come with their private keys from export/keys.
func readPlugin(ctx context.Context, v vault, mount string, opts exportOptions, prog *progress) (*source, error) {
	info, err := v.read(ctx, mount+"/info")
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("%s is not a mount of this plugin (no %s/info)", mount, mount)
	}
	s := &source{header: dump.Header{
		Source: dump.SourcePlugin, Mount: mount, PluginVersion: info.str("plugin_version"),
		IncludeGrants: opts.grants, IncludeKeys: opts.keys,
	}}
	keys := map[string]dump.Record{}
	if opts.keys {
		got, err := v.read(ctx, mount+"/export/keys")
		if err != nil {
			return nil, err
		}
		var recs []dump.Record
		if err := remarshal(got["records"], &recs); err != nil {
			return nil, fmt.Errorf("GET %s/export/keys: %v", mount, err)
		}
		for _, r := range recs {
			keys[r.ID] = r
		}
	}
	after := ""
	for {
		q := url.Values{"limit": {"1000"}, "include_grants": {strconv.FormatBool(opts.grants)}}
		if after != "" {
			q.Set("after", after)
		}
		page, err := v.readQuery(ctx, mount+"/export", q)
		if err != nil {
			return nil, err
		}
		var recs []dump.Record
		if err := remarshal(page["records"], &recs); err != nil {
			return nil, fmt.Errorf("GET %s/export: %v", mount, err)
		}
		for _, r := range recs {
			if k, ok := keys[r.ID]; ok && r.Kind == dump.KindOIDCKey {
				r = k
			}
			s.records = append(s.records, r)
		}
		prog.reading(len(s.records))
		if after = page.str("next"); after == "" {
			break
		}
	}
	if !opts.keys {
		s.keysAreNew()
	}
	return s, nil
}

// sortedSet returns the keys of a set, sorted.
func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
