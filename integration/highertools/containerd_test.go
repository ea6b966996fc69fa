package highertools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// containerdEnv is a containerd daemon of the test's own: its root, state
// directory, sockets and config under dir, and one namespace of its own.
type containerdEnv struct {
	dir    string
	sock   string
	ns     string
	cg     *cgroupParent
	daemon *exec.Cmd
	exited chan error
}

// containerdConfig keeps the daemon to what ctr needs: no CRI plugin, no
// debug or metrics listener, and everything it writes under the test's
// directory.
const containerdConfig = `version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""
`

func newContainerdEnv(ctx context.Context, dir string, cg *cgroupParent, archive string) (*containerdEnv, error) {
	c := &containerdEnv{dir: dir, sock: filepath.Join(dir, "containerd.sock"), ns: "hull-highertools-" + randomID(8), cg: cg}
	conf := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc")
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The daemon outlives any one command's context; Close stops it.
	c.daemon = exec.Command("containerd", "--config", conf)
	c.daemon.Stdout, c.daemon.Stderr = logf, logf
	if err := c.daemon.Start(); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.daemon.Wait() }()
	if err := eventually(ctx, 30*time.Second, "containerd's socket", func() (bool, error) {
		select {
		case err := <-c.exited:
			c.exited <- err
			return false, fmt.Errorf("containerd exited: %v (log in %s)", err, logf.Name())
		default:
		}
		_, err := os.Stat(c.sock)
		return err == nil, nil
	}); err != nil {
		c.Close(ctx)
		return nil, err
	}
	if _, err := c.ctr(ctx, command{timeout: 2 * time.Minute}, "image", "import", archive); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

