package plugin

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// countingView is a system view whose replication state is counted and can
// change, as a remote one behind a gRPC call would.
type countingView struct {
	logical.StaticSystemView
	calls atomic.Int64
	state atomic.Uint32
}

func (v *countingView) ReplicationState() consts.ReplicationState {
	v.calls.Add(1)
	return consts.ReplicationState(v.state.Load())
}

// The framework asks for the replication state on every request; from an
// external plugin each question is a round trip to Vault, so the backend
// asks Vault at most once per replicationStateTTL.
func TestReplicationStateAskedOncePerInterval(t *testing.T) {
	view := &countingView{}
	conf := logical.TestBackendConfig()
	storage := new(logical.InmemStorage)
	conf.StorageView = storage
	conf.Logger = hclog.NewNullLogger()
	conf.System = view
	lb, err := Factory(context.Background(), conf)
	require.NoError(t, err)
	b := lb.(*framework.Backend)
	now := time.Unix(1_700_000_000, 0)
	b.System().(*cachedSystemView).now = func() time.Time { return now }

	read := func() {
		resp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "info", Storage: storage})
		require.NoError(t, err)
		require.False(t, resp.IsError())
	}
	for range 100 {
		read()
	}
	require.EqualValues(t, 1, view.calls.Load())

	// A change reaches the backend once the cached answer is older than
	// the interval.
	view.state.Store(uint32(consts.ReplicationPerformanceStandby))
	require.Equal(t, consts.ReplicationUnknown, b.System().ReplicationState())
	now = now.Add(replicationStateTTL)
	require.Equal(t, consts.ReplicationPerformanceStandby, b.System().ReplicationState())
	require.EqualValues(t, 2, view.calls.Load())
}
