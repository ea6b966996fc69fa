package hull_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
)

// cli runs the hull binary against one test's directories: its own data,
// runtime state and network directories, so nothing it does is shared with
// other tests or the machine's own containers.
type cli struct {
	t                           *testing.T
	bin, data, run, netRun, net string
	image                       string
	volImage                    string // image, with VOLUME /www
	// wrap runs hull under another command (nsenter into a network
	// namespace).
	wrap []string
}

func (c *cli) cmd(args ...string) *exec.Cmd {
	full := append([]string{"--root", c.run, "container", "--data", c.data,
		"--network-run-dir", c.netRun, "--network-state-dir", c.net}, args...)
	if len(c.wrap) > 0 {
		return exec.Command(c.wrap[0], append(append(c.wrap[1:], c.bin), full...)...)
	}
	return exec.Command(c.bin, full...)
}

// ok runs hull and returns its stdout, failing the test on an error.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("hull container %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs hull; the error carries its exit status and stderr.
func (c *cli) try(args ...string) (string, error) {
	cmd := c.cmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), &cliError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type cliError struct {
	err    error
	stderr string
}

func (e *cliError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

func (e *cliError) code() int {
	var ee *exec.ExitError
	if errors.As(e.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (c *cli) inspect(ref string) *hull.Container {
	c.t.Helper()
	var out []*hull.Container
	if err := json.Unmarshal([]byte(c.ok("inspect", ref)), &out); err != nil || len(out) != 1 {
		c.t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

// newCLI pushes a busybox image to a loopback registry and returns a cli
// whose directories are the test's.
func newCLI(t *testing.T) *cli {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	reg := registrytest.Start(t)
	// Two layers: busybox, then the applets the tests call by name.
	var applets []registrytest.Entry
	for _, a := range []string{"cat", "sleep", "touch", "echo", "hostname", "id", "rm", "httpd"} {
		applets = append(applets, registrytest.Symlink("bin/"+a, "busybox"))
	}
	applets = append(applets, registrytest.Dir("www/", 0o755), registrytest.File("www/index.html", 0o644, "hello from hull\n"))
	base := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.Busybox(t)...))
	top := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, applets...))
	img := registrytest.Image(t, true, pull.HostPlatform(), v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/bin", "FROM_IMAGE=yes"},
	}, base, top)
	reg.Push(t, "test/busybox:1", img)
	reg.Push(t, "test/busybox:vol", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{
		Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, Volumes: map[string]struct{}{"/www": {}},
	}, base, top))
	dir := t.TempDir()
	c := &cli{
		t: t, bin: testvm.Hull(t), image: reg.Addr + "/test/busybox:1", volImage: reg.Addr + "/test/busybox:vol",
		data: filepath.Join(dir, "data"), run: filepath.Join(dir, "run"),
		netRun: filepath.Join(dir, "netns"), net: filepath.Join(dir, "network"),
	}
	t.Cleanup(func() { _ = syscall.Unmount(c.netRun, syscall.MNT_DETACH) })
	t.Cleanup(func() {
		// Whatever a failed test left running goes.
		out, _ := c.try("ps", "-aq")
		for _, id := range strings.Fields(out) {
			_, _ = c.try("rm", "-f", id)
		}
	})
	return c
}

