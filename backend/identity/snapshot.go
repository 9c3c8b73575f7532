package identity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"

	"github.com/vault-identity/vault-plugin-secrets-identity/backend/core"
)

// Load snapshots.
//
// Every entity, alias and group is its own storage entry, so a start that
// reads them one by one makes a storage round trip per object. A load
// snapshot packs them into a few compressed entries that a start reads
// instead. The objects' own entries stay the only source of truth. Objects
// fall into snapshotSections sections by a hash of their storage key, and a
// snapshot's objects of one section are used only while that section's
// validity entry (<generation>/valid-<section>) says they are exactly what
// storage holds:
//
//   - the marker (snapshotMarker) names the generation and is written after
//     every chunk; then a validity entry is written for every section that
//     no write has touched since the snapshot took its view;
//   - the first write to a section after a snapshot may cover it deletes the
//     section's validity entries before it writes anything, and fails if it
//     cannot;
//   - at load, the valid sections come from the snapshot and the others from
//     their objects' entries; anything unexpected (a missing or altered
//     chunk, another format, wrong counts) means reading every object.
//
// So a start after a crash that followed a few writes reads the snapshot and
// only the objects of the sections those writes touched.
//
// Snapshots are written when the mount is cleaned up (seal, reload, step
// down) and by the periodic function, at most every SnapshotInterval, when
// memory holds writes that no snapshot has.
const (
	snapshotPrefix   = "index-snapshot/"
	snapshotMarker   = snapshotPrefix + "current"
	snapshotFormat   = 2
	snapshotSections = 64
	// Chunks stay well under the entry size limits of Vault's storage
	// backends (Consul 512 KiB, integrated storage 1 MiB).
	snapshotChunkSize = 256 << 10

	defaultSnapshotInterval   = 5 * time.Minute
	defaultSnapshotMinObjects = 1000
)

// Load sources reported by LoadInfo.
const (
	LoadedFromSnapshot = "snapshot"
	LoadedFromObjects  = "objects"
	// Some sections from the snapshot, the others from their objects.
	LoadedFromBoth = "snapshot+objects"
)

// snapshotRecord is the marker: which generation of chunks is current and
// how to check it.
type snapshotRecord struct {
	Format     int       `json:"format"`
	Generation string    `json:"generation"`
	Chunks     []string  `json:"chunks"` // SHA-256 of each chunk, hex
	Entities   int       `json:"entities"`
	Aliases    int       `json:"aliases"`
	Groups     int       `json:"groups"`
	Written    time.Time `json:"written"`
}

type snapshotState struct {
	interval   time.Duration
	minObjects int

	// mu orders validity deletes by writers against the snapshot's writes
	// of the marker and the validity entries.
	mu core.RWMutex
	// armed[i]: a validity entry of section i may be in storage, so the
	// next write to an object of the section deletes it first. All start
	// armed: what is in storage at start may be current.
	armed [snapshotSections]atomic.Bool
	// gens are the generations whose validity entries may be in storage:
	// the one the marker names, and one being written.
	gens []string
	// named is the generation the marker names, when known.
	named string
	// markerUnknown: the marker in storage at start could not be read, so
	// the first write deletes it.
	markerUnknown bool
	// current: every section of the marker's generation is valid; no
	// snapshot is due.
	current atomic.Bool

	// running lets one snapshot run at a time; last is when one last began.
	running core.RWMutex
	last    time.Time
}

// LoadInfo says how the indexes were loaded at start and how long it took,
// and when the load snapshot that storage names was taken (zero when there
// is none or its marker could not be read) and whether it still holds every
// object as stored.
type LoadInfo struct {
	Source          string
	Duration        time.Duration
	LastSnapshot    time.Time
	SnapshotCurrent bool
}

// LoadInfo reports how the indexes were loaded, once they are, and the
// load snapshot's state.
func (s *Store) LoadInfo(ctx context.Context) (LoadInfo, error) {
	info := s.loadInfo
	s.snap.mu.Lock()
	named := s.snap.named
	s.snap.mu.Unlock()
	// A generation is the snapshot's start in Unix nanoseconds, base 36.
	if ns, err := strconv.ParseInt(named, 36, 64); named != "" && err == nil {
		info.LastSnapshot = time.Unix(0, ns).UTC()
	}
	info.SnapshotCurrent = s.snap.current.Load()
	return info, nil
}

