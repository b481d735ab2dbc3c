package testcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"
)

// Cluster runs one Spec out of one cluster folder. The folder holds lib/
// (the fetched jars), run/<server>/ (conf, data, logs, pid) and state.json
// (the Spec last brought up, read back by Load). One folder runs at most one
// cluster at a time.
type Cluster struct {
	// Dir is the absolute cluster folder.
	Dir string
	// Spec is the cluster's shape.
	Spec Spec
	// PomDir holds the Maven project that lists the server artifacts; Fetch
	// needs it, nothing else does.
	PomDir string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// New returns a Cluster for spec in dir (made absolute).
func New(dir string, spec Spec) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster folder %s: %w", dir, err)
	}
	return &Cluster{Dir: abs, Spec: spec}, nil
}

// Load returns the cluster last brought up in dir, as recorded by Up.
func Load(dir string) (*Cluster, error) {
	c, err := New(dir, Spec{})
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(c.stateFile())
	if err != nil {
		return nil, fmt.Errorf("no cluster recorded in %s (run make cluster-up): %w", c.Dir, err)
	}
	if err := json.Unmarshal(raw, &c.Spec); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.stateFile(), err)
	}
	return c, nil
}

func (c *Cluster) stateFile() string { return filepath.Join(c.Dir, "state.json") }
func (c *Cluster) libDir() string    { return filepath.Join(c.Dir, "lib") }

func (c *Cluster) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// Fetch copies the server jars listed in PomDir's Maven project into
// lib/zookeeper and lib/cassandra, through Maven's own cache in ~/.m2. It
// does nothing when the jars were fetched for the same poms already.
func (c *Cluster) Fetch(ctx context.Context) error {
	if c.PomDir == "" {
		return errors.New("fetch: no Maven project folder given")
	}
	stamp, err := pomStamp(c.PomDir)
	if err != nil {
		return err
	}
	stampFile := filepath.Join(c.libDir(), ".stamp")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		return nil
	}
	c.progress("fetching ZooKeeper and Cassandra from Maven Central (pom: %s)", c.PomDir)
	if err := os.RemoveAll(c.libDir()); err != nil {
		return fmt.Errorf("clear %s: %w", c.libDir(), err)
	}
	cmd := exec.CommandContext(ctx, "mvn", "-B", "-q", "-f", filepath.Join(c.PomDir, "pom.xml"),
		"-Dlib.dir="+c.libDir(), "dependency:copy-dependencies")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mvn dependency:copy-dependencies in %s: %w\n%s", c.PomDir, err, lastLines(string(out), 40))
	}
	for _, server := range []string{"zookeeper", "cassandra"} {
		jars, _ := filepath.Glob(filepath.Join(c.libDir(), server, "*.jar"))
		if len(jars) == 0 {
			return fmt.Errorf("mvn fetched no %s jars into %s", server, c.libDir())
		}
	}
	return os.WriteFile(stampFile, []byte(stamp), 0o644)
}

func pomStamp(pomDir string) (string, error) {
	h := sha256.New()
	for _, p := range []string{"pom.xml", "zookeeper/pom.xml", "cassandra/pom.xml"} {
		raw, err := os.ReadFile(filepath.Join(pomDir, p))
		if err != nil {
			return "", fmt.Errorf("read Maven project: %w", err)
		}
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Versions reports the server versions found in lib/, from the jar names.
func (c *Cluster) Versions() (zookeeper, cassandra string) {
	find := func(dir, prefix string) string {
		jars, _ := filepath.Glob(filepath.Join(c.libDir(), dir, prefix+"-[0-9]*.jar"))
		if len(jars) == 0 {
			return "not fetched"
		}
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(jars[0]), prefix+"-"), ".jar")
	}
	return find("zookeeper", "zookeeper"), find("cassandra", "cassandra-all")
}

// ServerNames lists every server of the spec: ZooKeeper first.
func (c *Cluster) ServerNames() []string {
	var names []string
	for _, z := range c.Spec.ZooKeeper {
		names = append(names, z.Name())
	}
	for _, n := range c.Spec.Cassandra {
		names = append(names, n.Name)
	}
	return names
}

// Running tells whether server name runs.
func (c *Cluster) Running(name string) bool { return c.serverPID(name) != 0 }

