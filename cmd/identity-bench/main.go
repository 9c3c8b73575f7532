// Command identity-bench drives the same workload against the plugin mount
// and Vault's built-in identity/ engine in one Vault server, and prints
// throughput and latency side by side with their ratio.
//
// Without -addr it starts its own dev server from VAULT_BIN and PLUGIN_BIN
// (make bench sets them) and mounts the plugin; with -raft that server has
// integrated storage (one node, data in a temporary directory) instead of
// the dev server's memory; with -addr it uses a running server where the
// plugin is already mounted at -mount.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/devvault"
)

type config struct {
	addr, token, mount string
	clients            int
	entities           int
	reads              int
	lists              int
	tokens             int
	algorithms         string
	scale              int
	raft               bool
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "", "address of a running Vault (default: start a dev server)")
	flag.StringVar(&c.token, "token", "root", "token for -addr")
	flag.StringVar(&c.mount, "mount", "ident", "plugin mount path")
	flag.IntVar(&c.clients, "clients", 8, "concurrent clients")
	flag.IntVar(&c.entities, "entities", 5000, "entities to create in each mount")
	flag.IntVar(&c.reads, "reads", 20000, "reads per read operation")
	flag.IntVar(&c.lists, "lists", 30, "list requests per mount")
	flag.IntVar(&c.tokens, "tokens", 3000, "identity tokens per algorithm and mount")
	flag.StringVar(&c.algorithms, "algorithms", "RS256,ES256,EdDSA", "signing algorithms to issue tokens with")
	flag.IntVar(&c.scale, "scale", 0, "instead of the workload, compare create, read, alias create, list and token issue at 1k entities and at this many, memory per entity and start-up time")
	flag.BoolVar(&c.raft, "raft", false, "start a server with integrated storage (Raft, one node, data in a temporary directory) instead of a dev server with in-memory storage")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "identity-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	var srv *devvault.Server
	if c.addr == "" {
		opts, err := devvault.FromEnv()
		if err != nil {
			return err
		}
		opts.Raft = c.raft
		srv, err = devvault.Start(ctx, opts)
		if err != nil {
			return err
		}
		defer srv.Stop()
		if err := srv.Enable(ctx, c.mount); err != nil {
			return err
		}
		c.addr, c.token = srv.Addr, srv.Token
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients * 2}}
	b := &bench{cfg: c, hc: hc}
	accessor, err := userpassAccessor(ctx, b)
	if err != nil {
		return err
	}

	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if c.scale > 0 {
		return runScale(ctx, b, srv, accessor, prefix)
	}
	fmt.Printf("identity-bench: %d clients, %d entities per mount, %d reads per op, Vault at %s%s\n\n",
		c.clients, c.entities, c.reads, c.addr, storageNote(c))

	userToken, err := tokenSetup(ctx, b, accessor, prefix)
	if err != nil {
		return err
	}
	// The floors are measured before and after the workload, as the
	// machine drifts during a run; the report uses both together. Each is
	// measured with the root token and with a userpass user's token: Vault
	// does more for a token with policies and an entity (about half the
	// root rate), and the operations that act for the caller use such a
	// token.
	floorsBefore, err := b.floors(ctx, "before", userToken)
	if err != nil {
		return err
	}
	ids := map[string][]string{}
	groups := map[string]string{}
	var totp *totpBench
	ops := []op{
		{name: "entity create", count: c.entities, write: true, call: func(mnt string, i int) call {
			return call{method: "POST", path: mnt + "/entity", body: entityBody(fmt.Sprintf("%s-%d", prefix, i))}
		}, after: func(mnt string, res result) { ids[mnt] = res.values("id") }},
		{name: "entity read by id", count: c.reads, call: func(mnt string, _ int) call {
			l := ids[mnt]
			return call{method: "GET", path: mnt + "/entity/id/" + l[rand.IntN(len(l))]}
		}},
		{name: "entity read by name", count: c.reads, call: func(mnt string, _ int) call {
			return call{method: "GET", path: fmt.Sprintf("%s/entity/name/%s-%d", mnt, prefix, rand.IntN(c.entities))}
		}},
		{name: "alias create (new entity)", count: c.entities, write: true, call: func(mnt string, i int) call {
			return call{method: "POST", path: mnt + "/entity-alias", body: aliasBody(prefix, i, accessor)}
		}},
		{name: "alias lookup (accessor, name)", count: c.reads, call: func(mnt string, _ int) call {
			return call{method: "POST", path: mnt + "/lookup/entity", body: map[string]any{"alias_name": aliasName(prefix, rand.IntN(c.entities)), "alias_mount_accessor": accessor}}
		}},
		{name: "group membership change", count: c.entities, write: true,
			setup: func(mnt string) (err error) {
				groups[mnt], err = b.create(ctx, mnt+"/group", map[string]any{"name": prefix + "-members"})
				return err
			},
			call: func(mnt string, _ int) call {
				l := ids[mnt]
				return call{method: "POST", path: mnt + "/group/id/" + groups[mnt], body: map[string]any{"member_entity_ids": []string{l[rand.IntN(len(l))]}}}
			}},
		{name: fmt.Sprintf("entity list ids (%d)", 2*c.entities), count: c.lists, call: func(mnt string, _ int) call {
			return call{method: "LIST", path: mnt + "/entity/id"}
		}},
		{name: "totp validate", count: min(c.tokens, c.entities), write: true, pluginOnly: true,
			setup: func(mnt string) (err error) {
				totp, err = newTOTPBench(ctx, b, mnt, ids[mnt][:min(c.tokens, c.entities)])
				return err
			},
			call: func(mnt string, i int) call { return totp.call(mnt, i) }},
	}
	for _, alg := range strings.Split(c.algorithms, ",") {
		role := "bench-" + strings.ToLower(alg)
		ops = append(ops, op{name: "oidc token " + alg, count: c.tokens, user: true, call: func(mnt string, _ int) call {
			return call{method: "GET", path: mnt + "/oidc/token/" + role, token: userToken}
		}})
	}
	ops = append(ops, providerOps(ctx, b, prefix, userToken)...)

	var rows []row
	for _, o := range ops {
		r := row{op: o.name, floor: floorKind(o.write, o.user)}
		for _, mnt := range []string{"identity", c.mount} {
			if o.pluginOnly && mnt == "identity" {
				continue
			}
			if o.setup != nil {
				if err := o.setup(mnt); err != nil {
					return err
				}
			}
			var res result
			measure := func() (err error) {
				res, err = b.measure(ctx, o.name+" "+mnt, o.count, func(i int) call { return o.call(mnt, i) })
				return err
			}
			var err error
			if mnt == c.mount {
				r.floorResult, err = b.adjacentFloor(ctx, r.floor, o.name, o.count, userToken, measure)
			} else {
				err = measure()
			}
			if err != nil {
				return err
			}
			if o.after != nil {
				o.after(mnt, res)
			}
			if mnt == "identity" {
				r.builtin = res
			} else {
				r.plugin = res
			}
		}
		rows = append(rows, r)
	}
	floorsAfter, err := b.floors(ctx, "after", userToken)
	if err != nil {
		return err
	}
	fmt.Println()
	var floors [4]result
	for k := range floors {
		fmt.Printf("%s floor before and after the workload: %.0f and %.0f ops/s\n", floorNames[k], floorsBefore[k].rate(), floorsAfter[k].rate())
		floors[k] = floorsBefore[k].join(floorsAfter[k])
	}
	report(floors, rows)
	return nil
}

