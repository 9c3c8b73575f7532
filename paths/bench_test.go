package paths_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin/pb"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/testutil"
	"github.com/vault-identity/vault-plugin-secrets-identity/plugin"
)

var benchSizes = []int{1_000, 100_000}

// populated returns a backend on in-memory storage holding n entities named
// user-0 … user-(n-1), and their ids.
func populated(b *testing.B, n int) (*testutil.Backend, []string) {
	b.Helper()
	be := testutil.New(b, plugin.Factory)
	ids := make([]string, n)
	for i := range n {
		r := be.Write("entity", map[string]any{"name": fmt.Sprintf("user-%d", i), "policies": "default", "metadata": "team=dev"})
		if r.Status != http.StatusOK {
			b.Fatalf("create: %d %s", r.Status, r.ErrorText())
		}
		ids[i] = r.Data()["id"].(string)
	}
	return be, ids
}

// BenchmarkEntityCreate creates entities in a store that already holds n.
func BenchmarkEntityCreate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			be, _ := populated(b, n)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				r := be.Write("entity", map[string]any{"name": fmt.Sprintf("new-%d", i), "policies": "default", "metadata": "team=dev"})
				if r.Status != http.StatusOK {
					b.Fatalf("create: %d %s", r.Status, r.ErrorText())
				}
				i++
			}
		})
	}
}

// BenchmarkEntityRead reads entities by id and by name in a store holding n.
func BenchmarkEntityRead(b *testing.B) {
	for _, n := range benchSizes {
		be, ids := populated(b, n)
		b.Run(fmt.Sprintf("by=id/entities=%d", n), func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if r := be.Read("entity/id/" + ids[i%n]); r.Status != http.StatusOK {
					b.Fatalf("read: %d", r.Status)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("by=name/entities=%d", n), func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if r := be.Read(fmt.Sprintf("entity/name/USER-%d", i%n)); r.Status != http.StatusOK {
					b.Fatalf("read: %d", r.Status)
				}
				i++
			}
		})
	}
}

// BenchmarkEntityList lists the ids (with key_info) of a store holding n
// entities.
func BenchmarkEntityList(b *testing.B) {
	for _, n := range []int{10_000} {
		be, _ := populated(b, n)
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := be.List("entity/id/"); r.Status != http.StatusOK {
					b.Fatalf("list: %d", r.Status)
				}
			}
		})
		// What carrying the answer to Vault adds: the plugin gRPC layer
		// encodes the data as JSON and Vault decodes it again.
		b.Run(fmt.Sprintf("entities=%d/grpc-translation", n), func(b *testing.B) {
			resp := be.List("entity/id/").Resp
			b.ReportAllocs()
			for b.Loop() {
				p, err := pb.LogicalResponseToProtoResponse(resp)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pb.ProtoResponseToLogicalResponse(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProviderTokenExchange redeems authorization codes at the token
// endpoint (client_secret_basic, RS256 ID token, refresh token issued); the
// authorize call that makes each code is not timed.
func BenchmarkProviderTokenExchange(b *testing.B) {
	p := newProviderSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code := p.code(b, nil)
		b.StartTimer()
		if r := raw(b, p.exchange(code, nil)); r.status != http.StatusOK {
			b.Fatalf("exchange: %d %v", r.status, r.body)
		}
	}
}

// BenchmarkProviderAuthorize issues authorization codes for the caller.
func BenchmarkProviderAuthorize(b *testing.B) {
	p := newProviderSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		p.code(b, nil)
	}
}

// BenchmarkOIDCToken issues identity tokens for the caller with a key of
// each algorithm the load tool measures, through the plugin's request path
// and the translation of the answer for gRPC.
func BenchmarkOIDCToken(b *testing.B) {
	be, _ := oidcBackend(b)
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		key, role := "bench-"+alg, "bench-role-"+alg
		if r := be.Write("oidc/key/"+key, map[string]any{"algorithm": alg, "allowed_client_ids": "*"}); r.Status != http.StatusNoContent {
			b.Fatalf("key: %d %s", r.Status, r.ErrorText())
		}
		if r := be.Write("oidc/role/"+role, map[string]any{"key": key, "ttl": "1h"}); r.Status != http.StatusNoContent {
			b.Fatalf("role: %d %s", r.Status, r.ErrorText())
		}
		b.Run("alg="+alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := be.Handle(&logical.Request{Operation: logical.ReadOperation, Path: "oidc/token/" + role, EntityID: "vault-entity"})
				if r.Status != http.StatusOK {
					b.Fatalf("token: %d %s", r.Status, r.ErrorText())
				}
				if _, err := pb.LogicalResponseToProtoResponse(r.Resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
