package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSelfBindOnTop(t *testing.T) {
	// id parent major:minor root mountpoint ...
	const host = `1 0 8:1 / / rw - ext4 /dev/sda1 rw
2 1 0:5 / /proc rw - proc proc rw
3 1 0:30 / /var/lib/overlay/merged rw - overlay overlay rw
`
	for _, tc := range []struct {
		name, extra, dir string
		want             bool
	}{
		{"a plain directory", "", "/b/rootfs", false},
		{"a bind of the directory onto itself", "10 1 8:1 /b/rootfs /b/rootfs rw - ext4 /dev/sda1 rw\n", "/b/rootfs", true},
		{"the container's mounts on the bind", "10 1 8:1 /b/rootfs /b/rootfs rw - ext4 /dev/sda1 rw\n11 10 0:5 / /b/rootfs/proc rw - proc proc rw\n", "/b/rootfs", true},
		{"a bind from elsewhere", "10 1 8:1 /srv /b/rootfs rw - ext4 /dev/sda1 rw\n", "/b/rootfs", false},
		{"another file system", "10 1 0:40 / /b/rootfs rw - tmpfs tmpfs rw\n", "/b/rootfs", false},
		{"an image's overlay, not bound", "", "/var/lib/overlay/merged", false},
		{"a bind stacked on an image's overlay", "10 3 0:30 / /var/lib/overlay/merged rw - overlay overlay rw\n", "/var/lib/overlay/merged", true},
		{"a space in the path", "10 1 8:1 /b/my\\040root /b/my\\040root rw - ext4 /dev/sda1 rw\n", "/b/my root", true},
	} {
		if got := selfBindOnTop(host+tc.extra, tc.dir); got != tc.want {
			t.Errorf("selfBindOnTop(%s, %q) = %v, want %v", tc.name, tc.dir, got, tc.want)
		}
	}
}

// TestHostMountNamespace runs a container without a mount namespace: it
// shares the host's (the test's) mount namespace, sees its rootfs as "/"
// (chroot), and so does a process exec'd into it; delete leaves no mount
// of it in the host's namespace.
func TestHostMountNamespace(t *testing.T) {
	e := newTestEnv(t)
	if err := os.WriteFile(filepath.Join(e.rootfs, "marker"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(e.rootfs, "marker"))
	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	s := e.spec("sleep", "60")
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.MountNamespace
	})
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	s.Root.Readonly = false

	ctx := context.Background()
	id := "hostmnt"
	if err := e.rt.Create(ctx, id, CreateOptions{Bundle: e.bundle(s)}); err != nil {
		t.Fatalf("create: %v", err)
	}
	deleted := false
	defer func() {
		if !deleted {
			_ = e.rt.Delete(ctx, id, true)
		}
	}()
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := e.rt.State(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(st.Pid), "ns/mnt")); err != nil || got != hostMnt {
		t.Errorf("the container's mount namespace is %q (%v), want the host's %q", got, err, hostMnt)
	}
	rootfs, err := filepath.EvalSymlinks(e.rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if m := mountsBelow(t, rootfs); !slices.Contains(m, rootfs+"/proc") {
		t.Errorf("host mounts below the rootfs = %q, want the container's /proc among them", m)
	}
	code, out := e.exec(id, "sh", "-c", "cat /marker; readlink /proc/1/ns/mnt")
	if want := "inside\n" + hostMnt; code != 0 || out != want {
		t.Errorf("exec: exit %d, output %q; want 0, %q (the rootfs as /, the host's mount namespace)", code, out, want)
	}
	if err := e.rt.Delete(ctx, id, true); err != nil {
		t.Fatalf("delete: %v", err)
	}
	deleted = true
	if m := mountsBelow(t, rootfs); len(m) > 0 {
		t.Errorf("delete left mounts in the host's namespace: %q", m)
	}
}

// mountsBelow lists the mount points at or below dir in this process's
// mount namespace.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			if p := unescapeMountinfo(f[4]); p == dir || strings.HasPrefix(p, dir+"/") {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestBindAttr: the flags of a bind mount's remount, as mount_setattr's
// attributes; the atime mode changes only when the flags name one.
func TestBindAttr(t *testing.T) {
	for _, tc := range []struct {
		flags    uintptr
		set, clr uint64
	}{
		{0, 0, 0},
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, 0},
		{unix.MS_NOSUID | unix.MS_RELATIME, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
		{unix.MS_NOATIME | unix.MS_NODIRATIME, unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NODIRATIME, unix.MOUNT_ATTR__ATIME},
		{unix.MS_STRICTATIME | unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_STRICTATIME | unix.MOUNT_ATTR_NOSYMFOLLOW, unix.MOUNT_ATTR__ATIME},
		{unix.MS_SYNCHRONOUS | unix.MS_LAZYTIME, 0, 0}, // the superblock's: a bind remount leaves them
	} {
		a := bindAttr(tc.flags)
		if a.Attr_set != tc.set || a.Attr_clr != tc.clr {
			t.Errorf("bindAttr(%s) = set %s, clr %s; want set %s, clr %s", MountFlags(tc.flags),
				MountAttr(a.Attr_set), MountAttr(a.Attr_clr), MountAttr(tc.set), MountAttr(tc.clr))
		}
	}
}
