package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

// scaleRun is what -scale measures on one mount.
type scaleRun struct {
	createSmall, readSmall result // at 1k entities
	preload, groups        result // growing to the large size
	createLarge, readLarge result // at the large size
	rssPerEntity           float64
}

const small = 1000

// runScale compares each mount at 1k entities with itself at cfg.scale
// entities and cfg.scale/10 groups of ten members: create and read by name,
// the resident memory its process gains per entity, and, on a dev server
// this tool started, how long each engine takes to serve again after a seal
// and unseal reloads them.
func runScale(ctx context.Context, b *bench, srv *devvault.Server, prefix string) error {
	c := b.cfg
	if c.scale <= small {
		return fmt.Errorf("-scale must be above %d", small)
	}
	fmt.Printf("identity-bench -scale: %d clients, %d reads per op, 1k and then %d entities with %d groups per mount, Vault at %s\n\n",
		c.clients, c.reads, c.scale, c.scale/10, c.addr)
	mounts := []string{"identity", c.mount}
	runs := map[string]*scaleRun{}
	for _, mnt := range mounts {
		run, err := scaleMount(ctx, b, mnt, prefix, processOf(srv, mnt))
		if err != nil {
			return err
		}
		runs[mnt] = run
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
	w.Flush()
	fmt.Println("ratio: throughput at the large size over throughput at 1k; 1.00x means no slow-down.")
	for _, mnt := range mounts {
		r := runs[mnt]
		fmt.Printf("%s: preload %.0f entities/s, %.0f groups/s", mnt, r.preload.rate(), r.groups.rate())
		if r.rssPerEntity > 0 {
			fmt.Printf(", resident memory +%.0f B per entity", r.rssPerEntity)
		}
		fmt.Println()
	}
	if srv == nil {
		return nil
	}
	builtin, plugin, err := restart(ctx, b, srv, fmt.Sprintf("%s-identity-0", prefix), c.scale+small)
	if err != nil {
		return err
	}
	fmt.Printf("start-up after unseal with %d entities and %d groups: built-in %s, plugin %s\n",
		c.scale+small, c.scale/10, builtin.Round(time.Millisecond), plugin.Round(time.Millisecond))
	return nil
}

func scaleMount(ctx context.Context, b *bench, mnt, prefix string, pid int) (*scaleRun, error) {
	c := b.cfg
	name := func(i int) string { return fmt.Sprintf("%s-%s-%d", prefix, mnt, i) }
	creates := func(label string, from, to int) (result, error) {
		return b.measure(ctx, mnt+" "+label, to-from, func(i int) call {
			return call{method: "POST", path: mnt + "/entity", body: map[string]any{"name": name(from + i), "policies": "default", "metadata": map[string]string{"team": "bench"}}}
		})
	}
	reads := func(label string, n int) (result, error) {
		return b.measure(ctx, mnt+" "+label, c.reads, func(int) call {
			return call{method: "GET", path: mnt + "/entity/name/" + name(rand.IntN(n))}
		})
	}
	rss0 := rss(pid)
	r := &scaleRun{}
	var err error
	steps := []struct {
		dst *result
		run func() (result, error)
	}{
		{&r.createSmall, func() (result, error) { return creates("create 0-1k", 0, small) }},
		{&r.readSmall, func() (result, error) { return reads("read by name at 1k", small) }},
		{&r.preload, func() (result, error) { return creates("preload", small, c.scale) }},
		{&r.groups, func() (result, error) {
			ids := append(append([]string{}, r.createSmall.ids...), r.preload.ids...)
			return b.measure(ctx, mnt+" groups", c.scale/10, func(i int) call {
				members := make([]string, 10)
				for k := range members {
					members[k] = ids[(i*10+k)%len(ids)]
				}
				return call{method: "POST", path: mnt + "/group", body: map[string]any{"name": fmt.Sprintf("%s-g-%d", prefix, i), "member_entity_ids": members}}
			})
		}},
		{&r.createLarge, func() (result, error) { return creates(fmt.Sprintf("create at %d", c.scale), c.scale, c.scale+small) }},
		{&r.readLarge, func() (result, error) { return reads(fmt.Sprintf("read by name at %d", c.scale), c.scale) }},
	}
	for _, st := range steps {
		if *st.dst, err = st.run(); err != nil {
			return nil, err
		}
	}
	if rss0 > 0 {
		r.rssPerEntity = float64(rss(pid)-rss0) / float64(c.scale+small)
	}
	return r, nil
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

// restart seals and unseals the server, which loads both engines again, and
// returns how long after the unseal request each served again: the
// built-in engine a read of probe, the plugin its info with all entities.
func restart(ctx context.Context, b *bench, srv *devvault.Server, probe string, entities int) (builtin, plugin time.Duration, err error) {
	key, err := srv.UnsealKey()
	if err != nil {
		return 0, 0, err
	}
	if r, err := srv.Do(ctx, "PUT", "sys/seal", nil); err != nil || r.Status != http.StatusNoContent {
		return 0, 0, fmt.Errorf("seal: %v %d %v", err, r.Status, r.Errors)
	}
	start := time.Now()
	if r, err := srv.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": key}); err != nil || r.Status != http.StatusOK {
		return 0, 0, fmt.Errorf("unseal: %v %d %v", err, r.Status, r.Errors)
	}
	ready := func(path string, ok func(devvault.Reply) bool) (time.Duration, error) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			r, err := srv.Do(ctx, "GET", path, nil)
			if err == nil && r.Status == http.StatusOK && ok(r) {
				return time.Since(start), nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0, errors.New(path + " did not answer within 2 minutes of the unseal")
	}
	type answer struct {
		d   time.Duration
		err error
	}
	pluginDone := make(chan answer, 1)
	go func() {
		d, err := ready(b.cfg.mount+"/info", func(r devvault.Reply) bool {
			n, _ := r.Data["entities"].(float64)
			return int(n) == entities
		})
		pluginDone <- answer{d, err}
	}()
	builtin, err = ready("identity/entity/name/"+probe, func(devvault.Reply) bool { return true })
	p := <-pluginDone
	return builtin, p.d, errors.Join(err, p.err)
}
