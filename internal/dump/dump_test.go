package dump

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Source: SourcePlugin, Mount: "ident", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	for _, r := range []struct {
		kind, id string
		v        any
	}{
		{KindEntity, "e1", Entity{ID: "e1", Name: "alice"}},
		{KindEntity, "e2", Entity{ID: "e2", Name: "bob"}},
		{KindEntityAlias, "a1", Alias{ID: "a1", CanonicalID: "e1", MountAccessor: "auth_userpass_12345678", Name: "alice"}},
	} {
		rec, err := NewRecord(r.kind, r.id, r.v)
		require.NoError(t, err)
		require.NoError(t, w.Write(rec))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func lines(b []byte) []string { return strings.SplitAfter(string(b), "\n") }

func readErr(t *testing.T, b []byte) string {
	t.Helper()
	_, err := Read(bytes.NewReader(b))
	var le *LineError
	require.True(t, errors.As(err, &le), "want a line error, got %v", err)
	return err.Error()
}

func TestReadBack(t *testing.T) {
	b := sample(t)
	d, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, Format, d.Header.Format)
	require.Equal(t, Version, d.Header.Version)
	require.Equal(t, "ident", d.Header.Mount)
	require.Len(t, d.Records, 3)
	require.Equal(t, KindEntityAlias, d.Records[2].Kind)
	require.Equal(t, 4, d.Line(2))
	require.Equal(t, map[string]int{KindEntity: 2, KindEntityAlias: 1}, d.Trailer.Counts)
	require.Equal(t, 3, d.Trailer.Records)
	// The trailer is the last line, and the file ends with a newline.
	l := lines(b)
	require.Equal(t, "", l[len(l)-1])
	require.True(t, strings.HasPrefix(l[4], `{"trailer":{"records":3,`), l[4])
}

func TestTruncatedDumpsAreRefused(t *testing.T) {
	b := sample(t)
	l := lines(b)
	// Without the trailer.
	require.Equal(t, "line 5: the dump ends without its trailer after line 4: it is truncated",
		readErr(t, []byte(strings.Join(l[:4], ""))))
	// Cut in the middle of a record.
	cut := strings.Join(l[:3], "") + l[3][:20]
	require.Equal(t, "line 4: the line is cut short: the dump is truncated", readErr(t, []byte(cut)))
	// Cut in the middle of the trailer.
	cut = strings.Join(l[:4], "") + l[4][:30]
	require.Equal(t, "line 5: the line is cut short: the dump is truncated", readErr(t, []byte(cut)))
	// A record removed.
	removed := strings.Join(append(append([]string{}, l[:2]...), l[3:]...), "")
	require.Equal(t, "line 4: the trailer counts 3 records but the dump holds 2: records were added or removed", readErr(t, []byte(removed)))
	require.Equal(t, "line 1: the file is empty: no header", readErr(t, nil))
}

func TestEditedDumpsAreRefused(t *testing.T) {
	b := sample(t)
	edited := bytes.Replace(b, []byte(`"name":"bob"`), []byte(`"name":"eve"`), 1)
	msg := readErr(t, edited)
	require.True(t, strings.HasPrefix(msg, "line 5: the SHA-256 of the lines before the trailer is "), msg)
	require.True(t, strings.HasSuffix(msg, ": the dump was changed after it was written"), msg)

	// A record's kind changed: the counts differ.
	kind := bytes.Replace(b, []byte(`{"kind":"entity","id":"e2"`), []byte(`{"kind":"group","id":"e2"`), 1)
	require.Equal(t, "line 5: the trailer counts 2 entity records but the dump holds 1: records were changed", readErr(t, kind))

	l := lines(b)
	header := strings.Replace(l[0], `"version":1`, `"version":2`, 1)
	require.Equal(t, "line 1: dump version 2 is not supported (this version reads version 1)", readErr(t, []byte(header+strings.Join(l[1:], ""))))
	require.Equal(t, "line 1: not a vault-plugin-secrets-identity-dump header", readErr(t, []byte("{}\n"+strings.Join(l[1:], ""))))
	require.Equal(t, "line 6: data after the trailer (line 5)", readErr(t, append(b, l[1]...)))
	require.Equal(t, `line 3: not a record: json: unknown field "extra"`,
		readErr(t, []byte(l[0]+l[1]+strings.Replace(l[2], `{"kind"`, `{"extra":1,"kind"`, 1)+strings.Join(l[3:], ""))))
	require.Equal(t, `line 3: a second entity record with id "e1" (the first is on line 2)`,
		readErr(t, []byte(l[0]+l[1]+l[1]+strings.Join(l[3:], ""))))
	require.Equal(t, "line 3: not a JSON object", readErr(t, []byte(l[0]+l[1]+"nonsense\n"+strings.Join(l[3:], ""))))
	require.Equal(t, `line 2: unknown record kind "widget"`, readErr(t, []byte(l[0]+`{"kind":"widget","id":"w","data":{}}`+"\n"+strings.Join(l[2:], ""))))
}

func TestWriterRefusesUnknownKinds(t *testing.T) {
	w, err := NewWriter(&bytes.Buffer{}, Header{})
	require.NoError(t, err)
	require.EqualError(t, w.Write(Record{Kind: "widget", ID: "w", Data: []byte(`{}`)}), `dump: unknown record kind "widget"`)
}
