package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/hullrt/hull/image/layer"
	"golang.org/x/sys/unix"
)

// Mount is a filesystem mount described as data.
type Mount struct {
	Type    string   `json:"type"`   // "overlay" or "bind"
	Source  string   `json:"source"` // "overlay", or the directory to bind
	Options []string `json:"options,omitempty"`
}

// String is the mount(8) command line that performs m.
func (m Mount) String() string {
	s := "mount -t " + m.Type
	if m.Type == "bind" {
		s = "mount --bind"
	}
	s += " " + m.Source
	if len(m.Options) > 0 {
		s += " -o " + strings.Join(m.Options, ",")
	}
	return s + " TARGET"
}

// Overlay describes the root filesystem of layers (lowest first) with the
// container's writes going to upper, using work as overlayfs's scratch
// directory (same filesystem as upper). With upper empty the mount is
// read-only. extra are more overlayfs options: "userxattr" for layers
// unpacked with layer.Rootless, mounted in a user namespace.
func Overlay(layers []string, upper, work string, extra ...string) (Mount, error) {
	if len(layers) == 0 {
		return Mount{}, errors.New("overlay: no layers")
	}
	for _, d := range append(append([]string{}, layers...), upper, work) {
		if strings.ContainsAny(d, ",:\\") {
			return Mount{}, fmt.Errorf("overlay: path %q contains ',', ':' or '\\', which overlayfs options cannot carry", d)
		}
	}
	if (upper == "") != (work == "") {
		return Mount{}, errors.New("overlay: upper and work directories go together")
	}
	if upper == "" && len(layers) == 1 {
		// overlayfs wants two lowers without an upper: a read-only bind
		// mount of the one layer is the same view.
		return Mount{Type: "bind", Source: layers[0], Options: []string{"rbind", "ro"}}, nil
	}
	lowers := make([]string, len(layers))
	for i, l := range layers {
		lowers[len(layers)-1-i] = l // overlayfs lists the top layer first
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":")}
	if upper != "" {
		opts = append(opts, "upperdir="+upper, "workdir="+work)
	}
	for _, o := range extra {
		if strings.ContainsAny(o, ",") || strings.HasPrefix(o, "lowerdir=") || strings.HasPrefix(o, "upperdir=") || strings.HasPrefix(o, "workdir=") {
			return Mount{}, fmt.Errorf("overlay: option %q: pass layers, upper and work as arguments, one option each", o)
		}
		opts = append(opts, o)
	}
	return Mount{Type: "overlay", Source: "overlay", Options: opts}, nil
}

// Mount performs m at target.
func (m Mount) Mount(target string) error {
	switch m.Type {
	case "bind":
		return bindMount(m, target)
	case "overlay":
	default:
		return fmt.Errorf("mount %s: unknown type %q", target, m.Type)
	}
	data := strings.Join(m.Options, ",")
	if len(data) < os.Getpagesize() {
		if err := unix.Mount(m.Source, target, "overlay", 0, data); err != nil {
			return &os.PathError{Op: "mount overlay", Path: target, Err: err}
		}
		return nil
	}
	err := mountFsconfig(m, target)
	if err == nil || !errors.Is(err, errNoLowerdirPlus) {
		return err
	}
	return mountShortNames(m, target)
}

func bindMount(m Mount, target string) error {
	if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "mount --bind " + m.Source, Path: target, Err: err}
	}
	for _, o := range m.Options {
		if o == "ro" {
			// A bind mount ignores MS_RDONLY until remounted.
			if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return &os.PathError{Op: "remount ro", Path: target, Err: err}
			}
		}
	}
	return nil
}

var errNoLowerdirPlus = errors.New("kernel lacks overlayfs lowerdir+ (Linux 6.8)")

// mountFsconfig mounts with the new mount API, one layer per fsconfig call.
func mountFsconfig(m Mount, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return errNoLowerdirPlus // no new mount API (before 5.2) at all
	}
	defer unix.Close(fd)
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		if k == "lowerdir" {
			for _, l := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
					if err == unix.EINVAL && l == strings.Split(v, ":")[0] {
						return errNoLowerdirPlus
					}
					return fsError(fd, "fsconfig lowerdir+="+l, target, err)
				}
			}
			continue
		}
		var err error
		if v == "" {
			err = unix.FsconfigSetFlag(fd, k)
		} else {
			err = unix.FsconfigSetString(fd, k, v)
		}
		if err != nil {
			return fsError(fd, "fsconfig "+o, target, err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fsError(fd, "fsconfig create", target, err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fsError(fd, "fsmount", target, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: target, Err: err}
	}
	return nil
}

// fsError adds the kernel's own explanation, which the new mount API
// queues on the context descriptor ("e overlay: ..."), to a failure.
func fsError(fd int, op, target string, err error) error {
	buf := make([]byte, 512)
	if n, rerr := unix.Read(fd, buf); rerr == nil && n > 0 {
		op += " (" + strings.TrimSpace(string(buf[:n])) + ")"
	}
	return &os.PathError{Op: op, Path: target, Err: err}
}

// mountShortNames mounts with relative one-or-two-character layer names,
// from a thread whose working directory is a directory of symlinks.
func mountShortNames(m Mount, target string) error {
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hull-ovl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // overlayfs holds the real directories now
	n := 0
	short := func(p string) (string, error) {
		name := strconv.Itoa(n)
		n++
		return name, os.Symlink(p, filepath.Join(dir, name))
	}
	var opts []string
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			var names []string
			for _, l := range strings.Split(v, ":") {
				s, err := short(l)
				if err != nil {
					return err
				}
				names = append(names, s)
			}
			o = "lowerdir=" + strings.Join(names, ":")
		case "upperdir", "workdir":
			s, err := short(v)
			if err != nil {
				return err
			}
			o = k + "=" + s
		}
		opts = append(opts, o)
	}
	data := strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("mount overlay %s: %d layers do not fit in a page even with short names", target, n)
	}
	errc := make(chan error, 1)
	go func() {
		// This thread gets its own working directory; it is never
		// unlocked, so Go ends it when the goroutine returns and no other
		// goroutine ever runs with the changed directory.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- &os.SyscallError{Syscall: "unshare(CLONE_FS)", Err: err}
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- &os.PathError{Op: "chdir", Path: dir, Err: err}
			return
		}
		if err := unix.Mount("overlay", abs, "overlay", 0, data); err != nil {
			errc <- &os.PathError{Op: "mount overlay (short names)", Path: abs, Err: err}
			return
		}
		errc <- nil
	}()
	return <-errc
}

// Unmount undoes Mount.Mount.
func Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return &os.PathError{Op: "umount", Path: target, Err: err}
	}
	return nil
}

// Copy is the fallback where overlayfs cannot be used: it merges layers
// (lowest first) into dst, a fresh directory, applying whiteouts.
func Copy(ctx context.Context, dst string, layers []string, opts ...layer.Option) error {
	return layer.Merge(ctx, dst, layers, opts...)
}
