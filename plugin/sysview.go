package plugin

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// replicationStateTTL is how long the backend reuses Vault's answer about
// the node's replication state.
const replicationStateTTL = time.Second

// cachedSystemView is Vault's system view with the replication state kept
// for replicationStateTTL. The SDK's framework asks for it before every
// request that has Operations (to refuse writes on performance standbys for
// paths marked to be forwarded, which none of ours are); from an external
// plugin each question is a gRPC round trip to Vault, which made a read two
// round trips instead of one. The state changes only when the node changes
// role, and Vault sets up the mount's backend again when it does.
type cachedSystemView struct {
	logical.SystemView
	now  func() time.Time
	last atomic.Pointer[replicationReading]
}

type replicationReading struct {
	state consts.ReplicationState
	at    time.Time
}

func (v *cachedSystemView) ReplicationState() consts.ReplicationState {
	now := v.now()
	if r := v.last.Load(); r != nil && now.Sub(r.at) < replicationStateTTL {
		return r.state
	}
	state := v.SystemView.ReplicationState()
	v.last.Store(&replicationReading{state: state, at: now})
	return state
}
