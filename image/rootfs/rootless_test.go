package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/image/internal/asuser"
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
	work := asuser.Dir(t)
	asuser.Run(t, "TestRootlessOverlayHelper", rootlessEnv, work, asuser.UserNamespace())
	if mounted(t, filepath.Join(work, "merged")) {
		t.Error("the user namespace's mount is visible on the host")
	}
}
