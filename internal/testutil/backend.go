// Package testutil has helpers shared by the unit tests: a backend on
// in-memory storage and a request runner that reports the HTTP status Vault
// would answer with.
package testutil

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin/pb"
)

// Factory builds a backend for a test; plugin.Factory in practice.
type Factory func(context.Context, *logical.BackendConfig) (logical.Backend, error)

// Backend is a backend under test with its storage.
type Backend struct {
	T       testing.TB
	B       *framework.Backend
	Storage *logical.InmemStorage
	// System is the system view the backend was built with; tests set the
	// caller's Vault entity on it.
	System *logical.StaticSystemView
}

// New builds a backend over fresh in-memory storage and initializes it the
// way Vault does.
func New(t testing.TB, factory Factory) *Backend {
	return NewWithStorage(t, factory, new(logical.InmemStorage))
}

// NewWithStorage is New over existing storage: a restart of the plugin.
func NewWithStorage(t testing.TB, factory Factory, s *logical.InmemStorage) *Backend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = s
	conf.Logger = hclog.NewNullLogger()
	b, err := factory(context.Background(), conf)
	if err != nil {
		t.Fatalf("factory: %v", err)
	}
	fb := b.(*framework.Backend)
	if err := fb.Initialize(context.Background(), &logical.InitializationRequest{Storage: s}); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return &Backend{T: t, B: fb, Storage: s, System: conf.System.(*logical.StaticSystemView)}
}

// Result is a handled request: the response, the error and the HTTP status
// Vault's HTTP layer would send.
type Result struct {
	T      testing.TB
	Req    *logical.Request
	Resp   *logical.Response
	Err    error
	Status int
}

// need fails the test when there is no response.
func (r Result) need() {
	r.T.Helper()
	if r.Resp == nil {
		r.T.Fatalf("%s %s: no response (status %d, error %v)", r.Req.Operation, r.Req.Path, r.Status, r.Err)
	}
}

// Data returns the response data, failing the test if there is none.
func (r Result) Data() map[string]any {
	r.T.Helper()
	r.need()
	return r.Resp.Data
}

// Wire returns the response data as Vault receives it from the plugin: the
// SDK's gRPC layer carries it as JSON, so typed values arrive as maps and
// slices of any, and numbers as float64.
func (r Result) Wire() map[string]any {
	r.T.Helper()
	r.need()
	p, err := pb.LogicalResponseToProtoResponse(r.Resp)
	if err != nil {
		r.T.Fatalf("%s: encoding the response for gRPC: %v", r.Req.Path, err)
	}
	resp, err := pb.ProtoResponseToLogicalResponse(p)
	if err != nil {
		r.T.Fatalf("%s: decoding the response from gRPC: %v", r.Req.Path, err)
	}
	return resp.Data
}

// ErrorText returns the error message the client would see, or "". For a
// raw OAuth error answer it is "<error>: <error_description>", or "" when
// either is missing.
func (r Result) ErrorText() string {
	if r.Resp != nil && r.Resp.IsError() {
		return r.Resp.Error().Error()
	}
	if code, ok := rawStatus(r.Resp); ok && code >= 400 {
		var oauth struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		body, _ := r.Resp.Data[logical.HTTPRawBody].([]byte)
		if json.Unmarshal(body, &oauth) != nil || oauth.Error == "" || oauth.Description == "" {
			return ""
		}
		return oauth.Error + ": " + oauth.Description
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	return ""
}

// Do sends one request to the backend.
func (b *Backend) Do(op logical.Operation, path string, data map[string]any) Result {
	b.T.Helper()
	return b.Handle(&logical.Request{Operation: op, Path: path, Data: data})
}

// MountPoint is where tests pretend the backend is mounted.
const MountPoint = "ident/"

// Handle sends a request built by the test, on the backend's storage.
func (b *Backend) Handle(req *logical.Request) Result {
	req.Storage = b.Storage
	if req.MountPoint == "" {
		req.MountPoint = MountPoint
	}
	resp, err := b.B.HandleRequest(context.Background(), req)
	return Result{T: b.T, Req: req, Resp: resp, Err: err, Status: Status(req, resp, err)}
}

// Write, Read, Delete and List are Do for each operation.
func (b *Backend) Write(path string, data map[string]any) Result {
	b.T.Helper()
	return b.Do(logical.UpdateOperation, path, data)
}

func (b *Backend) Read(path string) Result {
	b.T.Helper()
	return b.Do(logical.ReadOperation, path, nil)
}

func (b *Backend) Delete(path string) Result {
	b.T.Helper()
	return b.Do(logical.DeleteOperation, path, nil)
}

func (b *Backend) List(path string) Result {
	b.T.Helper()
	return b.Do(logical.ListOperation, path, nil)
}

// rawStatus is the status of a raw response (one Vault writes as is).
func rawStatus(resp *logical.Response) (int, bool) {
	if resp == nil {
		return 0, false
	}
	code, ok := resp.Data[logical.HTTPStatusCode].(int)
	return code, ok
}

// Status is the HTTP status Vault's HTTP layer answers for this outcome.
func Status(req *logical.Request, resp *logical.Response, err error) int {
	if code, ok := rawStatus(resp); ok && err == nil {
		return code
	}
	if code, _ := logical.RespondErrorCommon(req, resp, err); code != 0 {
		return code
	}
	if resp == nil {
		return http.StatusNoContent
	}
	if err != nil {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}
