package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// migration is one run of import or verify.
type migration struct {
	v          vault
	to         string
	from       string
	src        *source
	batch      int
	onConflict string
	maxRate    float64
	prog       *progress
	out        io.Writer
	rep        report
}

// report is what a run found and did; --report writes it as JSON.
type report struct {
	Source  string `json:"source"`
	Target  string `json:"target"`
	DryRun  bool   `json:"dry_run"`
	Records int    `json:"records"`
	// Actions counts, per kind, what was done (or, dry, would be done).
	Actions map[string]map[string]int `json:"actions"`
	// Problems stopped the import before any write.
	Problems    []string            `json:"problems,omitempty"`
	NeedsAction []string            `json:"needs_action,omitempty"`
	Notes       []string            `json:"notes,omitempty"`
	Issuers     []issuerChange      `json:"issuers_that_change,omitempty"`
	NewKeys     []string            `json:"new_keys,omitempty"`
	Reenroll    map[string][]string `json:"totp_reenroll,omitempty"`
	Interrupted bool                `json:"interrupted,omitempty"`
	Verify      *verifyResult       `json:"verify,omitempty"`
}

type issuerChange struct {
	What string `json:"what"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

type verifyResult struct {
	Identical int      `json:"identical"`
	Missing   []string `json:"missing,omitempty"`
	Different []string `json:"different,omitempty"`
	// Extra are objects of the target the source lacks.
	Extra []string `json:"extra,omitempty"`
}

func (r *report) count(kind, action string) {
	if r.Actions == nil {
		r.Actions = map[string]map[string]int{}
	}
	if r.Actions[kind] == nil {
		r.Actions[kind] = map[string]int{}
	}
	r.Actions[kind][action]++
}

func (r *report) total(action string) int {
	n := 0
	for _, a := range r.Actions {
		n += a[action]
	}
	return n
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer, verifyOnly bool) error {
	name := "import"
	if verifyOnly {
		name = "verify"
	}
	fs := flag.NewFlagSet("identity-migrate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", `"identity" for Vault's built-in engine, or the path of a plugin mount`)
	file := fs.String("from-file", "", "a dump file written by identity-migrate export")
	to := fs.String("to", "", "the plugin mount to import into")
	dry := fs.Bool("dry-run", false, "check everything and print what would be written; write nothing")
	onConflict := fs.String("on-conflict", "fail", `a record whose id exists with other values, or whose name or alias another id holds: "fail" stops before any write with the list, "skip" leaves the target's object, "overwrite" replaces the object with the same id`)
	batch := fs.Int("batch-size", 1000, "records per request (at most 1000)")
	verify := fs.Bool("verify", false, "after the import, read both sides again and compare")
	maxRate := fs.Float64("max-rate", 0, "write at most this many records per second (0: as fast as Vault takes them)")
	progressMode := fs.String("progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or none; on stderr")
	reportFile := fs.String("report", "", "also write the report as JSON to this file")
	grants := fs.Bool("include-grants", false, "with --from <plugin mount>: also copy the grants of refresh token families")
	keys := fs.Bool("include-keys", false, "with --from <plugin mount>: also copy the private keys (the source mount must allow key export)")
	creds := credentials{duoSecretKey: secretFlags{}, duoIntegrationKey: secretFlags{}, oktaAPIToken: secretFlags{}, pingIDSettings: secretFlags{}}
	fs.Var(creds.duoSecretKey, "duo-secret-key", "<method name or id>=<secret_key> of a Duo method (repeatable)")
	fs.Var(creds.duoIntegrationKey, "duo-integration-key", "<method name or id>=<integration_key> of a Duo method (repeatable)")
	fs.Var(creds.oktaAPIToken, "okta-api-token", "<method name or id>=<api_token> of an Okta method (repeatable)")
	fs.Var(creds.pingIDSettings, "pingid-settings-file", "<method name or id>=<path of the PingID settings file> (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case (*from == "") == (*file == ""):
		fmt.Fprintln(stderr, "identity-migrate: give one of --from and --from-file")
		return errUsage
	case *to == "":
		fmt.Fprintln(stderr, "identity-migrate: --to is required")
		return errUsage
	case *batch < 1 || *batch > 1000:
		fmt.Fprintln(stderr, "identity-migrate: --batch-size must be between 1 and 1000")
		return errUsage
	case *onConflict != "fail" && *onConflict != "skip" && *onConflict != "overwrite":
		fmt.Fprintln(stderr, "identity-migrate: --on-conflict must be fail, skip or overwrite")
		return errUsage
	}
	prog, c, err := progressAndClient(stderr, *progressMode)
	if err != nil {
		return err
	}
	m := &migration{
		v: vault{c}, to: strings.Trim(*to, "/"), from: cmpOr(*file, strings.Trim(*from, "/")), batch: *batch,
		onConflict: *onConflict, maxRate: *maxRate, prog: prog, out: stdout,
	}
	m.rep = report{Source: m.from, Target: m.to, DryRun: *dry}
	start := time.Now()
	switch {
	case *file != "":
		m.src, err = readFile(*file)
	case m.from == "identity":
		m.src, err = readIdentity(ctx, m.v, creds, prog)
	default:
		m.src, err = readPlugin(ctx, m.v, m.from, exportOptions{grants: *grants, keys: *keys}, prog)
	}
	prog.end()
	if err != nil {
		return err
	}
	// Dependency order, whatever the source's.
	sort.SliceStable(m.src.records, func(i, j int) bool {
		return dump.KindOrder(m.src.records[i].Kind) < dump.KindOrder(m.src.records[j].Kind)
	})
	m.rep.Records = len(m.src.records)
	var runErr error
	if verifyOnly {
		runErr = m.verify(ctx)
	} else {
		runErr = m.importAll(ctx, *dry)
		if runErr == nil && !*dry {
			m.issuers(ctx)
			if *verify {
				runErr = m.verify(ctx)
			}
		}
	}
	if runErr != nil && !errors.Is(runErr, errFailed) {
		return runErr
	}
	m.printReport(time.Since(start))
	if *reportFile != "" {
		raw, err := json.MarshalIndent(m.rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*reportFile, append(raw, '\n'), 0o600)
		}
		if err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	return runErr
}

