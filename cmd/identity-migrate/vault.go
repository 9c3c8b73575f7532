package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// vault is the API client with the few calls the tool makes. The
// client's own timeout is off (a raw answer's body would be cut when the
// call returns); each call has callTimeout instead.
type vault struct {
	c *api.Client
}

const callTimeout = 5 * time.Minute

// list returns the keys under path, none for a 404.
func (v vault) list(ctx context.Context, path string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	s, err := v.c.Logical().ListWithContext(ctx, path)
	if err != nil {
		return nil, apiErr("LIST", path, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	raw, _ := s.Data["keys"].([]any)
	out := make([]string, 0, len(raw))
	for _, k := range raw {
		if str, ok := k.(string); ok {
			out = append(out, str)
		}
	}
	sort.Strings(out)
	return out, nil
}

// read returns the data at path, nil for a 404.
func (v vault) read(ctx context.Context, path string) (obj, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	s, err := v.c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, apiErr("GET", path, err)
	}
	if s == nil {
		return nil, nil
	}
	return obj(s.Data), nil
}

// readQuery is read with query parameters.
func (v vault) readQuery(ctx context.Context, path string, q url.Values) (obj, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	s, err := v.c.Logical().ReadWithDataWithContext(ctx, path, q)
	if err != nil {
		return nil, apiErr("GET", path, err)
	}
	if s == nil {
		return nil, fmt.Errorf("GET %s: not found", path)
	}
	return obj(s.Data), nil
}

// rawJSON reads a path that answers raw JSON (discovery documents).
func (v vault) rawJSON(ctx context.Context, path string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := v.c.Logical().ReadRawWithContext(ctx, path)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, apiErr("GET", path, err)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return out, nil
}

// importAnswer is the plugin's answer to an import batch: what it did
// (or would do) with each record, in order, and why it refused the batch.
type importAnswer struct {
	Actions  []string  `json:"actions"`
	Problems []problem `json:"problems"`
}

type problem struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	RefKind string `json:"ref_kind"`
	RefID   string `json:"ref_id"`
}

// importBatch sends one batch. A refused batch is no error: its problems
// are in the answer.
func (v vault) importBatch(ctx context.Context, mount string, recs []dump.Record, onConflict string, dry bool) (*importAnswer, error) {
	// The records go as lines of one string, which Vault passes on to
	// the plugin as it is, rather than as objects it would decode and
	// encode again.
	var lines strings.Builder
	for _, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		lines.Write(raw)
		lines.WriteByte('\n')
	}
	body, err := json.Marshal(map[string]any{"records_jsonl": lines.String(), "on_conflict": onConflict, "dry_run": dry})
	if err != nil {
		return nil, err
	}
	path := mount + "/import"
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := v.c.Logical().WriteRawWithContext(ctx, path, body)
	if resp == nil {
		return nil, fmt.Errorf("PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(resp.Body)
	if rerr != nil {
		return nil, fmt.Errorf("PUT %s: %w", path, rerr)
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}
	_ = json.Unmarshal(raw, &env)
	var ans importAnswer
	if len(env.Data) > 0 {
		if derr := json.Unmarshal(env.Data, &ans); derr != nil {
			return nil, fmt.Errorf("PUT %s: the answer is not an import answer: %v", path, derr)
		}
	}
	switch {
	case resp.StatusCode == http.StatusOK && len(ans.Actions) == len(recs):
		return &ans, nil
	case resp.StatusCode == http.StatusBadRequest && len(ans.Problems) > 0:
		return &ans, nil
	}
	if len(env.Errors) > 0 {
		return nil, fmt.Errorf("PUT %s: Vault answered %d: %s", path, resp.StatusCode, cleanErrors(env.Errors))
	}
	if err == nil {
		err = errors.New(http.StatusText(resp.StatusCode))
	}
	return nil, fmt.Errorf("PUT %s: Vault answered %d: %v", path, resp.StatusCode, err)
}

// apiErr words an error of Vault's API client on one line: Vault's
// status and messages.
func apiErr(method, path string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s %s: Vault answered %d: %s", method, path, re.StatusCode, cleanErrors(re.Errors))
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

// cleanErrors joins Vault's messages, unwrapping the "1 error occurred:"
// lists of its ACL refusals.
func cleanErrors(errs []string) string {
	var out []string
	for _, e := range errs {
		if strings.Contains(e, " occurred:\n") {
			for _, line := range strings.Split(e, "\n") {
				if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
					out = append(out, item)
				}
			}
			continue
		}
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}

// obj is a response's data, with typed getters. Vault's client decodes
// numbers as json.Number.
type obj map[string]any

func (o obj) str(k string) string {
	s, _ := o[k].(string)
	return s
}

func (o obj) strs(k string) []string {
	raw, ok := o[k].([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, x := range raw {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (o obj) int(k string) int64 {
	switch n := o[k].(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	return 0
}

func (o obj) bool(k string) bool {
	b, _ := o[k].(bool)
	return b
}

func (o obj) time(k string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, o.str(k))
	return t.UTC()
}

// strMap is a map of strings; nil when absent or null.
func (o obj) strMap(k string) map[string]string {
	raw, ok := o[k].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(raw))
	for key, v := range raw {
		s, _ := v.(string)
		out[key] = s
	}
	return out
}

func (o obj) sub(k string) obj {
	m, _ := o[k].(map[string]any)
	return obj(m)
}

func (o obj) list(k string) []obj {
	raw, _ := o[k].([]any)
	out := make([]obj, 0, len(raw))
	for _, x := range raw {
		if m, ok := x.(map[string]any); ok {
			out = append(out, obj(m))
		}
	}
	return out
}
