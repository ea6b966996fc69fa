package hull

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/image/rootfs"
)

// With ContainerConfig.UserNS the container has a user namespace of its
// own: its uids and gids 0…Size-1 are the host's HostID…HostID+Size-1, so
// that its root is an unprivileged user of the host (podman's --userns,
// docker's userns-remap). Seen from the host, what the container's root
// writes belongs to HostID, and "cat /proc/self/uid_map" inside prints
// "0 HostID Size".
//
// The image's layers are shared by every container and owned by the
// host's ids; they are not copied or chowned. The monitor gives each
// container its own view of them instead, through idmapped mounts
// (Linux 5.12; overlayfs accepts them as layers since 5.19):
//
//	DIR/idmapped/N   open_tree(layer N, OPEN_TREE_CLONE)
//	                 mount_setattr(MOUNT_ATTR_IDMAP, the container's userns)
//	                 move_mount → here: host uid u shows as HostID+u
//	DIR/rootfs       overlay of DIR/idmapped/*, upper DIR/upper, which is
//	                 chowned to HostID:HostID (the container's root owns /)
//
// The user namespace that carries the maps to mount_setattr belongs to a
// short-lived holder: the monitor's program re-executed as "hull-userns"
// with CLONE_NEWUSER, which waits on its stdin while the monitor opens
// /proc/PID/ns/user.
//
// The container's root has no rights over the host's files: the runtime's
// init reaches DIR/rootfs and the bind sources as HostID, so the
// directories on the way there are made searchable by all (0711), as
// docker's /var/lib/docker is. /sys is the host's, bound read-only: sysfs
// can only be mounted from the user namespace that owns the network
// namespace, which hull's network is not.

// ErrNoIdmap is wrapped when the filesystem of the image store cannot be
// idmapped by this kernel (needed for UserNS): tmpfs before Linux 6.3,
// for one.
var ErrNoIdmap = errors.New("the image store's filesystem cannot be idmapped by this kernel")

// UserNSMapping is the range of host ids a container's ids 0…Size-1 are.
type UserNSMapping struct {
	HostID uint32 `json:"hostID"`
	Size   uint32 `json:"size"`
}

// autoUserNSSize is the size of a range UserNS "auto" allocates: every
// 16-bit id, as podman's --userns=auto asks by default.
const autoUserNSSize = 65536

// autoUserNSRange is where "auto" allocates when /etc/subuid names no range
// for the user "containers" (podman's convention).
var autoUserNSRange = UserNSMapping{HostID: 1 << 20, Size: 1 << 30}

// holderName is the user namespace holder's argv[0] (IsMonitor knows it).
const holderName = "hull-userns"

func isHolder() bool { return filepath.Base(os.Args[0]) == holderName }

// parseUserNS reads "", "host", "auto" or "HOSTID:SIZE"; auto is resolved
// later (allocate), and returns a mapping of size 0.
func parseUserNS(s string) (m *UserNSMapping, auto bool, err error) {
	switch s {
	case "", "host":
		return nil, false, nil
	case "auto":
		return nil, true, nil
	}
	h, n, ok := strings.Cut(s, ":")
	host, err1 := strconv.ParseUint(h, 10, 32)
	size, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err1 != nil || err2 != nil || size == 0 || host == 0 || host+size > 1<<32-1 {
		return nil, false, fmt.Errorf("userNS: %q is not host, auto or HOSTID:SIZE (a range of host ids above 0)", s)
	}
	return &UserNSMapping{HostID: uint32(host), Size: uint32(size)}, false, nil
}

