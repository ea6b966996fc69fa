// Package nsfs creates, persists, enters and deletes network namespaces.
//
// A network namespace lives as long as something refers to it: a process
// inside it, an open file descriptor of /proc/<pid>/ns/net, or a bind mount
// of that file. Persisting a namespace is therefore a bind mount of the
// creating thread's /proc/thread-self/ns/net onto an empty file, exactly what
// "ip netns add NAME" does under /run/netns, so "ip netns exec NAME" and
// "nsenter --net=PATH" work on namespaces made here. Deleting it is
// umount2(MNT_DETACH) and unlink; the kernel frees the namespace when its last
// reference goes.
//
// setns(2) and unshare(2) act on the calling thread, not the process. Every
// function here that changes a namespace does so on a goroutine locked to its
// OS thread, and never unlocks it: when such a goroutine returns, the Go
// runtime terminates the thread instead of reusing it with the wrong
// namespace. (If that thread was the process's main thread, the runtime
// parks it forever instead; /proc/self/ns/net then names the new namespace,
// which is why this package reads /proc/thread-self.)
//
// Kernel interfaces: unshare(CLONE_NEWNET), setns(CLONE_NEWNET),
// mount(MS_BIND), umount2(MNT_DETACH), statfs (NSFS_MAGIC).
package nsfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// DefaultDir is where iproute2 keeps named network namespaces.
const DefaultDir = "/run/netns"

// Create makes a new network namespace and persists it as dir/name. The
// directory is created if needed. On failure nothing is left behind.
func Create(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", fmt.Errorf("netns name %q: must be a single path element", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", err
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// This thread's namespace changes: never unlock it (see package doc).
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("unshare(CLONE_NEWNET)", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- &os.PathError{Op: "mount --bind " + src, Path: path, Err: err}
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return "", fmt.Errorf("create netns %s: %w", path, err)
	}
	return path, nil
}

// ShareDir makes dir a mount point with shared propagation, as
// "ip netns add" does with /run/netns: a directory that is not yet a mount
// point is first bind-mounted onto itself. Then, when a namespace file is
// unmounted here, the unmount propagates to the copies that mount
// namespaces created later hold, and none of them keeps the network
// namespace alive by accident. Calling it again is harmless.
func ShareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == unix.EINVAL {
		// Not a mount point: make it one, then retry.
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return &os.PathError{Op: "mount --rbind (onto itself)", Path: dir, Err: err}
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return &os.PathError{Op: "mount --make-rshared", Path: dir, Err: err}
	}
	return nil
}

// Remove unmounts and deletes a namespace persisted by Create or
// "ip netns add". A path that does not exist is not an error, so Remove can
// be called again after a crash.
func Remove(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		// EINVAL: not a mount point (a half-made file); ENOENT: already gone.
		return &os.PathError{Op: "umount2(MNT_DETACH)", Path: path, Err: err}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// IsNetns reports whether path refers to a network namespace: an nsfs
// inode whose type, asked with the NS_GET_NSTYPE ioctl, is CLONE_NEWNET.
func IsNetns(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if st.Type != unix.NSFS_MAGIC {
		return false, nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return false, &os.PathError{Op: "ioctl(NS_GET_NSTYPE)", Path: path, Err: err}
	}
	return typ == unix.CLONE_NEWNET, nil
}

// ID returns the namespace's identity, the inode number that
// "readlink /proc/PID/ns/net" prints as net:[INODE].
func ID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Ino, nil
}

// Do runs fn on a fresh OS thread that has joined the network namespace at
// path. Sockets and netlink handles that fn opens belong to that namespace
// and keep working there after Do returns, from any goroutine. An empty
// path runs fn in the caller's process namespace (still on its own thread).
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread may change namespace: never unlock it (see package doc).
		runtime.LockOSThread()
		if path != "" {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- &os.PathError{Op: "open", Path: path, Err: err}
				return
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
			if err != nil {
				errc <- &os.PathError{Op: "setns(CLONE_NEWNET)", Path: path, Err: err}
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}

// Mounted reports whether path is a mount point in this process's mount
// namespace, by reading /proc/self/mountinfo. Tests and "network ls" use it
// to prove that no bind mount outlives its namespace.
func Mounted(path string) (bool, error) {
	mounts, err := MountsUnder(path)
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m == filepath.Clean(path) {
			return true, nil
		}
	}
	return false, nil
}
