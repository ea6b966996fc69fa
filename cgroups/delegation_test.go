package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rootless hull on cgroup v2: a user may manage the cgroups below one
// that was delegated to it. The test (root) makes two cgroups below its
// own, delegates one to nobody (chown of the directory, cgroup.procs,
// cgroup.subtree_control and cgroup.threads) and starts this test binary
// as nobody inside it; TestDelegationHelper then moves itself to a leaf,
// creates a container cgroup in the delegated one (with a pids limit
// where the controller is there), destroys it, and checks that the other
// cgroup is refused with an error naming the directory it cannot write.

const nobody = 65534

func testDelegation(t *testing.T, h *Host, controller string) {
	self := h.SelfDir("")
	name := fmt.Sprintf("hulltest-delegation-%x", rand.Uint32())
	delegated, refused, partial := filepath.Join(self, name), filepath.Join(self, name+"-root"), filepath.Join(self, name+"-partial")
	if controller != "" {
		// Registered first, so run last: a controller cannot be turned
		// off while a cgroup below still has it on.
		restoreSubtreeControl(t, self)
	}
	t.Cleanup(func() {
		for _, d := range []string{delegated, refused, partial} {
			if err := removeTree(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left behind", d)
			}
		}
	})
	if controller != "" {
		if err := writeFile(self, "cgroup.subtree_control", "+"+controller); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{delegated, refused, partial} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Half a delegation: the directory, not its control files.
	if err := os.Chown(partial, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(delegated, f), nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}

	// This test binary, where nobody may run it.
	bin := filepath.Join(t.TempDir(), "cgroups.test")
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyExecutable(t, bin)
	dir, err := os.Open(delegated)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cg := path.Join("/", h.Self, name)
	cmd := exec.Command(bin, "-test.run=^TestDelegationHelper$", "-test.v")
	cmd.Env = append(os.Environ(),
		"HULL_TEST_DELEGATED="+cg+"/ctr",
		"HULL_TEST_REFUSED="+cg+"-root/ctr",
		"HULL_TEST_PARTIAL="+cg+"-partial/ctr",
		"HULL_TEST_CONTROLLER="+controller)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: nobody, Gid: nobody},
		UseCgroupFD: true, CgroupFD: int(dir.Fd()),
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nPASS") {
		t.Fatalf("as uid %d in %s: %v\n%s", nobody, delegated, err, out)
	}
	t.Logf("%s", out)
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDelegationHelper is testDelegation's unprivileged side.
func TestDelegationHelper(t *testing.T) {
	want := os.Getenv("HULL_TEST_DELEGATED")
	if want == "" {
		t.Skip("run by testDelegation as an unprivileged user")
	}
	if os.Geteuid() != nobody {
		t.Fatalf("uid %d", os.Geteuid())
	}
	h, err := DetectHost("/")
	if err != nil {
		t.Fatal(err)
	}
	// Out of the delegated cgroup into a leaf of it, so that the
	// delegated one may enable controllers for its children.
	leaf := filepath.Join(h.SelfDir(""), "leaf")
	if err := os.Mkdir(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(leaf, "cgroup.procs", "0"); err != nil {
		t.Fatal(err)
	}
	if h, err = DetectHost("/"); err != nil {
		t.Fatal(err)
	}
	h.Mode = Unified // the cgroup2 side of a hybrid host too

	m, err := New(h, Config{Path: want})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if c := os.Getenv("HULL_TEST_CONTROLLER"); c == "pids" {
		if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}); err != nil {
			t.Error(err)
		} else if got, err := readFile(m.Paths()[""], "pids.max"); err != nil || got != "10" {
			t.Errorf("pids.max = %q, %v", got, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}

	refused := os.Getenv("HULL_TEST_REFUSED")
	m, err = New(h, Config{Path: refused})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Create()
	parent := filepath.Dir(m.Paths()[""])
	if err == nil || !strings.Contains(err.Error(), parent+" is not writable for uid 65534") || !strings.Contains(err.Error(), "delegat") {
		t.Fatalf("Create in a cgroup not delegated: %v", err)
	}
	t.Log(err)

	// The directory is ours but its cgroup.subtree_control is not: the
	// cgroup can be made, the controller cannot be enabled for it.
	if os.Getenv("HULL_TEST_CONTROLLER") != "pids" {
		return
	}
	if m, err = New(h, Config{Path: os.Getenv("HULL_TEST_PARTIAL")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	err = m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}})
	file := filepath.Join(filepath.Dir(m.Paths()[""]), "cgroup.subtree_control")
	if err == nil || !strings.Contains(err.Error(), file+" is not writable") {
		t.Errorf("Set with %s not delegated: %v", file, err)
	}
	t.Log(err)
	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestV2CoreDelegation(t *testing.T) { testDelegation(t, hostV2Core(t), "") }
func TestV2Delegation(t *testing.T)     { testDelegation(t, hostV2(t), "pids") }
