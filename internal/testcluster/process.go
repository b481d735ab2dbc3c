package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// markerProperty is a JVM system property every server of a cluster carries,
// valued with the cluster folder: it tells our processes from any other JVM
// on the machine, and one cluster folder's from another's.
const markerProperty = "-Dringmaster.devcluster="

// serverProperty names the server within its cluster.
const serverProperty = "-Dringmaster.devcluster.server="

func (c *Cluster) marker() string { return markerProperty + c.Dir }

// serverDir is the folder of one server: conf, data, logs and its pid file.
func (c *Cluster) serverDir(name string) string { return filepath.Join(c.Dir, "run", name) }

func (c *Cluster) pidFile(name string) string { return filepath.Join(c.serverDir(name), "pid") }

// LogFile is where a server's console output goes.
func (c *Cluster) LogFile(name string) string {
	return filepath.Join(c.serverDir(name), "logs", "console.log")
}

// startJVM starts java with args in its own session, output appended to the
// server's log file, and records its pid. The process is not waited for
// here: it outlives this one unless reaped by reap.
func (c *Cluster) startJVM(name string, args []string) (*os.Process, error) {
	logPath := c.LogFile(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log folder of %s: %w", name, err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== %s starting %s ====\n", time.Now().Format(time.RFC3339), name)
	full := append([]string{c.marker(), serverProperty + name}, args...)
	cmd := exec.Command(c.java(), full...)
	cmd.Dir = c.serverDir(name)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.WriteFile(c.pidFile(name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("record pid of %s: %w", name, err)
	}
	// Reap the child when it exits so that a killed server does not linger
	// as a zombie of a long-running caller (a test that restarts a server).
	go func() { _ = cmd.Wait() }()
	return cmd.Process, nil
}

func (c *Cluster) java() string {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); fileExists(p) {
			return p
		}
	}
	return "java"
}

// serverPID returns the pid of a running server, or 0 when it does not run.
// A pid file whose process is gone, is a zombie, or is not this server's JVM
// counts as not running.
func (c *Cluster) serverPID(name string) int {
	raw, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0
	}
	if !c.isOurServer(pid, name) {
		return 0
	}
	return pid
}

// isOurServer tells whether pid is a live (not zombie) process of this
// cluster's server name.
func (c *Cluster) isOurServer(pid int, name string) bool {
	args, ok := processArgs(pid)
	if !ok {
		return false
	}
	return hasArg(args, c.marker()) && hasArg(args, serverProperty+name)
}

// processArgs reads a live process's command line; ok is false for a
// process that is gone or a zombie.
func processArgs(pid int) ([]string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return nil, false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return nil, false
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), true
}

func hasArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// strayProcesses lists pids of live processes that carry this cluster's
// marker, whatever their pid files say.
func (c *Cluster) strayProcesses() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if args, ok := processArgs(pid); ok && hasArg(args, c.marker()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signal sends sig to pid; a process already gone is not an error.
func signal(pid int, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// alive tells whether pid is a live, non-zombie process.
func alive(pid int) bool {
	_, ok := processArgs(pid)
	return ok
}

// terminate stops pid: SIGTERM, then SIGKILL if it is still alive after
// grace. It returns once the process is gone.
func terminate(pid int, grace time.Duration) error {
	if err := signal(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !alive(pid) {
		return nil
	}
	if err := signal(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		return fmt.Errorf("process %d survived SIGKILL", pid)
	}
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(raw), n)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
