// Package devvault starts a real Vault dev server on loopback with this
// plugin registered, for the integration tests and the load tool.
package devvault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// PluginName is the catalog name; it cannot collide with a built-in engine.
const PluginName = "vault-plugin-secrets-identity"

// Options says which binaries to run.
type Options struct {
	VaultBin      string // Vault server binary
	PluginBin     string // plugin binary
	PluginVersion string // semver the plugin reports, e.g. v0.1.0
	Log           io.Writer
	// Raft runs a one-node server with integrated storage in the server's
	// temporary directory (Raft syncs its log to disk on every commit)
	// instead of a dev server with in-memory storage. The server is
	// initialized with one unseal key, unsealed, and Token is its root token.
	Raft bool
}

// FromEnv reads Options from VAULT_BIN, PLUGIN_BIN and PLUGIN_VERSION, as the
// Makefile sets them. A missing binary is an error, never a reason to skip.
func FromEnv() (Options, error) {
	o := Options{
		VaultBin:      os.Getenv("VAULT_BIN"),
		PluginBin:     os.Getenv("PLUGIN_BIN"),
		PluginVersion: os.Getenv("PLUGIN_VERSION"),
	}
	for name, path := range map[string]string{"VAULT_BIN": o.VaultBin, "PLUGIN_BIN": o.PluginBin} {
		if path == "" {
			return o, fmt.Errorf("%s is not set: run the integration suite with make test-integration", name)
		}
		if _, err := os.Stat(path); err != nil {
			return o, fmt.Errorf("%s: %w", name, err)
		}
	}
	return o, nil
}

// Server is a running dev server.
type Server struct {
	Addr   string
	Token  string
	Client *api.Client
	dir    string
	cmd    *exec.Cmd
	done   chan error
	opts   Options
	// unsealKey is the key of a Raft server, from its initialization.
	unsealKey string
}

// Start launches the server, waits until it answers and registers the plugin.
func Start(ctx context.Context, o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "identity-devvault-")
	if err != nil {
		return nil, err
	}
	s := &Server{Token: "root", dir: dir, opts: o, done: make(chan error, 1)}
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	pluginDir := filepath.Join(s.dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	sum, err := copyFile(s.opts.PluginBin, filepath.Join(pluginDir, PluginName))
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Addr = "http://127.0.0.1:" + strconv.Itoa(port)
	// sys/raw lets the tests read a mount's storage as it is, to prove
	// that a refused request changed nothing.
	extra := filepath.Join(s.dir, "extra.hcl")
	if err := os.WriteFile(extra, []byte("raw_storage_endpoint = true\n"), 0o600); err != nil {
		return err
	}
	s.cmd = exec.Command(s.opts.VaultBin, "server", "-dev", "-config="+extra,
		"-dev-root-token-id="+s.Token,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port),
		"-dev-plugin-dir="+pluginDir, "-dev-plugin-init=false")
	if s.opts.Raft {
		config, err := s.raftConfig(port, pluginDir)
		if err != nil {
			return err
		}
		s.cmd = exec.Command(s.opts.VaultBin, "server", "-config="+config)
	}
	logFile, err := os.Create(filepath.Join(s.dir, "vault.log"))
	if err != nil {
		return err
	}
	var out io.Writer = logFile
	if s.opts.Log != nil {
		out = io.MultiWriter(logFile, s.opts.Log)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting vault: %w", err)
	}
	go func() { s.done <- s.cmd.Wait(); logFile.Close() }()

	conf := api.DefaultConfig()
	conf.Address = s.Addr
	conf.MaxRetries = 0
	if s.Client, err = api.NewClient(conf); err != nil {
		return err
	}
	s.Client.SetToken(s.Token)
	if s.opts.Raft {
		if err := s.initRaft(ctx); err != nil {
			return err
		}
	}
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	return s.register(ctx, PluginName, sum, s.opts.PluginVersion)
}

func (s *Server) register(ctx context.Context, command, sum, version string) error {
	return s.Client.Sys().RegisterPluginWithContext(ctx, &api.RegisterPluginInput{
		Name:    PluginName,
		Type:    api.PluginTypeSecrets,
		Command: command,
		SHA256:  sum,
		Version: version,
		Env:     []string{"VAULT_API_ADDR=" + s.Addr},
	})
}

