package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hullrt/hull/internal/fscopy"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Paths inside the container are resolved with openat2(2) and
// RESOLVE_IN_ROOT: ".." and absolute symlinks stop at the rootfs, as if
// the process were chrooted there, so an image cannot send a mount or a
// write to the host with a symlink. The resolved directory is then named
// to mount(2) as /proc/self/fd/N, which the kernel follows to exactly
// that inode, without looking at the path again.

// openInRoot opens p (a path in the container) below root with O_PATH.
func openInRoot(root *os.File, p string, flags int) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(int(root.Fd()), rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root.Name(), rel), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(root.Name(), rel)), nil
	}
}

// mkdirInRoot makes every missing directory of p below root, then (when
// file is set) an empty file as its last component, and opens the result
// with O_PATH. Each component is created relative to its already
// resolved parent, so a symlink swapped in meanwhile is still confined.
func mkdirInRoot(root *os.File, p string, file bool) (*os.File, error) {
	return mkdirInRootDepth(root, p, file, 0)
}

func mkdirInRootDepth(root *os.File, p string, file bool, depth int) (*os.File, error) {
	if depth > 40 {
		return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(root.Name(), p), Err: unix.ELOOP}
	}
	p = path.Clean("/" + p)
	if f, err := openInRoot(root, p, unix.O_PATH); err == nil {
		return f, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	parent, err := mkdirInRootDepth(root, path.Dir(p), false, depth+1)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	name := path.Base(p)
	// A dangling symlink (an image's /var/run -> /run, with /run not
	// made yet): make its target, resolved inside the root, instead.
	if target, err := readlinkat(parent, name); err == nil {
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		if _, err := mkdirInRootDepth(root, target, file, depth+1); err != nil {
			return nil, err
		}
		return openInRoot(root, p, unix.O_PATH)
	}
	if file {
		fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "create", Path: filepath.Join(root.Name(), p), Err: err}
		}
		if err == nil {
			unix.Close(fd)
		}
	} else if err := unix.Mkdirat(int(parent.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(root.Name(), p), Err: err}
	}
	return openInRoot(root, p, unix.O_PATH)
}

func readlinkat(dir *os.File, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func procFD(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// mount is mount(2) with an error that names the source and target.
func mount(source, target, fstype string, flags uintptr, data, shown string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			what := source
			if fstype != "" && flags&unix.MS_BIND == 0 {
				what = fstype
			}
			if what == "" {
				return fmt.Errorf("mount %s (%s): %w", shown, MountFlags(flags), err)
			}
			return fmt.Errorf("mount %s on %s (%s): %w", what, shown, MountFlags(flags), err)
		}
		return nil
	}
}

func (s *SetPropagation) run(c *initContext) error {
	return mount("", s.Target, "", uintptr(s.Flags), "", s.Target)
}

func (s *BindRootfs) run(c *initContext) error {
	if err := mount(s.Rootfs, s.Rootfs, "", unix.MS_BIND|unix.MS_REC, "", s.Rootfs); err != nil {
		return err
	}
	root, err := os.OpenFile(s.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.root = root
	return nil
}

func (m *Mount) run(c *initContext) error {
	shown := filepath.Join(c.plan.Rootfs, m.Dest)
	src := m.Source
	isFile := false
	if m.isBind() {
		if !filepath.IsAbs(src) {
			src = filepath.Join(c.plan.Bundle, src)
		}
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("bind mount source: %w", err)
		}
		isFile = !st.IsDir()
	}
	target, err := mkdirInRoot(c.root, m.Dest, isFile)
	if err != nil {
		return err
	}
	defer target.Close()
	if m.TmpCopyUp {
		return m.tmpCopyUp(c, target, shown)
	}
	if m.IDMap != nil {
		if err := m.idmapMount(src, target, shown); err != nil {
			return err
		}
		return m.finish(c, shown)
	}
	if err := mount(src, procFD(target), m.Type, uintptr(m.Flags), m.Data, shown); err != nil {
		return err
	}
	return m.finish(c, shown)
}

