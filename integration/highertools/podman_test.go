package highertools

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// podmanEnv is one podman installation of the test's own: storage,
// run state, libpod tmpdir, containers.conf and storage.conf under dir.
type podmanEnv struct {
	dir string
	cg  *cgroupParent
}

// containersConf lowers the default ulimits below the host's hard
// RLIMIT_NOFILE of 20000 (root lacks CAP_SYS_RESOURCE here), names hull
// among the runtimes that write JSON error logs (podman decides that by
// the runtime's basename), and keeps networking and events local.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["crun", "runc", "hull"]
`

func newPodmanEnv(ctx context.Context, dir string, cg *cgroupParent, archive string) (*podmanEnv, error) {
	p := &podmanEnv{dir: dir, cg: cg}
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\nrunroot = %q\ngraphroot = %q\n",
		filepath.Join(dir, "runroot"), filepath.Join(dir, "root"))
	for name, body := range map[string]string{"containers.conf": containersConf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := p.cmd(command{timeout: 2 * time.Minute}).ok(ctx, "podman", p.args("runc", "load", "-q", "-i", archive)...); err != nil {
		return nil, fmt.Errorf("podman load: %w", err)
	}
	return p, nil
}

func (p *podmanEnv) cmd(c command) command {
	c.env = append(c.env,
		"CONTAINERS_CONF="+filepath.Join(p.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(p.dir, "storage.conf"))
	return c
}

// args are podman's global flags: everything of its own under dir.
func (p *podmanEnv) args(runtime string, a ...string) []string {
	return append([]string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "runroot"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--storage-driver", "overlay",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--runtime", runtime,
	}, a...)
}

// Close removes podman's storage (which unmounts its layers). A cleanup
// process that conmon started for the last container may still hold
// podman's locks: a failed reset is retried.
func (p *podmanEnv) Close(ctx context.Context) error {
	var err error
	for range 3 {
		if _, err = p.cmd(command{}).ok(ctx, "podman", p.args("runc", "system", "reset", "--force")...); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}

// podman is podmanEnv with its runtime set.
type podman struct {
	*podmanEnv
	runtime string
	ids     []string
}

func (p *podman) podman(ctx context.Context, c command, a ...string) (result, error) {
	return p.cmd(c).run(ctx, "podman", p.args(p.runtime, a...)...)
}

func (p *podman) podmanOK(ctx context.Context, a ...string) (string, error) {
	r, err := p.cmd(command{}).ok(ctx, "podman", p.args(p.runtime, a...)...)
	return strings.TrimSpace(r.stdout), err
}

func (p *podman) runArgs(c container, name string, detach bool) []string {
	a := []string{"run", "--name", name, "--network", "none", "--cgroup-parent", p.cg.path,
		"--cidfile", filepath.Join(p.dir, name+".cid")}
	if detach {
		a = append(a, "-d")
	} else {
		a = append(a, "--rm")
	}
	if c.stdin != "" {
		a = append(a, "-i")
	}
	if c.tty {
		a = append(a, "-t")
	}
	if c.memory > 0 {
		m := strconv.FormatInt(c.memory, 10)
		a = append(a, "--memory", m, "--memory-swap", m)
	}
	if c.pids > 0 {
		a = append(a, "--pids-limit", strconv.FormatInt(c.pids, 10))
	}
	if c.hostPID {
		a = append(a, "--pid", "host")
	}
	if c.stopSignal != "" {
		a = append(a, "--stop-signal", c.stopSignal)
	}
	return append(append(a, imageRef), c.args...)
}

func (p *podman) noteID(name string) {
	b, err := os.ReadFile(filepath.Join(p.dir, name+".cid"))
	if err == nil && len(b) > 0 {
		p.ids = append(p.ids, strings.TrimSpace(string(b)))
	}
	os.Remove(filepath.Join(p.dir, name+".cid"))
}

func (p *podman) run(ctx context.Context, c container) (result, error) {
	name := "ht-" + randomID(12)
	defer p.noteID(name)
	if c.tty {
		return runOnPTY(ctx, p.cmd(command{}).env, "podman", p.args(p.runtime, p.runArgs(c, name, false)...)...)
	}
	return p.podman(ctx, command{stdin: c.stdin}, p.runArgs(c, name, false)...)
}

func (p *podman) start(ctx context.Context, c container) (string, error) {
	name := "ht-" + randomID(12)
	defer p.noteID(name)
	_, err := p.podmanOK(ctx, p.runArgs(c, name, true)...)
	return name, err
}

func (p *podman) exec(ctx context.Context, name string, args ...string) (result, error) {
	return p.podman(ctx, command{}, append([]string{"exec", name}, args...)...)
}

func (p *podman) execTTY(ctx context.Context, name string, args ...string) (result, error) {
	return runOnPTY(ctx, p.cmd(command{}).env, "podman", p.args(p.runtime, append([]string{"exec", "-t", name}, args...)...)...)
}

func (p *podman) stop(ctx context.Context, name string) (int, error) {
	if _, err := p.podmanOK(ctx, "stop", "-t", "20", name); err != nil {
		return -1, err
	}
	out, err := p.podmanOK(ctx, "inspect", "-f", "{{.State.ExitCode}}", name)
	if err != nil {
		return -1, err
	}
	return atoi(out)
}

// killAll is "podman stop" of a container without its own pid namespace
// (and sig as its stop signal): podman then has the runtime use kill
// --all, as the kernel's pid namespace teardown cannot reach the rest.
func (p *podman) killAll(ctx context.Context, name, sig string) (int, error) {
	if _, err := p.podmanOK(ctx, "stop", "-t", "10", name); err != nil {
		return -1, err
	}
	out, err := p.podmanOK(ctx, "inspect", "-f", "{{.State.ExitCode}}", name)
	if err != nil {
		return -1, err
	}
	return atoi(out)
}

func (p *podman) remove(ctx context.Context, name string) error {
	_, err := p.podmanOK(ctx, "rm", "-f", name)
	return err
}

func (p *podman) pause(ctx context.Context, name string) error {
	_, err := p.podmanOK(ctx, "pause", name)
	return err
}

func (p *podman) resume(ctx context.Context, name string) error {
	_, err := p.podmanOK(ctx, "unpause", name)
	return err
}

func (p *podman) status(ctx context.Context, name string) (string, error) {
	s, err := p.podmanOK(ctx, "inspect", "-f", "{{.State.Status}}", name)
	if s == "exited" {
		s = "stopped"
	}
	return s, err
}

func (p *podman) pid(ctx context.Context, name string) (int, error) {
	out, err := p.podmanOK(ctx, "inspect", "-f", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	return atoi(out)
}

func (p *podman) update(ctx context.Context, name string, memory int64) error {
	m := strconv.FormatInt(memory, 10)
	_, err := p.podmanOK(ctx, "update", "--memory", m, "--memory-swap", m, name)
	return err
}

func (p *podman) runtimeID(ctx context.Context, name string) (string, error) {
	return p.podmanOK(ctx, "inspect", "-f", "{{.Id}}", name)
}

func (p *podman) runtimeRoot() string { return defaultRoot(p.runtime) }
func (p *podman) runtimePath() string { return p.runtime }
func (p *podman) ownCgroups() []string {
	// conmon's cgroup, shared by every container of the parent, which
	// podman creates and never removes.
	return []string{"conmon"}
}

func (p *podman) takeIDs() []string {
	ids := p.ids
	p.ids = nil
	return ids
}

func (p *podman) list(ctx context.Context) ([]string, error) {
	out, err := p.podmanOK(ctx, "ps", "-a", "-q")
	return strings.Fields(out), err
}

func (p *podman) cleanup(ctx context.Context) error {
	_, err := p.podmanOK(ctx, "rm", "-a", "-f", "-t", "0")
	return err
}
