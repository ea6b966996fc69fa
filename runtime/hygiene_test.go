package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// assertNothingLeft checks that a container left no trace: no state
// directory, no cgroup directory, no mount of its rootfs on the host,
// and no child process of this test.
func assertNothingLeft(t *testing.T, e *testEnv, id string, s *specs.Spec) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(e.rt.Root(), id)); !os.IsNotExist(err) {
		t.Errorf("state directory of %s left behind (%v)", id, err)
	}
	if h, err := cgroupHost(); err == nil {
		rec := &record{ID: id, Spec: s}
		if m, err := e.rt.manager(rec); err == nil {
			for ctrl, dir := range m.Paths() {
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("cgroup %q (%s) of %s left behind", dir, ctrl, id)
				}
			}
		}
		_ = h
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), e.rootfs) {
		t.Errorf("a mount under %s is left on the host", e.rootfs)
	}
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == me && f[0] != "Z" {
			t.Errorf("process %s (%s) is left behind", ent.Name(), s[:strings.LastIndexByte(s, ')')+1])
		}
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name    string
		mutate  func(s *specs.Spec)
		wantErr string
	}{
		{"bind-missing-source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent/source", Options: []string{"rbind"}})
		}, "/nonexistent/source: no such file or directory"},
		{"bad-fs-type", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
		}, "mount nosuchfs on " + "ROOTFS/x"},
		{"missing-program", func(s *specs.Spec) { s.Process.Args = []string{"/bin/nonexistent"} }, `exec: "/bin/nonexistent": no such file or directory`},
		{"rlimit-above-hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1 << 40, Hard: 1 << 40}}
		}, "setrlimit RLIMIT_NOFILE"},
		{"bad-sysctl-value", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.shmmni": "notanumber"} }, "sysctl kernel.shmmni=notanumber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.spec("true")
			tc.mutate(s)
			err := e.rt.Create(context.Background(), tc.name, CreateOptions{Bundle: e.bundle(s)})
			want := strings.ReplaceAll(tc.wantErr, "ROOTFS", e.rootfs)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Create = %v, want an error containing %q", err, want)
			}
			assertNothingLeft(t, e, tc.name, s)
		})
	}
}

// TestDeleteRemovesCreatedParents: a cgroupsPath whose parents do not
// exist yet makes create build them, and delete must remove them again
// once empty, so that no empty cgroup outlives the container.
func TestDeleteRemovesCreatedParents(t *testing.T) {
	e := newTestEnv(t)
	top := "hulltest-parents-" + strconv.Itoa(os.Getpid())
	s := e.spec("true")
	s.Linux.CgroupsPath = top + "/mid/c1" // relative: below this process's own cgroup
	if err := e.rt.Create(context.Background(), "parents", CreateOptions{Bundle: e.bundle(s)}); err != nil {
		t.Fatal(err)
	}
	rec := &record{ID: "parents", Spec: s}
	m, err := e.rt.manager(rec)
	if err != nil {
		t.Fatal(err)
	}
	var tops []string
	for _, dir := range m.Paths() {
		top := filepath.Dir(filepath.Dir(dir))
		if _, err := os.Stat(top); err != nil {
			t.Fatalf("create made no parent %s: %v", top, err)
		}
		tops = append(tops, top)
	}
	if err := e.rt.Kill(context.Background(), "parents", unix.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Delete(context.Background(), "parents", true); err != nil {
		t.Fatal(err)
	}
	for _, top := range tops {
		if _, err := os.Stat(top); !os.IsNotExist(err) {
			t.Errorf("delete left the parent cgroup %s that create made (%v)", top, err)
			_ = os.Remove(filepath.Join(top, "mid"))
			_ = os.Remove(top)
		}
	}
	assertNothingLeft(t, e, "parents", s)
}

// A symlink in the image pointing at a host path must not redirect a
// mount to the host: the destination resolves inside the rootfs.
func TestSymlinkCannotEscapeRootfs(t *testing.T) {
	e := newTestEnv(t)
	outside := t.TempDir()
	// rootfs/escape -> /<outside> (absolute: from the host it would be
	// the host's directory).
	link := filepath.Join(e.rootfs, "escape")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	s := e.spec("sh", "-c", "ls -d "+outside+"/sub && mount | grep -c "+outside+"/sub")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape/sub", Type: "tmpfs", Source: "tmpfs"})
	code, out := e.run("escape", s)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Errorf("the mount's directory was created on the host at %s/sub", outside)
	}
	// The directory exists inside the rootfs instead.
	if _, err := os.Stat(filepath.Join(e.rootfs, outside, "sub")); err != nil {
		t.Errorf("the mount point was not made inside the rootfs: %v", err)
	}
	os.RemoveAll(filepath.Join(e.rootfs, strings.Split(outside, "/")[1]))
}

// The init runs hull from a read-only (or sealed) copy: nothing reached
// through /proc/<init>/exe can write to the host's binary
// (CVE-2019-5736).
func TestInitBinaryNotWritable(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.rt.Create(ctx, "exe", CreateOptions{Bundle: e.bundle(e.spec("true"))}); err != nil {
		t.Fatal(err)
	}
	defer e.rt.Delete(ctx, "exe", true)
	st, err := e.rt.State(ctx, "exe")
	if err != nil {
		t.Fatal(err)
	}
	exe := "/proc/" + strconv.Itoa(st.Pid) + "/exe"
	// Opening it for writing now fails with ETXTBSY, but only while some
	// process runs the binary; what protects it for good is the mount:
	// read-only (or, rootless, a sealed memfd).
	l, err := os.Readlink(exe)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(l, "/memfd:") {
		return
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(exe, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("the init runs %s from a writable mount (statfs flags %#x)", l, fs.Flags)
	}
	host, _ := os.Readlink("/proc/self/exe")
	var hostFS unix.Statfs_t
	if err := unix.Statfs(host, &hostFS); err == nil && hostFS.Flags&unix.ST_RDONLY != 0 {
		t.Logf("the test binary's own mount is read-only too: the check proves less here")
	}
}