// Counts are how many objects of each kind the store holds.
type Counts struct{ Entities, Aliases, Groups int }

// Count returns how many objects of each kind the store holds.
func (s *Store) Count() Counts {
	var c Counts
	s.idx.read(func() { c = Counts{len(s.idx.entities), len(s.idx.aliases), len(s.idx.groups)} })
	return c
}

func indexedKey(key string) bool {
	return strings.HasPrefix(key, entityPrefix) || strings.HasPrefix(key, aliasPrefix) || strings.HasPrefix(key, groupPrefix)
}

// snapshotSection is the section of the object stored under key: FNV-1a,
// which does not change between processes or releases.
func snapshotSection(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % snapshotSections)
}

func validityKey(gen string, section int) string {
	return fmt.Sprintf("%s%s/valid-%02d", snapshotPrefix, gen, section)
}

// invalidateSnapshotSection deletes the validity entries of key's section
// before a write to the indexed object stored under key, once per snapshot.
// Writers call it holding the stripes of what they write.
func (s *Store) invalidateSnapshotSection(ctx context.Context, key string) error {
	section := snapshotSection(key)
	if !s.snap.armed[section].Load() {
		return nil
	}
	s.snap.mu.Lock()
	defer s.snap.mu.Unlock()
	if !s.snap.armed[section].Load() {
		return nil
	}
	if s.snap.markerUnknown {
		if err := s.storage.Delete(ctx, snapshotMarker); err != nil {
			return fmt.Errorf("failed to delete %q: %w", snapshotMarker, err)
		}
		s.snap.markerUnknown = false
	}
	for _, gen := range s.snap.gens {
		key := validityKey(gen, section)
		if err := s.storage.Delete(ctx, key); err != nil {
			return fmt.Errorf("failed to delete %q: %w", key, err)
		}
	}
	s.snap.current.Store(false)
	s.snap.armed[section].Store(false)
	return nil
}

// SnapshotIfDue writes a load snapshot when memory holds writes that no
// snapshot has, the store holds enough objects for one to matter and the
// last one began at least the snapshot interval ago. The periodic function
// calls it.
func (s *Store) SnapshotIfDue(ctx context.Context) error {
	s.snap.running.Lock()
	due := s.snap.last.IsZero() || s.now().Sub(s.snap.last) >= s.snap.interval
	s.snap.running.Unlock()
	if !due {
		return nil
	}
	return s.Snapshot(ctx)
}

// Snapshot writes a load snapshot if the indexes are loaded, hold writes no
// current snapshot has and hold enough objects for one to matter. On a node
// that cannot write it does nothing.
func (s *Store) Snapshot(ctx context.Context) error {
	s.snap.running.Lock()
	defer s.snap.running.Unlock()
	if !s.loaded.Load() || s.snap.current.Load() {
		return nil
	}
	var objects int
	s.idx.read(func() { objects = len(s.idx.entities) + len(s.idx.aliases) + len(s.idx.groups) })
	if objects < s.snap.minObjects {
		return nil
	}
	s.snap.last = s.now()
	start := time.Now()
	// The wall clock, not s.now: two snapshots never share a generation.
	gen := strconv.FormatInt(time.Now().UnixNano(), 36)

	// The view: with every stripe held no write is under way, and every
	// write that begins after the stripes are released finds its section
	// armed and deletes the section's validity entries, so a section's
	// entry below is written only if its part of the view is still what
	// storage holds.
	var view snapshotView
	s.locks.All(func() {
		s.snap.mu.Lock()
		s.snap.gens = append(s.snap.gens, gen)
		for i := range s.snap.armed {
			s.snap.armed[i].Store(true)
		}
		s.snap.mu.Unlock()
		s.idx.read(func() {
			view.entities = make([]*Entity, 0, len(s.idx.entities))
			for _, e := range s.idx.entities {
				view.entities = append(view.entities, e)
			}
			view.aliases = make([]*Alias, 0, len(s.idx.aliases))
			for _, a := range s.idx.aliases {
				view.aliases = append(view.aliases, a)
			}
			view.groups = make([]*Group, 0, len(s.idx.groups))
			for _, g := range s.idx.groups {
				view.groups = append(view.groups, g)
			}
		})
	})

	rec := snapshotRecord{
		Format:     snapshotFormat,
		Generation: gen,
		Entities:   len(view.entities),
		Aliases:    len(view.aliases),
		Groups:     len(view.groups),
		Written:    s.now().UTC(),
	}
	sums, size, err := s.writeSnapshotChunks(ctx, gen, &view)
	if err != nil {
		s.abandonSnapshot(ctx, gen)
		if errors.Is(err, logical.ErrReadOnly) {
			return nil
		}
		return fmt.Errorf("writing the load snapshot: %w", err)
	}
	rec.Chunks = sums

	valid, err := s.markSnapshot(ctx, rec)
	if err != nil {
		s.abandonSnapshot(ctx, gen)
		return err
	}
	if valid == 0 {
		s.logger.Debug("load snapshot dropped: writes touched every section while it was written")
		s.abandonSnapshot(ctx, gen)
		return nil
	}
	s.pruneSnapshots(ctx, gen)
	s.logger.Info("load snapshot written", "entities", rec.Entities, "aliases", rec.Aliases, "groups", rec.Groups,
		"chunks", len(sums), "bytes", size, "valid_sections", valid, "duration", time.Since(start))
	return nil
}