// batches calls f for each batch of the source's records.
func (m *migration) batches(f func(n, of, start int, recs []dump.Record) error) error {
	recs := m.src.records
	of := (len(recs) + m.batch - 1) / m.batch
	for i, n := 0, 1; i < len(recs); i, n = i+m.batch, n+1 {
		if err := f(n, of, i, recs[i:min(i+m.batch, len(recs))]); err != nil {
			return err
		}
	}
	return nil
}

// importAll checks every batch first, writing nothing (references to
// records of other batches are the source's own, and fine), and stops
// with the list of problems if there is any; then writes the batches in
// order, but for those whose records were all unchanged. A record
// identical in the target is left as it is, so running again after an
// interruption writes only what is missing.
func (m *migration) importAll(ctx context.Context, dry bool) error {
	known := m.src.known()
	skipped := map[string]bool{}
	// settled are the batches whose records were all unchanged at the
	// check: the write pass does not send them again.
	settled := map[int]bool{}
	planned := report{}
	m.prog.begin("checking", len(m.src.records))
	err := m.batches(func(n, of, start int, recs []dump.Record) error {
		ans, err := m.v.importBatch(ctx, m.to, recs, m.onConflict, true)
		if err != nil {
			return err
		}
		settled[n] = len(ans.Problems) == 0
		for i, action := range ans.Actions {
			if action != "" {
				planned.count(recs[i].Kind, action)
			}
			if action == "skipped" {
				skipped[recs[i].Kind+"\x00"+recs[i].ID] = true
			}
			settled[n] = settled[n] && action == "unchanged"
		}
		for _, p := range ans.Problems {
			ref := p.RefKind + "\x00" + p.RefID
			if p.Code == "missing_reference" && known[ref] {
				if !skipped[ref] {
					continue // a record of an earlier batch: written first
				}
				p.Reason += " (that record is skipped: it conflicts with the target)"
			}
			m.rep.Problems = append(m.rep.Problems, fmt.Sprintf("%s: %s %s: %s (%s)", m.src.where(start+p.Index), p.Kind, p.ID, p.Reason, p.Code))
		}
		m.prog.step(n, of, start+len(recs))
		return nil
	})
	m.prog.end()
	if err != nil {
		return err
	}
	if len(m.rep.Problems) > 0 {
		return errFailed
	}
	if dry {
		m.rep.Actions = planned.Actions
		return nil
	}
	m.prog.begin("writing", len(m.src.records))
	began := time.Now()
	written := 0
	return m.batches(func(n, of, start int, recs []dump.Record) error {
		if ctx.Err() != nil {
			m.rep.Interrupted = true
			return errFailed
		}
		if settled[n] {
			for _, r := range recs {
				m.rep.count(r.Kind, "unchanged")
			}
			m.prog.step(n, of, start+len(recs))
			return nil
		}
		if m.maxRate > 0 {
			due := began.Add(time.Duration(float64(written) / m.maxRate * float64(time.Second)))
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
				m.rep.Interrupted = true
				return errFailed
			}
		}
		ans, err := m.v.importBatch(ctx, m.to, recs, m.onConflict, false)
		if err != nil {
			if ctx.Err() != nil {
				m.rep.Interrupted = true
				return errFailed
			}
			return err
		}
		if len(ans.Problems) > 0 {
			for _, p := range ans.Problems {
				m.rep.Problems = append(m.rep.Problems, fmt.Sprintf("%s: %s %s: %s (%s)", m.src.where(start+p.Index), p.Kind, p.ID, p.Reason, p.Code))
			}
			m.prog.message("identity-migrate: the target changed since the check: batch %d/%d was refused; the batches before it are written", n, of)
			return errFailed
		}
		for i, action := range ans.Actions {
			m.rep.count(recs[i].Kind, action)
		}
		written += len(recs)
		m.prog.step(n, of, start+len(recs))
		return nil
	})
}

