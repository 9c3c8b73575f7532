//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoadSnapshotAcrossRestarts: a reload (Vault's cleanup of the mount)
// writes a load snapshot that the next start loads; after a write and a
// crash the next start reads the snapshot's untouched sections and the
// objects of the section the write touched, and loses nothing.
func TestLoadSnapshotAcrossRestarts(t *testing.T) {
	const mnt, n = "ident-snapshot", 1100 // above the 1,000 objects a snapshot needs
	require.NoError(t, server.Enable(t.Context(), mnt))
	t.Cleanup(func() { _ = server.Client.Sys().Unmount(mnt) })

	var wg sync.WaitGroup
	ids := make([]string, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				r := do(t, "POST", mnt+"/entity", map[string]any{"name": fmt.Sprintf("user-%d", i), "metadata": map[string]any{"i": fmt.Sprint(i)}})
				if r.Status != http.StatusOK {
					t.Errorf("create %d: %d %v", i, r.Status, r.Errors)
					return
				}
				ids[i] = r.Data["id"].(string)
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	alias := do(t, "POST", mnt+"/entity-alias", map[string]any{"name": "alice", "mount_accessor": userpassAccessor, "canonical_id": ids[7]})
	require.Equal(t, http.StatusOK, alias.Status, alias.Errors)
	group := do(t, "POST", mnt+"/group", map[string]any{"name": "staff", "member_entity_ids": []string{ids[7], ids[8]}})
	require.Equal(t, http.StatusOK, group.Status, group.Errors)
	before := []string{mnt + "/entity/id/" + ids[7], mnt + "/group/name/staff", mnt + "/entity-alias/id/" + alias.Data["id"].(string)}
	answers := map[string]map[string]any{}
	for _, p := range before {
		r := do(t, "GET", p, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %v", p, r.Errors)
		answers[p] = r.Data
	}
	info := func() map[string]any {
		t.Helper()
		var r map[string]any
		require.Eventually(t, func() bool {
			rep, err := server.Do(t.Context(), "GET", mnt+"/info", nil)
			r = rep.Data
			return err == nil && rep.Status == http.StatusOK
		}, 30*time.Second, 20*time.Millisecond)
		return r
	}
	require.Equal(t, "objects", info()["load_source"])

	r := do(t, "PUT", "sys/plugins/reload/backend", map[string]any{"mounts": []string{mnt}})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, r.Errors)
	got := info()
	require.Equal(t, "snapshot", got["load_source"], "the reload's cleanup wrote a snapshot")
	require.EqualValues(t, n, got["entities"])
	for _, p := range before {
		require.Equal(t, answers[p], do(t, "GET", p, nil).Data, p)
	}

	// An acknowledged write, then a crash before any cleanup.
	late := do(t, "POST", mnt+"/entity", map[string]any{"name": "late"})
	require.Equal(t, http.StatusOK, late.Status, late.Errors)
	for _, pid := range server.PluginPIDs() {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	got = info()
	require.Equal(t, "snapshot+objects", got["load_source"], "the written section no longer matches the snapshot")
	require.EqualValues(t, n+1, got["entities"])
	require.Equal(t, late.Data["id"], do(t, "GET", mnt+"/entity/name/late", nil).Data["id"])
	for _, p := range before {
		require.Equal(t, answers[p], do(t, "GET", p, nil).Data, p)
	}
}