// markSnapshot writes the marker for rec and a validity entry for every
// section no write has touched since the view was taken, and returns how
// many there are. With none, nothing is written.
func (s *Store) markSnapshot(ctx context.Context, rec snapshotRecord) (int, error) {
	s.snap.mu.Lock()
	defer s.snap.mu.Unlock()
	var valid []int
	for i := range s.snap.armed {
		if s.snap.armed[i].Load() {
			valid = append(valid, i)
		}
	}
	if len(valid) == 0 {
		return 0, nil
	}
	if err := s.storage.PutJSON(ctx, snapshotMarker, rec); err != nil {
		return 0, err
	}
	// The marker names this generation now; older validity entries mean
	// nothing, and a marker unreadable at start is replaced.
	s.snap.gens = []string{rec.Generation}
	s.snap.named = rec.Generation
	s.snap.markerUnknown = false
	for _, i := range valid {
		if err := s.storage.Put(ctx, &logical.StorageEntry{Key: validityKey(rec.Generation, i)}); err != nil {
			return 0, fmt.Errorf("failed to write %q: %w", validityKey(rec.Generation, i), err)
		}
	}
	s.snap.current.Store(len(valid) == snapshotSections)
	return len(valid), nil
}

// abandonSnapshot removes what a snapshot that will not be used wrote. If
// the marker names it already, writers keep deleting its validity entries,
// as removing them may fail.
func (s *Store) abandonSnapshot(ctx context.Context, gen string) {
	s.snap.mu.Lock()
	if s.snap.named != gen {
		s.snap.gens = slices.DeleteFunc(s.snap.gens, func(g string) bool { return g == gen })
	}
	s.snap.mu.Unlock()
	s.pruneGeneration(ctx, gen)
}

type snapshotView struct {
	entities []*Entity
	aliases  []*Alias
	groups   []*Group
}

// keep drops the objects whose storage key is not wanted.
func (v *snapshotView) keep(want func(key string) bool) {
	v.entities = slices.DeleteFunc(v.entities, func(e *Entity) bool { return !want(entityKey(e.ID)) })
	v.aliases = slices.DeleteFunc(v.aliases, func(a *Alias) bool { return !want(aliasKey(a.ID)) })
	v.groups = slices.DeleteFunc(v.groups, func(g *Group) bool { return !want(groupKey(g.ID)) })
}

// Record kinds: each object is one line, its kind's letter and its JSON.
const (
	recEntity = 'e'
	recAlias  = 'a'
	recGroup  = 'g'
)

func snapshotChunkKey(gen string, i int) string {
	return fmt.Sprintf("%s%s/%05d", snapshotPrefix, gen, i)
}

