package highertools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/knownfailures"
	"github.com/hullrt/hull/integration/testvm"
)

// knownFailures lists the flows ("tool/flow") that runc passes and hull
// does not yet, each with the reason.
const knownFailures = "../testdata/highertools-known-failures.txt"

// TestPodman drives podman 4.3 (conmon) with --runtime runc, then hull.
func TestPodman(t *testing.T) {
	testTool(t, "podman", []string{"podman", "conmon"}, func(ctx context.Context, dir string, cg *cgroupParent, archive string) (*toolEnv, error) {
		p, err := newPodmanEnv(ctx, dir, cg, archive)
		if err != nil {
			return nil, err
		}
		return &toolEnv{
			engine: func(runtime string) engine { return &podman{podmanEnv: p, runtime: runtime} },
			close:  p.Close,
		}, nil
	})
}

// TestContainerd drives a containerd 1.6 daemon of the test's own through
// ctr and the io.containerd.runc.v2 shim with --runc-binary runc, then hull.
func TestContainerd(t *testing.T) {
	testTool(t, "containerd", []string{"containerd", "ctr", "containerd-shim-runc-v2"}, func(ctx context.Context, dir string, cg *cgroupParent, archive string) (*toolEnv, error) {
		c, err := newContainerdEnv(ctx, dir, cg, archive)
		if err != nil {
			return nil, err
		}
		return &toolEnv{
			engine: func(runtime string) engine { return &containerd{containerdEnv: c, runtime: runtime} },
			close:  c.Close,
			daemon: c.daemon.Process.Pid,
		}, nil
	})
}

// toolEnv is a higher tool set up for the test: an engine per runtime.
type toolEnv struct {
	engine func(runtime string) engine
	close  func(context.Context) error
	daemon int // pid of the tool's daemon, which lives as long as the test
}

type setupFunc func(ctx context.Context, dir string, cg *cgroupParent, archive string) (*toolEnv, error)

// outcome is how one runtime did in one flow.
type outcome struct {
	err error
	na  bool // the tool cannot express the flow
}

func (o outcome) ok() bool { return o.err == nil && !o.na }

func (o outcome) String() string {
	switch {
	case o.na:
		return "not applicable: " + o.err.Error()
	case o.err != nil:
		return "FAIL: " + o.err.Error()
	}
	return "pass"
}

func testTool(t *testing.T, tool string, binaries []string, setup setupFunc) {
	testvm.Require(t, testvm.Root|testvm.CgroupV1)
	for _, b := range append(binaries, "runc") {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is not installed (Debian packages podman, containerd, runc): %v", b, err)
		}
	}
	known, err := knownfailures.Read(knownFailures)
	if err != nil {
		t.Fatal(err)
	}
	runtimes := []struct{ name, path string }{{"runc", "runc"}, {"hull", testvm.Hull(t)}}
	if p, err := exec.LookPath("runc"); err == nil {
		runtimes[0].path = p
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hull-highertools-")
	if err != nil {
		t.Fatal(err)
	}
	cg, err := newCgroupParent()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{dir: dir, cg: cg, containerdRun: snapshotDirs("/run/containerd/s", "/run/containerd/fifo"), hostDirs: missingDirs(toolHostDirs)}
	t.Cleanup(func() { h.teardown(t) })

	archive, err := writeImageArchive(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := setup(ctx, dir, cg, archive)
	if err != nil {
		t.Fatal(err)
	}
	h.env = env

	var runcOK, hullOK, applicable int
	var nowPassing []string
	for _, f := range flows {
		key := tool + "/" + f.name
		t.Run(f.name, func(t *testing.T) {
			var got [2]outcome
			for i, rt := range runtimes {
				got[i] = h.runFlow(t, f, env.engine(rt.path))
				t.Logf("%s with %s: %s", key, rt.name, got[i])
			}
			ref, hull := got[0], got[1]
			reason, isKnown := known[key]
			if ref.na {
				return
			}
			applicable++
			if ref.ok() {
				runcOK++
			}
			if hull.ok() {
				hullOK++
			}
			switch {
			case !ref.ok():
				t.Errorf("runc, the reference, fails %s: the flow or this host is broken", key)
			case hull.ok() && isKnown:
				nowPassing = append(nowPassing, key)
			case hull.ok():
			case isKnown:
				t.Logf("known failure: %s", reason)
			default:
				t.Errorf("runc passes %s and hull does not (add \"%s: reason\" to %s only with a reason)", key, key, knownFailures)
			}
		})
	}
	t.Logf("%s on %s: runc passes %d of %d applicable flows, hull %d", tool, where(), runcOK, applicable, hullOK)
	if len(nowPassing) > 0 {
		t.Logf("hull now passes %s: remove them from %s", strings.Join(nowPassing, ", "), knownFailures)
	}
}

func where() string {
	if testvm.InGuest() {
		return "the test VM (cgroup v2)"
	}
	return "the host (cgroup v1 hybrid)"
}

// harness holds what the test made and checks that nothing is left.
type harness struct {
	dir           string
	cg            *cgroupParent
	env           *toolEnv
	containerdRun map[string]bool // entries of containerd's fixed run directories before the test
	hostDirs      []string        // of toolHostDirs, those the test will have created
}

// toolHostDirs are the directories outside the test's own that the tools
// create whatever they are told, parents first: netavark's run directory
// (podman makes it even with --network none), containerd's shim sockets
// and ctr's fifos, and the runc shim's state root.
var toolHostDirs = []string{
	"/run/containers", "/run/containers/networks",
	"/run/containerd", "/run/containerd/fifo", "/run/containerd/s", "/run/containerd/runc",
}

// missingDirs returns those of dirs that do not exist yet.
func missingDirs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			out = append(out, d)
		}
	}
	return out
}

