package devvault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Reply is one HTTP answer from Vault, decoded.
type Reply struct {
	Status   int
	Body     map[string]any // the whole JSON body, nil when empty
	Data     map[string]any // body["data"] when it is an object
	Errors   []string
	Warnings []string
}

// Do sends method to /v1/path with a JSON body (if any) and the server's root
// token, and decodes the answer whatever its status.
func (s *Server) Do(ctx context.Context, method, path string, body any) (Reply, error) {
	return Do(ctx, http.DefaultClient, s.Addr, s.Token, method, path, body)
}

// Do is Server.Do for any address and token. LIST is sent as Vault's CLI
// sends it: GET with list=true.
func Do(ctx context.Context, hc *http.Client, addr, token, method, path string, body any) (Reply, error) {
	var r Reply
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return r, err
		}
		rd = bytes.NewReader(b)
	}
	url := strings.TrimSuffix(addr, "/") + "/v1/" + strings.TrimPrefix(path, "/")
	if method == "LIST" {
		method, url = http.MethodGet, url+"?list=true"
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return r, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, err
	}
	r.Status = resp.StatusCode
	if len(bytes.TrimSpace(raw)) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		return r, fmt.Errorf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	r.Data, _ = r.Body["data"].(map[string]any)
	r.Errors = stringList(r.Body["errors"])
	r.Warnings = stringList(r.Body["warnings"])
	return r, nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