// storageNote names the storage of a server this tool started.
func storageNote(c config) string {
	if c.raft {
		return " (integrated storage, one node)"
	}
	return ""
}

// entityBody is the body of the workloads' entity creates.
func entityBody(name string) map[string]any {
	return map[string]any{"name": name, "policies": "default", "metadata": map[string]string{"team": "bench"}}
}

// aliasName is the name of the workloads' i-th alias.
func aliasName(prefix string, i int) string { return fmt.Sprintf("%s-a-%d", prefix, i) }

// aliasBody is the body of the workloads' i-th alias create: without
// canonical_id, so that each creates its entity too.
func aliasBody(prefix string, i int, accessor string) map[string]any {
	return map[string]any{"name": aliasName(prefix, i), "mount_accessor": accessor}
}

// The four floors: the cheapest plugin read (GET info, from memory) and
// write (POST oidc/config issuer="", one storage entry), each with the root
// token and with the user's token.
const (
	readFloor = iota
	writeFloor
	userReadFloor
	userWriteFloor
)

var floorNames = [4]string{"read (plugin info)", "write (plugin oidc/config)", "user read (plugin info)", "user write (plugin oidc/config)"}

func floorKind(write, user bool) int {
	k := readFloor
	if write {
		k = writeFloor
	}
	if user {
		k += userReadFloor
	}
	return k
}

func (b *bench) floors(ctx context.Context, when, userToken string) (out [4]result, err error) {
	for k := range out {
		n := b.cfg.reads
		if k == writeFloor || k == userWriteFloor {
			n = b.cfg.entities
		}
		if out[k], err = b.floor(ctx, k, floorNames[k]+" floor "+when, n, userToken); err != nil {
			return
		}
	}
	return
}

