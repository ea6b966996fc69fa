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
func WriteTar(ctx context.Context, w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	if err := walk(ctx, dir, func(hdr *tar.Header, src string) error { return writeEntry(tw, hdr, src) }); err != nil {
		return err
	}
	return tw.Close()
}

// walk visits the layer directory dir (Overlay format) in lexical order,
// parents before children, and calls emit with the tar header WriteTar
// writes for each entry; src is the path of a regular file's content.
// WriteTar encodes the headers; Merge applies them directly.
func walk(ctx context.Context, dir string, emit func(hdr *tar.Header, src string) error) error {
	inodes := map[[2]uint64]string{} // (dev, ino) → first name, for hardlinks
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
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
				return emit(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.Join(filepath.Dir(rel), whiteoutPrefix+d.Name()),
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
		if err := emit(hdr, p); err != nil {
			return err
		}
		if opaque {
			return emit(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.Join(rel, whiteoutOpaque),
				ModTime: hdr.ModTime, Format: tar.FormatPAX}, "")
		}
		return nil
	})
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
// the same layers, as a plain copy. It is the copy-based fallback for
// hosts without overlayfs, and what a bundle's rootfs is.
//
// Each layer's entries go through the same applier, with the same checks,
// as a layer downloaded with [Apply] in Flatten mode: its whiteouts
// delete, its opaque directories drop what the layers below put there,
// and no entry is written through a symlink an earlier layer planted in
// dst. Only the tar encoding is skipped: the headers come from lstat(2)
// and the xattrs of the layer's files (as [WriteTar] writes them), and
// file contents are copied with copy_file_range(2), inside the kernel
// (a reflink where the filesystem shares extents).
func Merge(ctx context.Context, dst string, layers []string, opts ...Option) error {
	// A rootless merge keeps directories writable until the last layer:
	// a 0555 directory of one layer may receive entries from the next.
	modes := map[string]uint32{}
	opts = append(append([]Option{}, opts...), WithMode(Flatten), func(o *options) error { o.deferModes = modes; return nil })
	o, err := makeOptions(opts)
	if err != nil {
		return err
	}
	for _, l := range layers {
		if err := mergeLayer(ctx, dst, l, o); err != nil {
			return fmt.Errorf("flattening %s: %w", l, err)
		}
	}
	return setModes(dst, modes)
}

// mergeLayer applies one layer directory to dst.
func mergeLayer(ctx context.Context, dst, dir string, o options) error {
	t, err := openTree(dst)
	if err != nil {
		return err
	}
	defer t.Close()
	a := &applier{t: t, o: o, seen: map[string]bool{}}
	err = walk(ctx, dir, func(hdr *tar.Header, src string) error {
		var r io.Reader = strings.NewReader("")
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			// A *os.File behind a LimitedReader: io.Copy into the new
			// file becomes copy_file_range(2).
			r = io.LimitReader(f, hdr.Size)
		}
		if err := a.entry(hdr, r); err != nil {
			return &EntryError{Name: hdr.Name, Err: err}
		}
		a.stats.Entries++
		return nil
	})
	if err != nil {
		return err
	}
	return a.dirTimes()
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
