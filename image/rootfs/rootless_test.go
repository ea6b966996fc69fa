package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
)

const rootlessEnv = "HULL_ROOTFS_ROOTLESS_DIR"

// TestRootlessOverlayHelper is TestRootlessOverlay's half inside a user
// namespace owned by uid 65534.
func TestRootlessOverlayHelper(t *testing.T) {
	work := os.Getenv(rootlessEnv)
	if work == "" {
		t.Skip("run by TestRootlessOverlay")
	}
	var dirs []string
	for i, es := range registrytest.Layered(t) {
		d := filepath.Join(work, fmt.Sprintf("layer%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := layer.Apply(context.Background(), d, bytes.NewReader(registrytest.Tar(t, es...)), layer.Rootless()); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		dirs = append(dirs, d)
	}
	upper, wk, merged, copied := filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "merged"), filepath.Join(work, "copied")
	for _, d := range []string{upper, wk, merged, copied} {
		os.Mkdir(d, 0o755)
	}
	m, err := Overlay(dirs, upper, wk, "userxattr")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	defer Unmount(merged)
	if err := Copy(context.Background(), copied, dirs, layer.Rootless()); err != nil {
		t.Fatal(err)
	}
	view, cp := registrytest.Tree(t, merged), registrytest.Tree(t, copied)
	delete(view, ".")
	delete(cp, ".")
	if diff := registrytest.DiffTrees(view, cp); len(diff) > 0 {
		t.Errorf("rootless overlay view and copy differ:\n%s", strings.Join(diff, "\n"))
	}
	for _, gone := range []string{"usr/share/doc/a", "opt/old"} {
		if _, err := os.Lstat(filepath.Join(merged, gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived its whiteout in the rootless overlay: %v", gone, err)
		}
	}
}

// TestRootlessOverlay unpacks layers as an unprivileged user and mounts
// them as rootless podman would: overlayfs with "userxattr" inside a user
// namespace (Linux 5.11), whiteouts and opaque directories included. The
// merged view must equal the rootless copy.
func TestRootlessOverlay(t *testing.T) {
	testvm.Require(t, testvm.Root) // to start a process as uid 65534
	sandbox := t.TempDir()
	for _, d := range []string{filepath.Dir(sandbox), sandbox} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(sandbox, "rootfs.test")
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, self)
	self.Close()
	out.Close()
	work := filepath.Join(sandbox, "work")
	os.Mkdir(work, 0o755)
	os.Chown(work, 65534, 65534)
	cmd := exec.Command(bin, "-test.run=^TestRootlessOverlayHelper$", "-test.v")
	cmd.Env = append(os.Environ(), rootlessEnv+"="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		// Become the namespace's root, which is uid 65534 outside: without
		// this the child keeps the parent's (host root's) credentials.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS: TestRootlessOverlayHelper") {
		t.Fatalf("rootless unpack and mount: %v\n%s", err, b)
	}
	if mounted(t, filepath.Join(work, "merged")) {
		t.Error("the user namespace's mount is visible on the host")
	}
}
