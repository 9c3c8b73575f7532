//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// acked records what the server acknowledged: entities that must exist and
// group memberships that must be present at the end.
type acked struct {
	mu       sync.Mutex
	entities map[string]bool   // id -> must exist
	members  map[string]string // "group/entity" -> reason
}

func newAcked() *acked { return &acked{entities: map[string]bool{}, members: map[string]string{}} }

func (a *acked) entity(id string) {
	a.mu.Lock()
	a.entities[id] = true
	a.mu.Unlock()
}

// count is how many entities were acknowledged so far.
func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entities)
}

func (a *acked) member(group, entity string) {
	a.mu.Lock()
	a.members[group+"/"+entity] = "added"
	a.mu.Unlock()
}

// mixedLoad runs writers against mnt until each has made ops requests (or
// the deadline passes), over a small shared set of names and groups, so
// that writes collide. Writers also create entities of their own, never
// deleted, and add them to the shared groups: those are what must survive.
// It returns how many requests were acknowledged and how many failed.
func mixedLoad(ctx context.Context, t *testing.T, mnt string, groups []string, writers, ops int, ack *acked) (ok, failed int64) {
	var okN, failN atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			send := func(method, path string, body any) (int, map[string]any) {
				rep, err := server.Do(ctx, method, mnt+"/"+path, body)
				if err != nil || rep.Status >= 500 {
					failN.Add(1)
					return 500, nil
				}
				okN.Add(1)
				return rep.Status, rep.Data
			}
			for i := 0; i < ops && ctx.Err() == nil; i++ {
				shared := fmt.Sprintf("shared-%d", r.IntN(30))
				group := groups[r.IntN(len(groups))]
				switch r.IntN(10) {
				case 0, 1:
					send("POST", "entity", map[string]any{"name": shared, "metadata": map[string]any{"w": fmt.Sprint(w)}})
				case 2:
					send("DELETE", "entity/name/"+shared, nil)
				case 3:
					send("POST", "entity-alias", map[string]any{"name": shared, "mount_accessor": []string{userpassAccessor, approleAccessor}[r.IntN(2)]})
				case 4:
					if st, d := send("GET", "entity/name/"+shared, nil); st == http.StatusOK {
						send("POST", "group/id/"+group, map[string]any{"add_member_entity_ids": d["id"]})
					}
				case 5:
					if st, d := send("GET", "entity/name/"+shared, nil); st == http.StatusOK {
						send("POST", "group/id/"+group, map[string]any{"remove_member_entity_ids": d["id"]})
					}
				case 6:
					send("POST", "group/id/"+group, map[string]any{"add_member_group_ids": groups[r.IntN(len(groups))]})
				case 7:
					send("POST", "group/id/"+group, map[string]any{"remove_member_group_ids": groups[r.IntN(len(groups))]})
				default:
					st, d := send("POST", "entity", map[string]any{"name": fmt.Sprintf("own-%d-%d-%d", w, i, time.Now().UnixNano())})
					if st == http.StatusOK {
						id := d["id"].(string)
						ack.entity(id)
						if st, _ := send("POST", "group/id/"+group, map[string]any{"add_member_entity_ids": id}); st == http.StatusNoContent {
							ack.member(group, id)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return okN.Load(), failN.Load()
}

// listed lists path: its answer, or nil when the list is empty (404). Any
// other answer fails the test.
func listed(t *testing.T, path string) *devvault.Reply {
	t.Helper()
	l := do(t, "LIST", path, nil)
	if l.Status == http.StatusNotFound {
		return nil
	}
	require.Equal(t, http.StatusOK, l.Status, "LIST %s: %v", path, l.Errors)
	return &l
}

// checkStore reads the whole store through the API and checks the graph's
// invariants and that every acknowledged write is present.
func checkStore(t *testing.T, mnt string, ack *acked) {
	t.Helper()
	entities := map[string]string{} // id -> name
	if l := listed(t, mnt+"/entity/id"); l != nil {
		for id, info := range l.Data["key_info"].(map[string]any) {
			entities[id] = info.(map[string]any)["name"].(string)
		}
	}
	names := map[string]string{}
	for id, name := range entities {
		other, dup := names[strings.ToLower(name)]
		require.False(t, dup, "entities %s and %s share the name %q", id, other, name)
		names[strings.ToLower(name)] = id
	}
	if l := listed(t, mnt+"/entity-alias/id"); l != nil {
		factors := map[string]bool{}
		perMount := map[string]bool{}
		for id, info := range l.Data["key_info"].(map[string]any) {
			m := info.(map[string]any)
			owner := m["canonical_id"].(string)
			require.Contains(t, entities, owner, "alias %s points at a missing entity", id)
			f := m["mount_accessor"].(string) + "/" + strings.ToLower(m["name"].(string))
			require.False(t, factors[f], "two aliases %s", f)
			factors[f] = true
			pm := owner + "/" + m["mount_accessor"].(string)
			require.False(t, perMount[pm], "two aliases on one mount for %s", owner)
			perMount[pm] = true
		}
	}
	groups := map[string]map[string]any{}
	if l := listed(t, mnt+"/group/id"); l != nil {
		for _, id := range l.Data["keys"].([]any) {
			g := do(t, "GET", mnt+"/group/id/"+id.(string), nil)
			require.Equal(t, http.StatusOK, g.Status)
			groups[id.(string)] = g.Data
		}
	}
	list := func(v any) []string {
		var out []string
		for _, x := range asSlice(v) {
			out = append(out, x.(string))
		}
		return out
	}
	for id, g := range groups {
		for _, m := range list(g["member_entity_ids"]) {
			require.Contains(t, entities, m, "group %s lists a missing entity", id)
		}
		for _, p := range list(g["parent_group_ids"]) {
			require.Contains(t, groups, p, "group %s has a missing parent", id)
			require.Contains(t, list(groups[p]["member_group_ids"]), id, "parent %s does not list child %s", p, id)
		}
		for _, c := range list(g["member_group_ids"]) {
			require.Contains(t, list(groups[c]["parent_group_ids"]), id, "child %s does not name parent %s", c, id)
		}
	}
	ack.mu.Lock()
	defer ack.mu.Unlock()
	for id := range ack.entities {
		require.Contains(t, entities, id, "acknowledged entity %s is gone", id)
	}
	for k := range ack.members {
		g, e, _ := strings.Cut(k, "/")
		require.Contains(t, list(groups[g]["member_entity_ids"]), e, "acknowledged membership %s is gone", k)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func sharedGroups(t *testing.T, mnt string, n int) []string {
	var ids []string
	for i := range n {
		g := do(t, "POST", mnt+"/group", map[string]any{"name": fmt.Sprintf("load-group-%d-%d", i, time.Now().UnixNano())})
		require.Equal(t, http.StatusOK, g.Status, g.Errors)
		ids = append(ids, g.Data["id"].(string))
	}
	return ids
}

// cleanMount deletes everything the load made.
func cleanMount(t *testing.T, mnt string) {
	for _, kind := range []string{"group", "entity"} {
		if l := listed(t, mnt+"/"+kind+"/id"); l != nil {
			for _, id := range asSlice(l.Data["keys"]) {
				do(t, "DELETE", mnt+"/"+kind+"/id/"+id.(string), nil)
			}
		}
	}
}

// TestConcurrentMixedLoad runs 8 writers, over 10,000 mixed requests on
// shared entities, aliases and groups through the real server, then checks
// the store.
func TestConcurrentMixedLoad(t *testing.T) {
	mnt := mount2
	t.Cleanup(func() { cleanMount(t, mnt) })
	groups := sharedGroups(t, mnt, 6)
	ack := newAcked()
	start := time.Now()
	ok, failed := mixedLoad(context.Background(), t, mnt, groups, 8, 1300, ack)
	t.Logf("%d requests answered, %d failed, in %s; %d entities and %d memberships to find", ok, failed, time.Since(start).Round(time.Millisecond), len(ack.entities), len(ack.members))
	require.Zero(t, failed)
	require.GreaterOrEqual(t, ok, int64(10000))
	checkStore(t, mnt, ack)
}

// TestPluginKilledMidLoad kills the plugin process (by its PID) while
// writers run; Vault starts it again and nothing acknowledged is lost.
func TestPluginKilledMidLoad(t *testing.T) {
	mnt := mount2
	t.Cleanup(func() { cleanMount(t, mnt) })
	groups := sharedGroups(t, mnt, 4)
	before := server.PluginPIDs()
	require.NotEmpty(t, before, "the plugin runs")

	ack := newAcked()
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed int64
	done := make(chan struct{})
	go func() {
		ok, failed = mixedLoad(ctx, t, mnt, groups, 8, 100000, ack)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	// The load runs before the crash: some creates are acknowledged.
	waitFor(t, 30*time.Second, "50 acknowledged creates before the crash", func() bool { return ack.count() >= 50 })
	for _, pid := range server.PluginPIDs() {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	// And after it: Vault starts the plugin again and creates go on.
	atCrash := ack.count()
	waitFor(t, 60*time.Second, "50 more acknowledged creates after the crash", func() bool { return ack.count() >= atCrash+50 })
	cancel()
	<-done
	after := server.PluginPIDs()
	require.NotEmpty(t, after, "Vault started the plugin again")
	for _, pid := range after {
		require.False(t, slices.Contains(before, pid), "a new process")
	}
	t.Logf("killed %v mid-load; %d requests answered, %d failed around the crash; now %v", before, ok, failed, after)
	require.NotEmpty(t, ack.entities, "writes were acknowledged around the crash")
	checkStore(t, mnt, ack)
}