// runFlow runs one flow against one engine, then checks that the flow
// left nothing behind, and cleans up by force whatever it did leave so
// that the next flow starts from a clean slate.
func (h *harness) runFlow(t *testing.T, f flow, e engine) outcome {
	ctx := context.Background()
	err := f.run(ctx, e)
	ids := e.takeIDs()
	if errors.Is(err, errUnsupported) {
		if _, dirty := h.clean(ctx, e, ids); dirty != nil {
			t.Fatalf("cleaning up after %s: %v", f.name, dirty)
		}
		return outcome{err: err, na: true}
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	} else if left := h.awaitClean(ctx, e, ids); left != nil {
		errs = append(errs, fmt.Errorf("left behind: %w", left))
	}
	// The tool failing to remove the flow's containers counts against
	// the runtime; anything still there after the forced cleanup would
	// spoil the flows that follow.
	toolErr, dirty := h.clean(ctx, e, ids)
	if err == nil && toolErr != nil {
		errs = append(errs, toolErr)
	}
	if dirty != nil {
		t.Fatalf("cleaning up after %s with %s: %v", f.name, filepath.Base(e.runtimePath()), dirty)
	}
	return outcome{err: errors.Join(errs...)}
}

// awaitClean waits for the tool's asynchronous cleanup (podman's exit
// command, the shim's exit) and returns what is still there.
func (h *harness) awaitClean(ctx context.Context, e engine, ids []string) error {
	var left error
	_ = eventually(ctx, 20*time.Second, "cleanup", func() (bool, error) {
		left = h.leftovers(ctx, e, ids)
		return left == nil, nil
	})
	return left
}

// leftovers lists what a flow's containers left: containers the tool
// still knows, cgroups and processes below the test's cgroup, mounts in
// the test's directory, the runtime's state directories, and processes
// (conmon, shims) naming the containers.
func (h *harness) leftovers(ctx context.Context, e engine, ids []string) error {
	var errs []error
	if names, err := e.list(ctx); err != nil || len(names) > 0 {
		errs = append(errs, fmt.Errorf("containers still listed: %v %v", names, err))
	}
	cgroups, pids, err := h.cg.leftovers(e.ownCgroups()...)
	if err != nil || len(cgroups) > 0 || len(pids) > 0 {
		errs = append(errs, fmt.Errorf("cgroups %v with processes %v %v", cgroups, pids, err))
	}
	if mounts, err := mountsUnder(h.dir); err != nil || len(mounts) > 0 {
		errs = append(errs, fmt.Errorf("mounts %v %v", mounts, err))
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(e.runtimeRoot(), id)); err == nil {
			errs = append(errs, fmt.Errorf("runtime state %s", filepath.Join(e.runtimeRoot(), id)))
		}
	}
	if procs := processesMentioning(h.skip(), ids...); len(procs) > 0 {
		errs = append(errs, fmt.Errorf("processes %v", procs))
	}
	return errors.Join(errs...)
}

