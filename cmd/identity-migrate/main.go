// Command identity-migrate moves an identity store into a mount of this
// plugin, keeping every id: from Vault's built-in identity/ engine, from a
// dump file, or from another plugin mount. It also exports a plugin mount
// to a dump file (a backup), compares two stores, and writes synthetic
// dumps for benchmarks. It talks to Vault with Vault's API client, so
// VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, VAULT_NAMESPACE and the other
// VAULT_* variables apply.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/vault/api"
)

const usage = `usage:
  identity-migrate import (--from identity | --from <plugin mount> | --from-file <dump>) --to <mount> [flags]
  identity-migrate export --from <mount> [--include-grants] [--include-keys] [-o <file>]
  identity-migrate verify (--from identity | --from <plugin mount> | --from-file <dump>) --to <mount>
  identity-migrate synth --entities <n> --accessor <auth mount accessor> [-o <file>]

Vault is reached as the vault CLI reaches it: VAULT_ADDR, VAULT_TOKEN,
VAULT_CACERT and the other VAULT_* variables. Run a command with -h for its
flags.`

// errUsage is a command line problem: exit status 2.
var errUsage = errors.New("usage")

// errFailed is a failure already reported on stderr: exit status 1.
var errFailed = errors.New("failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	case errors.Is(err, errFailed):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "identity-migrate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "import":
		return runImport(ctx, args[1:], stdout, stderr, false)
	case "verify":
		return runImport(ctx, args[1:], stdout, stderr, true)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "synth":
		return runSynth(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "identity-migrate: unknown command %q\n%s\n", args[0], usage)
	return errUsage
}

// progressAndClient is what export and import start with: the progress
// display mode asked for (a bad one is a usage error) and the Vault client.
func progressAndClient(stderr io.Writer, mode string) (*progress, *api.Client, error) {
	prog, err := newProgress(stderr, mode)
	if err != nil {
		fmt.Fprintln(stderr, "identity-migrate:", err)
		return nil, nil, errUsage
	}
	c, err := newClient()
	if err != nil {
		return nil, nil, err
	}
	return prog, c, nil
}

// newClient is Vault's API client configured from the environment.
func newClient() (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	// Calls time out on their own (vault.go): the client's timeout would
	// cut the bodies of raw answers.
	c.SetClientTimeout(0)
	if c.Token() == "" {
		return nil, errors.New("no Vault token: set VAULT_TOKEN")
	}
	return c, nil
}

// parse parses a command's flags, turning their errors into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "identity-migrate: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

// secretFlags collects repeated name=value flags: credentials the built-in
// engine never returns, by MFA method name or id.
type secretFlags map[string]string

func (f secretFlags) String() string { return "" }

func (f secretFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want <method name or id>=<value>, got %q", v)
	}
	f[name] = value
	return nil
}

// outputFile opens -o's file, or stdout for "" or "-".
func outputFile(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}
