package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteTar writes the layer directory dir, in the Overlay format that
// Apply produces, back as an OCI layer tar stream to w: a 0/0 character
// device becomes a ".wh.NAME" whiteout, a directory with
// trusted.overlay.opaque="y" is followed by a ".wh..wh..opq" entry, files
// that share an inode become hardlinks. Entries come in lexical order.
//
// Piped into Apply with WithMode(Flatten), it copies a stack of layer
// directories into one tree through the same checks as a download: the
// copy-based fallback for hosts without overlayfs.
func WriteTar(ctx context.Context, w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	inodes := map[[2]uint64]string{} // (dev, ino) → first name, for hardlinks
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return pathErr("lstat", p, err)
		}
		hdr := &tar.Header{
			Name:       rel,
			Mode:       int64(st.Mode & 0o7777),
			Uid:        int(st.Uid),
			Gid:        int(st.Gid),
			ModTime:    time.Unix(st.Mtim.Unix()),
			AccessTime: time.Unix(st.Atim.Unix()),
			Format:     tar.FormatPAX,
		}
		if rel == "." {
			hdr.Name = "./"
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			hdr.Typeflag = tar.TypeDir
			if rel != "." {
				hdr.Name += "/"
			}
		case unix.S_IFREG:
			hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := inodes[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					inodes[key] = rel
				}
			}
		case unix.S_IFLNK:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case unix.S_IFCHR:
			if st.Rdev == overlayWhiteoutDev {
				return writeEntry(tw, &tar.Header{Typeflag: tar.TypeReg, Name: filepath.Join(filepath.Dir(rel), whiteoutPrefix+d.Name()),
					ModTime: hdr.ModTime, Format: tar.FormatPAX}, "")
			}
			hdr.Typeflag = tar.TypeChar
		case unix.S_IFBLK:
			hdr.Typeflag = tar.TypeBlock
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		default:
			return fmt.Errorf("%s: cannot archive a socket or unknown file type %o", p, st.Mode)
		}
		if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		}
		opaque, err := readXattrs(p, hdr)
		if err != nil {
			return err
		}
		if err := writeEntry(tw, hdr, p); err != nil {
			return err
		}
		if opaque {
			return writeEntry(tw, &tar.Header{Typeflag: tar.TypeReg, Name: filepath.Join(rel, whiteoutOpaque),
				ModTime: hdr.ModTime, Format: tar.FormatPAX}, "")
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// readXattrs copies p's xattrs into hdr's PAX records, except overlayfs's
// own, and reports whether p is an opaque directory.
func readXattrs(p string, hdr *tar.Header) (opaque bool, err error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	if err != nil {
		return false, pathErr("llistxattr", p, err)
	}
	for _, attr := range strings.Split(string(buf[:n]), "\x00") {
		if attr == "" {
			continue
		}
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, attr, val)
		if err != nil {
			return false, pathErr("lgetxattr "+attr, p, err)
		}
		if attr == overlayOpaqueXattr || attr == userOpaqueXattr {
			opaque = opaque || string(val[:m]) == "y"
			continue
		}
		if reservedXattr(attr) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattrPrefix+attr] = string(val[:m])
	}
	return opaque, nil
}

// writeEntry writes hdr and, for a regular file, the content of src.
func writeEntry(tw *tar.Writer, hdr *tar.Header, src string) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("tar %s: %w", hdr.Name, err)
	}
	return nil
}

// Merge applies the layer directories (Overlay format, lowest first)
// in order into dst: what a container sees through the overlay mount of
// the same layers, as a plain copy.
func Merge(ctx context.Context, dst string, layers []string, opts ...Option) error {
	// A rootless merge keeps directories writable until the last layer:
	// a 0555 directory of one layer may receive entries from the next.
	modes := map[string]uint32{}
	opts = append(append([]Option{}, opts...), WithMode(Flatten), func(o *options) error { o.deferModes = modes; return nil })
	for _, l := range layers {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := WriteTar(ctx, pw, l)
			pw.CloseWithError(err)
			done <- err
		}()
		_, err := Apply(ctx, dst, pr, opts...)
		pr.CloseWithError(errors.New("apply stopped"))
		werr := <-done
		if err != nil {
			return fmt.Errorf("flattening %s: %w", l, err)
		}
		if werr != nil {
			return fmt.Errorf("reading %s: %w", l, werr)
		}
	}
	return setModes(dst, modes)
}

// setModes applies deferred directory modes, deepest first.
func setModes(dst string, modes map[string]uint32) error {
	if len(modes) == 0 {
		return nil
	}
	names := make([]string, 0, len(modes))
	for n := range modes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return strings.Count(names[i], "/") > strings.Count(names[j], "/") })
	t, err := openTree(dst)
	if err != nil {
		return err
	}
	defer t.Close()
	for _, n := range names {
		pfd, base := t.fd, "."
		if n != "." {
			if pfd, err = t.dir(path.Dir(n), false); errors.Is(err, unix.ENOENT) {
				continue
			} else if err != nil {
				return err
			}
			base = path.Base(n)
		}
		if err := unix.Fchmodat(pfd, base, modes[n], 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return pathErr("fchmodat", n, err)
		}
	}
	return nil
}
