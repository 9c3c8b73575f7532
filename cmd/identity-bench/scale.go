package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// scaleRun is what -scale measures on one mount.
type scaleRun struct {
	createSmall, readSmall, aliasSmall result // at 1k entities
	listSmall, tokenSmall              result
	preload, groups                    result // growing to the large size
	createLarge, readLarge, aliasLarge result // at the large size
	listLarge, tokenLarge              result
	rssPerEntity                       float64
	// The plugin's floors measured just before and after its create and
	// read runs: the machine drifts between the small and the large runs,
	// and a figure over its adjacent floor does not.
	createSmallFloor, readSmallFloor, createLargeFloor, readLargeFloor result
}

// small is the size of the small store, and of its create samples; the
// create samples at the large size are larger, to average out the garbage
// collections a large heap brings.
const small, largeSample = 1000, 5000

// runScale compares each mount at 1k entities with itself at cfg.scale
// entities and cfg.scale/10 groups of ten members: create, read by name,
// alias create, the whole id list and identity token issue (the first of
// cfg.algorithms, with a user's token), the resident memory its process
// gains per entity, and, on a server this tool started, how long each
// engine takes to start: both from an unseal, the plugin also at a reload
// of its mount and after its process was killed.
func runScale(ctx context.Context, b *bench, srv *devvault.Server, accessor, prefix string) error {
	c := b.cfg
	if c.scale <= small {
		return fmt.Errorf("-scale must be above %d", small)
	}
	fmt.Printf("identity-bench -scale: %d clients, %d reads, %d lists and %d tokens per op, 1k and then %d entities with %d groups per mount, Vault at %s%s\n\n",
		c.clients, c.reads, c.lists, c.tokens, c.scale, c.scale/10, c.addr, storageNote(c))
	userToken, err := tokenSetup(ctx, b, accessor, prefix)
	if err != nil {
		return err
	}
	mounts := []string{"identity", c.mount}
	runs := map[string]*scaleRun{}
	var steps [][]func() error
	for _, mnt := range mounts {
		run := &scaleRun{}
		runs[mnt] = run
		steps = append(steps, scaleSteps(ctx, b, mnt, accessor, prefix, userToken, processOf(srv, mnt), run))
	}
	// Step by step, each mount in turn: both small figures are taken with
	// both mounts small, both large ones with both mounts large.
	for i := range steps[0] {
		for _, mountSteps := range steps {
			if err := mountSteps[i](); err != nil {
				return err
			}
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nop\tbuilt-in 1k ops/s\tat %d\tratio\tplugin 1k ops/s\tat %d\tratio\tplugin/built-in at %d\t\n", c.scale, c.scale, c.scale)
	line := func(op string, get func(*scaleRun) (result, result)) {
		bs, bl := get(runs["identity"])
		ps, pl := get(runs[c.mount])
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.2fx\t%.0f\t%.0f\t%.2fx\t%.2fx\t\n", op,
			bs.rate(), bl.rate(), bl.rate()/bs.rate(), ps.rate(), pl.rate(), pl.rate()/ps.rate(), pl.rate()/bl.rate())
	}
	line("entity create", func(r *scaleRun) (result, result) { return r.createSmall, r.createLarge })
	line("entity read by name", func(r *scaleRun) (result, result) { return r.readSmall, r.readLarge })
	line("alias create (new entity)", func(r *scaleRun) (result, result) { return r.aliasSmall, r.aliasLarge })
	line("entity list ids (whole list)", func(r *scaleRun) (result, result) { return r.listSmall, r.listLarge })
	line("oidc token "+scaleAlgorithm(c)+" (user)", func(r *scaleRun) (result, result) { return r.tokenSmall, r.tokenLarge })
	w.Flush()
	fmt.Println("ratio: throughput at the large size over throughput at 1k; 1.00x means no slow-down.")
	p := runs[c.mount]
	relative := func(op string, small, smallFloor, large, largeFloor result) {
		s, l := small.rate()/smallFloor.rate(), large.rate()/largeFloor.rate()
		fmt.Printf("plugin %s over its adjacent floor: %.2fx at 1k, %.2fx at %d; ratio %.2fx\n", op, s, l, c.scale, l/s)
	}
	relative("entity create", p.createSmall, p.createSmallFloor, p.createLarge, p.createLargeFloor)
	relative("entity read by name", p.readSmall, p.readSmallFloor, p.readLarge, p.readLargeFloor)
	for _, mnt := range mounts {
		r := runs[mnt]
		fmt.Printf("%s: preload %.0f entities/s, %.0f groups/s", mnt, r.preload.rate(), r.groups.rate())
		if r.rssPerEntity > 0 {
			fmt.Printf(", resident memory +%.0f B per entity (with its share of the groups)", r.rssPerEntity)
		}
		fmt.Println()
	}
	if srv == nil {
		return nil
	}
	// The creates, the aliases' entities and the token user's.
	entities := c.scale + 2*largeSample + small + 1
	t, err := restart(ctx, b, srv, fmt.Sprintf("%s-identity-0", prefix), entities)
	if err != nil {
		return err
	}
	fmt.Printf("start-up with %d entities and %d groups per mount: unseal %s (built-in engine serving %s after it began, plugin %s, %s)\n"+
		"  plugin reload: serving after %s, %s\n  plugin killed after a write: serving after %s, %s\n",
		entities, c.scale/10, t.unseal.Round(time.Millisecond), t.builtin.Round(time.Millisecond),
		t.plugin.Round(time.Millisecond), t.pluginLoad,
		t.reload.Round(time.Millisecond), t.reloadLoad, t.crash.Round(time.Millisecond), t.crashLoad)
	return nil
}

// scaleSteps are the steps of runScale for one mount; they fill run.
func scaleSteps(ctx context.Context, b *bench, mnt, accessor, prefix, userToken string, pid int, run *scaleRun) []func() error {
	c := b.cfg
	name := func(i int) string { return fmt.Sprintf("%s-%s-%d", prefix, mnt, i) }
	creates := func(dst *result, label string, from, to int) func() error {
		return func() (err error) {
			*dst, err = b.measure(ctx, mnt+" "+label, to-from, func(i int) call {
				return call{method: "POST", path: mnt + "/entity", body: entityBody(name(from + i))}
			})
			return err
		}
	}
	reads := func(dst *result, label string, n int) func() error {
		return func() (err error) {
			*dst, err = b.measure(ctx, mnt+" "+label, c.reads, func(int) call {
				return call{method: "GET", path: mnt + "/entity/name/" + name(rand.IntN(n))}
			})
			return err
		}
	}
	// An alias without canonical_id: each creates its entity too.
	aliases := func(dst *result, label string, from, n int) func() error {
		return func() (err error) {
			*dst, err = b.measure(ctx, mnt+" "+label, n, func(i int) call {
				return call{method: "POST", path: mnt + "/entity-alias", body: aliasBody(prefix, from+i, accessor)}
			})
			return err
		}
	}
	lists := func(dst *result, label string) func() error {
		return func() (err error) {
			*dst, err = b.measure(ctx, mnt+" "+label, c.lists, func(int) call {
				return call{method: "LIST", path: mnt + "/entity/id"}
			})
			return err
		}
	}
	role := "bench-" + strings.ToLower(scaleAlgorithm(c))
	tokens := func(dst *result, label string) func() error {
		return func() (err error) {
			*dst, err = b.measure(ctx, mnt+" "+label, c.tokens, func(int) call {
				return call{method: "GET", path: mnt + "/oidc/token/" + role, token: userToken}
			})
			return err
		}
	}
	// Around the plugin's create and read runs, its floor of that kind.
	floored := func(floor *result, kind int, label string, n int, run func() error) func() error {
		if mnt != c.mount {
			return run
		}
		return func() (err error) {
			*floor, err = b.adjacentFloor(ctx, kind, mnt+" "+label, n, "", run)
			return err
		}
	}
	// Groups of ten members over the entities of ids, every entity in one:
	// at both sizes a read answers an entity with its group.
	groups := func(dst *result, label string, ids func() []string, first int) func() error {
		return func() (err error) {
			l := ids()
			*dst, err = b.measure(ctx, mnt+" "+label, len(l)/10, func(i int) call {
				return call{method: "POST", path: mnt + "/group", body: map[string]any{"name": fmt.Sprintf("%s-g-%d", prefix, first+i), "member_entity_ids": l[i*10 : i*10+10]}}
			})
			return err
		}
	}
	var rss0 int64
	var smallGroups result
	preload := creates(&run.preload, "preload", small, c.scale)
	large := fmt.Sprintf("at %d", c.scale)
	return []func() error{
		floored(&run.createSmallFloor, writeFloor, "create 0-1k", small, creates(&run.createSmall, "create 0-1k", 0, small)),
		groups(&smallGroups, "groups at 1k", func() []string { return run.createSmall.values("id") }, 0),
		floored(&run.readSmallFloor, readFloor, "read by name at 1k", c.reads, reads(&run.readSmall, "read by name at 1k", small)),
		aliases(&run.aliasSmall, "alias create at 1k", 0, small),
		lists(&run.listSmall, "list at 1k"),
		tokens(&run.tokenSmall, "token at 1k"),
		func() error {
			rss0 = rss(pid)
			if err := preload(); err != nil {
				return err
			}
			err := groups(&run.groups, "groups", func() []string { return run.preload.values("id") }, small/10)()
			if rss0 > 0 {
				run.rssPerEntity = float64(rss(pid)-rss0) / float64(c.scale-small)
			}
			return err
		},
		floored(&run.createLargeFloor, writeFloor, "create "+large, largeSample, creates(&run.createLarge, "create "+large, c.scale, c.scale+largeSample)),
		floored(&run.readLargeFloor, readFloor, "read by name "+large, c.reads, reads(&run.readLarge, "read by name "+large, c.scale)),
		aliases(&run.aliasLarge, "alias create "+large, small, largeSample),
		lists(&run.listLarge, "list "+large),
		tokens(&run.tokenLarge, "token "+large),
	}
}

// scaleAlgorithm is the signing algorithm of -scale's token issue: the
// first of -algorithms.
func scaleAlgorithm(c config) string {
	alg, _, _ := strings.Cut(c.algorithms, ",")
	return alg
}

// processOf is the process that holds a mount's data: Vault's own for
// identity/, the plugin's for the plugin mount. 0 when unknown.
func processOf(srv *devvault.Server, mnt string) int {
	if srv == nil {
		return 0
	}
	if mnt == "identity" {
		return srv.PID()
	}
	if pids := srv.PluginPIDs(); len(pids) == 1 {
		return pids[0]
	}
	return 0
}

// rss is the resident memory of process pid in bytes, 0 when unknown.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// startup is how long each engine takes to serve again.
type startup struct {
	unseal  time.Duration // the unseal request, which loads Vault's mounts
	builtin time.Duration // from the unseal request to a read answered by identity/
	// From the unseal request to the plugin's info counting every entity,
	// with how the plugin says it loaded.
	plugin     time.Duration
	pluginLoad string
	// From a reload of the plugin mount, and from killing the plugin
	// process right after a write, to its info counting every entity; with
	// how the plugin says it loaded.
	reload, crash         time.Duration
	reloadLoad, crashLoad string
}

// restart seals and unseals the server, which loads the built-in engine
// again; then reloads the plugin mount (Vault's cleanup of the old backend
// writes a load snapshot if one is due), and finally writes one entity and
// kills the plugin process, so that its next start finds no current
// snapshot and reads every object.
func restart(ctx context.Context, b *bench, srv *devvault.Server, probe string, entities int) (startup, error) {
	var t startup
	key, err := srv.UnsealKey()
	if err != nil {
		return t, err
	}
	if r, err := srv.Do(ctx, "PUT", "sys/seal", nil); err != nil || r.Status != http.StatusNoContent {
		return t, fmt.Errorf("seal: %v %d %v", err, r.Status, r.Errors)
	}
	start := time.Now()
	if r, err := srv.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": key}); err != nil || r.Status != http.StatusOK {
		return t, fmt.Errorf("unseal: %v %d %v", err, r.Status, r.Errors)
	}
	t.unseal = time.Since(start)
	if err := waitFor(ctx, srv, "identity/entity/name/"+probe, func(devvault.Reply) bool { return true }); err != nil {
		return t, err
	}
	t.builtin = time.Since(start)
	var info devvault.Reply
	counts := func(n int) func(devvault.Reply) bool {
		return func(r devvault.Reply) bool {
			info = r
			got, _ := r.Data["entities"].(float64)
			return int(got) == n
		}
	}
	loaded := func() string {
		return fmt.Sprintf("loaded from %v in %v ms", info.Data["load_source"], info.Data["load_duration_ms"])
	}
	// The plugin's load at the unseal, finished before the reload.
	if err := waitFor(ctx, srv, b.cfg.mount+"/info", counts(entities)); err != nil {
		return t, err
	}
	t.plugin, t.pluginLoad = time.Since(start), loaded()
	start = time.Now()
	if r, err := srv.Do(ctx, "PUT", "sys/plugins/reload/backend", map[string]any{"mounts": []string{b.cfg.mount + "/"}}); err != nil || r.Status >= 300 {
		return t, fmt.Errorf("plugin reload: %v %d %v", err, r.Status, r.Errors)
	}
	if err := waitFor(ctx, srv, b.cfg.mount+"/info", counts(entities)); err != nil {
		return t, err
	}
	t.reload, t.reloadLoad = time.Since(start), loaded()

	if r, err := srv.Do(ctx, "POST", b.cfg.mount+"/entity", map[string]any{"name": probe + "-last"}); err != nil || r.Status != http.StatusOK {
		return t, fmt.Errorf("write before the kill: %v %d %v", err, r.Status, r.Errors)
	}
	start = time.Now()
	for _, pid := range srv.PluginPIDs() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return t, err
		}
	}
	if err := waitFor(ctx, srv, b.cfg.mount+"/info", counts(entities+1)); err != nil {
		return t, err
	}
	t.crash, t.crashLoad = time.Since(start), loaded()
	return t, nil
}

// waitFor polls path until it answers 200 and ok, for up to two minutes,
// often enough to time a start-up to a few milliseconds.
func waitFor(ctx context.Context, srv *devvault.Server, path string, ok func(devvault.Reply) bool) error {
	err := devvault.Poll(ctx, 2*time.Minute, 5*time.Millisecond, func() bool {
		r, err := srv.Do(ctx, "GET", path, nil)
		return err == nil && r.Status == http.StatusOK && ok(r)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