// verify reads the source again and asks the target, writing nothing,
// whether it holds every record as it is: an identical object answers
// "unchanged". Then it lists what the target holds that the source lacks.
func (m *migration) verify(ctx context.Context) error {
	res := &verifyResult{}
	m.rep.Verify = res
	known := m.src.known()
	m.prog.begin("verifying", len(m.src.records))
	err := m.batches(func(n, of, start int, recs []dump.Record) error {
		ans, err := m.v.importBatch(ctx, m.to, recs, "fail", true)
		if err != nil {
			return err
		}
		for i, action := range ans.Actions {
			switch action {
			case "unchanged":
				res.Identical++
			case "created":
				res.Missing = append(res.Missing, recs[i].Kind+" "+recs[i].ID)
			}
		}
		for _, p := range ans.Problems {
			if p.Code == "missing_reference" && known[p.RefKind+"\x00"+p.RefID] {
				continue
			}
			res.Different = append(res.Different, fmt.Sprintf("%s %s: %s", p.Kind, p.ID, p.Reason))
		}
		m.prog.step(n, of, start+len(recs))
		return nil
	})
	m.prog.end()
	if err != nil {
		return err
	}
	target, err := readPlugin(ctx, m.v, m.to, exportOptions{grants: m.src.header.IncludeGrants}, nil)
	if err != nil {
		return err
	}
	builtIn := map[string]bool{
		dump.KindOIDCConfig + "\x00" + dump.OIDCConfigID: true, dump.KindOIDCKey + "\x00default": true,
		dump.KindOIDCAssignment + "\x00allow_all": true, dump.KindOIDCProvider + "\x00default": true,
	}
	for _, r := range target.records {
		k := r.Kind + "\x00" + r.ID
		if known[k] || builtIn[k] || (m.src.header.Source == dump.SourceIdentity && r.Kind == dump.KindMFASecret) {
			continue
		}
		res.Extra = append(res.Extra, r.Kind+" "+r.ID)
	}
	if len(res.Missing) > 0 || len(res.Different) > 0 {
		return errFailed
	}
	return nil
}

// issuers finds the issuers that change: each provider's, and the identity
// tokens'.
func (m *migration) issuers(ctx context.Context) {
	s := m.src
	oldBase := ""
	if s.header.Mount != "" && s.header.Mount != m.to {
		oldBase = "/v1/" + s.header.Mount + "/"
	}
	for _, r := range s.records {
		if r.Kind != dump.KindOIDCProvider {
			continue
		}
		p, err := m.v.read(ctx, m.to+"/oidc/provider/"+r.ID)
		if err != nil || p == nil {
			continue
		}
		now := p.str("issuer")
		old := s.providers[r.ID]
		if old == "" && oldBase != "" {
			old = strings.Replace(now, "/v1/"+m.to+"/", oldBase, 1)
		}
		if old != "" && old != now {
			m.rep.Issuers = append(m.rep.Issuers, issuerChange{What: "provider " + r.ID, Old: old, New: now})
		}
	}
	if d, err := m.v.rawJSON(ctx, m.to+"/oidc/.well-known/openid-configuration"); err == nil {
		now, _ := d["issuer"].(string)
		old := s.identityIssuer
		if old == "" && oldBase != "" {
			old = strings.Replace(now, "/v1/"+m.to+"/", oldBase, 1)
		}
		if now != "" && old != "" && old != now {
			m.rep.Issuers = append(m.rep.Issuers, issuerChange{What: "identity tokens (oidc/role)", Old: old, New: now})
		}
	}
}