// finish applies what a mount(2) call could not: the remount of a bind
// mount with its flags, propagation, recursive attributes. It reopens
// the target, which is now the new mount's root.
func (m *Mount) finish(c *initContext, shown string) error {
	if m.Remount == 0 && len(m.Propagation) == 0 && m.RecSet == 0 && m.RecClr == 0 {
		return nil
	}
	t, err := openInRoot(c.root, m.Dest, unix.O_PATH)
	if err != nil {
		return err
	}
	defer t.Close()
	if m.Remount != 0 {
		flags := uintptr(m.Remount) | lockedFlags(procFD(t))
		if err := mount("", procFD(t), "", flags, "", shown); err != nil {
			return err
		}
	}
	for _, p := range m.Propagation {
		if err := mount("", procFD(t), "", uintptr(p), "", shown); err != nil {
			return err
		}
	}
	if m.RecSet != 0 || m.RecClr != 0 {
		attr := unix.MountAttr{Attr_set: uint64(m.RecSet), Attr_clr: uint64(m.RecClr)}
		if err := unix.MountSetattr(int(t.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return &os.PathError{Op: "mount_setattr", Path: shown, Err: err}
		}
	}
	return nil
}

// lockedFlags returns the flags of the mount at p that a remount in a
// user namespace may not clear (nodev, nosuid, noexec, ro, atime flags
// locked by the kernel when the mount came from a more privileged
// namespace): keeping them makes the remount legal.
func lockedFlags(p string) uintptr {
	var st unix.Statfs_t
	if unix.Statfs(p, &st) != nil {
		return 0
	}
	var out uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			out |= f.ms
		}
	}
	return out
}

// tmpCopyUp mounts the tmpfs on a private scratch directory, copies the
// image's directory into it, then moves it over the destination (runc's
// tmpcopyup extension, which podman sets on its tmpfs mounts).
func (m *Mount) tmpCopyUp(c *initContext, target *os.File, shown string) error {
	scratch, err := os.MkdirTemp("", "hull-tmpcopyup-")
	if err != nil {
		return err
	}
	defer os.Remove(scratch)
	if err := mount(m.Source, scratch, m.Type, uintptr(m.Flags), m.Data, shown); err != nil {
		return err
	}
	if err := fscopy.Tree(procFD(target), scratch); err != nil {
		unix.Unmount(scratch, unix.MNT_DETACH)
		return fmt.Errorf("tmpcopyup %s: %w", shown, err)
	}
	if err := mount(scratch, procFD(target), "", unix.MS_MOVE, "", shown); err != nil {
		unix.Unmount(scratch, unix.MNT_DETACH)
		return err
	}
	return m.finish(c, shown)
}

func (m *MountCgroup) run(c *initContext) error {
	shown := filepath.Join(c.plan.Rootfs, m.Dest)
	target, err := mkdirInRoot(c.root, m.Dest, false)
	if err != nil {
		return err
	}
	defer target.Close()
	base := uintptr(m.Flags) &^ unix.MS_RDONLY
	ro := uintptr(m.Flags) & unix.MS_RDONLY
	if len(c.plan.CgroupMounts) == 0 {
		// A cgroup2 host: the container's own cgroup as the root, through
		// its cgroup namespace, or its directory bound in.
		if m.CgroupNS {
			return mount("cgroup2", procFD(target), "cgroup2", base|ro, "", shown)
		}
		if c.plan.CgroupUnified == "" {
			return mount("cgroup2", procFD(target), "cgroup2", base|ro, "", shown)
		}
		if err := mount(c.plan.CgroupUnified, procFD(target), "", unix.MS_BIND|unix.MS_REC, "", shown); err != nil {
			return err
		}
		return remountInRoot(c.root, m.Dest, base|ro, shown)
	}
	// v1 or hybrid: a tmpfs holding one bind mount per hierarchy, each
	// with the mount's flags (ro, nosuid, ...), which MS_BIND ignores.
	// One mount_setattr(AT_RECURSIVE) on the tmpfs sets them on it and
	// on every bind at once, rather than a remount per bind (the ten
	// hierarchies of a hybrid host made it some forty system calls on
	// the init's way to its program); where the kernel refuses it
	// (before Linux 5.12, or a change a user namespace does not allow),
	// each bind is remounted as before.
	if err := mount("tmpfs", procFD(target), "tmpfs", base, "mode=755", shown); err != nil {
		return err
	}
	for name, dir := range c.plan.CgroupMounts {
		sub := path.Join(m.Dest, strings.TrimPrefix(name, "name="))
		t, err := mkdirInRoot(c.root, sub, false)
		if err != nil {
			return err
		}
		err = mount(dir, procFD(t), "", unix.MS_BIND|unix.MS_REC, "", filepath.Join(c.plan.Rootfs, sub))
		t.Close()
		if err != nil {
			return err
		}
		// "cpu,cpuacct" is also reachable as cpu and cpuacct.
		if strings.Contains(name, ",") {
			for _, alias := range strings.Split(name, ",") {
				dirfd, err := openInRoot(c.root, m.Dest, unix.O_PATH|unix.O_DIRECTORY)
				if err != nil {
					return err
				}
				_ = unix.Symlinkat(name, int(dirfd.Fd()), alias)
				dirfd.Close()
			}
		}
	}
	t, err := openInRoot(c.root, m.Dest, unix.O_PATH)
	if err != nil {
		return err
	}
	defer t.Close()
	attr := bindAttr(base | ro)
	if unix.MountSetattr(int(t.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr) != nil {
		for name := range c.plan.CgroupMounts {
			// The remount must name the new mount, not the directory
			// under it.
			sub := path.Join(m.Dest, strings.TrimPrefix(name, "name="))
			if err := remountInRoot(c.root, sub, base|ro, filepath.Join(c.plan.Rootfs, sub)); err != nil {
				return err
			}
		}
	}
	if ro != 0 { // the tmpfs itself, as its superblock too
		return mount("", procFD(t), "", unix.MS_REMOUNT|base|ro, "mode=755", shown)
	}
	return nil
}

// bindAttr is mount_setattr(2)'s form of the per-mount flags that a
// remount of a bind mount (MS_BIND|MS_REMOUNT) applies: the others are
// the superblock's, which a bind mount shares and does not change. An
// atime mode is set only when the flags name one, as a remount keeps
// the mount's own otherwise.
func bindAttr(flags uintptr) unix.MountAttr {
	var a unix.MountAttr
	for _, f := range []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME}, {unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	} {
		if flags&f.ms != 0 {
			a.Attr_set |= f.attr
		}
	}
	switch {
	case flags&unix.MS_NOATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_NOATIME
	case flags&unix.MS_STRICTATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
	case flags&unix.MS_RELATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_RELATIME
	default:
		return a
	}
	a.Attr_clr = unix.MOUNT_ATTR__ATIME
	return a
}