// floor measures n requests of floor kind k.
func (b *bench) floor(ctx context.Context, k int, label string, n int, userToken string) (result, error) {
	token := ""
	if k >= userReadFloor {
		token = userToken
	}
	c := call{method: "GET", path: b.cfg.mount + "/info", token: token}
	if k == writeFloor || k == userWriteFloor {
		c = call{method: "POST", path: b.cfg.mount + "/oidc/config", body: map[string]any{"issuer": ""}, token: token}
	}
	return b.measure(ctx, label, n, func(int) call { return c })
}

// adjacentFloor measures the floor of kind k around run: just before and
// just after it, with as many requests as run makes (at least 1,000 and
// at most 4,000 each time), so that the machine's drift during a long run
// touches an operation and its floor alike.
func (b *bench) adjacentFloor(ctx context.Context, k int, label string, count int, userToken string, run func() error) (result, error) {
	n := min(max(count, 1000), 4000)
	before, err := b.floor(ctx, k, label+" floor before", n, userToken)
	if err != nil {
		return result{}, err
	}
	if err := run(); err != nil {
		return result{}, err
	}
	after, err := b.floor(ctx, k, label+" floor after", n, userToken)
	return before.join(after), err
}

// join is the result of r and o together.
func (r result) join(o result) result {
	lat := slices.Concat(r.lat, o.lat)
	slices.Sort(lat)
	return result{n: r.n + o.n, elapsed: r.elapsed + o.elapsed, lat: lat}
}

// create writes body to path and returns the id of the object it made
// (its method_id for an MFA method).
func (b *bench) create(ctx context.Context, path string, body map[string]any) (string, error) {
	r, err := devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, "POST", path, body)
	if err != nil {
		return "", err
	}
	id, _ := r.Data["id"].(string)
	if id == "" {
		id, _ = r.Data["method_id"].(string)
	}
	if r.Status != http.StatusOK || id == "" {
		return "", fmt.Errorf("POST %s: %d %v", path, r.Status, r.Errors)
	}
	return id, nil
}

// userpassAccessor returns the accessor of the userpass mount at
// userpass/, enabling it first if needed: aliases need a real auth mount.
func userpassAccessor(ctx context.Context, b *bench) (string, error) {
	get := func() (string, error) {
		r, err := devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, "GET", "sys/auth", nil)
		if err != nil {
			return "", err
		}
		m, _ := r.Data["userpass/"].(map[string]any)
		acc, _ := m["accessor"].(string)
		return acc, nil
	}
	if acc, err := get(); err != nil || acc != "" {
		return acc, err
	}
	r, err := devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, "POST", "sys/auth/userpass", map[string]any{"type": "userpass"})
	if err != nil || r.Status != http.StatusNoContent {
		return "", fmt.Errorf("enabling userpass: %v %d %v", err, r.Status, r.Errors)
	}
	return get()
}

type bench struct {
	cfg config
	hc  *http.Client
}

type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
	data    []map[string]any // the data of each answer
}