func (m *migration) printReport(took time.Duration) {
	r, s, w := &m.rep, m.src, m.out
	if s != nil {
		r.NeedsAction, r.Notes, r.NewKeys = s.needs, s.notes, s.newKeys
		r.Reenroll = s.reenroll
		for _, name := range s.reenrollUnknown {
			r.NeedsAction = append(r.NeedsAction, fmt.Sprintf("TOTP method %s: TOTP seeds cannot be read from the built-in engine and no login enforcement uses the method: every entity that enrolled in it must enroll again", name))
		}
		for _, name := range sortedKeys(s.reenroll) {
			if len(s.reenroll[name]) == 0 {
				continue
			}
			r.NeedsAction = append(r.NeedsAction, fmt.Sprintf("TOTP method %s: TOTP seeds cannot be read from the built-in engine: %d entities its login enforcements apply to must enroll again (listed in the report's totp_reenroll)", name, len(s.reenroll[name])))
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "identity-migrate: nothing was written: %d %s cannot be imported into %s as it is:\n", len(r.Problems), plural(len(r.Problems), "record", "records"), m.to)
		if r.total("created")+r.total("overwritten") > 0 {
			fmt.Fprintf(w, "identity-migrate: the import stopped: %d records were written before this batch:\n", r.total("created")+r.total("overwritten"))
		}
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  "+p)
		}
		fmt.Fprintln(w, "Resolve them in the target or the source, or run again with --on-conflict=skip to leave the target's objects as they are (--on-conflict=overwrite replaces objects with the same id, never an object that holds a name or alias under another id).")
		return
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintln(w, "  - "+l)
		}
	}
	secs := took.Seconds()
	if r.Verify != nil && r.Actions == nil {
		v := r.Verify
		fmt.Fprintf(w, "verified %s against %s: %d records in %.1fs\n", m.to, m.from, r.Records, secs)
		fmt.Fprintf(w, "verify: %d records identical in %s, %d missing, %d different, %d objects in %s that the source lacks\n", v.Identical, m.to, len(v.Missing), len(v.Different), len(v.Extra), m.to)
		section("  missing", v.Missing)
		section("  different", v.Different)
		section("  only in "+m.to, v.Extra)
		return
	}
	verb := "imported"
	switch {
	case r.DryRun:
		verb = "would import (dry run: nothing written)"
	case r.Interrupted:
		verb = "interrupted: run the same command again to finish; so far"
	}
	fmt.Fprintf(w, "%s from %s into %s: %d records in %.1fs (%.0f records/s)\n", verb, m.from, m.to, r.Records, secs, float64(r.Records)/max(secs, 0.001))
	if r.Actions != nil {
		fmt.Fprintf(w, "  copied:    %d (created %d, overwritten %d)\n", r.total("created")+r.total("overwritten"), r.total("created"), r.total("overwritten"))
		fmt.Fprintf(w, "  unchanged: %d (already in %s as they are)\n", r.total("unchanged"), m.to)
		fmt.Fprintf(w, "  skipped:   %d (conflicts left as they are in %s)\n", r.total("skipped"), m.to)
		var parts []string
		for _, k := range dump.Kinds {
			if a := r.Actions[k]; a != nil {
				var acts []string
				for _, act := range []string{"created", "overwritten", "unchanged", "skipped"} {
					if a[act] > 0 {
						acts = append(acts, fmt.Sprintf("%d %s", a[act], act))
					}
				}
				parts = append(parts, k+": "+strings.Join(acts, ", "))
			}
		}
		fmt.Fprintf(w, "  by kind:   %s\n", strings.Join(parts, "; "))
	}
	section("needing action", r.NeedsAction)
	var issuers []string
	for _, i := range r.Issuers {
		issuers = append(issuers, fmt.Sprintf("%s: %s -> %s (relying parties must accept the new issuer)", i.What, i.Old, i.New))
	}
	section("issuers that change", issuers)
	if len(r.NewKeys) > 0 {
		section("keys that are new", []string{fmt.Sprintf("%s: the source's private keys were not copied (the built-in engine never gives them), so %s signs with new keys; relying parties pick them up from its JWKS (.well-known/keys), and tokens signed before do not verify against it", strings.Join(r.NewKeys, ", "), m.to)})
	}
	section("notes", r.Notes)
	if v := r.Verify; v != nil {
		fmt.Fprintf(w, "verify: %d records identical in %s, %d missing, %d different, %d objects in %s that the source lacks\n", v.Identical, m.to, len(v.Missing), len(v.Different), len(v.Extra), m.to)
		section("  missing", v.Missing)
		section("  different", v.Different)
		section("  only in "+m.to, v.Extra)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