func (h *harness) skip() map[int]bool {
	if h.env == nil || h.env.daemon == 0 {
		return nil
	}
	return map[int]bool{h.env.daemon: true}
}

// clean removes by force what a flow left: through the tool first, then
// behind its back (runtime delete --force, SIGKILL, rmdir). toolErr is
// the tool's failure to clean up; dirty is what even force left.
func (h *harness) clean(ctx context.Context, e engine, ids []string) (toolErr, dirty error) {
	if err := e.cleanup(ctx); err != nil {
		toolErr = fmt.Errorf("tool cleanup: %w", err)
	}
	left := h.awaitClean(ctx, e, ids)
	if left == nil {
		return toolErr, nil
	}
	if toolErr == nil {
		toolErr = fmt.Errorf("the tool's cleanup left: %w", left)
	}
	for _, id := range ids {
		for _, rt := range []string{e.runtimePath(), "runc"} {
			_, _ = command{timeout: 30 * time.Second}.run(ctx, rt, "--root", e.runtimeRoot(), "delete", "--force", id)
		}
		_ = os.RemoveAll(filepath.Join(e.runtimeRoot(), id))
	}
	killProcessesMentioning(h.skip(), ids...)
	_ = h.cg.forceClean(true)
	_ = e.cleanup(ctx)
	if left := h.awaitClean(ctx, e, ids); left != nil {
		return toolErr, fmt.Errorf("still there after forced cleanup: %w", left)
	}
	return toolErr, nil
}

// teardown stops the tool and asserts that nothing of the test remains:
// no mount in its directory, no process naming it, no cgroup, no entry
// in containerd's fixed run directories.
func (h *harness) teardown(t *testing.T) {
	ctx := context.Background()
	if h.env != nil {
		if err := h.env.close(ctx); err != nil {
			t.Errorf("stopping the tool: %v", err)
		}
	}
	if procs := processesMentioning(nil, h.dir); len(procs) > 0 {
		t.Errorf("processes left behind: %v", procs)
		killProcessesMentioning(nil, h.dir)
	}
	if mounts, _ := mountsUnder(h.dir); len(mounts) > 0 {
		t.Errorf("mounts left behind: %v", mounts)
		if err := unmountUnder(h.dir); err != nil {
			t.Error(err)
		}
	}
	if cgroups, pids, _ := h.cg.leftovers(); len(cgroups) > 0 || len(pids) > 0 {
		// The tool's own cgroups (podman's conmon) are removed here; only
		// a process in them is a leftover.
		if len(pids) > 0 {
			t.Errorf("processes left in the test's cgroups: %v", pids)
		}
	}
	if err := h.cg.Close(); err != nil {
		t.Errorf("removing the test's cgroups: %v", err)
	}
	for dir := range snapshotDirs("/run/containerd/s", "/run/containerd/fifo") {
		if !h.containerdRun[dir] {
			t.Errorf("left in containerd's run directory: %s", dir)
			os.RemoveAll(dir)
		}
	}
	for i := len(h.hostDirs) - 1; i >= 0; i-- {
		if err := os.Remove(h.hostDirs[i]); err != nil && !os.IsNotExist(err) {
			entries, _ := os.ReadDir(h.hostDirs[i])
			t.Errorf("left behind in %s: %d entries (%v)", h.hostDirs[i], len(entries), err)
		}
	}
	if err := os.RemoveAll(h.dir); err != nil {
		t.Error(err)
	}
}

// snapshotDirs returns the entries of the directories.
func snapshotDirs(dirs ...string) map[string]bool {
	out := map[string]bool{}
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			out[filepath.Join(d, e.Name())] = true
		}
	}
	return out
}
