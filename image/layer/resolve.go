package layer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is wrapped by every rejection of an entry that would reach
// outside the layer directory.
var ErrUnsafe = errors.New("unsafe path")

// EntryError reports which tar entry could not be applied.
type EntryError struct {
	Name string // the entry's name as written in the tar header
	Err  error
}

func (e *EntryError) Error() string { return fmt.Sprintf("layer entry %q: %v", e.Name, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// cleanName turns a tar entry name into a clean path relative to the layer
// root ("." for the root itself). It rejects absolute names and any ".."
// component instead of silently clamping them: a layer that contains them
// was built to attack, and saying so is more useful than guessing.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafe)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL byte in name", ErrUnsafe)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: \"..\" component", ErrUnsafe)
		}
	}
	return path.Clean(name), nil
}

// tree is an open layer directory. All resolution goes through its file
// descriptor; it also caches the descriptor of the last parent directory
// used, since tar streams list a directory's entries together.
type tree struct {
	fd        int  // O_PATH descriptor of the layer directory
	noOpenat2 bool // the kernel lacks openat2 (before 5.6)

	cacheName string
	cacheFD   int   // -1 when empty
	stale     []int // invalidated descriptors, closed at the next dir call
}

func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", dir, err)
	}
	return &tree{fd: fd, cacheFD: -1}, nil
}

func (t *tree) Close() {
	t.invalidate()
	t.closeStale()
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// invalidate forgets the cached parent; called whenever a directory is
// removed, since the cached directory might have been inside it. The
// descriptor stays open until the next call of dir: its caller may still be
// using it.
func (t *tree) invalidate() {
	if t.cacheFD >= 0 {
		t.stale = append(t.stale, t.cacheFD)
	}
	t.cacheFD, t.cacheName = -1, ""
}

func (t *tree) closeStale() {
	for _, fd := range t.stale {
		unix.Close(fd)
	}
	t.stale = t.stale[:0]
}

// dir returns a descriptor of directory rel (relative to the layer root),
// owned by the cache: the caller must not close it, and it stays valid
// until the next call of dir or invalidate.
func (t *tree) dir(rel string, create bool) (int, error) {
	if t.cacheFD >= 0 && t.cacheName == rel {
		return t.cacheFD, nil
	}
	t.invalidate()
	t.closeStale()
	fd, err := t.openDir(rel, create)
	if err != nil {
		return -1, err
	}
	t.cacheFD, t.cacheName = fd, rel
	return fd, nil
}

// openDir opens directory rel beneath the layer root without crossing a
// symlink, creating missing components (mode 0755) when create is set. The
// caller owns the returned descriptor.
func (t *tree) openDir(rel string, create bool) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
	if rel == "." {
		return unix.Openat(t.fd, ".", flags, 0)
	}
	if !t.noOpenat2 {
		// Fast path: one system call, and the kernel enforces the rules.
		fd, err := unix.Openat2(t.fd, rel, &unix.OpenHow{
			Flags:   flags,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == nil {
			return fd, nil
		}
		if err == unix.ENOSYS {
			t.noOpenat2 = true
		}
		// Anything else (ENOENT, ELOOP, ENOTDIR): the walk below creates
		// what is missing and says precisely which component is wrong.
	}
	cur, err := unix.Openat(t.fd, ".", flags, 0)
	if err != nil {
		return -1, err
	}
	walked := ""
	for _, c := range strings.Split(rel, "/") {
		walked = path.Join(walked, c)
		next, err := unix.Openat(cur, c, flags|unix.O_NOFOLLOW, 0)
		if err == unix.ENOENT && create {
			if err = unix.Mkdirat(cur, c, 0o755); err == nil || err == unix.EEXIST {
				next, err = unix.Openat(cur, c, flags|unix.O_NOFOLLOW, 0)
			}
		}
		if err == unix.ENOTDIR || err == unix.ELOOP {
			var st unix.Stat_t
			if unix.Fstatat(cur, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = fmt.Errorf("%w: path component %q is a symlink", ErrUnsafe, walked)
			} else {
				err = fmt.Errorf("path component %q is not a directory", walked)
			}
		} else if err != nil {
			err = pathErr("openat", walked, err)
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// pathErr keeps system call failures as *os.PathError, so that callers can
// still test errors.Is(err, unix.EPERM).
func pathErr(op, p string, err error) error { return &os.PathError{Op: op, Path: p, Err: err} }