// leftovers lists what a removed container id could have left behind:
// mounts under the test's directories, its cgroups, its network namespace,
// and processes (its monitor, its init and their children).
func (c *cli) leftovers(ids ...string) []string {
	var left []string
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		// The netns package makes its run directory a shared mount
		// point of its own, as "ip netns" does with /run/netns: that
		// one stays.
		if f := strings.Fields(l); len(f) > 4 && f[4] == c.netRun {
			continue
		}
		if strings.Contains(l, c.data) || strings.Contains(l, c.netRun) {
			left = append(left, "mount: "+l)
		}
	}
	for _, id := range ids {
		cg, _ := filepath.Glob("/sys/fs/cgroup/*/hull-" + id)
		for _, p := range cg {
			left = append(left, "cgroup: "+p)
		}
		if m, _ := filepath.Glob(filepath.Join(c.netRun, "*"+id+"*")); len(m) > 0 {
			left = append(left, "netns: "+strings.Join(m, " "))
		}
		if _, err := os.Stat(filepath.Join(c.data, "containers", id)); err == nil {
			left = append(left, "directory of "+id)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		env, _ := os.ReadFile(p + "/environ")
		cg, _ := os.ReadFile(p + "/cgroup")
		if bytes.Contains(env, []byte(c.data)) {
			left = append(left, "monitor process "+p)
		}
		for _, id := range ids {
			if bytes.Contains(cg, []byte("hull-"+id)) {
				left = append(left, "container process "+p)
			}
		}
	}
	return left
}