// Up starts every server that does not run yet and waits until the ensemble
// has exactly one leader and every Cassandra node answers CQL and sees all
// others up. With everything running it returns after one health check. A
// server that fails to start fails Up with the tail of its log.
func (c *Cluster) Up(ctx context.Context) error {
	if err := c.checkNoOtherSpec(); err != nil {
		return err
	}
	if err := c.WriteState(); err != nil {
		return err
	}
	if c.Spec.Secure {
		if _, err := c.ensureSecurity(); err != nil {
			return err
		}
	}
	if err := writeFiles(map[string]string{
		filepath.Join(c.Dir, "run", "nodetool-logback.xml"): fmt.Sprintf(consoleLogback, "WARN"),
	}); err != nil {
		return err
	}
	for _, z := range c.Spec.ZooKeeper {
		if err := c.StartZooKeeper(z.Name()); err != nil {
			return err
		}
	}
	for _, n := range c.Spec.Cassandra {
		if err := c.StartCassandra(n.Name); err != nil {
			return err
		}
	}
	if err := c.WaitZooKeeper(ctx); err != nil {
		return err
	}
	if err := c.WaitCassandra(ctx); err != nil {
		return err
	}
	if c.Spec.Secure {
		return c.secureSuperuser(ctx)
	}
	return nil
}

// security is the cluster's Security when the spec is secure, else nil.
func (c *Cluster) security() (*Security, error) {
	if !c.Spec.Secure {
		return nil, nil
	}
	return c.ensureSecurity()
}

// ShareLib makes the cluster use the jars fetched into lib (another
// cluster folder's lib/) instead of fetching its own: lib/ becomes a
// symbolic link to it.
func (c *Cluster) ShareLib(lib string) error {
	abs, err := filepath.Abs(lib)
	if err != nil {
		return err
	}
	if target, err := os.Readlink(c.libDir()); err == nil && target == abs {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.Dir, err)
	}
	_ = os.Remove(c.libDir())
	if err := os.Symlink(abs, c.libDir()); err != nil {
		return fmt.Errorf("share jars of %s: %w", abs, err)
	}
	return nil
}

