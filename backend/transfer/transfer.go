// Package transfer runs the import and export of a whole store as records of
// the dump format (internal/dump): objects keep their ids, names, client ids
// and secrets. It owns the batch (its records, their problems and actions,
// the checks that span records) and the order of the work; each part of the
// store (identity, mfa, oidc) gives a Kind for each of its record kinds,
// which the backend package gathers into an Engine.
//
// An import batch is checked whole before anything of it is written: every
// record alone (its data), then against the store and the rest of the
// batch (ids, names and alias factors held by another object, every
// reference), under the stripes of every object and name it touches and,
// when it holds MFA or OIDC records, their configuration locks (in the
// store's lock order). A batch with any problem writes nothing. Then the
// records are written kind by kind in dependency order (entities before
// their aliases, groups before their aliases, and so on), so that storage
// never holds an alias of a missing entity, even if the write stops part
// way; a record identical to the stored object is not written, which makes
// running an import again a no-op and an interrupted one resumable.
//
// It imports core and internal/dump.
package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// ImportBatchMax is the most records one import request takes.
const ImportBatchMax = 1000

// What an import does with a record whose id exists with other values, or
// whose name or alias another object holds.
const (
	// OnConflictFail refuses the batch (the default).
	OnConflictFail = "fail"
	// OnConflictSkip leaves the stored object as it is.
	OnConflictSkip = "skip"
	// OnConflictOverwrite replaces the object with the same id. It never
	// deletes or changes another object, so a name or alias held by another
	// id refuses the batch as with fail.
	OnConflictOverwrite = "overwrite"
)

// What an import did, or would do, with a record.
const (
	ActionCreated     = "created"
	ActionUnchanged   = "unchanged"
	ActionSkipped     = "skipped"
	ActionOverwritten = "overwritten"
)

// Problem codes of a refused record.
const (
	// ProblemInvalid: the record's data is not acceptable.
	ProblemInvalid = "invalid"
	// ProblemDuplicate: another record of the batch has the same id, name
	// or alias.
	ProblemDuplicate = "duplicate"
	// ProblemConflict: an object with the record's id exists with other
	// values.
	ProblemConflict = "conflict"
	// ProblemTaken: another object holds the record's name or alias.
	ProblemTaken = "taken"
	// ProblemMissing: the record refers to an object that neither the
	// store nor the batch has.
	ProblemMissing = "missing_reference"
)

// ImportRequest is one import batch.
type ImportRequest struct {
	Records    []dump.Record
	OnConflict string
	DryRun     bool
}

// ImportOutcome is what the import did (or, dry, would do) with a record.
type ImportOutcome struct {
	Index  int    `json:"index"`
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Action string `json:"action"`
}

// ImportProblem is why a record refuses its batch. RefKind and RefID name
// the missing object of a ProblemMissing.
type ImportProblem struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	RefKind string `json:"ref_kind,omitempty"`
	RefID   string `json:"ref_id,omitempty"`
}

func (p ImportProblem) String() string {
	return fmt.Sprintf("record %d (%s %s): %s", p.Index, p.Kind, p.ID, p.Reason)
}

// ImportRefusedError is a batch refused for its records' problems; nothing
// of it was written. Records says what the import would have done with
// each record had the batch been accepted: "" for a record refused before
// its action could be decided (bad data, a conflict, a name held by
// another id); a record refused only for its references has its action.
type ImportRefusedError struct {
	Problems []ImportProblem
	Records  []ImportOutcome
}

