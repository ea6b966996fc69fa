package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// An idmapped mount (Linux 5.12) shows a directory's files with their
// owners translated through a user namespace's maps. The kernel takes the
// maps as a user namespace fd, so the parent makes a namespace holding
// them: it clones a tiny holder process (hull's nsenter constructor in
// holder mode, which only waits on its stdin) into a new user namespace,
// writes its uid_map and gid_map, opens /proc/<holder>/ns/user, and lets
// it go. The fd reaches the init with the plan; the init clones the bind
// source with open_tree(OPEN_TREE_CLONE), applies
// mount_setattr(MOUNT_ATTR_IDMAP) and attaches it with move_mount.

// usernsFor returns an fd of a new user namespace with the given maps.
func usernsFor(m *IDMap) (*os.File, error) {
	if err := needConstructor("the user namespace of an idmapped mount"); err != nil {
		return nil, err
	}
	exe, err := sealedExe()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	defer w.Close()
	cmd := &exec.Cmd{
		Path:  "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args:  []string{"hull-userns"},
		Env:   []string{"_HULL_USERNS_HOLDER=1"},
		Stdin: r,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 unix.CLONE_NEWUSER,
			GidMappingsEnableSetgroups: false,
		},
	}
	for _, e := range m.UIDMappings {
		cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	for _, e := range m.GIDMappings {
		cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace for an idmapped mount: %w", err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	w.Close()
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace for an idmapped mount: %w", err)
	}
	return ns, nil
}

// idmapMount attaches an idmapped clone of source at target (an O_PATH
// fd of the mount point).
func (m *Mount) idmapMount(src string, target *os.File, shown string) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if m.IDMap.Recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return &os.PathError{Op: "open_tree", Path: src, Err: err}
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(m.IDMap.UsernsFD)}
	if err := unix.MountSetattr(fd, "", setFlags, &attr); err != nil {
		if err == unix.EINVAL {
			return fmt.Errorf("%w (the filesystem of %s cannot be idmapped by this kernel)", &os.PathError{Op: "mount_setattr(MOUNT_ATTR_IDMAP)", Path: src, Err: err}, src)
		}
		return &os.PathError{Op: "mount_setattr(MOUNT_ATTR_IDMAP)", Path: src, Err: err}
	}
	if err := unix.MoveMount(fd, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: shown, Err: err}
	}
	return nil
}