// values are the string values of a field of the answers ("" where one has
// none).
func (r result) values(field string) []string {
	out := make([]string, len(r.data))
	for i, d := range r.data {
		out[i], _ = d[field].(string)
	}
	return out
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

// call is one request of a workload; token, when set, replaces the root
// token.
type call struct {
	method, path string
	body         any
	token        string
}

// op is a workload run on both mounts (or only the plugin's): count
// requests made by call, after setup; after sees the result. A write is
// compared with the write floor, anything else with the read floor, each
// taken with the token the op uses.
type op struct {
	name              string
	count             int
	write, pluginOnly bool
	user              bool // sent with the user's token
	setup             func(mount string) error
	call              func(mount string, i int) call
	after             func(mount string, res result)
}

// tokenSetup makes what identity token issuance needs on both mounts: a
// userpass user (whose login gives it a Vault entity, which identity/ uses),
// the same user's entity and alias on the plugin mount, and for each
// algorithm a key and role on both mounts. It returns the user's token.
func tokenSetup(ctx context.Context, b *bench, accessor, prefix string) (string, error) {
	user := prefix + "-user"
	steps := []call{
		{method: "PUT", path: "sys/policies/acl/bench-tokens", body: map[string]any{
			"policy": fmt.Sprintf(`path "identity/oidc/token/*" { capabilities = ["read"] }
path "%[1]s/oidc/token/*" { capabilities = ["read"] }
path "%[1]s/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
path "%[1]s/info" { capabilities = ["read"] }
path "%[1]s/oidc/config" { capabilities = ["update"] }`, b.cfg.mount)}},
		{method: "POST", path: "auth/userpass/users/" + user, body: map[string]any{"password": "bench", "token_policies": "bench-tokens"}},
		{method: "POST", path: b.cfg.mount + "/entity-alias", body: map[string]any{"name": user, "mount_accessor": accessor}},
	}
	for _, alg := range strings.Split(b.cfg.algorithms, ",") {
		name := "bench-" + strings.ToLower(alg)
		for _, mnt := range []string{"identity", b.cfg.mount} {
			steps = append(steps,
				call{method: "POST", path: mnt + "/oidc/key/" + name, body: map[string]any{"algorithm": alg, "allowed_client_ids": "*"}},
				call{method: "POST", path: mnt + "/oidc/role/" + name, body: map[string]any{"key": name, "ttl": "1h"}})
		}
	}
	for _, st := range steps {
		r, err := devvault.Do(ctx, b.hc, b.cfg.addr, b.cfg.token, st.method, st.path, st.body)
		if err != nil {
			return "", err
		}
		if r.Status >= 300 {
			return "", fmt.Errorf("%s %s: %d %v", st.method, st.path, r.Status, r.Errors)
		}
	}
	login, err := devvault.Do(ctx, b.hc, b.cfg.addr, "", "POST", "auth/userpass/login/"+user, map[string]any{"password": "bench"})
	if err != nil {
		return "", err
	}
	auth, _ := login.Body["auth"].(map[string]any)
	token, _ := auth["client_token"].(string)
	if token == "" {
		return "", fmt.Errorf("userpass login: %d %v", login.Status, login.Errors)
	}
	return token, nil
}

// measure sends count requests from cfg.clients goroutines and records each
// latency and answer. Any answer other than 2xx stops the run.
func (b *bench) measure(ctx context.Context, label string, count int, req func(i int) call) (result, error) {
	var next atomic.Int64
	var done atomic.Int64
	lat := make([]time.Duration, count)
	data := make([]map[string]any, count)
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	finished := make(chan struct{})
	go func() {
		for {
			select {
			case <-finished:
				return
			case <-progress.C:
				fmt.Fprintf(os.Stderr, "\r%-40s %d/%d", label, done.Load(), count)
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for range b.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count || ctx.Err() != nil {
					return
				}
				c := req(i)
				token := cmpOr(c.token, b.cfg.token)
				t0 := time.Now()
				r, err := devvault.Do(ctx, b.hc, b.cfg.addr, token, c.method, c.path, c.body)
				lat[i] = time.Since(t0)
				if err == nil && (r.Status < 200 || r.Status > 299) {
					err = fmt.Errorf("%s %s: status %d %v", c.method, c.path, r.Status, r.Errors)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				data[i] = r.Data
				if data[i] == nil { // a raw answer
					data[i] = r.Body
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(finished)
	fmt.Fprintf(os.Stderr, "\r%-40s %d/%d\n", label, done.Load(), count)
	if firstErr != nil {
		return result{}, firstErr
	}
	slices.Sort(lat)
	return result{n: count, elapsed: elapsed, lat: lat, data: data}, nil
}

type row struct {
	op              string
	floor           int    // its kind
	floorResult     result // measured around the plugin's run of op
	builtin, plugin result
}

func report(floors [4]result, rows []row) {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "op\tbuilt-in ops/s\tp50\tp99\tplugin ops/s\tp50\tp99\tplugin/built-in\tfloor ops/s\tplugin/floor\t")
	// A floor row is its own floor: its plugin/floor column is "-".
	line := func(op string, b, p, floor result, isFloor bool) {
		bi, ratio, toFloor := "-\t-\t-", "-", "-"
		if b.n > 0 {
			bi = fmt.Sprintf("%.0f\t%s\t%s", b.rate(), ms(b.pct(0.5)), ms(b.pct(0.99)))
			ratio = fmt.Sprintf("%.2fx", p.rate()/b.rate())
		}
		if !isFloor {
			toFloor = fmt.Sprintf("%.2fx", p.rate()/floor.rate())
		}
		fmt.Fprintf(w, "%s\t%s\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t\n", op, bi, p.rate(), ms(p.pct(0.5)), ms(p.pct(0.99)), ratio, floor.rate(), toFloor)
	}
	for k, f := range floors {
		line(floorNames[k]+" floor", result{}, f, f, true)
	}
	for _, r := range rows {
		line(r.op, r.builtin, r.plugin, r.floorResult, false)
	}
	w.Flush()
	fmt.Println(strings.TrimSpace(`
plugin/built-in: throughput ratio, above 1 means the plugin is faster.
plugin/floor: throughput relative to the plugin's cheapest request of the
same kind with the same token, measured just before and just after the
plugin's run of the operation (the floor rows above: before and after the
whole workload): a read from memory (info) for reads, a write of one
storage entry (oidc/config) for writes; the oidc token and provider
authorize rows use a userpass user's token, the others the root token.`))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
