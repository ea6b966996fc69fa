package fscopy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTree copies a tree made on this filesystem and reads the copy back
// with lstat: contents, owners, modes with their special bits, times and
// link targets arrive; a fifo does not.
func TestTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another owner needs root (CI runs the tests as root)")
	}
	src, dst := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "d/e"), 0o750))
	must(os.WriteFile(filepath.Join(src, "d/e/f"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(src, "suid"), []byte("#!"), 0o755))
	must(os.Chown(filepath.Join(src, "suid"), 1000, 1000))
	must(os.Chmod(filepath.Join(src, "suid"), 0o4755))
	must(os.Chmod(filepath.Join(src, "d"), 0o1777))
	must(os.Symlink("d/e/f", filepath.Join(src, "link")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(os.Chtimes(filepath.Join(src, "d/e/f"), old, old))
	must(os.Chown(src, 1234, 1234))

	must(Tree(src, dst))

	for _, tc := range []struct {
		rel      string
		mode     fs.FileMode
		uid, gid uint32
	}{
		{".", fs.ModeDir | 0o755, 1234, 1234}, // t.TempDir's mode
		{"d", fs.ModeDir | fs.ModeSticky | 0o777, 0, 0},
		{"d/e/f", 0o644, 0, 0},
		{"suid", fs.ModeSetuid | 0o755, 1000, 1000},
		{"link", fs.ModeSymlink | 0o777, 0, 0},
	} {
		fi, err := os.Lstat(filepath.Join(dst, tc.rel))
		if err != nil {
			t.Errorf("lstat %s: %v", tc.rel, err)
			continue
		}
		want, _ := os.Lstat(filepath.Join(src, tc.rel))
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want.Mode() || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", tc.rel, fi.Mode(), st.Uid, st.Gid, want.Mode(), tc.uid, tc.gid)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "link")); err != nil || string(b) != "hello" {
		t.Errorf("link reads %q, %v; want \"hello\"", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d/e/f")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("d/e/f mtime %v, %v; want %v", fi.ModTime(), err, old)
	}
	if _, err := os.Lstat(filepath.Join(dst, "fifo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the fifo was copied (lstat: %v)", err)
	}
	// A file already in the destination is not overwritten.
	if err := Tree(src, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Tree into the same dst = %v, want EEXIST", err)
	}
}
