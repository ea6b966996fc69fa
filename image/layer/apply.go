package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mode says what a whiteout becomes.
type Mode int

const (
	// Overlay keeps one directory per layer for overlayfs: whiteouts become
	// 0/0 character devices, opaque markers the trusted.overlay.opaque xattr.
	Overlay Mode = iota
	// Flatten applies a layer on top of the layers already in the
	// directory: whiteouts delete.
	Flatten
)

func (m Mode) String() string {
	switch m {
	case Overlay:
		return "overlay"
	case Flatten:
		return "flatten"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Option changes how Apply behaves.
type Option func(*options) error

type options struct {
	mode     Mode
	chown    bool
	rootless bool
	// deferModes, when set (by Merge), collects the final modes of the
	// directories a rootless Apply keeps writable, to be set once the
	// last layer is applied.
	deferModes map[string]uint32
}

// WithMode selects how whiteouts are applied. Default: Overlay.
func WithMode(m Mode) Option {
	return func(o *options) error {
		if m != Overlay && m != Flatten {
			return fmt.Errorf("unknown whiteout mode %v", m)
		}
		o.mode = m
		return nil
	}
}

// WithoutOwnership leaves every file owned by the calling user instead of
// the owner recorded in the layer, as an unprivileged (rootless) unpack
// must. Default: owners are applied.
func WithoutOwnership() Option {
	return func(o *options) error { o.chown = false; return nil }
}

// Rootless unpacks as an unprivileged user, as "umoci unpack --rootless"
// does: no owners (WithoutOwnership), device nodes skipped (counted in
// Stats.Skipped: only root may create them), opaque directories marked
// with user.overlay.opaque for an overlay mounted with "userxattr" in a
// user namespace, and directories kept writable by their owner until the
// layer is complete, so that a directory of mode 0555 can still receive
// its entries. Whiteouts need no privilege. xattrs outside user.* that
// the kernel refuses (security.capability, trusted.*) are skipped and
// counted in Stats.SkippedXattrs. Default: off.
func Rootless() Option {
	return func(o *options) error { o.chown, o.rootless = false, true; return nil }
}

func makeOptions(opts []Option) (options, error) {
	o := options{mode: Overlay, chown: true}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Stats counts what Apply wrote.
type Stats struct {
	Entries   int   // tar entries applied, whiteouts included
	Bytes     int64 // regular file content written
	Whiteouts int   // whiteout and opaque markers applied
	Skipped   int   // device nodes a Rootless unpack could not create
	// SkippedXattrs counts xattrs outside user.* (security.capability,
	// trusted.*) that a Rootless unpack was not allowed to set.
	SkippedXattrs int
}

// Apply reads an uncompressed tar stream from r and applies its entries to
// dir, which must exist. It stops at the end of the tar archive and does not
// read what follows (see [Unpack], which does, to verify a digest).
//
// On error, dir holds the entries applied before the failing one; callers
// unpack into a fresh directory and discard it on failure.
func Apply(ctx context.Context, dir string, r io.Reader, opts ...Option) (Stats, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return Stats{}, err
	}
	t, err := openTree(dir)
	if err != nil {
		return Stats{}, err
	}
	defer t.Close()
	a := &applier{t: t, o: o, buf: make([]byte, 128<<10)}
	if o.mode == Flatten {
		a.seen = make(map[string]bool)
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return a.stats, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.stats, fmt.Errorf("reading layer tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return a.stats, &EntryError{Name: hdr.Name, Err: err}
		}
		a.stats.Entries++
	}
	return a.stats, a.dirTimes()
}

type applier struct {
	t     *tree
	o     options
	buf   []byte
	stats Stats
	// seen holds, in Flatten mode, every path this layer created (and
	// their parents): an opaque marker must not delete those.
	seen map[string]bool
	// dirs whose times are set once the layer is complete.
	dirs []dirTime
}

type dirTime struct {
	name         string
	atime, mtime time.Time
	mode         uint32 // final permission bits (Rootless: set last)
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // PAX global header: metadata for the archive, not a file
	case tar.TypeGNUSparse:
		return errors.New("GNU sparse files are not supported in image layers")
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	parent, base := path.Dir(name), path.Base(name)
	if name != "." && strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(parent, base)
	}
	if a.seen != nil {
		for p := name; p != "."; p = path.Dir(p) {
			a.seen[p] = true
		}
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the layer root can only be a directory")
		}
		return a.meta(a.t.fd, ".", -1, hdr, name)
	}
	pfd, err := a.t.dir(parent, true)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		isDir, err := a.clear(pfd, base, true)
		if err != nil {
			return err
		}
		if !isDir {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return pathErr("mkdirat", name, err)
			}
		}
		return a.meta(pfd, base, -1, hdr, name)

	case tar.TypeReg: // the reader turns the old TypeRegA into TypeReg or TypeDir
		if _, err := a.clear(pfd, base, false); err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return pathErr("openat", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		n, err := io.CopyBuffer(f, r, a.buf)
		a.stats.Bytes += n
		if err != nil {
			return fmt.Errorf("writing content: %w", err)
		}
		if err := a.meta(pfd, base, fd, hdr, name); err != nil {
			return err
		}
		return f.Close()

	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return errors.New("symlink with an empty target")
		}
		if _, err := a.clear(pfd, base, false); err != nil {
			return err
		}
		// The target is stored, never followed here: symlinkat(2) does
		// not resolve it, and later entries refuse to cross it.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return pathErr("symlinkat", name, err)
		}
		return a.meta(pfd, base, -1, hdr, name)

	case tar.TypeLink:
		return a.hardlink(pfd, base, name, hdr.Linkname)

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if _, err := a.clear(pfd, base, false); err != nil {
			return err
		}
		mode := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, mode|0o600, dev); err != nil {
			if a.o.rootless && err == unix.EPERM && hdr.Typeflag != tar.TypeFifo {
				a.stats.Skipped++
				return nil
			}
			return pathErr("mknodat", name, err)
		}
		return a.meta(pfd, base, -1, hdr, name)
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

