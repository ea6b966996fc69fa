package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func needsRoot(call string) Outcome {
	return Outcome{Call: call, Skipped: "needs CAP_SYS_ADMIN: run as root"}
}

// probeOverlay mounts an overlay of lower and upper in a mount namespace
// private to one thread, writes a file through it and finds it in upper.
func probeOverlay() Outcome {
	const call = "mount(overlay) in a private mount namespace"
	if os.Geteuid() != 0 {
		return needsRoot(call)
	}
	o := Outcome{Call: call}
	dir, err := os.MkdirTemp("", tempPrefix()+"overlay-")
	if err != nil {
		o.fail(err)
		return o
	}
	defer os.RemoveAll(dir)
	p := func(s string) string { return filepath.Join(dir, s) }
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(p(d), 0o700); err != nil {
			o.fail(err)
			return o
		}
	}
	if err := os.WriteFile(p("lower/from-lower"), []byte("lower\n"), 0o600); err != nil {
		o.fail(err)
		return o
	}
	data := "lowerdir=" + p("lower") + ",upperdir=" + p("upper") + ",workdir=" + p("work")
	done := make(chan error)
	go func() {
		// Never unlocked: this thread's mount namespace differs from the
		// process's, so it must die rather than run other goroutines.
		// When it exits, its namespace and the overlay mount go with it.
		runtime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return os.NewSyscallError("unshare(CLONE_NEWNS)", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return &os.PathError{Op: "mount(MS_REC|MS_PRIVATE)", Path: "/", Err: err}
			}
			if err := unix.Mount("overlay", p("merged"), "overlay", 0, data); err != nil {
				return &os.PathError{Op: "mount(overlay)", Path: p("merged"), Err: err}
			}
			defer unix.Unmount(p("merged"), unix.MNT_DETACH)
			if b, err := os.ReadFile(p("merged/from-lower")); err != nil || string(b) != "lower\n" {
				return fmt.Errorf("reading the lower layer through the overlay: %q, %v", b, err)
			}
			return os.WriteFile(p("merged/to-upper"), []byte("upper\n"), 0o600)
		}()
	}()
	if err := <-done; err != nil {
		o.fail(err)
		return o
	}
	if _, err := os.Stat(p("upper/to-upper")); err != nil {
		o.fail(fmt.Errorf("a write through the overlay did not reach the upper directory: %w", err))
		return o
	}
	o.OK = true
	o.Note = "read the lower layer, wrote into the upper one"
	return o
}

// idmapTo is the host uid that uid 0 of the probe's user namespace maps
// to, and so the owner a root-owned file shows through the idmapped mount.
const idmapTo = 100000

// probeIDMapped makes a detached copy of a temporary directory (or a
// detached tmpfs when that filesystem refuses), idmaps it with a user
// namespace mapping 0 → idmapTo, and checks the owner seen through it.
func probeIDMapped() Outcome {
	const call = "mount_setattr(MOUNT_ATTR_IDMAP)"
	if os.Geteuid() != 0 {
		return needsRoot(call)
	}
	o := Outcome{Call: call}
	// The user namespace that defines the mapping: a stopped child's.
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: idmapTo, Size: 65536}}
	c, err := startStoppedMapped(unix.CLONE_NEWUSER, m, m)
	if err != nil {
		o.fail(fmt.Errorf("creating the user namespace for the mapping: %w", err))
		return o
	}
	userns, err := unix.Open("/proc/"+strconv.Itoa(c.pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	c.kill() // the open descriptor keeps the namespace alive
	if err != nil {
		o.fail(&os.PathError{Op: "open", Path: "/proc/PID/ns/user", Err: err})
		return o
	}
	defer unix.Close(userns)

	dir, err := os.MkdirTemp("", tempPrefix()+"idmap-")
	if err != nil {
		o.fail(err)
		return o
	}
	defer os.RemoveAll(dir)
	var errs []error
	for _, source := range []func() (int, string, error){
		func() (int, string, error) { return cloneTree(dir) },
		detachedTmpfs,
	} {
		fd, what, err := source()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		note, err := idmap(fd, userns)
		unix.Close(fd) // unmounts the detached tree
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			continue
		}
		o.OK = true
		o.Note = what + ": " + note
		if len(errs) > 0 {
			o.Note += " (" + strings.ReplaceAll(errors.Join(errs...).Error(), "\n", "; ") + ")"
		}
		return o
	}
	o.fail(errors.Join(errs...))
	return o
}

func cloneTree(dir string) (int, string, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, "", &os.PathError{Op: "open_tree(OPEN_TREE_CLONE)", Path: dir, Err: err}
	}
	var st unix.Statfs_t
	what := "a detached copy of a directory in " + filepath.Dir(dir)
	if unix.Fstatfs(fd, &st) == nil {
		what += " (" + fsName(int64(st.Type)) + ")"
	}
	return fd, what, nil
}

func detachedTmpfs() (int, string, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, "", os.NewSyscallError("fsopen(tmpfs)", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, "", os.NewSyscallError("fsconfig(FSCONFIG_CMD_CREATE)", err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("fsmount", err)
	}
	return fd, "a detached tmpfs", nil
}

// idmap sets MOUNT_ATTR_IDMAP on the detached mount fd and reads the
// owner of its root through it.
func idmap(fd, userns int) (string, error) {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return "", os.NewSyscallError("mount_setattr", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", os.NewSyscallError("fstat", err)
	}
	if st.Uid != idmapTo {
		return "", fmt.Errorf("the root-owned directory shows uid %d through the idmapped mount, want %d", st.Uid, idmapTo)
	}
	return fmt.Sprintf("uid 0 shows as %d", st.Uid), nil
}

func fsName(magic int64) string {
	switch magic {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	}
	return fmt.Sprintf("filesystem magic %#x", magic)
}

// tempPrefix names the probes' temporary directories after this process,
// so that whoever finds one left behind knows whose it was.
func tempPrefix() string { return "hull-probe-" + strconv.Itoa(os.Getpid()) + "-" }