// writeSnapshotChunks writes view as gzip-compressed JSON lines in chunks of
// generation gen and returns the chunks' SHA-256 sums and their total size.
func (s *Store) writeSnapshotChunks(ctx context.Context, gen string, v *snapshotView) ([]string, int, error) {
	cw := &chunkWriter{ctx: ctx, storage: s.storage, gen: gen}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return nil, 0, err
	}
	bw := bufio.NewWriterSize(zw, 64<<10)
	enc := json.NewEncoder(bw)
	line := func(kind byte, o any) error {
		if err := bw.WriteByte(kind); err != nil {
			return err
		}
		return enc.Encode(o)
	}
	for _, e := range v.entities {
		if err := line(recEntity, e); err != nil {
			return nil, 0, err
		}
	}
	for _, a := range v.aliases {
		if err := line(recAlias, a); err != nil {
			return nil, 0, err
		}
	}
	for _, g := range v.groups {
		if err := line(recGroup, g); err != nil {
			return nil, 0, err
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	if err := cw.flush(); err != nil {
		return nil, 0, err
	}
	return cw.sums, cw.size, nil
}

// chunkWriter cuts what is written to it into storage entries of
// snapshotChunkSize bytes.
type chunkWriter struct {
	ctx     context.Context
	storage logical.Storage
	gen     string
	buf     []byte
	sums    []string
	size    int
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, snapshotChunkSize)
		}
		k := min(len(p), snapshotChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == snapshotChunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush stores the buffered bytes as the next chunk. The storage may keep
// the slice, so each chunk gets its own.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	key := snapshotChunkKey(w.gen, len(w.sums))
	if err := w.storage.Put(w.ctx, &logical.StorageEntry{Key: key, Value: w.buf}); err != nil {
		return fmt.Errorf("failed to write %q: %w", key, err)
	}
	sum := sha256.Sum256(w.buf)
	w.sums = append(w.sums, hex.EncodeToString(sum[:]))
	w.size += len(w.buf)
	w.buf = nil
	return nil
}

// pruneSnapshots deletes the entries of every generation but keep. Failures
// only leave garbage that the next snapshot removes.
func (s *Store) pruneSnapshots(ctx context.Context, keep string) {
	gens, err := s.storage.List(ctx, snapshotPrefix)
	if err != nil {
		s.logger.Debug("listing load snapshots failed", "error", err)
		return
	}
	for _, g := range gens {
		if gen, ok := strings.CutSuffix(g, "/"); ok && gen != keep {
			s.pruneGeneration(ctx, gen)
		}
	}
}

// pruneGeneration deletes the chunks and validity entries of gen.
func (s *Store) pruneGeneration(ctx context.Context, gen string) {
	entries, err := s.storage.List(ctx, snapshotPrefix+gen+"/")
	if err != nil {
		s.logger.Debug("listing a load snapshot failed", "generation", gen, "error", err)
		return
	}
	for _, e := range entries {
		if err := s.storage.Delete(ctx, snapshotPrefix+gen+"/"+e); err != nil {
			s.logger.Debug("deleting an old load snapshot failed", "generation", gen, "error", err)
			return
		}
	}
}

// readSnapshot returns the objects of the current load snapshot's valid
// sections and which sections those are, or false when there is none or it
// cannot be used (the reason is logged). It records which generations
// writers must invalidate.
func (s *Store) readSnapshot(ctx context.Context) (*snapshotView, *[snapshotSections]bool, bool) {
	var rec snapshotRecord
	found, err := s.storage.GetJSON(ctx, snapshotMarker, &rec)
	s.snap.mu.Lock()
	if err == nil && found {
		s.snap.gens, s.snap.named = []string{rec.Generation}, rec.Generation
	} else {
		s.snap.markerUnknown = true
	}
	s.snap.mu.Unlock()
	if err != nil {
		s.logger.Warn("reading the load snapshot marker failed; reading every object", "error", err)
		return nil, nil, false
	}
	if !found {
		return nil, nil, false
	}
	valid, err := s.validSections(ctx, rec.Generation)
	if err != nil {
		s.logger.Warn("listing the load snapshot's valid sections failed; reading every object", "error", err)
		return nil, nil, false
	}
	if valid == nil {
		return nil, nil, false
	}
	view, err := s.readSnapshotChunks(ctx, &rec)
	if err != nil {
		s.logger.Warn("the load snapshot cannot be used; reading every object", "generation", rec.Generation, "error", err)
		return nil, nil, false
	}
	view.keep(func(key string) bool { return valid[snapshotSection(key)] })
	return view, valid, true
}