// remountInRoot remounts the bind mount at p (in the container) with
// flags, keeping the flags the kernel locked on it.
func remountInRoot(root *os.File, p string, flags uintptr, shown string) error {
	t, err := openInRoot(root, p, unix.O_PATH)
	if err != nil {
		return err
	}
	defer t.Close()
	return mount("", procFD(t), "", unix.MS_BIND|unix.MS_REMOUNT|flags|lockedFlags(procFD(t)), "", shown)
}

func (d *Device) run(c *initContext) error {
	shown := filepath.Join(c.plan.Rootfs, d.Path)
	if d.Bind {
		t, err := mkdirInRoot(c.root, d.Path, true)
		if err != nil {
			return err
		}
		defer t.Close()
		return mount(d.Path, procFD(t), "", unix.MS_BIND, "", shown)
	}
	dir, err := mkdirInRoot(c.root, path.Dir(d.Path), false)
	if err != nil {
		return err
	}
	defer dir.Close()
	var kind uint32
	switch d.Type {
	case "c", "u":
		kind = unix.S_IFCHR
	case "b":
		kind = unix.S_IFBLK
	case "p":
		kind = unix.S_IFIFO
	}
	name := path.Base(d.Path)
	_ = unix.Unlinkat(int(dir.Fd()), name, 0)
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(int(dir.Fd()), name, kind|uint32(d.Mode.Perm()), int(dev)); err != nil {
		return &os.PathError{Op: "mknod", Path: shown, Err: err}
	}
	// mknod applies the umask; the spec's mode is exact.
	if err := unix.Fchmodat(int(dir.Fd()), name, uint32(d.Mode.Perm()), 0); err != nil {
		return &os.PathError{Op: "chmod", Path: shown, Err: err}
	}
	if err := unix.Fchownat(int(dir.Fd()), name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: shown, Err: err}
	}
	return nil
}

func (s *Symlink) run(c *initContext) error {
	dir, err := mkdirInRoot(c.root, path.Dir(s.Link), false)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Symlinkat(s.Target, int(dir.Fd()), path.Base(s.Link)); err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "symlink", Path: filepath.Join(c.plan.Rootfs, s.Link), Err: err}
	}
	return nil
}

func (p *PivotRoot) run(c *initContext) error {
	// pivot_root(2) fails with EINVAL when the mount holding the new
	// root is shared (rootfsPropagation "shared"): make that one mount
	// private first, as runc does. The rootfs mount keeps its own
	// propagation.
	if parent, shared := parentMount(p.Rootfs); shared {
		if err := mount("", parent, "", unix.MS_PRIVATE, "", parent); err != nil {
			return err
		}
	}
	shared := p.Propagation&unix.MS_SHARED != 0
	if shared {
		// Neither may new_root itself be shared: private now, shared
		// again once it is "/".
		if err := mount("", p.Rootfs, "", unix.MS_PRIVATE, "", p.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Chdir(p.Rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: p.Rootfs, Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: p.Rootfs, Err: err}
	}
	// The old root is now stacked on ".": make it a slave so that the
	// detach below does not propagate to the host, then drop it.
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, "", "old root"); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount2", Path: "old root", Err: err}
	}
	if shared {
		if err := mount("", "/", "", uintptr(p.Propagation), "", "/"); err != nil {
			return err
		}
	}
	return c.afterRootChange()
}

