package hull

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Copying ("hull container cp") goes through the container's root
// filesystem as mounted on the host while it runs. The container's side is
// opened through an os.Root (openat2 RESOLVE_BENEATH underneath): a
// symlink the container planted cannot lead the copy to a host path.
// Volumes are mounts in the container's own mount namespace and are not
// seen this way.

// CopyFrom copies src, a path in the running container, to dst on the
// host; into dst when dst is an existing directory.
func (e *Engine) CopyFrom(ctx context.Context, ref, src, dst string) error {
	root, rel, err := e.cpRoot(ctx, ref, src)
	if err != nil {
		return err
	}
	defer root.Close()
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base("/"+rel))
	}
	return copyOut(root, rel, dst)
}

// CopyTo copies src on the host to dst, a path in the running container;
// into dst when dst is an existing directory there. What it makes belongs
// to the container's root (with a user namespace: its host id).
func (e *Engine) CopyTo(ctx context.Context, ref, src, dst string) error {
	root, rel, err := e.cpRoot(ctx, ref, dst)
	if err != nil {
		return err
	}
	defer root.Close()
	if fi, err := root.Stat(rel); err == nil && fi.IsDir() {
		rel = path.Join(rel, filepath.Base(src))
	}
	own := func(string) error { return nil }
	if c, err := e.Inspect(ctx, ref); err == nil && c.UserNS != nil {
		id := int(c.UserNS.HostID)
		own = func(rel string) error { return root.Lchown(rel, id, id) }
	}
	return copyIn(root, src, rel, own)
}

// cpRoot opens the running container's root and names p relative to it.
func (e *Engine) cpRoot(ctx context.Context, ref, p string) (*os.Root, string, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if c.State.Status != ContainerRunning {
		return nil, "", fmt.Errorf("container %s is %s: cp reaches running containers only", c.Name, c.State.Status)
	}
	root, err := os.OpenRoot(filepath.Join(c.Dir, "rootfs"))
	if err != nil {
		return nil, "", err
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	return root, rel, nil
}

func copyOut(root *os.Root, rel, dst string) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := os.MkdirAll(dst, fi.Mode().Perm()); err != nil {
			return err
		}
		d, err := root.Open(rel)
		if err != nil {
			return err
		}
		ents, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, ent := range ents {
			if err := copyOut(root, path.Join(rel, ent.Name()), filepath.Join(dst, ent.Name())); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(rel)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case fi.Mode().IsRegular():
		in, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer in.Close()
		return writeFile(dst, in, fi.Mode().Perm(), func(name string, flag int, perm fs.FileMode) (*os.File, error) {
			return os.OpenFile(name, flag, perm)
		})
	}
	return fmt.Errorf("cp %s: %s is not a file, directory or symlink", rel, fi.Mode().Type())
}

func copyIn(root *os.Root, src, rel string, own func(rel string) error) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := root.MkdirAll(rel, fi.Mode().Perm()); err != nil {
			return err
		}
		if err := own(rel); err != nil {
			return err
		}
		ents, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, ent := range ents {
			if err := copyIn(root, filepath.Join(src, ent.Name()), path.Join(rel, ent.Name()), own); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := root.Symlink(target, rel); err != nil {
			return err
		}
		return own(rel)
	case fi.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		if err := writeFile(rel, in, fi.Mode().Perm(), root.OpenFile); err != nil {
			return err
		}
		return own(rel)
	}
	return fmt.Errorf("cp %s: not a file, directory or symlink (%s)", src, fi.Mode().Type())
}

// writeFile copies r into a new or truncated file opened with open.
func writeFile(name string, r io.Reader, perm fs.FileMode, open func(string, int, fs.FileMode) (*os.File, error)) error {
	out, err := open(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
