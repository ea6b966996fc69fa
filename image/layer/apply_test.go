package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestApplyEntryTypes(t *testing.T) {
	requireRoot(t)
	dirT := dir("etc/")
	dirT.Mode = 0o1777 // sticky, as /tmp
	suid := file("bin/su", "#!/bin/sh\n")
	suid.Mode, suid.Uid, suid.Gid = 0o4755, 0, 0
	owned := file("home/u/f", "x")
	owned.Uid, owned.Gid, owned.Mode = 1000, 1001, 0o640
	owned.PAXRecords = map[string]string{"SCHILY.xattr.user.hull": "yes"}
	sgid := dir("var/mail")
	sgid.Mode = 0o2775
	link := symlink("bin/sh", "busybox")
	link.ModTime = epoch.Add(-3600e9)
	link.Uid, link.Gid = 7, 8
	char := e{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}}
	blk := e{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/loop9", Mode: 0o660, Devmajor: 7, Devminor: 9, ModTime: epoch}}
	fifo := e{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620, ModTime: epoch}}
	data := mktar(t, dirT, file("bin/busybox", "ELF"), suid, owned, sgid, link,
		hardlink("bin/ls", "bin/busybox"), char, blk, fifo, dir("./"))

	root := t.TempDir()
	st, err := Apply(context.Background(), root, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 11 {
		t.Errorf("Stats.Entries = %d, want 11", st.Entries)
	}

	lstat := func(name string) unix.Stat_t {
		t.Helper()
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, name), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		mode     uint32 // type and permission bits
		uid, gid uint32
	}{
		{"etc", unix.S_IFDIR | 0o1777, 0, 0},
		{"bin/su", unix.S_IFREG | 0o4755, 0, 0},
		{"home/u/f", unix.S_IFREG | 0o640, 1000, 1001},
		{"var/mail", unix.S_IFDIR | 0o2775, 0, 0},
		{"bin/sh", unix.S_IFLNK | 0o777, 7, 8},
		{"dev/null", unix.S_IFCHR | 0o666, 0, 0},
		{"dev/loop9", unix.S_IFBLK | 0o660, 0, 0},
		{"run/fifo", unix.S_IFIFO | 0o620, 0, 0},
		{"home", unix.S_IFDIR | 0o755, 0, 0}, // implicit parent
	} {
		s := lstat(tc.name)
		if s.Mode != tc.mode || s.Uid != tc.uid || s.Gid != tc.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", tc.name, s.Mode, s.Uid, s.Gid, tc.mode, tc.uid, tc.gid)
		}
	}
	if s := lstat("dev/null"); unix.Major(s.Rdev) != 1 || unix.Minor(s.Rdev) != 3 {
		t.Errorf("dev/null is %d:%d, want 1:3", unix.Major(s.Rdev), unix.Minor(s.Rdev))
	}
	if a, b := lstat("bin/ls"), lstat("bin/busybox"); a.Ino != b.Ino {
		t.Errorf("bin/ls is not a hardlink of bin/busybox")
	}
	if tgt, _ := os.Readlink(filepath.Join(root, "bin/sh")); tgt != "busybox" {
		t.Errorf("bin/sh -> %q, want busybox", tgt)
	}
	if s := lstat("bin/sh"); s.Mtim.Sec != link.ModTime.Unix() {
		t.Errorf("symlink mtime %d, want %d", s.Mtim.Sec, link.ModTime.Unix())
	}
	for _, name := range []string{"etc", "bin/busybox", "var/mail", "."} {
		if s := lstat(name); s.Mtim.Sec != epoch.Unix() {
			t.Errorf("%s mtime %d, want %d", name, s.Mtim.Sec, epoch.Unix())
		}
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(root, "home/u/f"), "user.hull", buf)
	if err != nil || string(buf[:n]) != "yes" {
		t.Errorf("user.hull xattr = %q, %v; want yes", buf[:n], err)
	}
}

func TestApplyReplaces(t *testing.T) {
	root := t.TempDir()
	data := mktar(t,
		file("a", "1"), dir("a/"), file("a/x", "2"), // file replaced by directory
		dir("b/"), file("b/y", "3"), file("b", "4"), // directory replaced by file
		symlink("c", "b"), file("c", "5"), // symlink replaced, not written through
	)
	if _, err := Apply(context.Background(), root, bytes.NewReader(data), WithoutOwnership()); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, root)
	for name, want := range map[string]string{"/a/x": "2", "/b": "4", "/c": "5"} {
		if g := got[name]; g == "" || g[len(g)-71:] != sha([]byte(want)) {
			t.Errorf("%s = %q, want content %q", name, g, want)
		}
	}
}

func TestOverlayWhiteouts(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	data := mktar(t, dir("etc/"), file("etc/.wh.motd", ""), dir("usr/"), file("usr/share/.wh..wh..opq", ""), file("usr/share/new", "n"))
	st, err := Apply(context.Background(), root, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if st.Whiteouts != 2 {
		t.Errorf("Stats.Whiteouts = %d, want 2", st.Whiteouts)
	}
	var s unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "etc/motd"), &s); err != nil || s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
		t.Errorf("etc/motd: mode %o rdev %d err %v, want a 0/0 character device", s.Mode, s.Rdev, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/.wh.motd")); !os.IsNotExist(err) {
		t.Errorf("the .wh. file itself was written: %v", err)
	}
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(root, "usr/share"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("usr/share trusted.overlay.opaque = %q, %v; want y", buf[:n], err)
	}
}

