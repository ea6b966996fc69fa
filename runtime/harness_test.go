package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// busyboxRootfs builds a minimal rootfs: a static busybox and a symlink
// per applet, plus the directories the default mounts need.
func busyboxRootfs(t *testing.T, dir string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(dir, "bin", applet))
	}
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
}

// testEnv is one runtime with its own state root, and a rootfs shared by
// the bundles it makes.
type testEnv struct {
	t      *testing.T
	rt     *Runtime
	rootfs string
	n      int
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	testvm.Require(t, testvm.Root)
	dir := t.TempDir()
	// A container in a user namespace reaches its rootfs as an unmapped
	// user: the path to it must be searchable by others.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	rootfs := filepath.Join(dir, "rootfs")
	busyboxRootfs(t, rootfs)
	rt, err := New(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, rt: rt, rootfs: rootfs}
	t.Cleanup(func() {
		// Nothing may be left: every container deleted, no state.
		ents, _ := os.ReadDir(rt.Root())
		for _, ent := range ents {
			t.Errorf("state left behind for container %s", ent.Name())
			_ = rt.Delete(context.Background(), ent.Name(), true)
		}
	})
	return e
}

// spec returns a default spec running args, in a cgroup below the test's
// own, without a terminal.
func (e *testEnv) spec(args ...string) *specs.Spec {
	s := DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = e.rootfs
	e.n++
	s.Linux.CgroupsPath = fmt.Sprintf("hull-test-%d-%d", os.Getpid(), e.n)
	return s
}

// bundle writes a spec into a new bundle directory.
func (e *testEnv) bundle(s *specs.Spec) string {
	e.t.Helper()
	dir := e.t.TempDir()
	b, err := json.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// run runs a container to completion and returns its exit code and
// combined output.
func (e *testEnv) run(id string, s *specs.Spec) (int, string) {
	e.t.Helper()
	out, err := os.CreateTemp(e.t.TempDir(), "out")
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	code, err := e.rt.Run(context.Background(), id, CreateOptions{Bundle: e.bundle(s), Stdout: out, Stderr: out}, nil)
	b, _ := os.ReadFile(out.Name())
	if err != nil {
		e.t.Fatalf("run %s: %v (output: %s)", id, err, b)
	}
	return code, string(bytes.TrimSpace(b))
}

// start creates and starts a long-running container (sleep), deleted at
// the end of the test.
func (e *testEnv) start(id string, s *specs.Spec) *State {
	e.t.Helper()
	ctx := context.Background()
	if err := e.rt.Create(ctx, id, CreateOptions{Bundle: e.bundle(s)}); err != nil {
		e.t.Fatalf("create %s: %v", id, err)
	}
	e.t.Cleanup(func() {
		if err := e.rt.Delete(ctx, id, true); err != nil {
			e.t.Errorf("delete %s: %v", id, err)
		}
	})
	if err := e.rt.Start(ctx, id); err != nil {
		e.t.Fatalf("start %s: %v", id, err)
	}
	st, err := e.rt.State(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// exec runs args in a running container and returns its exit code and
// output.
func (e *testEnv) exec(id string, args ...string) (int, string) {
	e.t.Helper()
	s, err := e.rt.Config(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	proc := *s.Process
	proc.Args = args
	out, err := os.CreateTemp(e.t.TempDir(), "out")
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	p, err := e.rt.Exec(context.Background(), id, ExecOptions{Process: &proc, Stdout: out, Stderr: out})
	if err != nil {
		b, _ := os.ReadFile(out.Name())
		e.t.Fatalf("exec %q in %s: %v (output: %s)", args, id, err, b)
	}
	code, err := p.Wait(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := os.ReadFile(out.Name())
	return code, string(bytes.TrimSpace(b))
}