// WriteState records the Spec in the cluster folder for Load.
func (c *Cluster) WriteState() error {
	if err := os.MkdirAll(filepath.Join(c.Dir, "run"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.Dir, err)
	}
	raw, err := json.MarshalIndent(c.Spec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	if err := os.WriteFile(c.stateFile(), raw, 0o644); err != nil {
		return fmt.Errorf("record cluster state: %w", err)
	}
	return nil
}

// checkNoOtherSpec refuses to start a variant while another runs from the
// same folder: they share ports.
func (c *Cluster) checkNoOtherSpec() error {
	prev, err := Load(c.Dir)
	if err != nil || prev.Spec.Name == c.Spec.Name {
		return nil
	}
	for _, name := range prev.ServerNames() {
		if prev.Running(name) {
			return fmt.Errorf("the %q cluster runs in %s (server %s); stop it first with make cluster-down", prev.Spec.Name, c.Dir, name)
		}
	}
	return nil
}

// StartZooKeeper starts ZooKeeper server name (as "zk2") unless it runs.
// It does not wait for the server to serve.
func (c *Cluster) StartZooKeeper(name string) error {
	s, ok := c.Spec.ZooKeeperByName(name)
	if !ok {
		return fmt.Errorf("no ZooKeeper server %q in the %s cluster", name, c.Spec.Name)
	}
	if c.Running(name) {
		return nil
	}
	sec, err := c.security()
	if err != nil {
		return err
	}
	dir := c.serverDir(name)
	dataDir := filepath.Join(dir, "data")
	if err := writeFiles(map[string]string{
		filepath.Join(dir, "conf", "zoo.cfg"):     zooKeeperConfig(c.Spec, s, dataDir, sec),
		filepath.Join(dir, "conf", "logback.xml"): fmt.Sprintf(consoleLogback, "INFO"),
		filepath.Join(dataDir, "myid"):            fmt.Sprintf("%d\n", s.ID),
	}); err != nil {
		return err
	}
	args := []string{
		"-Xmx" + c.Spec.ZooKeeperHeap, "-Xms64m", "-XX:+UseSerialGC",
		// As ZooKeeper's own zkServer.sh (which kills the JVM on an
		// OutOfMemoryError): a server out of heap dies visibly instead of
		// limping on without the thread that died. No commitLogCount: every
		// server keeps its last 500 transactions in memory whatever it says
		// (ZooKeeper ignores values below 500); the client's batch size
		// bounds what they cost (zk.DefaultMaxTxnBytes).
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.log.dir=" + filepath.Join(dir, "logs"),
		"-Dlogback.configurationFile=" + filepath.Join(dir, "conf", "logback.xml"),
		"-cp", filepath.Join(c.libDir(), "zookeeper", "*"),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain",
		filepath.Join(dir, "conf", "zoo.cfg"),
	}
	c.progress("starting ZooKeeper %s on %s", name, s.Address())
	_, err = c.startJVM(name, args)
	return err
}

// StartCassandra starts Cassandra node name (as "cass1") unless it runs. It
// does not wait for the node to serve.
func (c *Cluster) StartCassandra(name string) error {
	n, ok := c.Spec.CassandraByName(name)
	if !ok {
		return fmt.Errorf("no Cassandra node %q in the %s cluster", name, c.Spec.Name)
	}
	if c.Running(name) {
		return nil
	}
	sec, err := c.security()
	if err != nil {
		return err
	}
	dir := c.serverDir(name)
	conf := filepath.Join(dir, "conf")
	if err := writeFiles(map[string]string{
		filepath.Join(conf, "cassandra.yaml"):              cassandraConfig(c.Spec, n, filepath.Join(dir, "data"), sec),
		filepath.Join(conf, "cassandra-rackdc.properties"): cassandraRackDC(n),
		filepath.Join(conf, "logback.xml"):                 fmt.Sprintf(consoleLogback, "INFO"),
	}); err != nil {
		return err
	}
	args := []string{
		"-Xms" + c.Spec.CassandraHeap, "-Xmx" + c.Spec.CassandraHeap, "-Xss512k",
		"-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1",
		"-XX:G1RSetUpdatingPauseTimePercent=5", "-XX:MaxGCPauseMillis=300",
		"-XX:+ExitOnOutOfMemoryError",
		"-ea",
	}
	args = append(args, jvm17Options...)
	if jamm, _ := filepath.Glob(filepath.Join(c.libDir(), "cassandra", "jamm-*.jar")); len(jamm) > 0 {
		args = append(args, "-javaagent:"+jamm[0])
	}
	args = append(args,
		"-Djava.net.preferIPv4Stack=true",
		"-Djava.rmi.server.hostname=127.0.0.1",
		"-Dcassandra.config=file://"+filepath.Join(conf, "cassandra.yaml"),
		"-Dcassandra-rackdc.properties=file://"+filepath.Join(conf, "cassandra-rackdc.properties"),
		"-Dcassandra.storagedir="+filepath.Join(dir, "data"),
		"-Dcassandra.logdir="+filepath.Join(dir, "logs"),
		"-Dcassandra-foreground=yes",
		fmt.Sprintf("-Dcassandra.jmx.local.port=%d", n.JMXPort),
		"-Dcassandra.skip_wait_for_gossip_to_settle=0",
		"-Dcassandra.superuser_setup_delay_ms=0",
		"-Dlogback.configurationFile="+filepath.Join(conf, "logback.xml"),
		"-cp", conf+string(os.PathListSeparator)+filepath.Join(c.libDir(), "cassandra", "*"),
		"org.apache.cassandra.service.CassandraDaemon",
	)
	c.progress("starting Cassandra %s (%s, %s) on %s", name, n.Datacenter, n.Rack, n.CQLAddress())
	_, err = c.startJVM(name, args)
	return err
}

// Kill sends SIGKILL to server name and returns once it is gone.
func (c *Cluster) Kill(name string) error {
	pid := c.serverPID(name)
	if pid == 0 {
		return fmt.Errorf("server %s does not run", name)
	}
	if err := signal(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
	}
	for alive(pid) {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Stop stops server name gracefully (SIGTERM, SIGKILL after a grace period).
func (c *Cluster) Stop(name string) error {
	pid := c.serverPID(name)
	if pid == 0 {
		return nil
	}
	if err := terminate(pid, 30*time.Second); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// Down stops every server of the folder, including any process that carries
// the folder's marker without a pid file, and returns once all are gone.
func (c *Cluster) Down() error {
	var wg gosync.WaitGroup
	errs := make([]error, 0)
	var mu gosync.Mutex
	for _, pid := range c.strayProcesses() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := terminate(pid, 30*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if left := c.strayProcesses(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes still running: %v", left))
	}
	return errors.Join(errs...)
}

// poll calls check until it returns nil, the context ends, or a server in
// watch dies; the last check error explains a timeout.
func (c *Cluster) poll(ctx context.Context, what string, watch []string, every time.Duration, check func(context.Context) error) error {
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		for _, name := range watch {
			if !c.Running(name) {
				return fmt.Errorf("%s: server %s exited; last lines of %s:\n%s",
					what, name, c.LogFile(name), tail(c.LogFile(name), 30))
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%s: %v (last check: %v)", what, ctx.Err(), last)
			for _, name := range watch {
				msg += fmt.Sprintf("\n--- last lines of %s:\n%s", c.LogFile(name), tail(c.LogFile(name), 15))
			}
			return errors.New(msg)
		case <-time.After(every):
		}
	}
}

// WaitZooKeeper waits until every server serves and, for an ensemble,
// exactly one is leader and the others followers (asked with srvr).
func (c *Cluster) WaitZooKeeper(ctx context.Context) error {
	var names []string
	for _, z := range c.Spec.ZooKeeper {
		names = append(names, z.Name())
	}
	err := c.poll(ctx, "ZooKeeper quorum", names, 200*time.Millisecond, func(ctx context.Context) error {
		modes, err := c.ZooKeeperModes(ctx)
		if err != nil {
			return err
		}
		return checkModes(modes)
	})
	if err == nil {
		c.progress("ZooKeeper ensemble ready: %s", c.Spec.ZooKeeperConnect())
	}
	return err
}

// ZooKeeperModes asks every server for its mode, keyed by server name.
func (c *Cluster) ZooKeeperModes(ctx context.Context) (map[string]string, error) {
	modes := map[string]string{}
	for _, z := range c.Spec.ZooKeeper {
		mode, err := ZooKeeperMode(ctx, z.Address())
		if err != nil {
			return modes, fmt.Errorf("%s: %w", z.Name(), err)
		}
		modes[z.Name()] = mode
	}
	return modes, nil
}

func checkModes(modes map[string]string) error {
	if len(modes) == 1 {
		for name, m := range modes {
			if m != "standalone" {
				return fmt.Errorf("%s is %s, want standalone", name, m)
			}
		}
		return nil
	}
	leaders := 0
	for name, m := range modes {
		switch m {
		case "leader":
			leaders++
		case "follower":
		default:
			return fmt.Errorf("%s is %s", name, m)
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d leaders, want exactly 1", leaders)
	}
	return nil
}

// WaitCassandra waits until every node answers CQL and nodetool status on
// every node shows all nodes up and normal.
func (c *Cluster) WaitCassandra(ctx context.Context) error {
	names := make([]string, 0, len(c.Spec.Cassandra))
	for _, n := range c.Spec.Cassandra {
		names = append(names, n.Name)
	}
	err := c.poll(ctx, "Cassandra CQL", names, 500*time.Millisecond, func(ctx context.Context) error {
		for _, n := range c.Spec.Cassandra {
			if err := c.CQLReady(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = c.poll(ctx, "Cassandra ring", names, time.Second, func(ctx context.Context) error {
		return c.checkRing(ctx)
	})
	if err == nil {
		c.progress("Cassandra cluster ready: %s (datacenters %s)", c.Spec.CassandraContactPoints(), strings.Join(c.Spec.Datacenters(), ", "))
	}
	return err
}

// checkRing asks each node, with nodetool status, whether it sees every
// node up and normal.
func (c *Cluster) checkRing(ctx context.Context) error {
	want := strings.Split(c.Spec.CassandraContactPoints(), ",")
	slices.Sort(want)
	for _, n := range c.Spec.Cassandra {
		out, err := c.NodeTool(ctx, n, "status")
		if err != nil {
			return err
		}
		up := UpNormal(out)
		slices.Sort(up)
		if !slices.Equal(up, want) {
			return fmt.Errorf("%s sees %v up and normal, want %v", n.Name, up, want)
		}
	}
	return nil
}

// ServerStatus is one line of Status.
type ServerStatus struct {
	Name    string
	Kind    string // "zookeeper" or "cassandra"
	Address string
	PID     int
	// Health is the mode for ZooKeeper ("leader"), "cql ok" for Cassandra,
	// or what is wrong.
	Health string
	// Healthy is true when the server runs and serves.
	Healthy bool
}

// Status reports each server of the spec.
func (c *Cluster) Status(ctx context.Context) []ServerStatus {
	var out []ServerStatus
	for _, z := range c.Spec.ZooKeeper {
		st := ServerStatus{Name: z.Name(), Kind: "zookeeper", Address: z.Address(), PID: c.serverPID(z.Name())}
		if st.PID == 0 {
			st.Health = "not running"
		} else if mode, err := ZooKeeperMode(ctx, z.Address()); err != nil {
			st.Health = err.Error()
		} else {
			st.Health, st.Healthy = "mode "+mode, true
		}
		out = append(out, st)
	}
	for _, n := range c.Spec.Cassandra {
		st := ServerStatus{Name: n.Name, Kind: "cassandra", Address: n.CQLAddress(), PID: c.serverPID(n.Name)}
		if st.PID == 0 {
			st.Health = "not running"
		} else if err := c.CQLReady(ctx, n); err != nil {
			st.Health = err.Error()
		} else {
			st.Health, st.Healthy = fmt.Sprintf("cql ok, %s/%s, jmx 127.0.0.1:%d", n.Datacenter, n.Rack, n.JMXPort), true
		}
		out = append(out, st)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