func (c *cli) assertClean(ids ...string) {
	c.t.Helper()
	// The monitor of a --rm container may still be removing it when the
	// foreground run returns: give it a moment, without timing anything.
	var left []string
	for range 100 {
		if left = c.leftovers(ids...); len(left) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
}

func TestContainerCLI(t *testing.T) {
	c := newCLI(t)

	t.Run("DetachedExecStopRm", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--name", "web", "--network", "none", "-e", "GREETING=hello",
			c.image, "sh", "-c", "echo $GREETING from $FROM_IMAGE; while true; do sleep 1; done"))
		if len(id) != 64 {
			t.Fatalf("run -d printed %q, want a 64-digit ID", id)
		}
		ps := c.ok("ps")
		if !strings.Contains(ps, id[:12]) || !strings.Contains(ps, "web") || !strings.Contains(ps, "Up ") {
			t.Errorf("ps does not show web running:\n%s", ps)
		}
		if got := strings.TrimSpace(c.ok("exec", "web", "hostname")); got != id[:12] {
			t.Errorf("hostname in the container = %q, want %q", got, id[:12])
		}
		// exec by ID prefix, as another user and in another directory.
		if got := strings.TrimSpace(c.ok("exec", "-u", "www", "-w", "/var/www", id[:8], "sh", "-c", "id -u; pwd")); got != "33\n/var/www" {
			t.Errorf("exec -u www -w /var/www: %q", got)
		}
		// Its PID namespace is its own: the shell is PID 1.
		if got := strings.TrimSpace(c.ok("exec", "web", "cat", "/proc/1/cmdline")); !strings.HasPrefix(got, "sh") {
			t.Errorf("/proc/1/cmdline in the container = %q", got)
		}
		if _, err := c.try("exec", "web", "sh", "-c", "exit 7"); err == nil || err.(*cliError).code() != 7 {
			t.Errorf("exec exit 7: %v", err)
		}
		if logs := c.ok("logs", "web"); !strings.Contains(logs, "hello from yes") {
			t.Errorf("logs = %q", logs)
		}
		if top := c.ok("top", "web"); !strings.Contains(top, "sh -c echo $GREETING") {
			t.Errorf("top:\n%s", top)
		}
		if stats := c.ok("stats", "--no-stream", "web"); !strings.Contains(stats, "web") || !strings.Contains(stats, "%") {
			t.Errorf("stats --no-stream:\n%s", stats)
		}
		// stats streams until interrupted: one JSON object a sample.
		stats := c.cmd("stats", "--format", "json", "--interval", "100ms", "web")
		pipe, _ := stats.StdoutPipe()
		if err := stats.Start(); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(pipe)
		for i := range 3 {
			var row struct {
				Name       string
				CPUPercent float64
				Stats      struct{ Pids struct{ Current int } }
			}
			if err := dec.Decode(&row); err != nil || row.Name != "web" || row.Stats.Pids.Current < 1 || (i > 0) != (row.CPUPercent >= 0) {
				t.Errorf("stats sample %d: %+v, %v", i, row, err)
			}
		}
		stats.Process.Signal(os.Interrupt)
		if err := stats.Wait(); err != nil {
			t.Errorf("stats after ^C: %v", err)
		}
		unit := c.ok("generate", "systemd", "web")
		ins := c.inspect("web")
		pidFile := filepath.Join(ins.Dir, hull.MonitorPIDFile)
		if !strings.Contains(unit, "ExecStart="+c.bin+" --root ") || !strings.Contains(unit, "PIDFile="+pidFile) {
			t.Errorf("generate systemd:\n%s", unit)
		}
		if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(ins.State.MonitorPid) {
			t.Errorf("%s = %q (%v), want the monitor's PID %d", pidFile, b, err, ins.State.MonitorPid)
		}
		// --network container:web joins web's network namespace.
		ns := c.ok("exec", "web", "busybox", "readlink", "/proc/self/ns/net")
		if got := c.ok("run", "--rm", "--network", "container:web", c.image, "busybox", "readlink", "/proc/self/ns/net"); got != ns || !strings.HasPrefix(ns, "net:[") {
			t.Errorf("--network container:web: namespace %q, web's %q", got, ns)
		}
		if _, err := c.try("rm", "web"); err == nil {
			t.Errorf("rm of a running container succeeded")
		}
		// sh as PID 1 ignores SIGTERM: stop must fall back to SIGKILL.
		c.ok("stop", "-t", "1", "web")
		if st := c.inspect("web").State; st.Status != hull.ContainerExited || st.ExitCode != 137 {
			t.Errorf("after stop: %+v, want exited 137", st)
		}
		if ps := c.ok("ps"); strings.Contains(ps, "web") {
			t.Errorf("ps lists a stopped container:\n%s", ps)
		}
		if ps := c.ok("ps", "-a"); !strings.Contains(ps, "Exited (137)") {
			t.Errorf("ps -a:\n%s", ps)
		}
		c.ok("rm", "web")
		if _, err := c.try("inspect", "web"); err == nil {
			t.Errorf("inspect after rm succeeded")
		}
		c.assertClean(id)
	})

	t.Run("RmRemovesItself", func(t *testing.T) {
		c.t = t
		out, err := c.try("run", "--rm", "--network", "none", c.image, "sh", "-c", "echo bye; exit 3")
		if err == nil || err.(*cliError).code() != 3 {
			t.Fatalf("run --rm ... exit 3: %v", err)
		}
		if out != "bye\n" {
			t.Errorf("foreground output %q, want %q", out, "bye\n")
		}
		if ps := strings.TrimSpace(c.ok("ps", "-aq")); ps != "" {
			t.Errorf("ps -a after --rm: %q", ps)
		}
		ents, _ := os.ReadDir(filepath.Join(c.data, "containers"))
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("container directory %s left", e.Name())
			}
		}
		c.assertClean()
	})

	t.Run("Volume", func(t *testing.T) { cliVolume(t, c) })

	t.Run("LogsFollow", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", c.image,
			"sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three"))
		// Started while the container runs, logs -f ends when it exits,
		// with everything it wrote.
		if got := c.ok("logs", "-f", id); got != "one\ntwo\nthree\n" {
			t.Errorf("logs -f = %q", got)
		}
		if code := strings.TrimSpace(c.ok("wait", id)); code != "0" {
			t.Errorf("wait = %q", code)
		}
		for n, want := range map[string]string{"1": "three\n", "2": "two\nthree\n", "5": "one\ntwo\nthree\n"} {
			if got := c.ok("logs", "-n", n, id); got != want {
				t.Errorf("logs -n %s = %q, want %q", n, got, want)
			}
		}
		c.ok("rm", id)
		c.assertClean(id)
	})

	t.Run("LogsRotation", func(t *testing.T) { cliLogsRotation(t, c) })

	t.Run("StopStartKeepsChanges", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--name", "keep", "--network", "none", c.image,
			"sh", "-c", "echo run >> /runs; while true; do sleep 1; done"))
		c.ok("exec", "keep", "sh", "-c", "echo changed > /etc/motd; rm /bin/id")
		c.ok("stop", "-t", "0", "keep")
		if st := c.inspect("keep").State; st.Status != hull.ContainerExited {
			t.Fatalf("after stop: %+v", st)
		}
		c.assertCleanMounts()
		c.ok("start", "keep")
		got := c.ok("exec", "keep", "sh", "-c", "cat /etc/motd /runs; test -e /bin/id || echo no id")
		if got != "changed\nrun\nrun\nno id\n" {
			t.Errorf("after stop and start: %q", got)
		}
		// cp both ways, through the running container's root.
		in := t.TempDir()
		os.MkdirAll(filepath.Join(in, "sub"), 0o755)
		os.WriteFile(filepath.Join(in, "sub", "b.txt"), []byte("bee\n"), 0o600)
		c.ok("cp", in, "keep:/imported")
		if got := c.ok("exec", "keep", "cat", "/imported/sub/b.txt"); got != "bee\n" {
			t.Errorf("cp into the container: %q", got)
		}
		outDir := t.TempDir()
		c.ok("cp", "keep:/etc/motd", outDir)
		if b, err := os.ReadFile(filepath.Join(outDir, "motd")); err != nil || string(b) != "changed\n" {
			t.Errorf("cp out of the container: %q, %v", b, err)
		}
		// A symlink planted in the container does not lead cp to the host.
		c.ok("exec", "keep", "busybox", "ln", "-s", "/etc", "/esc")
		_, _ = c.try("cp", "keep:/esc/passwd", filepath.Join(outDir, "passwd"))
		host, _ := os.ReadFile("/etc/passwd")
		if b, err := os.ReadFile(filepath.Join(outDir, "passwd")); err == nil && bytes.Equal(b, host) {
			t.Errorf("cp followed a container's symlink to the host's /etc/passwd")
		}
		// commit: the writes become a layer of a new image that runs.
		if dg := strings.TrimSpace(c.ok("commit", "-m", "with motd", "keep", "local/kept:v1")); !strings.HasPrefix(dg, "sha256:") {
			t.Errorf("commit printed %q", dg)
		}
		if got := c.ok("run", "--rm", "--network", "none", "local/kept:v1", "sh", "-c", "cat /etc/motd /imported/sub/b.txt; test -e /bin/id || echo no id"); got != "changed\nbee\nno id\n" {
			t.Errorf("a container of the committed image sees %q", got)
		}
		c.ok("restart", "-t", "0", "keep")
		if got := c.ok("exec", "keep", "cat", "/runs"); got != "run\nrun\nrun\n" {
			t.Errorf("after restart: /runs = %q", got)
		}
		c.ok("kill", "-s", "KILL", "keep")
		if code := strings.TrimSpace(c.ok("wait", "keep")); code != "137" {
			t.Errorf("wait after kill = %s, want 137", code)
		}
		c.ok("rm", "keep")
		c.assertClean(id)
	})

	t.Run("MonitorKilled", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--name", "orphan", "--network", "none", c.image,
			"sh", "-c", "while true; do sleep 1; done"))
		// A new hull process sees what the monitor recorded.
		ins := c.inspect("orphan")
		if ins.State.Status != hull.ContainerRunning || ins.State.MonitorPid == 0 || ins.State.Pid == 0 {
			t.Fatalf("inspect: %+v", ins.State)
		}
		if err := syscall.Kill(ins.State.MonitorPid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var st hull.ContainerState
		for range 100 {
			if st = c.inspect("orphan").State; st.Status == hull.ContainerDead {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st.Status != hull.ContainerDead || !strings.Contains(st.Error, strconv.Itoa(ins.State.MonitorPid)) {
			t.Errorf("after kill -9 of the monitor: %+v", st)
		}
		if ps := c.ok("ps"); !strings.Contains(ps, "Dead") {
			t.Errorf("ps:\n%s", ps)
		}
		// prune cleans up after the dead monitor.
		if got := strings.TrimSpace(c.ok("prune")); got != id {
			t.Errorf("prune removed %q, want %s", got, id)
		}
		if alive(ins.State.Pid) {
			t.Errorf("the container's init %d survived rm -f", ins.State.Pid)
		}
		c.assertClean(id)
	})

	t.Run("Rebooted", func(t *testing.T) { cliRebooted(t, c) })

	t.Run("Init", func(t *testing.T) { cliInit(t, c) })

	t.Run("Seccomp", func(t *testing.T) { cliSeccomp(t, c) })

	t.Run("UserNS", func(t *testing.T) { cliUserNS(t, c) })

	t.Run("ImageRmInUse", func(t *testing.T) { cliImageRmInUse(t, c) })

	t.Run("Options", func(t *testing.T) {
		c.t = t
		envFile := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(envFile, []byte("A=1\n# a comment\nB=two\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--read-only", "--tmpfs", "/scratch:size=1m",
			"--cap-drop", "ALL", "--cap-add", "chown", "--cap-add", "CAP_KILL", "--cpus", "0.5", "-l", "team=kernel",
			"--env-file", envFile, "-e", "B=three", "--security-opt", "no-new-privileges", "-h", "box", c.image, "sh", "-c",
			"touch /x 2>/dev/null && echo rw || echo ro; touch /scratch/y && echo tmpfs; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; "+
				"cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max; echo $A $B; hostname"))
		if code := strings.TrimSpace(c.ok("wait", id)); code != "0" {
			t.Errorf("exit code %s", code)
		}
		// CAP_CHOWN is bit 0, CAP_KILL bit 5.
		want := "ro\ntmpfs\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\n50000\n1 three\nbox\n"
		if got := c.ok("logs", id); got != want && got != strings.Replace(want, "50000\n", "50000 100000\n", 1) {
			t.Errorf("inside the container:\n%s\nwant:\n%s", got, want)
		}
		b, err := os.ReadFile(filepath.Join(c.data, "containers", id, "bundle", "config.json"))
		if err != nil || !strings.Contains(string(b), `"team": "kernel"`) {
			t.Errorf("label team=kernel is not an annotation of config.json (%v)", err)
		}
		c.ok("rm", id)
		c.assertClean(id)
	})

	t.Run("Terminal", func(t *testing.T) {
		c.t = t
		out := c.ok("run", "--rm", "--network", "none", "-t", c.image, "sh", "-c", "test -t 0 && test -t 1 && echo on a terminal; tty")
		// The pty's line discipline turns \n into \r\n.
		if !strings.Contains(out, "on a terminal\r\n/dev/pts/0\r\n") {
			t.Errorf("run -t printed %q", out)
		}
		// -it: what we type reaches the shell through the monitor.
		cmd := c.cmd("run", "--rm", "--network", "none", "-it", c.image, "sh")
		cmd.Stdin = strings.NewReader("echo $((6*7))\nexit 5\n")
		b, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 5 {
			t.Errorf("run -it ... exit 5: %v", err)
		}
		if !strings.Contains(string(b), "\r\n42\r\n") {
			t.Errorf("run -it printed %q, want 42 on a line", b)
		}
		// -dt: nobody attached, the output still goes to the log.
		id := strings.TrimSpace(c.ok("run", "-dt", "--network", "none", c.image, "sh", "-c", "echo ready; exec sleep 1000"))
		var logs string
		for range 100 {
			if logs = c.ok("logs", id); strings.Contains(logs, "ready") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if logs != "ready\r\n" {
			t.Errorf("logs of a -dt container = %q", logs)
		}
		c.ok("rm", "-f", id)
		c.assertClean(id)
	})

	t.Run("TerminalResize", func(t *testing.T) { cliTerminalResize(t, c) })

	t.Run("RestartPolicy", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--restart", "on-failure:2", c.image, "sh", "-c", "echo try; exit 1"))
		var st hull.ContainerState
		for range 200 { // the back-off is 100 ms, then 200 ms
			if st = c.inspect(id).State; st.Status == hull.ContainerExited && st.MonitorPid == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st.Status != hull.ContainerExited || st.RestartCount != 2 || st.ExitCode != 1 {
			t.Errorf("after on-failure:2: %+v, want exited 1 after 2 restarts", st)
		}
		if logs := c.ok("logs", id); logs != "try\ntry\ntry\n" {
			t.Errorf("logs = %q, want three tries", logs)
		}
		c.ok("rm", id)
		// always, until stopped.
		id2 := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--restart", "always", c.image, "sh", "-c", "echo up; sleep 1"))
		for range 200 {
			if c.inspect(id2).State.RestartCount >= 1 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.ok("stop", "-t", "0", id2)
		if st := c.inspect(id2).State; st.Status != hull.ContainerExited || st.MonitorPid != 0 || st.RestartCount < 1 {
			t.Errorf("after stop of an always container: %+v", st)
		}
		c.ok("rm", id2)
		c.assertClean(id, id2)
	})

	t.Run("HealthCheck", func(t *testing.T) {
		c.t = t
		id := strings.TrimSpace(c.ok("run", "-d", "--name", "doc", "--network", "none",
			"--health-cmd", "test -e /healthy", "--health-interval", "200ms", "--health-retries", "2",
			c.image, "sh", "-c", "touch /healthy; while true; do sleep 1; done"))
		health := func(want string) {
			t.Helper()
			var h *hull.Health
			for range 200 {
				if h = c.inspect(id).State.Health; h != nil && h.Status == want {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("health never became %s: %+v", want, h)
		}
		health(hull.HealthHealthy)
		if ps := c.ok("ps"); !strings.Contains(ps, "(healthy)") {
			t.Errorf("ps:\n%s", ps)
		}
		if got := c.ok("healthcheck", "run", "doc"); got != "healthy\n" {
			t.Errorf("healthcheck run = %q", got)
		}
		c.ok("exec", "doc", "rm", "/healthy")
		health(hull.HealthUnhealthy)
		if _, err := c.try("healthcheck", "run", "doc"); err == nil || err.(*cliError).code() != 1 {
			t.Errorf("healthcheck run of an unhealthy container: %v", err)
		}
		c.ok("rm", "-f", "doc")
		c.assertClean(id)
	})

	t.Run("Explain", func(t *testing.T) {
		c.t = t
		out := c.ok("run", "--explain", "--network", "none", "--memory", "32m", c.image, "sh")
		for _, want := range []string{"mount -t overlay", "lowerdir=", "RTM_NEWLINK lo", "pivot_root", "33554432", `execve("sh"`} {
			if !strings.Contains(out, want) {
				t.Errorf("run --explain does not mention %q", want)
			}
		}
		if ps := strings.TrimSpace(c.ok("ps", "-aq")); ps != "" {
			t.Errorf("run --explain left a container: %q", ps)
		}
		c.assertClean()
	})

	t.Run("BadInput", func(t *testing.T) {
		c.t = t
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "-d", "--network", "none", "-v", "./relative:/x", c.image}, "absolute path or a volume name"},
			{[]string{"run", "-d", "--network", "none", "-p", "80:80", c.image}, "publishing needs network bridge"},
			{[]string{"run", "-d", "--network", "mars", c.image}, "mars"},
			{[]string{"run", "-d", "--network", "container:nobody", c.image}, "nobody"},
			{[]string{"run", "-d", "--network", "none", "--name", "bad/name", c.image}, "only [a-zA-Z0-9]"},
			{[]string{"run", "-d", "--network", "none", "-u", "nosuchuser", c.image}, "nosuchuser"},
			{[]string{"run", "-d", "--network", "none", "--cap-add", "CAP_FLY", c.image}, "capAdd[0]"},
			{[]string{"run", "-d", "--network", "none", "--restart", "sometimes", c.image}, "restart"},
			{[]string{"run", "-d", "--network", "none", c.image, "/no/such/program"}, "/no/such/program"},
			{[]string{"run", "-d", "--network", "none", strings.TrimSuffix(c.image, ":1") + ":missing"}, "missing"},
		} {
			_, err := c.try(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("hull container %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
			}
		}
		if ps := strings.TrimSpace(c.ok("ps", "-aq")); ps != "" {
			t.Errorf("failed runs left containers:\n%s\n%s", c.ok("ps", "-a"), c.ok("inspect", strings.Fields(ps)[0]))
		}
		c.assertClean()
	})
}

// assertCleanMounts checks that a stopped container's rootfs is unmounted.
func (c *cli) assertCleanMounts() {
	c.t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mi, []byte(c.data)) {
		c.t.Errorf("a stopped container's rootfs is still mounted")
	}
}

// alive reports whether pid runs: a zombie waiting for the process it was
// reparented to (init) to reap it does not.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestEngine drives the Go API in-process, this test binary serving as
// the monitor (TestMain), with resource limits checked from inside.
func TestEngine(t *testing.T) { testEngine(t, "none") }

// TestEngineCgroupV2 is TestEngine on a cgroup v2 host (the test VM), in
// the host's network namespace.
func TestEngineCgroupV2(t *testing.T) {
	testvm.Require(t, testvm.CgroupV2)
	testEngine(t, "host")
}

func testEngine(t *testing.T, network string) {
	c := newCLI(t)
	ctx := t.Context()
	e, err := hull.NewEngine(hull.WithDataDir(c.data), hull.WithRunDir(c.run), hull.WithNetworkDirs(c.netRun, c.net))
	if err != nil {
		t.Fatal(err)
	}
	// mkdir fails with EXDEV, which it never returns by itself.
	profile, err := hull.ParseSeccompProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := e.Run(ctx, hull.ContainerConfig{
		Image: c.image, Network: network, PidsLimit: 42, Memory: 64 << 20, Init: true, Seccomp: profile,
		Cmd: []string{"sh", "-c", "echo started; while true; do sleep 1; done"},
	}, hull.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ctr.State.Status != hull.ContainerRunning || ctr.Name == "" {
		t.Errorf("Run returned %+v, %q", ctr.State, ctr.Name)
	}
	// The limits are the kernel's: read from the container's own cgroup
	// (its cgroup namespace makes it the root).
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	code, err := e.Exec(ctx, ctr.Name, hull.ExecConfig{
		Cmd:    []string{"sh", "-c", "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max"},
		Stdout: out,
	}, nil)
	if err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	code, err = e.Exec(ctx, ctr.Name, hull.ExecConfig{
		Cmd:    []string{"sh", "-c", "cat /proc/1/cmdline; echo; mkdir /x"},
		Stdout: out, Stderr: out,
	}, nil)
	if err != nil || code != 1 {
		t.Errorf("exec mkdir under the profile: %d, %v", code, err)
	}
	if b, _ := os.ReadFile(out.Name()); !strings.HasPrefix(string(b), "42\n67108864\n") ||
		!strings.Contains(string(b), "hull-init") || !strings.Contains(string(b), "Invalid cross-device link") {
		t.Errorf("limits seen in the container: %q, want 42 and 67108864", b)
	}
	list, err := e.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != ctr.ID {
		t.Errorf("List = %v, %v", list, err)
	}
	// Run returns once the reaper runs; sh, its child, may not have
	// written its line yet (seen in CI: stopped before the echo, it left
	// an empty log). Stop once it has.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var logs bytes.Buffer
		if err := e.Logs(ctx, ctr.ID, &logs, hull.LogsOptions{}); err == nil && logs.String() == "started\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sh wrote no line to the log in 30 s")
		}
	}
	// The reaper passes SIGTERM on to sh, which is not PID 1 and dies.
	if err := e.Stop(ctx, ctr.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, err := e.Wait(ctx, ctr.ID); err != nil || code != 143 {
		t.Errorf("Wait after Stop = %d, %v; want 143", code, err)
	}
	var logs bytes.Buffer
	if err := e.Logs(ctx, ctr.ID, &logs, hull.LogsOptions{}); err != nil || logs.String() != "started\n" {
		t.Errorf("Logs = %q, %v", logs.String(), err)
	}
	logs.Reset()
	if err := e.Logs(ctx, ctr.ID, &logs, hull.LogsOptions{Timestamps: true}); err != nil {
		t.Errorf("Logs with timestamps: %v", err)
	}
	if ts, rest, _ := strings.Cut(logs.String(), " "); rest != "started\n" {
		t.Errorf("Logs with timestamps = %q", logs.String())
	} else if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Before(ctr.State.StartedAt) {
		t.Errorf("the line's time %s: %v, before the start %s", ts, err, ctr.State.StartedAt)
	}
	if err := e.Remove(ctx, ctr.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Inspect(ctx, ctr.ID); !errors.Is(err, hull.ErrNoSuchContainer) {
		t.Errorf("Inspect after Remove: %v", err)
	}
	// A user namespace: the container's root is the first of 65536
	// host ids, and owns what it writes (seen from the host).
	c.t = t
	c.assertClean(ctr.ID)
	u, err := e.Run(ctx, hull.ContainerConfig{Image: c.image, Network: network, UserNS: "auto",
		Cmd: []string{"sh", "-c", "cat /proc/self/uid_map; echo > /mine"}}, hull.StartOptions{})
	if errors.Is(err, hull.ErrNoIdmap) {
		// The test VM's kernel (6.1) idmaps no tmpfs; the host's does.
		t.Logf("no user namespace on this kernel: %v", err)
		c.assertClean()
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, err := e.Wait(ctx, u.ID); err != nil || code != 0 {
		t.Errorf("Wait = %d, %v", code, err)
	}
	logs.Reset()
	_ = e.Logs(ctx, u.ID, &logs, hull.LogsOptions{})
	var st syscall.Stat_t
	host := u.UserNS.HostID
	if got := strings.Join(strings.Fields(logs.String()), " "); got != fmt.Sprintf("0 %d 65536", host) {
		t.Errorf("uid_map in a user namespace: %q", logs.String())
	}
	if err := syscall.Stat(filepath.Join(u.Dir, "upper", "mine"), &st); err != nil || st.Uid != host {
		t.Errorf("/mine on the host: uid %d, %v; want %d", st.Uid, err, host)
	}
	if err := e.Remove(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	c.assertClean(u.ID)
}

// TestContainerPublish runs busybox httpd on the bridge network with a
// published port, and fetches a page through it. hull runs in a network
// namespace of the test's own, standing in for the host, so that the bridge
// and hull's nftables table are the test's alone.
func TestContainerPublish(t *testing.T) {
	c := newCLI(t)
	ns := "hulltest-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	// The image comes from the loopback registry of the real host.
	if out, err := exec.Command(c.bin, "image", "--store", c.data, "pull", "-q", c.image).CombinedOutput(); err != nil {
		t.Fatalf("image pull: %v: %s", err, out)
	}
	c.wrap = []string{"nsenter", "--net=/run/netns/" + ns}
	id := strings.TrimSpace(c.ok("run", "-d", "--name", "web", "-p", "127.0.0.1:8080:80", c.image, "httpd", "-f", "-p", "80", "-h", "/www"))
	if ps := c.ok("ps"); !strings.Contains(ps, "127.0.0.1:8080->80/tcp") {
		t.Errorf("ps does not show the published port:\n%s", ps)
	}
	if got := c.ok("port", "web"); got != "80/tcp -> 127.0.0.1:8080\n" {
		t.Errorf("port web = %q", got)
	}
	var page []byte
	var err error
	for range 100 { // until httpd listens
		page, err = exec.Command("nsenter", "--net=/run/netns/"+ns, "/bin/busybox", "wget", "-qO-", "http://127.0.0.1:8080/").Output()
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(page) != "hello from hull\n" {
		t.Errorf("GET http://127.0.0.1:8080/ = %q, %v", page, err)
	}
	c.ok("rm", "-f", "web")
	c.assertClean(id)
	if ents, _ := os.ReadDir(filepath.Join(c.net, "attachments")); len(ents) > 0 {
		t.Errorf("network attachments left: %v", ents)
	}
}
