package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullrt/hull/image/internal/asuser"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

const rootlessEnv = "HULL_LAYER_ROOTLESS_DIR"

func rootlessLayers(t testing.TB) [][]byte {
	ro := dir("ro/")
	ro.Mode = 0o555
	secret := file("etc/secret", "s")
	secret.Mode = 0o400
	ping := file("bin/ping", "ELF")
	ping.Mode = 0o755
	ping.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
	return [][]byte{
		mktar(t, ro, file("ro/f", "f"), dir("opq/"), file("opq/old", "o"),
			e{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
			e{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}}, secret, ping),
		mktar(t, ro, file("ro/.wh.f", ""), file("ro/g", "g"), dir("opq/"), file("opq/.wh..wh..opq", ""), file("opq/new", "n")),
	}
}

// TestRootlessHelper is TestRootless's unprivileged half, run by it as
// uid 65534 in a copy of this test binary.
func TestRootlessHelper(t *testing.T) {
	work := os.Getenv(rootlessEnv)
	if work == "" {
		t.Skip("run by TestRootless")
	}
	var dirs []string
	for i, l := range rootlessLayers(t) {
		d := filepath.Join(work, "layer"+string(rune('0'+i)))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := Apply(context.Background(), d, bytes.NewReader(l), Rootless())
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if i == 0 && (st.Skipped != 1 || st.SkippedXattrs != 1) {
			t.Errorf("layer 0 skipped %d device nodes and %d xattrs, want 1 and 1", st.Skipped, st.SkippedXattrs)
		}
		dirs = append(dirs, d)
	}
	merged := filepath.Join(work, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Merge(context.Background(), merged, dirs, Rootless()); err != nil {
		t.Fatal(err)
	}
}

// TestRootless unpacks as an unprivileged user (uid 65534, no
// capabilities): directories of mode 0555 still receive their entries,
// device nodes are skipped, whiteouts are 0/0 devices (which need no
// privilege since Linux 5.8), opaque directories carry user.overlay.opaque,
// and Merge produces the same view as root would, owned by the user.
func TestRootless(t *testing.T) {
	testvm.Require(t, testvm.Root) // to become uid 65534
	work := asuser.Dir(t)
	asuser.Run(t, "TestRootlessHelper", rootlessEnv, work, asuser.Credential())

	lstat := func(p string) unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(work, p), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, tc := range []struct {
		path string
		mode uint32
	}{
		{"layer0/ro", unix.S_IFDIR | 0o555},
		{"layer0/ro/f", unix.S_IFREG | 0o644},
		{"layer0/etc/secret", unix.S_IFREG | 0o400},
		{"layer0/run/fifo", unix.S_IFIFO | 0o600},
		{"layer1/ro/f", unix.S_IFCHR}, // whiteout
		{"merged/ro", unix.S_IFDIR | 0o555},
		{"merged/ro/g", unix.S_IFREG | 0o644},
		{"merged/opq/new", unix.S_IFREG | 0o644},
	} {
		st := lstat(tc.path)
		if st.Mode&^0o600 != tc.mode&^0o600 || (tc.mode&unix.S_IFMT != unix.S_IFCHR && st.Mode != tc.mode) || st.Uid != 65534 {
			t.Errorf("%s: mode %o uid %d, want %o owned by 65534", tc.path, st.Mode, st.Uid, tc.mode)
		}
	}
	for _, gone := range []string{"layer0/dev/null", "merged/ro/f", "merged/opq/old"} {
		if _, err := os.Lstat(filepath.Join(work, gone)); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v), want it absent", gone, err)
		}
	}
	buf := make([]byte, 2)
	if n, err := unix.Lgetxattr(filepath.Join(work, "layer1/opq"), userOpaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("layer1/opq %s = %q, %v; want y", userOpaqueXattr, buf[:n], err)
	}
}
