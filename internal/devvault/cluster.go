package devvault

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cluster is three Vault servers with integrated (Raft) storage on
// loopback, initialized, unsealed and joined, with the plugin registered.
type Cluster struct {
	Nodes []*Node
	Token string
	// Retried is the error of a first attempt that failed, if any.
	Retried error
	dir     string
	opts    Options
	// unsealKey is the cluster's one key share, for a node's return.
	unsealKey string
}

// Node is one server of a Cluster.
type Node struct {
	Addr string
	cmd  *exec.Cmd
	done chan error
	// config and log are the node's configuration and log files, which a
	// restarted node uses again.
	config, log string
}

// StartCluster starts a three-node cluster. Forming a cluster depends on
// timing Vault does not let a caller control, so a failed attempt is
// followed by one more with new directories and ports; the first attempt's
// error stays in Retried for the caller to report.
func StartCluster(ctx context.Context, o Options) (*Cluster, error) {
	c, first := startCluster(ctx, o)
	if first == nil {
		return c, nil
	}
	c, err := startCluster(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w (first attempt: %v)", err, first)
	}
	c.Retried = first
	return c, nil
}

func startCluster(ctx context.Context, o Options) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "identity-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, opts: o}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	pluginDir := filepath.Join(c.dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return err
	}
	sum, err := copyFile(c.opts.PluginBin, filepath.Join(pluginDir, PluginName))
	if err != nil {
		return err
	}
	for i := range 3 {
		api, err := freePort()
		if err != nil {
			return err
		}
		cluster, err := freePort()
		if err != nil {
			return err
		}
		n := &Node{Addr: "http://127.0.0.1:" + strconv.Itoa(api), done: make(chan error, 1)}
		raftDir := filepath.Join(c.dir, fmt.Sprintf("raft%d", i))
		if err := os.MkdirAll(raftDir, 0o700); err != nil {
			return err
		}
		config := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = "node%d"
}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr         = %q
cluster_addr     = "https://127.0.0.1:%d"
plugin_directory = %q
disable_mlock    = true
`, raftDir, i, api, cluster, n.Addr, cluster, pluginDir)
		n.config = filepath.Join(c.dir, fmt.Sprintf("node%d.hcl", i))
		n.log = filepath.Join(c.dir, fmt.Sprintf("node%d.log", i))
		if err := os.WriteFile(n.config, []byte(config), 0o600); err != nil {
			return err
		}
		if err := c.launch(n); err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, n)
	}
	hc := http.DefaultClient
	for _, n := range c.Nodes {
		if err := Poll(ctx, 90*time.Second, 200*time.Millisecond, func() bool {
			answered, _ := sealStatus(ctx, n)
			return answered
		}); err != nil {
			return fmt.Errorf("node %s did not answer: %w (logs in %s)", n.Addr, err, c.dir)
		}
	}
	init, err := Do(ctx, hc, c.Nodes[0].Addr, "", "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil || init.Status != http.StatusOK {
		return fmt.Errorf("init: %v %d %v", err, init.Status, init.Errors)
	}
	key := init.Body["keys_base64"].([]any)[0].(string)
	c.Token = init.Body["root_token"].(string)
	c.unsealKey = key
	unseal := func(n *Node) error {
		r, err := Do(ctx, hc, n.Addr, "", "PUT", "sys/unseal", map[string]any{"key": key})
		if err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("unseal %s: %v %d %v", n.Addr, err, r.Status, r.Errors)
		}
		return nil
	}
	if err := unseal(c.Nodes[0]); err != nil {
		return err
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		return err
	}
	// Autopilot promotes a joined node to voter once it has been healthy
	// for the stabilization time (10 s by default).
	if r, err := Do(ctx, hc, c.Nodes[0].Addr, c.Token, "POST", "sys/storage/raft/autopilot/configuration",
		map[string]any{"server_stabilization_time": "3s"}); err != nil || r.Status >= 300 {
		return fmt.Errorf("autopilot configuration: %v %d %v", err, r.Status, r.Errors)
	}
	for _, n := range c.Nodes[1:] {
		r, err := Do(ctx, hc, n.Addr, "", "PUT", "sys/storage/raft/join", map[string]any{"leader_api_addr": c.Nodes[0].Addr})
		if err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("join %s: %v %d %v", n.Addr, err, r.Status, r.Errors)
		}
		if err := unseal(n); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes[1:] {
		if err := Poll(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
			_, unsealed := sealStatus(ctx, n)
			return unsealed
		}); err != nil {
			return fmt.Errorf("node %s still sealed after joining: %w%s", n.Addr, err, c.logErrors())
		}
	}
	// Every node is a voter once it has caught up.
	if err := Poll(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		r, err := Do(ctx, hc, c.Nodes[0].Addr, c.Token, "GET", "sys/storage/raft/configuration", nil)
		if err != nil || r.Status != http.StatusOK {
			return false
		}
		servers, _ := r.Data["config"].(map[string]any)["servers"].([]any)
		voters := 0
		for _, s := range servers {
			if s.(map[string]any)["voter"] == true {
				voters++
			}
		}
		return voters == 3
	}); err != nil {
		state, _ := Do(ctx, hc, c.Nodes[0].Addr, c.Token, "GET", "sys/storage/raft/autopilot/state", nil)
		return fmt.Errorf("raft peers: %w; autopilot state %v%s", err, state.Data, c.logErrors())
	}
	r, err := Do(ctx, hc, c.Nodes[0].Addr, c.Token, "PUT", "sys/plugins/catalog/secret/"+PluginName,
		map[string]any{"sha256": sum, "command": PluginName, "version": c.opts.PluginVersion})
	if err != nil || r.Status >= 300 {
		return fmt.Errorf("register: %v %d %v", err, r.Status, r.Errors)
	}
	return nil
}

// launch starts n's server process with its configuration, appending to
// its log.
func (c *Cluster) launch(n *Node) error {
	logFile, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n.cmd = exec.Command(c.opts.VaultBin, "server", "-config="+n.config)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	n.done = make(chan error, 1)
	cmd, done := n.cmd, n.done
	go func() { done <- cmd.Wait(); logFile.Close() }()
	return nil
}

// Kill ends n's server process with SIGKILL, as a crash or an OOM kill
// would (by its process, never by name), and waits until it has exited.
// Its data directory stays as the process left it.
func (c *Cluster) Kill(n *Node) error {
	if err := n.cmd.Process.Kill(); err != nil {
		return err
	}
	// The exit stays in done for Stop, which waits on it too.
	n.done <- <-n.done
	return nil
}

// Restart starts a node that was killed again, with the same configuration
// and data directory, and unseals it once it answers. It returns when the
// node reports itself unsealed; whether it has rejoined Raft is for the
// caller to wait for.
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	if err := c.launch(n); err != nil {
		return err
	}
	if err := Poll(ctx, 90*time.Second, 200*time.Millisecond, func() bool {
		answered, _ := sealStatus(ctx, n)
		return answered
	}); err != nil {
		return fmt.Errorf("restarted node %s did not answer: %w%s", n.Addr, err, c.logErrors())
	}
	r, err := Do(ctx, http.DefaultClient, n.Addr, "", "PUT", "sys/unseal", map[string]any{"key": c.unsealKey})
	if err != nil || r.Status != http.StatusOK {
		return fmt.Errorf("unseal %s: %v %d %v", n.Addr, err, r.Status, r.Errors)
	}
	return Poll(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		_, unsealed := sealStatus(ctx, n)
		return unsealed
	})
}

// PID is the process id of n's server.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// sealStatus asks n for its seal status: answered is whether it answered
// 200, unsealed whether that answer says sealed is false.
func sealStatus(ctx context.Context, n *Node) (answered, unsealed bool) {
	r, err := Do(ctx, http.DefaultClient, n.Addr, "", "GET", "sys/seal-status", nil)
	answered = err == nil && r.Status == http.StatusOK
	return answered, answered && r.Body["sealed"] == false
}

// WaitLeader waits until a node reports itself active and returns it.
func (c *Cluster) WaitLeader(ctx context.Context) (*Node, error) {
	var leader *Node
	err := Poll(ctx, 90*time.Second, 200*time.Millisecond, func() bool {
		for _, n := range c.Nodes {
			r, err := Do(ctx, http.DefaultClient, n.Addr, "", "GET", "sys/health", nil)
			if err == nil && r.Status == http.StatusOK {
				leader = n
				return true
			}
		}
		return false
	})
	return leader, err
}

// Stop ends the servers this cluster started and removes their files.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = n.cmd.Process.Signal(os.Interrupt)
			select {
			case <-n.done:
			case <-time.After(15 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.done
			}
		}
	}
	if os.Getenv("KEEP_VAULT_DIR") == "" {
		_ = os.RemoveAll(c.dir)
	}
}

// logErrors returns the error lines of every node's log, for a failure
// message: the logs themselves are removed with the cluster.
func (c *Cluster) logErrors() string {
	var b strings.Builder
	for i := range c.Nodes {
		data, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node%d.log", i)))
		if err != nil {
			continue
		}
		lines := 0
		for line := range strings.Lines(string(data)) {
			if strings.Contains(line, "[ERROR]") && lines < 20 {
				fmt.Fprintf(&b, "\nnode%d: %s", i, strings.TrimRight(line, "\n"))
				lines++
			}
		}
	}
	return b.String()
}

// Dir holds the nodes' configuration and logs.
func (c *Cluster) Dir() string { return c.dir }

// Poll calls ready every interval until it reports true, for at most limit.
func Poll(ctx context.Context, limit, interval time.Duration, ready func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s: %w", limit, ctx.Err())
		case <-time.After(interval):
		}
	}
	return nil
}
