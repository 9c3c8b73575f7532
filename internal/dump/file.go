package dump

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"time"
)

// Format and Version name the file format in its header.
const (
	Format  = "vault-plugin-secrets-identity-dump"
	Version = 1
)

// Sources of a dump, in its header.
const (
	SourcePlugin    = "plugin"
	SourceIdentity  = "identity"
	SourceSynthetic = "synthetic"
)

// Header is the first line of a dump.
type Header struct {
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Source is SourcePlugin (an export of a plugin mount), SourceIdentity
	// or SourceSynthetic (made up for a benchmark).
	Source string `json:"source"`
	// Mount is the mount the dump was read from.
	Mount string `json:"mount,omitempty"`
	// PluginVersion is the version of the plugin that exported it.
	PluginVersion string `json:"plugin_version,omitempty"`
	IncludeGrants bool   `json:"include_grants,omitempty"`
	IncludeKeys   bool   `json:"include_keys,omitempty"`
}

// Trailer is the last line's content: how many records of each kind the
// dump holds and the SHA-256 (hex) of every line before the trailer, the
// header included, each with its newline.
type Trailer struct {
	Records int            `json:"records"`
	Counts  map[string]int `json:"counts"`
	SHA256  string         `json:"sha256"`
}

type trailerLine struct {
	Trailer *Trailer `json:"trailer"`
}

// Writer writes a dump.
type Writer struct {
	w      *bufio.Writer
	sum    hash.Hash
	counts map[string]int
	n      int
	closed bool
}

// NewWriter writes the header (Format and Version are set here) and
// returns a Writer for the records.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = Format, Version
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC()
	}
	dw := &Writer{w: bufio.NewWriterSize(w, 1<<20), sum: sha256.New(), counts: map[string]int{}}
	if err := dw.line(h, true); err != nil {
		return nil, err
	}
	return dw, nil
}

func (w *Writer) line(v any, hashed bool) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if hashed {
		w.sum.Write(raw)
	}
	_, err = w.w.Write(raw)
	return err
}

// Write appends a record.
func (w *Writer) Write(r Record) error {
	if w.closed {
		return errors.New("dump: write after close")
	}
	if KindOrder(r.Kind) < 0 {
		return fmt.Errorf("dump: unknown record kind %q", r.Kind)
	}
	if err := w.line(r, true); err != nil {
		return err
	}
	w.counts[r.Kind]++
	w.n++
	return nil
}

// Close writes the trailer and flushes; the underlying writer stays open.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	t := Trailer{Records: w.n, Counts: w.counts, SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	if err := w.line(trailerLine{Trailer: &t}, false); err != nil {
		return err
	}
	return w.w.Flush()
}

// LineError is a dump refused at a line, with the reason.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

func lineErr(n int, format string, args ...any) error {
	return &LineError{Line: n, Reason: fmt.Sprintf(format, args...)}
}

// Dump is a dump read whole and checked. Line(i) is the line of Records[i].
type Dump struct {
	Header  Header
	Records []Record
	Trailer Trailer
}

// Line returns the line number of record i: the header is line 1.
func (d *Dump) Line(i int) int { return i + 2 }

// Read reads a whole dump and checks it before returning anything: the
// header's format and version, every record (a JSON object with a known
// kind, an id and data, no id twice for a kind), the trailer's presence,
// its counts and its SHA-256. A problem is a *LineError naming the line.
func Read(r io.Reader) (*Dump, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	sum := sha256.New()
	d := &Dump{}
	counts := map[string]int{}
	firstLine := map[string]map[string]int{} // kind → id → line
	n := 0
	trailerAt := 0
	for {
		raw, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			break
		}
		n++
		complete := bytes.HasSuffix(raw, []byte("\n"))
		body := bytes.TrimSuffix(raw, []byte("\n"))
		if trailerAt != 0 {
			return nil, lineErr(n, "data after the trailer (line %d)", trailerAt)
		}
		if n == 1 {
			if err := readHeader(body, &d.Header); err != nil {
				return nil, err
			}
			sum.Write(raw)
			continue
		}
		if !json.Valid(body) {
			if !complete {
				return nil, lineErr(n, "the line is cut short: the dump is truncated")
			}
			return nil, lineErr(n, "not a JSON object")
		}
		var t trailerLine
		if json.Unmarshal(body, &t) == nil && t.Trailer != nil {
			trailerAt = n
			d.Trailer = *t.Trailer
			continue
		}
		if !complete {
			return nil, lineErr(n, "the line is cut short: the dump is truncated")
		}
		rec, derr := decodeRecord(body)
		if derr != nil {
			return nil, lineErr(n, "%v", derr)
		}
		ids := firstLine[rec.Kind]
		if ids == nil {
			ids = map[string]int{}
			firstLine[rec.Kind] = ids
		}
		if first, dup := ids[rec.ID]; dup {
			return nil, lineErr(n, "a second %s record with id %q (the first is on line %d)", rec.Kind, rec.ID, first)
		}
		ids[rec.ID] = n
		sum.Write(raw)
		counts[rec.Kind]++
		d.Records = append(d.Records, rec)
	}
	switch {
	case n == 0:
		return nil, lineErr(1, "the file is empty: no header")
	case trailerAt == 0:
		return nil, lineErr(n+1, "the dump ends without its trailer after line %d: it is truncated", n)
	}
	t := d.Trailer
	if t.Records != len(d.Records) {
		return nil, lineErr(trailerAt, "the trailer counts %d records but the dump holds %d: records were added or removed", t.Records, len(d.Records))
	}
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(t.Counts, counts))) {
		if t.Counts[k] != counts[k] {
			return nil, lineErr(trailerAt, "the trailer counts %d %s records but the dump holds %d: records were changed", t.Counts[k], k, counts[k])
		}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != t.SHA256 {
		return nil, lineErr(trailerAt, "the SHA-256 of the lines before the trailer is %s, not the trailer's %s: the dump was changed after it was written", got, t.SHA256)
	}
	return d, nil
}

func mergeKeys(a, b map[string]int) map[string]int {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]int{}
	}
	maps.Copy(out, b)
	return out
}

func readHeader(body []byte, h *Header) error {
	if err := json.Unmarshal(body, h); err != nil || h.Format != Format {
		return lineErr(1, "not a %s header", Format)
	}
	if h.Version != Version {
		return lineErr(1, "dump version %d is not supported (this version reads version %d)", h.Version, Version)
	}
	return nil
}

// decodeRecord decodes one record line strictly: only kind, id and data,
// a known kind, a non-empty id and an object as data.
func decodeRecord(body []byte) (Record, error) {
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("not a record: %v", err)
	}
	if err := CheckRecord(rec); err != nil {
		return rec, err
	}
	return rec, nil
}

// CheckRecord checks the envelope of a record: a known kind, an id, and an
// object as data.
func CheckRecord(rec Record) error {
	if KindOrder(rec.Kind) < 0 {
		return fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	if rec.ID == "" {
		return fmt.Errorf("%s record without an id", rec.Kind)
	}
	if d := bytes.TrimSpace(rec.Data); len(d) == 0 || d[0] != '{' {
		return fmt.Errorf("%s record %q: data must be a JSON object", rec.Kind, rec.ID)
	}
	return nil
}