// validSections lists the sections of gen whose validity entry is stored,
// or nil if none is.
func (s *Store) validSections(ctx context.Context, gen string) (*[snapshotSections]bool, error) {
	entries, err := s.storage.List(ctx, snapshotPrefix+gen+"/")
	if err != nil {
		return nil, err
	}
	var valid [snapshotSections]bool
	some := false
	for _, e := range entries {
		n, ok := strings.CutPrefix(e, "valid-")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < snapshotSections {
			valid[i], some = true, true
		}
	}
	if !some {
		return nil, nil
	}
	return &valid, nil
}

func (s *Store) readSnapshotChunks(ctx context.Context, rec *snapshotRecord) (*snapshotView, error) {
	if rec.Format != snapshotFormat {
		return nil, fmt.Errorf("format %d, this release reads %d", rec.Format, snapshotFormat)
	}
	chunks := make([][]byte, len(rec.Chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.storage.Workers, 1))
	for i, want := range rec.Chunks {
		g.Go(func() error {
			key := snapshotChunkKey(rec.Generation, i)
			entry, err := s.storage.Get(gctx, key)
			if err != nil {
				return fmt.Errorf("failed to read %q: %w", key, err)
			}
			if entry == nil {
				return fmt.Errorf("chunk %q is missing", key)
			}
			if sum := sha256.Sum256(entry.Value); hex.EncodeToString(sum[:]) != want {
				return fmt.Errorf("chunk %q does not match its checksum", key)
			}
			chunks[i] = entry.Value
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	readers := make([]io.Reader, len(chunks))
	for i, c := range chunks {
		readers[i] = bytes.NewReader(c)
	}
	view, err := decodeSnapshot(io.MultiReader(readers...), runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	if len(view.entities) != rec.Entities || len(view.aliases) != rec.Aliases || len(view.groups) != rec.Groups {
		return nil, fmt.Errorf("holds %d entities, %d aliases, %d groups; the marker says %d, %d, %d",
			len(view.entities), len(view.aliases), len(view.groups), rec.Entities, rec.Aliases, rec.Groups)
	}
	return view, nil
}

// decodeSnapshot reads the JSON lines of a snapshot, decoding them on
// workers goroutines.
func decodeSnapshot(r io.Reader, workers int) (*snapshotView, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	const batchSize = 256
	batches := make(chan [][]byte, 2*workers)
	parts := make([]snapshotView, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := &parts[w]
			for batch := range batches {
				if errs[w] != nil {
					continue // drain, so the reader never blocks
				}
				for _, line := range batch {
					if errs[w] = decodeSnapshotLine(p, line); errs[w] != nil {
						break
					}
				}
			}
		})
	}
	br := bufio.NewReaderSize(zr, 1<<20)
	batch := make([][]byte, 0, batchSize)
	var readErr error
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			batch = append(batch, line)
			if len(batch) == batchSize {
				batches <- batch
				batch = make([][]byte, 0, batchSize)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	view := &snapshotView{}
	for _, p := range parts {
		view.entities = append(view.entities, p.entities...)
		view.aliases = append(view.aliases, p.aliases...)
		view.groups = append(view.groups, p.groups...)
	}
	return view, nil
}

func decodeSnapshotLine(v *snapshotView, line []byte) error {
	if len(line) < 2 || line[len(line)-1] != '\n' {
		return errors.New("truncated record")
	}
	body := line[1:]
	switch line[0] {
	case recEntity:
		e := new(Entity)
		if err := json.Unmarshal(body, e); err != nil {
			return fmt.Errorf("entity record: %w", err)
		}
		v.entities = append(v.entities, e)
	case recAlias:
		a := new(Alias)
		if err := json.Unmarshal(body, a); err != nil {
			return fmt.Errorf("alias record: %w", err)
		}
		v.aliases = append(v.aliases, a)
	case recGroup:
		g := new(Group)
		if err := json.Unmarshal(body, g); err != nil {
			return fmt.Errorf("group record: %w", err)
		}
		v.groups = append(v.groups, g)
	default:
		return fmt.Errorf("unknown record kind %q", line[0])
	}
	return nil
}
