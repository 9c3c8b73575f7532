package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	uuid "github.com/hashicorp/go-uuid"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// runSynth writes a dump of made-up entities, each with an alias on one
// auth mount: the input of the import benchmark (docs/BENCHMARKS.md).
func runSynth(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("identity-migrate synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("entities", 1000, "how many entities")
	accessor := fs.String("accessor", "", "the auth mount accessor of their aliases (auth_<type>_<8 hex digits>)")
	out := fs.String("o", "", "write the dump to this file (default: stdout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *accessor == "" || *n < 1 {
		fmt.Fprintln(stderr, "identity-migrate: --accessor and a positive --entities are required")
		return errUsage
	}
	w, closeOut, err := outputFile(*out, stdout)
	if err != nil {
		return err
	}
	dw, err := dump.NewWriter(w, dump.Header{Source: dump.SourceSynthetic})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	aliases := make([]dump.Alias, 0, *n)
	for i := range *n {
		id, err := uuid.GenerateUUID()
		if err != nil {
			return err
		}
		aid, err := uuid.GenerateUUID()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("user-%07d", i)
		rec, err := dump.NewRecord(dump.KindEntity, id, dump.Entity{
			ID: id, Name: name, Metadata: map[string]string{"n": fmt.Sprint(i)}, Policies: []string{"default"},
			CreationTime: now, LastUpdateTime: now,
		})
		if err != nil {
			return err
		}
		if err := dw.Write(rec); err != nil {
			return err
		}
		aliases = append(aliases, dump.Alias{ID: aid, CanonicalID: id, MountAccessor: *accessor, Name: name, CustomMetadata: map[string]string{}, CreationTime: now, LastUpdateTime: now})
	}
	for _, a := range aliases {
		rec, err := dump.NewRecord(dump.KindEntityAlias, a.ID, a)
		if err != nil {
			return err
		}
		if err := dw.Write(rec); err != nil {
			return err
		}
	}
	if err := dw.Close(); err != nil {
		return err
	}
	return closeOut()
}