// RegisterVersion registers another build of the plugin under the same
// catalog name with its own version, as an operator does before an
// upgrade: bin is copied into the plugin directory under a name of its own.
// It returns the binary's SHA-256.
func (s *Server) RegisterVersion(ctx context.Context, bin, version string) (string, error) {
	command := PluginName + "-" + version
	sum, err := copyFile(bin, filepath.Join(s.dir, "plugins", command))
	if err != nil {
		return "", err
	}
	return sum, s.register(ctx, command, sum, version)
}

// raftConfig writes the configuration of a one-node server with integrated
// storage listening on port (and port+1 for cluster traffic) and returns
// its path.
func (s *Server) raftConfig(port int, pluginDir string) (string, error) {
	data := filepath.Join(s.dir, "raft")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	config := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = "node0"
}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr             = %q
cluster_addr         = "https://127.0.0.1:%d"
plugin_directory     = %q
disable_mlock        = true
raw_storage_endpoint = true
`, data, port, port+1, s.Addr, port+1, pluginDir)
	path := filepath.Join(s.dir, "raft.hcl")
	return path, os.WriteFile(path, []byte(config), 0o600)
}

// initRaft initializes a Raft server with one key share once it answers,
// unseals it and keeps its root token and unseal key.
func (s *Server) initRaft(ctx context.Context) error {
	err := Poll(ctx, 60*time.Second, 100*time.Millisecond, func() bool {
		_, err := s.Client.Sys().SealStatusWithContext(ctx)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("vault did not answer: %w; log: %s", err, s.LogPath())
	}
	init, err := s.Client.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	s.Token, s.unsealKey = init.RootToken, init.KeysB64[0]
	s.Client.SetToken(s.Token)
	if _, err := s.Client.Sys().UnsealWithContext(ctx, s.unsealKey); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	return nil
}

// waitReady polls the health endpoint until the server is unsealed and active.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		h, err := s.Client.Sys().HealthWithContext(ctx)
		if err == nil && h.Initialized && !h.Sealed && !h.Standby {
			return nil
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("vault exited before it was ready (%v); log: %s", err, s.LogPath())
		case <-ctx.Done():
			return fmt.Errorf("vault not ready after 60s (last error: %v); log: %s", err, s.LogPath())
		case <-tick.C:
		}
	}
}

// Enable mounts the plugin at path, passing the Authorization header through
// as the OIDC endpoints need.
func (s *Server) Enable(ctx context.Context, path string) error {
	return s.Client.Sys().MountWithContext(ctx, path, &api.MountInput{
		Type: PluginName,
		Config: api.MountConfigInput{
			PassthroughRequestHeaders: []string{"Authorization"},
			PluginVersion:             s.opts.PluginVersion,
		},
	})
}

// PluginPIDs returns the process ids of the plugin processes this server
// runs, found by their executable path under the server's plugin directory.
func (s *Server) PluginPIDs() []int {
	want := filepath.Join(s.dir, "plugins", PluginName)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if exe, _, _ := strings.Cut(string(cmd), "\x00"); exe == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// PID is the Vault server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// UnsealKey is the server's unseal key: a dev server's as it prints it at
// start, a Raft server's from its initialization.
func (s *Server) UnsealKey() (string, error) {
	if s.unsealKey != "" {
		return s.unsealKey, nil
	}
	log, err := os.ReadFile(s.LogPath())
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(log)) {
		if key, ok := strings.CutPrefix(strings.TrimSpace(line), "Unseal Key: "); ok {
			return key, nil
		}
	}
	return "", errors.New("no unseal key in the dev server's log")
}

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "vault.log") }

// Stop ends the server this Server started (by its process, never by name)
// and removes its files.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if os.Getenv("KEEP_VAULT_DIR") == "" {
		_ = os.RemoveAll(s.dir)
	}
}

func copyFile(from, to string) (sha string, err error) {
	in, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), out.Close()
}

// freePort returns a loopback port that is free together with the next one
// (a dev server listens for cluster traffic on port+1). Ports come from below
// the kernel's ephemeral range: a port from that range can be handed to an
// outgoing connection between the check here and Vault binding it, which
// once left a cluster node without its cluster listener.
func freePort() (int, error) {
	low, high := 20000, ephemeralLow()-2
	if high <= low {
		return anyPort()
	}
	for range 200 {
		p := low + rand.IntN(high-low)
		if portFree(p) && portFree(p+1) {
			return p, nil
		}
	}
	return anyPort()
}

func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return n
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func anyPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
