package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vault-identity/vault-plugin-secrets-identity/internal/dump"
)

// runExport writes a dump of a plugin mount: every record in dependency
// order, the grants of refresh token families with --include-grants, the
// private keys with --include-keys (which the mount's config must allow).
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("identity-migrate export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the plugin mount to export")
	out := fs.String("o", "", "write the dump to this file (default: stdout)")
	grants := fs.Bool("include-grants", false, "also export the grants of refresh token families, so that refresh tokens keep working after a restore")
	keys := fs.Bool("include-keys", false, "also export the OIDC private keys (read from <mount>/export/keys; the mount's config must have allow_key_export=true)")
	progressMode := fs.String("progress", "auto", "auto, bar, lines or none; on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" {
		fmt.Fprintln(stderr, "identity-migrate: --from is required")
		return errUsage
	}
	prog, c, err := progressAndClient(stderr, *progressMode)
	if err != nil {
		return err
	}
	start := time.Now()
	mount := strings.Trim(*from, "/")
	src, err := readPlugin(ctx, vault{c}, mount, exportOptions{grants: *grants, keys: *keys}, prog)
	prog.end()
	if err != nil {
		return err
	}
	w, closeOut, err := outputFile(*out, stdout)
	if err != nil {
		return err
	}
	dw, err := dump.NewWriter(w, src.header)
	if err != nil {
		return err
	}
	for _, r := range src.records {
		if err := dw.Write(r); err != nil {
			return err
		}
	}
	if err := dw.Close(); err != nil {
		return err
	}
	if err := closeOut(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d records from %s in %.1fs\n", len(src.records), mount, time.Since(start).Seconds())
	return nil
}
