// Package fscopy copies directory trees as a container runtime needs them
// copied: directories, regular files and symbolic links, each with its
// owner, mode (setuid, setgid and sticky bits included) and modification
// time. Device nodes, fifos and sockets are skipped: the two users, a
// tmpfs mount's copy-up of the image's directory (runtime) and a new
// volume's seeding from the image (the container engine), have no use
// for them.
package fscopy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Tree copies the contents of directory src into the existing directory
// dst, and src's owner, mode and time onto dst. A file that already
// exists in dst is an error (EEXIST); a directory is merged. src itself
// is followed when it is a symbolic link, as /proc/self/fd/N is; links
// below it are copied as links.
func Tree(src, dst string) error {
	src += string(filepath.Separator) + "." // WalkDir does not follow a link at its root
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		// os.FileInfo carries syscall's Stat_t, not x/sys/unix's.
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("lstat %s: no owner in %T", path, fi.Sys())
		}
		switch {
		case fi.IsDir():
			if rel != "." {
				if err := os.Mkdir(to, fi.Mode().Perm()); err != nil && !errors.Is(err, os.ErrExist) {
					return err
				}
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := File(path, to, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil
		}
		if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			// chown clears the setuid and setgid bits: the mode goes last.
			if err := os.Chmod(to, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
				return err
			}
		}
		ts := []unix.Timespec{unix.NsecToTimespec(fi.ModTime().UnixNano()), unix.NsecToTimespec(fi.ModTime().UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, to, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "utimensat", Path: to, Err: err}
		}
		return nil
	})
}

// File copies the regular file from into a new file to, created with
// perm (before the umask); an existing to is an error.
func File(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