// allocateUserNS finds autoUserNSSize host ids that no other container
// uses, in the range /etc/subuid gives the user "containers", else in
// autoUserNSRange. Called with the containers lock held.
func (e *Engine) allocateUserNS() (*UserNSMapping, error) {
	pool := autoUserNSRange
	if r, ok := subIDRange("/etc/subuid", "containers"); ok {
		pool = r
	}
	var used []UserNSMapping
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return nil, err
	}
	for _, ent := range ents {
		if c, err := readRecord(filepath.Join(e.containersDir(), ent.Name())); err == nil && c.UserNS != nil {
			used = append(used, *c.UserNS)
		}
	}
	slices.SortFunc(used, func(a, b UserNSMapping) int { return int(int64(a.HostID) - int64(b.HostID)) })
	next := uint64(pool.HostID)
	for _, u := range used {
		if uint64(u.HostID) >= next+autoUserNSSize {
			break
		}
		next = max(next, uint64(u.HostID)+uint64(u.Size))
	}
	if next+autoUserNSSize > uint64(pool.HostID)+uint64(pool.Size) {
		return nil, fmt.Errorf("userNS auto: no %d free ids left in %d-%d", autoUserNSSize, pool.HostID, uint64(pool.HostID)+uint64(pool.Size)-1)
	}
	return &UserNSMapping{HostID: uint32(next), Size: autoUserNSSize}, nil
}

// subIDRange reads user's range from /etc/subuid's "user:start:count".
func subIDRange(file, user string) (UserNSMapping, bool) {
	f, err := os.Open(file)
	if err != nil {
		return UserNSMapping{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || parts[0] != user {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		n, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 == nil && err2 == nil && n >= autoUserNSSize {
			return UserNSMapping{HostID: uint32(start), Size: uint32(n)}, true
		}
	}
	return UserNSMapping{}, false
}

// withUserNS changes s to run in a user namespace mapped by m.
func withUserNS(s *specs.Spec, m *UserNSMapping) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	idm := []specs.LinuxIDMapping{{ContainerID: 0, HostID: m.HostID, Size: m.Size}}
	s.Linux.UIDMappings, s.Linux.GIDMappings = idm, idm
	for i, mt := range s.Mounts {
		if mt.Destination == "/sys" && mt.Type == "sysfs" {
			s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// searchable makes each directory from dir up to (and without) stop
// searchable by all, as the user namespace's root must pass them.
func searchable(dir, stop string) error {
	for d := dir; d != stop && d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	return nil
}

// usernsHolder starts the monitor's program as a holder of a new user
// namespace with m's maps and returns the namespace, open.
func (e *Engine) usernsHolder(m *UserNSMapping) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	defer w.Close()
	idm := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.HostID), Size: int(m.Size)}}
	cmd := &exec.Cmd{
		Path: e.monitor[0], Args: append([]string{holderName}, e.monitor[1:]...),
		Stdin: r, Dir: "/",
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, UidMappings: idm, GidMappings: idm},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace holder: %w", err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	w.Close()
	_ = cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace holder: %w", err)
	}
	return ns, nil
}

// holder is the main of a user namespace holder: it waits for its stdin
// to close.
func holder() int {
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// idmappedLayers mounts an idmapped view of each layer at DIR/idmapped/N
// and returns their paths; on error, none stays mounted.
func (e *Engine) idmappedLayers(c *Container, layers []string) (_ []string, err error) {
	ns, err := e.usernsHolder(c.UserNS)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var out []string
	defer func() {
		if err != nil {
			_ = unmountIdmapped(c.Dir)
		}
	}()
	for i, l := range layers {
		target := filepath.Join(c.Dir, "idmapped", strconv.Itoa(i))
		if err := os.MkdirAll(target, 0o755); err != nil {
			return nil, err
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, l, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, &os.PathError{Op: "open_tree", Path: l, Err: err}
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY, Userns_fd: uint64(ns.Fd())}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			unix.Close(fd)
			err = &os.PathError{Op: "mount_setattr(MOUNT_ATTR_IDMAP)", Path: l, Err: err}
			if errors.Is(err, unix.EINVAL) {
				// tmpfs, say, before Linux 6.3.
				return nil, fmt.Errorf("%w (%s: %w)", ErrNoIdmap, l, err)
			}
			return nil, err
		}
		err = unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(fd)
		if err != nil {
			return nil, &os.PathError{Op: "move_mount", Path: target, Err: err}
		}
		out = append(out, target)
	}
	return out, nil
}

// unmountIdmapped unmounts what idmappedLayers mounted.
func unmountIdmapped(dir string) error {
	ents, err := os.ReadDir(filepath.Join(dir, "idmapped"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, ent := range ents {
		target := filepath.Join(dir, "idmapped", ent.Name())
		if mounted, err := isMountPoint(target); err != nil || !mounted {
			continue
		}
		if err := rootfs.Unmount(target); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