func (e *ImportRefusedError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	n := len(e.Problems)
	lines = append(lines, fmt.Sprintf("import refused, nothing written: %d %s", n, plural(n, "problem", "problems")))
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Item is a record of a batch on its way: its decoded object, then what the
// import does with it or why it cannot.
type Item struct {
	Index int
	Rec   dump.Record
	Kind  Kind
	// Obj is the object as it would be stored, built by Decode.
	Obj any
	// Cur is the stored object the record replaces or equals, if any.
	Cur    any
	Action string
	// Problems are this record's; any refuses the batch.
	Problems []ImportProblem
	// Aux is what the kind looked up for the record before any lock (an
	// auth mount, which may have to be read from Vault).
	Aux any
}

// Problem records a problem of the record.
func (it *Item) Problem(code, format string, args ...any) {
	it.Problems = append(it.Problems, ImportProblem{Index: it.Index, Kind: it.Rec.Kind, ID: it.Rec.ID, Code: code, Reason: fmt.Sprintf(format, args...)})
}

// Missing records a reference to an object neither the store nor the
// batch has.
func (it *Item) Missing(refKind, refID, format string, args ...any) {
	it.Problems = append(it.Problems, ImportProblem{
		Index: it.Index, Kind: it.Rec.Kind, ID: it.Rec.ID, Code: ProblemMissing,
		Reason: fmt.Sprintf(format, args...), RefKind: refKind, RefID: refID,
	})
}

// Writes reports whether the import writes the record.
func (it *Item) Writes() bool {
	return len(it.Problems) == 0 && (it.Action == ActionCreated || it.Action == ActionOverwritten)
}

// Settle decides a record that exists: the same object is unchanged;
// another one is a conflict, which on_conflict resolves.
func (b *Batch) Settle(it *Item, same bool, what string, diff []string) {
	if same {
		it.Action = ActionUnchanged
		return
	}
	switch b.OnConflict {
	case OnConflictSkip:
		it.Action = ActionSkipped
	case OnConflictOverwrite:
		it.Action = ActionOverwritten
	default:
		it.Problem(ProblemConflict, "%s already exists with other values (%s)", what, strings.Join(diff, ", "))
	}
}

// Compare settles an item against the stored object it would replace: a
// new object when there is none (cur is nil), else unchanged or a conflict
// as Settle decides from how next differs from cur.
func Compare[T any](b *Batch, it *Item, cur *T, next any, what string) {
	if cur == nil {
		it.Action = ActionCreated
		return
	}
	it.Cur = cur
	same, diff := SameJSON(cur, next)
	b.Settle(it, same, what, diff)
}

// Taken handles a name or alias another object holds: skipped with skip,
// else a problem (overwrite never takes another object's name).
func (b *Batch) Taken(it *Item, format string, args ...any) {
	if b.OnConflict == OnConflictSkip {
		it.Action = ActionSkipped
		return
	}
	it.Problem(ProblemTaken, format, args...)
}

// Batch is an import request under way.
type Batch struct {
	OnConflict string
	Ctx        context.Context
	// Disabled are the entities the batch disables, whose sign-ins end.
	Disabled []string

	items []*Item
	// byKey finds a batch record by kind and id.
	byKey map[string]*Item
	// unique holds, per kind of unique value (names, alias factors, client
	// ids), the record that claimed it first.
	unique map[string]*Item
	// domains are the record kinds' prefixes ("mfa", "oidc") the batch
	// holds, whose configuration locks it takes.
	domains map[string]bool
	workers int
}

func itemKey(kind, id string) string { return kind + "\x00" + id }

// Find returns the batch record of kind and id, or nil.
func (b *Batch) Find(kind, id string) *Item { return b.byKey[itemKey(kind, id)] }

// Will reports whether the batch gives an object of kind and id that it
// does not skip. A record with problems counts: the batch is refused for
// them anyway, and its references need not fail too.
func (b *Batch) Will(kind, id string) bool {
	it := b.Find(kind, id)
	return it != nil && it.Action != ActionSkipped
}

// Pending returns the object the batch gives for kind and id when the
// batch would write it (or has problems with it), else nil: the stored
// object, if any, is the one that counts.
func (b *Batch) Pending(kind, id string) any {
	it := b.Find(kind, id)
	if it == nil || it.Obj == nil || it.Action == ActionSkipped || it.Action == ActionUnchanged {
		return nil
	}
	return it.Obj
}

// Claim records that it uses a unique value (a name, alias factors, a
// client id) and reports the earlier record of the batch that uses it.
func (b *Batch) Claim(it *Item, space, value string) *Item {
	k := space + "\x00" + value
	if other := b.unique[k]; other != nil && other != it {
		return other
	}
	b.unique[k] = it
	return nil
}

// ClaimOrDuplicate claims a unique value, recording a duplicate problem
// naming the earlier record; it reports whether the value was free.
func (b *Batch) ClaimOrDuplicate(it *Item, space, value, what string) bool {
	if other := b.Claim(it, space, value); other != nil {
		it.Problem(ProblemDuplicate, "%s is also given by record %d (%s %s)", what, other.Index, other.Rec.Kind, other.Rec.ID)
		return false
	}
	return true
}

// Kind is one kind of record: how it is checked, locked, written and
// exported. A part of the store gives one for each of its kinds, bound to
// the part. The methods run in this order for a batch: Decode and Prepare
// (no locks), LockKeys, Check (under the batch's locks), Refs, then Write
// and Publish for the records that are written.
type Kind interface {
	// Decode checks the record's data alone and sets it.Obj.
	Decode(it *Item) error
	// Prepare looks up, before any lock, what the record's checks need
	// that may reach Vault (auth mounts), into it.Aux.
	Prepare(ctx context.Context, it *Item)
	// LockKeys are the stripe keys of what the record may read or change.
	LockKeys(it *Item) []string
	// Check compares the record with the store and the batch: it.Action,
	// or problems.
	Check(ctx context.Context, b *Batch, it *Item) error
	// Refs checks the record's references once every record is checked.
	Refs(b *Batch, it *Item)
	// Write stores the record's object; records of one kind may be
	// written at once when Parallel says so.
	Write(ctx context.Context, b *Batch, it *Item) error
	// Publish puts the written objects of the kind in memory.
	Publish(b *Batch, written []*Item)
	Parallel() bool
	// Export returns up to limit records whose sort key follows after,
	// in sort key order, with their sort keys.
	Export(ctx context.Context, after string, limit int, opts ExportRequest) ([]dump.Record, []string, error)
}

// Engine imports and exports the records of one store.
type Engine struct {
	// Kinds has the handling of every kind of dump.Kinds.
	Kinds map[string]Kind
	Locks *core.Locks
	// Workers is how many records of a kind are written at once.
	Workers int
	// Hold runs f holding the configuration locks of the domains ("mfa",
	// "oidc") for writing, in the store's lock order; the stripes are held.
	Hold func(domains map[string]bool, f func() error) error
	// Written is told of a batch once written (its Disabled entities).
	Written func(b *Batch)
}

// domainOf is the configuration domain of a record kind ("mfa", "oidc"),
// or "" for the identity kinds.
func domainOf(kind string) string {
	if d, _, ok := strings.Cut(kind, "-"); ok && (d == "mfa" || d == "oidc") {
		return d
	}
	return ""
}

// Import checks a batch of records and, unless it is a dry run, writes it.
// A batch with any problem is refused with an *ImportRefusedError listing
// them all, and nothing of it is written.
func (e *Engine) Import(ctx context.Context, req ImportRequest) ([]ImportOutcome, error) {
	switch req.OnConflict {
	case "":
		req.OnConflict = OnConflictFail
	case OnConflictFail, OnConflictSkip, OnConflictOverwrite:
	default:
		return nil, core.UserErrorf("on_conflict must be %q, %q or %q", OnConflictFail, OnConflictSkip, OnConflictOverwrite)
	}
	if len(req.Records) == 0 {
		return nil, core.UserErrorf("no records to import")
	}
	if len(req.Records) > ImportBatchMax {
		return nil, core.UserErrorf("at most %d records may be imported at once; got %d", ImportBatchMax, len(req.Records))
	}
	b := &Batch{Ctx: ctx, OnConflict: req.OnConflict, byKey: map[string]*Item{}, domains: map[string]bool{}, workers: max(e.Workers, 1)}
	for i, rec := range req.Records {
		it := &Item{Index: i, Rec: rec}
		b.items = append(b.items, it)
		if err := dump.CheckRecord(rec); err != nil {
			it.Problem(ProblemInvalid, "%v", err)
			continue
		}
		it.Kind = e.Kinds[rec.Kind]
		if other := b.byKey[itemKey(rec.Kind, rec.ID)]; other != nil {
			it.Problem(ProblemDuplicate, "record %d has the same kind and id", other.Index)
			continue
		}
		b.byKey[itemKey(rec.Kind, rec.ID)] = it
		if d := domainOf(rec.Kind); d != "" {
			b.domains[d] = true
		}
		if err := it.Kind.Decode(it); err != nil {
			it.Problem(ProblemInvalid, "%v", err)
			continue
		}
		// Auth mounts may have to be read from Vault: before any lock.
		it.Kind.Prepare(ctx, it)
	}
	// Records are checked and written in dependency order.
	ordered := slices.Clone(b.items)
	sort.SliceStable(ordered, func(i, j int) bool {
		return dump.KindOrder(ordered[i].Rec.Kind) < dump.KindOrder(ordered[j].Rec.Kind)
	})
	var outcomes []ImportOutcome
	err := e.Locks.Locked(func() (keys []string) {
		for _, it := range ordered {
			if it.Kind != nil && it.Obj != nil {
				keys = append(keys, it.Kind.LockKeys(it)...)
			}
		}
		return keys
	}, func() error {
		return e.Hold(b.domains, func() error { return b.checkAndWrite(ctx, ordered, req.DryRun, &outcomes) })
	})
	if err != nil {
		return nil, err
	}
	if e.Written != nil && !req.DryRun {
		e.Written(b)
	}
	return outcomes, nil
}

// checkAndWrite checks every record of the batch and, unless dry or any
// record has a problem, writes it; it runs once, with every lock held.
func (b *Batch) checkAndWrite(ctx context.Context, ordered []*Item, dry bool, outcomes *[]ImportOutcome) error {
	b.unique = map[string]*Item{}
	for _, it := range ordered {
		if len(it.Problems) == 0 {
			if err := it.Kind.Check(ctx, b, it); err != nil {
				return err
			}
		}
	}
	// Only what is written is checked for references: an unchanged
	// object is the stored one, whatever its references became.
	for _, it := range ordered {
		if it.Writes() {
			it.Kind.Refs(b, it)
		}
	}
	var problems []ImportProblem
	out := make([]ImportOutcome, len(b.items))
	for _, it := range b.items {
		problems = append(problems, it.Problems...)
		out[it.Index] = ImportOutcome{Index: it.Index, Kind: it.Rec.Kind, ID: it.Rec.ID, Action: it.Action}
	}
	*outcomes = out
	if len(problems) > 0 {
		return &ImportRefusedError{Problems: problems, Records: out}
	}
	if dry {
		return nil
	}
	return b.write(ctx, ordered)
}

// write stores the records to write, kind by kind in dependency order,
// each kind's records at once when the kind allows, and publishes each
// kind once its records are stored.
func (b *Batch) write(ctx context.Context, ordered []*Item) error {
	for i := 0; i < len(ordered); {
		j := i
		for j < len(ordered) && ordered[j].Rec.Kind == ordered[i].Rec.Kind {
			j++
		}
		var todo []*Item
		for _, it := range ordered[i:j] {
			if it.Writes() {
				todo = append(todo, it)
			}
		}
		i = j
		if len(todo) == 0 {
			continue
		}
		kind := todo[0].Kind
		if kind.Parallel() {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(b.workers)
			for _, it := range todo {
				g.Go(func() error { return kind.Write(gctx, b, it) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
		} else {
			for _, it := range todo {
				if err := kind.Write(ctx, b, it); err != nil {
					return err
				}
			}
		}
		kind.Publish(b, todo)
	}
	return nil
}

// ExportRequest is a page of an export: the records after the cursor
// After ("" from the start), at most Limit of them.
type ExportRequest struct {
	After         string
	Limit         int
	IncludeGrants bool
}

// ExportPageMax is the most records an export page holds; also the
// default.
const ExportPageMax = 1000

// ExportPage is a page of an export; Next is the cursor of the next page,
// "" after the last.
type ExportPage struct {
	Records []dump.Record
	Next    string
}

// Export returns a page of the store's records in dependency order (the
// order of dump.Kinds; groups after their parents): an import of the
// pages in order never refers to an object it has not seen. Key records
// carry configuration only (see ExportKeys), and grants are left out
// unless asked for. Pages are read at different moments: for an exact
// copy, export while nothing writes to the mount.
func (e *Engine) Export(ctx context.Context, req ExportRequest) (*ExportPage, error) {
	if req.Limit < 0 {
		return nil, core.UserErrorf("limit must not be negative")
	}
	if req.Limit == 0 || req.Limit > ExportPageMax {
		req.Limit = ExportPageMax
	}
	start, after := 0, ""
	if req.After != "" {
		kind, key, ok := strings.Cut(req.After, ":")
		start = dump.KindOrder(kind)
		if !ok || start < 0 {
			return nil, core.UserErrorf("invalid after cursor %q: give the next value of the previous page", req.After)
		}
		after = key
	}
	page := &ExportPage{Records: []dump.Record{}}
	for k := start; k < len(dump.Kinds); k++ {
		kind := dump.Kinds[k]
		if kind == dump.KindOIDCGrant && !req.IncludeGrants {
			continue
		}
		want := req.Limit - len(page.Records)
		recs, keys, err := e.Kinds[kind].Export(ctx, after, want, req)
		if err != nil {
			return nil, err
		}
		after = ""
		page.Records = append(page.Records, recs...)
		if len(recs) == want {
			page.Next = kind + ":" + keys[len(keys)-1]
			return page, nil
		}
	}
	return page, nil
}

// PageAfter returns the keys of sorted that follow after, at most limit.
func PageAfter(sorted []string, after string, limit int) []string {
	i := sort.SearchStrings(sorted, after)
	if i < len(sorted) && sorted[i] == after {
		i++
	}
	sorted = sorted[i:]
	if len(sorted) > limit {
		sorted = sorted[:limit]
	}
	return sorted
}

// DecodeStrict decodes a record's data, refusing fields the format does
// not have.
func DecodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("data: %v", err)
	}
	return nil
}

// SameJSON reports whether a and b encode alike, and else the top-level
// fields that differ.
func SameJSON(a, b any) (bool, []string) {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA == nil && errB == nil && bytes.Equal(ja, jb) {
		return true, nil
	}
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(mergeRaw(ma, mb))) {
		if !bytes.Equal(ma[k], mb[k]) {
			diff = append(diff, k)
		}
	}
	if len(diff) == 0 {
		diff = []string{"data"}
	}
	return false, diff
}

func mergeRaw(a, b map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// idFormat is what the import accepts as an object id or name: Vault's
// GenericNameRegex, which the engine's paths take.
var idFormat = regexp.MustCompile(`^\w([\w.@-]*\w)?$`)

func CheckName(what, v string) error {
	if !idFormat.MatchString(v) {
		return fmt.Errorf("invalid %s %q", what, v)
	}
	return nil
}

// CheckNames is CheckName for each (what, value) pair in turn.
func CheckNames(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckName(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Decode decodes a record's data strictly into v, then refuses the record
// if its id is not the one id gives for the decoded data.
func Decode(it *Item, v any, id func() string) error {
	if err := DecodeStrict(it.Rec.Data, v); err != nil {
		return err
	}
	if want := id(); it.Rec.ID != want {
		return fmt.Errorf("the record's id %q is not its data's %q", it.Rec.ID, want)
	}
	return nil
}

// NonNil is list, or an empty list for nil.
func NonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// CheckTimes requires the times a record must carry: an import keeps them,
// so that importing the same record again finds the object unchanged.
func CheckTimes(creation, update time.Time) error {
	if creation.IsZero() || update.IsZero() {
		return errors.New("creation_time and last_update_time are required")
	}
	return nil
}

// RecordsOf builds the records of objects listed in sort key order, whose
// sort key is their record id.
func RecordsOf[T any](kind string, list []T, build func(T) (string, any)) ([]dump.Record, []string, error) {
	out := make([]dump.Record, 0, len(list))
	keys := make([]string, 0, len(list))
	for _, o := range list {
		id, v := build(o)
		rec, err := dump.NewRecord(kind, id, v)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, rec)
		keys = append(keys, id)
	}
	return out, keys, nil
}

// PageOfKeys exports a page of the records of a kind kept in storage under
// sorted keys: those after after, at most limit, read one by one with data,
// which gives a key's record data or false to leave the key out (its object
// is gone or no longer live).
func PageOfKeys(kind string, sorted []string, after string, limit int, data func(key string) (any, bool, error)) ([]dump.Record, []string, error) {
	var out []dump.Record
	var used []string
	for _, k := range PageAfter(sorted, after, len(sorted)) {
		if len(out) == limit {
			break
		}
		v, ok, err := data(k)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		rec, err := dump.NewRecord(kind, k, v)
		if err != nil {
			return nil, nil, err
		}
		out, used = append(out, rec), append(used, k)
	}
	return out, used, nil
}

// NoPrepare is the Prepare of a kind that looks nothing up before locking.
type NoPrepare struct{}

func (NoPrepare) Prepare(context.Context, *Item) {}

// Claimed returns the record of the batch that claimed a unique value, or
// nil.
func (b *Batch) Claimed(space, value string) *Item { return b.unique[space+"\x00"+value] }