// hardlink links name to target, both inside the layer. The target's
// parent is resolved the same way as any entry's, and linkat(2) without
// AT_SYMLINK_FOLLOW links a symlink itself rather than what it points to,
// so a hardlink can never reach a host file.
func (a *applier) hardlink(pfd int, base, name, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	if target == "." {
		return fmt.Errorf("hardlink target %q is the layer root", linkname)
	}
	if target == name {
		return nil
	}
	tfd, err := a.t.openDir(path.Dir(target), false)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, pathErr("fstatat", target, err))
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hardlink target %q is a directory", linkname)
	}
	// pfd comes from the cache, and openDir above did not disturb it.
	if _, err := a.clear(pfd, base, false); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, path.Base(target), pfd, base, 0); err != nil {
		return pathErr("linkat", name, err)
	}
	return nil
}

// whiteout applies ".wh.NAME" or ".wh..wh..opq" found in directory parent.
func (a *applier) whiteout(parent, base string) error {
	a.stats.Whiteouts++
	switch {
	case base == whiteoutOpaque:
		if a.o.mode == Overlay {
			pfd, err := a.t.dir(parent, true)
			if err != nil {
				return err
			}
			fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return pathErr("openat", parent, err)
			}
			defer unix.Close(fd)
			attr := overlayOpaqueXattr
			if a.o.rootless {
				attr = userOpaqueXattr
			}
			if err := unix.Fsetxattr(fd, attr, []byte("y"), 0); err != nil {
				return pathErr("fsetxattr "+attr, parent, err)
			}
			return nil
		}
		return a.opaque(parent)

	case strings.HasPrefix(base, whiteoutMeta):
		return nil // other AUFS metadata (.wh..wh.plnk, ...): nothing to apply

	default:
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			return fmt.Errorf("%w: whiteout of %q", ErrUnsafe, victim)
		}
		if a.o.mode == Flatten {
			pfd, err := a.t.dir(parent, false)
			if errors.Is(err, unix.ENOENT) {
				return nil // nothing below to delete
			}
			if err != nil {
				return err
			}
			return a.removeAt(pfd, victim)
		}
		pfd, err := a.t.dir(parent, true)
		if err != nil {
			return err
		}
		if _, err := a.clear(pfd, victim, false); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, victim, unix.S_IFCHR, overlayWhiteoutDev); err != nil {
			return pathErr("mknodat whiteout", path.Join(parent, victim), err)
		}
		return nil
	}
}

// opaque deletes, in Flatten mode, the children of dir that this layer did
// not create itself.
func (a *applier) opaque(dir string) error {
	pfd, err := a.t.dir(dir, true)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathErr("openat", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !a.seen[path.Join(dir, n)] {
			if err := a.removeAt(fd, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// clear makes room for a new entry called base in pfd: anything already
// there is removed, except a directory when a directory is wanted (tar
// semantics: a directory entry only updates an existing one's metadata).
// It reports whether a directory was kept.
func (a *applier) clear(pfd int, base string, wantDir bool) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, pathErr("fstatat", base, err)
	}
	if wantDir && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return true, nil
	}
	return false, a.removeAt(pfd, base)
}

// removeAt deletes name in dirfd and, if it is a directory, everything in
// it, never following a symlink.
func (a *applier) removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return pathErr("unlinkat", name, err)
	}
	a.t.invalidate() // the cached parent may live inside this directory
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathErr("openat", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = a.removeAt(fd, n); err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
		return pathErr("unlinkat", name, err)
	}
	return nil
}