func TestFlatten(t *testing.T) {
	root := t.TempDir()
	layers := [][]byte{
		mktar(t, file("a", "1"), dir("b/"), file("b/x", "2"), dir("c/"), file("c/y", "3"), dir("c/d/"), file("c/d/z", "4")),
		// Opaque after an entry of the same layer: that entry survives.
		mktar(t, file(".wh.a", ""), file("c/kept", "5"), file("c/.wh..wh..opq", ""), file("b/.wh.x", ""), file(".wh.never-existed", "")),
	}
	for i, l := range layers {
		if _, err := Apply(context.Background(), root, bytes.NewReader(l), WithMode(Flatten), WithoutOwnership()); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	var names []string
	for n := range snapshot(t, root) {
		names = append(names, n)
	}
	want := map[string]bool{"": true, "/b": true, "/c": true, "/c/kept": true}
	got := map[string]bool{}
	for _, n := range names {
		got[n] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flattened tree = %v, want %v", got, want)
	}
}

// TestHostileLayers is the heart of the package: each layer tries to write
// or delete outside the layer directory; each must fail naming the entry,
// and the host side must be byte-for-byte unchanged.
func TestHostileLayers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layers  [][]e // applied in order; the last one must fail
		bad     string
		mode    Mode
		wantErr error
	}{
		{name: "dotdot", layers: [][]e{{file("../outside/victim", "pwned")}}, bad: "../outside/victim", wantErr: ErrUnsafe},
		{name: "dotdot inside", layers: [][]e{{file("a/../../outside/new", "pwned")}}, bad: "a/../../outside/new", wantErr: ErrUnsafe},
		{name: "absolute", layers: [][]e{{file("/OUTSIDE/victim", "pwned")}}, bad: "/OUTSIDE/victim", wantErr: ErrUnsafe},
		{name: "through relative symlink", layers: [][]e{{symlink("evil", "../outside"), file("evil/victim", "pwned")}}, bad: "evil/victim", wantErr: ErrUnsafe},
		{name: "through absolute symlink", layers: [][]e{{symlink("evil", "/OUTSIDE"), file("evil/new", "pwned")}}, bad: "evil/new", wantErr: ErrUnsafe},
		{name: "symlink dir then mkdir", layers: [][]e{{symlink("evil", "/OUTSIDE"), dir("evil/sub/")}}, bad: "evil/sub/", wantErr: ErrUnsafe},
		{name: "symlink from earlier layer", mode: Flatten, layers: [][]e{{symlink("evil", "/OUTSIDE")}, {file("evil/victim", "pwned")}}, bad: "evil/victim", wantErr: ErrUnsafe},
		{name: "hardlink dotdot", layers: [][]e{{hardlink("h", "../outside/victim")}}, bad: "h", wantErr: ErrUnsafe},
		{name: "hardlink absolute", layers: [][]e{{hardlink("h", "/OUTSIDE/victim")}}, bad: "h", wantErr: ErrUnsafe},
		{name: "hardlink through symlink", layers: [][]e{{symlink("d", "/OUTSIDE"), hardlink("h", "d/victim")}}, bad: "h", wantErr: ErrUnsafe},
		{name: "whiteout through symlink", mode: Flatten, layers: [][]e{{symlink("d", "/OUTSIDE")}, {file("d/.wh.victim", "")}}, bad: "d/.wh.victim", wantErr: ErrUnsafe},
		{name: "opaque through symlink", mode: Flatten, layers: [][]e{{symlink("d", "/OUTSIDE")}, {file("d/.wh..wh..opq", "")}}, bad: "d/.wh..wh..opq", wantErr: ErrUnsafe},
		{name: "overlay whiteout through symlink", layers: [][]e{{symlink("d", "/OUTSIDE"), file("d/.wh.victim", "")}}, bad: "d/.wh.victim", wantErr: ErrUnsafe},
		{name: "whiteout of dotdot", mode: Flatten, layers: [][]e{{dir("a/"), file("a/.wh..", "")}}, bad: "a/.wh..", wantErr: ErrUnsafe},
		{name: "overlay xattr", layers: [][]e{{{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/OUTSIDE"}}}}}, bad: "d/", wantErr: ErrUnsafe},
		{name: "userxattr overlay xattr", layers: [][]e{{{Header: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.user.overlay.opaque": "y"}}}}}, bad: "d/", wantErr: ErrUnsafe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sandbox := t.TempDir()
			layerDir := filepath.Join(sandbox, "layer")
			outside := filepath.Join(sandbox, "outside")
			for _, d := range []string{layerDir, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, outside)
			for i, l := range tc.layers {
				for j := range l {
					l[j].Name = replaceOutside(l[j].Name, outside)
					l[j].Linkname = replaceOutside(l[j].Linkname, outside)
					for k, v := range l[j].PAXRecords {
						l[j].PAXRecords[k] = replaceOutside(v, outside)
					}
				}
				_, err := Apply(context.Background(), layerDir, bytes.NewReader(mktar(t, l...)), WithMode(tc.mode), WithoutOwnership())
				if i < len(tc.layers)-1 {
					if err != nil {
						t.Fatalf("setup layer %d: %v", i, err)
					}
					continue
				}
				var ee *EntryError
				if !errors.As(err, &ee) || replaceOutside(tc.bad, outside) != ee.Name || !errors.Is(err, tc.wantErr) {
					t.Fatalf("Apply = %v, want an *EntryError for %q wrapping %v", err, tc.bad, tc.wantErr)
				}
				t.Logf("rejected: %v", err)
			}
			if after := snapshot(t, outside); !reflect.DeepEqual(before, after) {
				t.Errorf("host side changed:\nbefore %v\nafter  %v", before, after)
			}
			entries, _ := os.ReadDir(sandbox)
			if len(entries) != 2 {
				t.Errorf("sandbox has %d entries, want only layer/ and outside/", len(entries))
			}
		})
	}
}

func replaceOutside(s, outside string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("/OUTSIDE"), []byte(outside)))
}