func (p *MoveRoot) run(c *initContext) error {
	if err := unix.Chdir(p.Rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: p.Rootfs, Err: err}
	}
	if err := mount(p.Rootfs, "/", "", unix.MS_MOVE, "", "/"); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: p.Rootfs, Err: err}
	}
	return c.afterRootChange()
}

func (p *Chroot) run(c *initContext) error {
	if err := unix.Chdir(p.Dir); err != nil {
		return &os.PathError{Op: "chdir", Path: p.Dir, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: p.Dir, Err: err}
	}
	return c.afterRootChange()
}

// releaseRootfs undoes what a container without a mount namespace of its
// own left in the host's: the bind of its rootfs onto itself (BindRootfs)
// and every mount the init made below it, which one lazy unmount of the
// bind detaches together. It does nothing for a container with a mount
// namespace (its mounts went with it), nor when the top mount at rootfs is
// not a bind of the rootfs onto itself (the init died before making it:
// what is there is the caller's). Create's cleanup and delete call it
// with the linux section of the container's spec (nil for none).
func releaseRootfs(linux *linuxView, rootfs string) error {
	if linux == nil || rootfs == "" {
		return nil
	}
	for _, n := range linux.Namespaces {
		if n.Type == specs.MountNamespace {
			return nil
		}
	}
	if real, err := filepath.EvalSymlinks(rootfs); err == nil {
		rootfs = real
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if !selfBindOnTop(string(b), rootfs) {
		return nil
	}
	if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
		return &os.PathError{Op: "umount2(MNT_DETACH)", Path: rootfs, Err: err}
	}
	return nil
}

// selfBindOnTop reports whether the last mount on dir in mountinfo shows
// the very directory it covers: same device, and a root that is its
// parent mount's root joined with dir's place below that mount's point.
// A bind of dir onto itself is such a mount; another file system (an
// image's overlay) or a bind from elsewhere is not.
func selfBindOnTop(mountinfo, dir string) bool {
	type entry struct{ id, parent, dev, root, point string }
	byID := map[string]entry{}
	var on []entry // the mounts on dir, stacked
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		e := entry{f[0], f[1], f[2], unescapeMountinfo(f[3]), unescapeMountinfo(f[4])}
		byID[e.id] = e
		if e.point == dir {
			on = append(on, e)
		}
	}
	// The top one is the parent of no other mount on dir.
	var top *entry
	for i := range on {
		covered := false
		for _, o := range on {
			covered = covered || o.parent == on[i].id
		}
		if !covered {
			top = &on[i]
		}
	}
	if top == nil {
		return false
	}
	parent, ok := byID[top.parent]
	if !ok || parent.dev != top.dev {
		return false
	}
	rel, err := filepath.Rel(parent.point, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	return filepath.Join(parent.root, rel) == top.root
}

func (c *initContext) afterRootChange() error {
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	c.root.Close()
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.root = root
	return nil
}

func (m *MaskPath) run(c *initContext) error {
	t, err := openInRoot(c.root, m.Path, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer t.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(t.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: m.Path, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return mount("tmpfs", procFD(t), "tmpfs", unix.MS_RDONLY, "", m.Path)
	}
	return mount("/dev/null", procFD(t), "", unix.MS_BIND, "", m.Path)
}

func (r *ReadonlyPath) run(c *initContext) error {
	t, err := openInRoot(c.root, r.Path, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer t.Close()
	if err := mount(procFD(t), procFD(t), "", unix.MS_BIND|unix.MS_REC, "", r.Path); err != nil {
		return err
	}
	t2, err := openInRoot(c.root, r.Path, unix.O_PATH)
	if err != nil {
		return err
	}
	defer t2.Close()
	return mount("", procFD(t2), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags(procFD(t2)), "", r.Path)
}

func (ReadonlyRoot) run(c *initContext) error {
	return mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags("/"), "", "/")
}

// parentMount returns the mount point that holds dir's own mount (the
// longest mount point above dir, dir's mount excluded) and whether it is
// shared, from /proc/self/mountinfo.
func parentMount(dir string) (string, bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	best, shared := "", false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || !(mp == "/" || strings.HasPrefix(dir, mp+"/")) {
			continue
		}
		if len(mp) >= len(best) {
			best, shared = mp, false
			for _, opt := range f[6:] {
				if opt == "-" {
					break
				}
				if strings.HasPrefix(opt, "shared:") {
					shared = true
				}
			}
		}
	}
	return best, shared
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