// meta applies owner, mode, xattrs and times to base in pfd. fd is an open
// descriptor of a regular file, or -1.
func (a *applier) meta(pfd int, base string, fd int, hdr *tar.Header, name string) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if a.o.chown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("fchownat", name, err)
		}
	}
	// After chown, which clears the set-ID bits.
	if !isLink {
		perm := uint32(hdr.Mode) & 0o7777
		if a.o.rootless && hdr.Typeflag == tar.TypeDir {
			perm |= 0o700 // until dirTimes: its entries are still to come
		}
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, perm)
		} else {
			// Not a symlink (we created it): fchmodat cannot be fooled.
			err = unix.Fchmodat(pfd, base, perm, 0)
		}
		if err != nil {
			return pathErr("fchmodat", name, err)
		}
	}
	// After chown too, which clears security.capability.
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok {
			continue
		}
		if reservedXattr(attr) {
			return fmt.Errorf("%w: xattr %q is reserved for overlayfs", ErrUnsafe, attr)
		}
		if err := setxattr(pfd, base, fd, attr, []byte(v)); err != nil {
			if isLink && strings.HasPrefix(attr, "user.") && errors.Is(err, unix.EPERM) {
				continue // the kernel allows no user.* xattrs on symlinks
			}
			if a.o.rootless && !strings.HasPrefix(attr, "user.") && errors.Is(err, unix.EPERM) {
				// security.capability, trusted.*: privileged namespaces.
				a.stats.SkippedXattrs++
				continue
			}
			return err
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirs = append(a.dirs, dirTime{name: name, atime: atime, mtime: hdr.ModTime, mode: uint32(hdr.Mode) & 0o7777})
		return nil
	}
	return utimes(pfd, base, atime, hdr.ModTime, name)
}

func setxattr(pfd int, base string, fd int, attr string, val []byte) error {
	if fd >= 0 {
		if err := unix.Fsetxattr(fd, attr, val, 0); err != nil {
			return pathErr("fsetxattr "+attr, base, err)
		}
		return nil
	}
	// Directories, symlinks, devices and fifos have no descriptor we could
	// write xattrs through without opening them (which, for a device or a
	// fifo, has side effects). /proc/self/fd/N reaches the parent we
	// already hold; lsetxattr does not follow the final component.
	p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	if base == "." {
		p = "/proc/self/fd/" + strconv.Itoa(pfd)
		if err := unix.Setxattr(p, attr, val, 0); err != nil {
			return pathErr("setxattr "+attr, base, err)
		}
		return nil
	}
	if err := unix.Lsetxattr(p, attr, val, 0); err != nil {
		return pathErr("lsetxattr "+attr, base, err)
	}
	return nil
}

func utimes(pfd int, base string, atime, mtime time.Time, name string) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr("utimensat", name, err)
	}
	return nil
}

// dirTimes sets directory times last, deepest first: writing a child
// changes its parent's mtime.
func (a *applier) dirTimes() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		pfd, base := a.t.fd, "."
		if d.name != "." {
			var err error
			pfd, err = a.t.dir(path.Dir(d.name), false)
			if errors.Is(err, unix.ENOENT) {
				continue // removed later in the same layer
			}
			if err != nil {
				return &EntryError{Name: d.name, Err: err}
			}
			base = path.Base(d.name)
		}
		if err := utimes(pfd, base, d.atime, d.mtime, d.name); errors.Is(err, unix.ENOENT) {
			continue
		} else if err != nil {
			return &EntryError{Name: d.name, Err: err}
		}
		if !a.o.rootless {
			continue
		}
		if a.o.deferModes != nil { // a later layer may still write here
			a.o.deferModes[d.name] = d.mode
			continue
		}
		if d.mode&0o700 == 0o700 {
			continue
		}
		// chmod changes ctime only: the mtime just set stays.
		if err := unix.Fchmodat(pfd, base, d.mode, 0); err != nil {
			return &EntryError{Name: d.name, Err: pathErr("fchmodat", d.name, err)}
		}
	}
	return nil
}
