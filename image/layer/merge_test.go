package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// TestMergeMatchesFlatten: merging the layer directories a pull stores
// gives the tree that applying the layer tars one over the other
// (Flatten) gives, entry by entry: whiteouts, opaque directories, owners,
// set-ID bits, xattrs, device nodes, fifos, symlinks, mtimes; and files
// hardlinked in a layer stay one inode.
func TestMergeMatchesFlatten(t *testing.T) {
	testvm.Require(t, testvm.Root) // owners, device nodes
	dev := func(typ byte, name string, major, minor int64) registrytest.Entry {
		return registrytest.Entry{Header: tar.Header{Typeflag: typ, Name: name, Mode: 0o660, Devmajor: major, Devminor: minor,
			Uid: 0, Gid: 6, ModTime: registrytest.Epoch, Format: tar.FormatPAX}}
	}
	ping := registrytest.File("bin/ping", 0o755, "ELF ping")
	ping.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
	layers := append(registrytest.Layered(t),
		[]registrytest.Entry{
			registrytest.Dir("dev/", 0o755), dev(tar.TypeChar, "dev/null", 1, 3), dev(tar.TypeBlock, "dev/loop9", 7, 9),
			registrytest.Symlink("var/www/home", "/elsewhere"), // replaces the lower layer's link
			registrytest.Dir("link2dir/", 0o700), registrytest.File("link2dir/f", 0o600, "f"),
			ping,
		},
		[]registrytest.Entry{
			// A directory where the layer below had a symlink: the
			// merge must replace the link, not write through it.
			registrytest.Symlink("link2dir", "/"),
			registrytest.Dir("sub/", 0o755), registrytest.File("sub/.wh..wh..opq", 0o644, ""),
			registrytest.File("bin/.wh.su", 0o644, ""), // one of two hardlinked names goes
		},
		[]registrytest.Entry{
			registrytest.Dir("link2dir/", 0o755), registrytest.File("link2dir/g", 0o644, "g"),
		},
	)
	tmp := t.TempDir()
	want := filepath.Join(tmp, "want")
	got := filepath.Join(tmp, "got")
	var dirs []string
	for i, es := range layers {
		raw := registrytest.Tar(t, es...)
		d := filepath.Join(tmp, "layer"+strconv.Itoa(i))
		for _, p := range []string{d, want} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := layer.Apply(context.Background(), d, bytes.NewReader(raw)); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if _, err := layer.Apply(context.Background(), want, bytes.NewReader(raw), layer.WithMode(layer.Flatten)); err != nil {
			t.Fatalf("layer %d, flattened: %v", i, err)
		}
		dirs = append(dirs, d)
	}
	if err := os.Mkdir(got, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := layer.Merge(context.Background(), got, dirs); err != nil {
		t.Fatal(err)
	}
	w, g := registrytest.Tree(t, want), registrytest.Tree(t, got)
	if diff := registrytest.DiffTrees(g, w); len(diff) > 0 {
		t.Errorf("Merge and Flatten differ (first Merge, then Flatten):\n%s", strings.Join(diff, "\n"))
	}
	for _, name := range []string{"dev/null", "dev/loop9", "bin/ping", "var/fifo", "bin/su2", "link2dir/g"} {
		if _, ok := g[name]; !ok {
			t.Errorf("%s missing from the merge", name)
		}
	}
	if _, ok := g["link2dir/f"]; ok {
		t.Error("link2dir/f survived the symlink that replaced its directory")
	}
	// bin/busybox and bin/ls come from one tar hardlink.
	var a, b unix.Stat_t
	if err := unix.Lstat(filepath.Join(got, "bin/busybox"), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(got, "bin/ls"), &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("bin/busybox and bin/ls: inodes %d and %d, %d links; want one inode, 2 links", a.Ino, b.Ino, a.Nlink)
	}
}