func (c *containerdEnv) ctr(ctx context.Context, cmd command, a ...string) (result, error) {
	return cmd.ok(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", c.ns}, a...)...)
}

// Close stops the daemon and removes what the runc shim keeps outside
// the daemon's own directories: its state root for the namespace.
func (c *containerdEnv) Close(ctx context.Context) error {
	var errs []error
	if c.daemon != nil && c.daemon.Process != nil {
		_ = c.daemon.Process.Signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = c.daemon.Process.Kill()
			<-c.exited
			errs = append(errs, errors.New("containerd did not stop on SIGINT"))
		}
	}
	if err := os.Remove(filepath.Join("/run/containerd/runc", c.ns)); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// containerd is containerdEnv with the runc shim's BinaryName set.
type containerd struct {
	*containerdEnv
	runtime string
	ids     []string
}

func (c *containerd) runArgs(ctr container, name string, detach bool) ([]string, error) {
	if ctr.pids > 0 {
		return nil, fmt.Errorf("ctr run has no pids limit flag: %w", errUnsupported)
	}
	a := []string{"run", "--runc-binary", c.runtime, "--cgroup", filepath.Join(c.cg.path, name),
		// ctr gives no /sys/fs/cgroup of its own (CRI does): mount it
		// so that the container can read its limits.
		"--mount", "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev"}
	if detach {
		a = append(a, "-d")
	} else {
		a = append(a, "--rm")
	}
	if ctr.tty {
		a = append(a, "-t")
	}
	if ctr.memory > 0 {
		a = append(a, "--memory-limit", strconv.FormatInt(ctr.memory, 10))
	}
	if ctr.hostPID {
		a = append(a, "--with-ns", fmt.Sprintf("pid:/proc/%d/ns/pid", os.Getpid()))
	}
	return append(append(a, imageRef, name), ctr.args...), nil
}

func (c *containerd) ctrArgs(a ...string) []string {
	return append([]string{"--address", c.sock, "--namespace", c.ns}, a...)
}

func (c *containerd) run(ctx context.Context, ctr container) (result, error) {
	name := "ht-" + randomID(12)
	c.ids = append(c.ids, name)
	a, err := c.runArgs(ctr, name, false)
	if err != nil {
		return result{}, err
	}
	if ctr.tty {
		return runOnPTY(ctx, nil, "ctr", c.ctrArgs(a...)...)
	}
	// ctr does not close the container's stdin at EOF (without a tty):
	// flows give it whole lines.
	return command{stdin: ctr.stdin}.run(ctx, "ctr", c.ctrArgs(a...)...)
}

func (c *containerd) start(ctx context.Context, ctr container) (string, error) {
	name := "ht-" + randomID(12)
	c.ids = append(c.ids, name)
	a, err := c.runArgs(ctr, name, true)
	if err != nil {
		return "", err
	}
	_, err = c.ctr(ctx, command{}, a...)
	return name, err
}

func (c *containerd) exec(ctx context.Context, name string, args ...string) (result, error) {
	return command{}.run(ctx, "ctr", c.ctrArgs(append([]string{"task", "exec", "--exec-id", "e" + randomID(8), name}, args...)...)...)
}

func (c *containerd) execTTY(ctx context.Context, name string, args ...string) (result, error) {
	return runOnPTY(ctx, nil, "ctr", c.ctrArgs(append([]string{"task", "exec", "-t", "--exec-id", "e" + randomID(8), name}, args...)...)...)
}

// waitStopped waits until the task has exited.
func (c *containerd) waitStopped(ctx context.Context, name string) error {
	return eventually(ctx, 30*time.Second, name+" to stop", func() (bool, error) {
		s, err := c.status(ctx, name)
		return s == "stopped", err
	})
}

// stop is what ctr offers: task kill (SIGTERM), then task delete, whose
// exit code is the task's.
func (c *containerd) stop(ctx context.Context, name string) (int, error) {
	if _, err := c.ctr(ctx, command{}, "task", "kill", name); err != nil {
		return -1, err
	}
	return c.deleteTask(ctx, name)
}

// deleteTask waits for the task to exit, deletes it and returns its exit
// code, which is ctr's.
func (c *containerd) deleteTask(ctx context.Context, name string) (int, error) {
	if err := c.waitStopped(ctx, name); err != nil {
		return -1, err
	}
	r, err := c.ctr(ctx, command{}, "task", "delete", name)
	if err != nil {
		return -1, err
	}
	// ctr 1.6 exits 0 and only warns of a non-zero exit code.
	if m := exitWarning.FindStringSubmatch(r.stderr); m != nil {
		return atoi(m[1])
	}
	if r.stderr != "" {
		return -1, fmt.Errorf("%s", r)
	}
	return 0, nil
}

var exitWarning = regexp.MustCompile(`exit with non-zero exit code (\d+)`)

// killAll is "ctr task kill --all", which the shim turns into the
// runtime's kill --all; the task's delete reports the exit code.
func (c *containerd) killAll(ctx context.Context, name, sig string) (int, error) {
	if _, err := c.ctr(ctx, command{}, "task", "kill", "--all", "--signal", "SIG"+sig, name); err != nil {
		return -1, err
	}
	return c.deleteTask(ctx, name)
}

// remove deletes the task (if still there) and the container with its
// snapshot.
func (c *containerd) remove(ctx context.Context, name string) error {
	r, err := command{}.run(ctx, "ctr", c.ctrArgs("task", "delete", "--force", name)...)
	if err != nil {
		return err
	}
	if r.code != 0 && !strings.Contains(r.stderr, "not found") {
		return fmt.Errorf("%s", r)
	}
	_, err = c.ctr(ctx, command{}, "container", "delete", name)
	return err
}

func (c *containerd) pause(ctx context.Context, name string) error {
	_, err := c.ctr(ctx, command{}, "task", "pause", name)
	return err
}

func (c *containerd) resume(ctx context.Context, name string) error {
	_, err := c.ctr(ctx, command{}, "task", "resume", name)
	return err
}

// task returns the PID and STATUS columns of "ctr task ls" for name.
func (c *containerd) task(ctx context.Context, name string) (pid int, status string, err error) {
	r, err := c.ctr(ctx, command{}, "task", "ls")
	if err != nil {
		return 0, "", err
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == name {
			pid, err := strconv.Atoi(f[1])
			return pid, strings.ToLower(f[2]), err
		}
	}
	return 0, "", fmt.Errorf("no task %s in ctr task ls:\n%s", name, r.stdout)
}

func (c *containerd) status(ctx context.Context, name string) (string, error) {
	_, s, err := c.task(ctx, name)
	return s, err
}

func (c *containerd) pid(ctx context.Context, name string) (int, error) {
	p, _, err := c.task(ctx, name)
	return p, err
}

func (c *containerd) update(ctx context.Context, name string, memory int64) error {
	return fmt.Errorf("ctr 1.6 has no update verb (CRI's UpdateContainerResources is the caller): %w", errUnsupported)
}

func (c *containerd) runtimeID(ctx context.Context, name string) (string, error) { return name, nil }

// runtimeRoot is the runc shim's --root: /run/containerd/runc/<namespace>.
func (c *containerd) runtimeRoot() string  { return filepath.Join("/run/containerd/runc", c.ns) }
func (c *containerd) runtimePath() string  { return c.runtime }
func (c *containerd) ownCgroups() []string { return nil }

func (c *containerd) takeIDs() []string {
	ids := c.ids
	c.ids = nil
	return ids
}

func (c *containerd) list(ctx context.Context) ([]string, error) {
	r, err := c.ctr(ctx, command{}, "container", "list", "-q")
	return strings.Fields(r.stdout), err
}

func (c *containerd) cleanup(ctx context.Context) error {
	names, err := c.list(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		_, _ = command{}.run(ctx, "ctr", c.ctrArgs("task", "kill", "--all", "--signal", "SIGKILL", n)...)
		_ = c.waitStopped(ctx, n)
		if err := c.remove(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
