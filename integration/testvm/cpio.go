package testvm

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// The initramfs is a cpio archive in the "newc" format, the one the kernel
// unpacks (Documentation/driver-api/early-userspace/buffer-format.rst):
// each entry is a 110-byte ASCII header of "070701" and thirteen 8-digit
// hex fields, the NUL-terminated name, padding to 4 bytes, the data,
// padding to 4 bytes; the archive ends with an entry named TRAILER!!!.

// cpioEntry is one file of an initramfs.
type cpioEntry struct {
	name string      // path inside the archive, without a leading slash
	mode uint32      // file type and permission bits, as st_mode
	data []byte      // contents of a regular file, or a symlink's target
	src  string      // or: read the contents of a regular file from here
	size int64       // of src
	kind os.FileMode // os.ModeDir, os.ModeSymlink, os.ModeCharDevice or 0 for a regular file
	rdev [2]uint32   // major and minor of a device node
}

const (
	sIFCHR = 0o020000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// cpioArchive collects entries and writes them, parents before children.
type cpioArchive struct {
	entries map[string]cpioEntry
}

func newCPIO() *cpioArchive { return &cpioArchive{entries: map[string]cpioEntry{}} }

func (a *cpioArchive) dirs(name string) {
	for dir := parentOf(name); dir != ""; dir = parentOf(dir) {
		if _, ok := a.entries[dir]; !ok {
			a.entries[dir] = cpioEntry{name: dir, mode: sIFDIR | 0o755, kind: os.ModeDir}
		}
	}
}

func parentOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// Dir adds a directory.
func (a *cpioArchive) Dir(name string, perm uint32) {
	name = strings.TrimPrefix(name, "/")
	a.dirs(name)
	a.entries[name] = cpioEntry{name: name, mode: sIFDIR | perm, kind: os.ModeDir}
}

// File adds a regular file whose contents are read from src when written.
func (a *cpioArchive) File(name, src string, perm uint32) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	name = strings.TrimPrefix(name, "/")
	a.dirs(name)
	a.entries[name] = cpioEntry{name: name, mode: sIFREG | perm, src: src, size: fi.Size()}
	return nil
}

// Bytes adds a regular file with the given contents.
func (a *cpioArchive) Bytes(name string, data []byte, perm uint32) {
	name = strings.TrimPrefix(name, "/")
	a.dirs(name)
	a.entries[name] = cpioEntry{name: name, mode: sIFREG | perm, data: data}
}

// Symlink adds a symbolic link.
func (a *cpioArchive) Symlink(name, target string) {
	name = strings.TrimPrefix(name, "/")
	a.dirs(name)
	a.entries[name] = cpioEntry{name: name, mode: sIFLNK | 0o777, data: []byte(target), kind: os.ModeSymlink}
}

// CharDevice adds a character device node.
func (a *cpioArchive) CharDevice(name string, perm, major, minor uint32) {
	name = strings.TrimPrefix(name, "/")
	a.dirs(name)
	a.entries[name] = cpioEntry{name: name, mode: sIFCHR | perm, kind: os.ModeCharDevice, rdev: [2]uint32{major, minor}}
}

// WriteTo writes the archive in newc format, sorted so that every
// directory precedes what it holds.
func (a *cpioArchive) WriteTo(w io.Writer) (int64, error) {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	cw := &countWriter{w: w}
	for i, n := range names {
		e := a.entries[n]
		if err := writeEntry(cw, uint32(i+1), e); err != nil {
			return cw.n, fmt.Errorf("cpio %s: %w", n, err)
		}
	}
	err := writeEntry(cw, 0, cpioEntry{name: "TRAILER!!!"})
	return cw.n, err
}

func writeEntry(w *countWriter, ino uint32, e cpioEntry) error {
	size := int64(len(e.data))
	if e.src != "" {
		size = e.size
	}
	nlink := uint32(1)
	if e.kind == os.ModeDir {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.mode, 0, 0, nlink, 0, size, 0, 0, e.rdev[0], e.rdev[1], len(e.name)+1, 0)
	if _, err := io.WriteString(w, hdr+e.name+"\x00"); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if e.src != "" {
		f, err := os.Open(e.src)
		if err != nil {
			return err
		}
		n, err := io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%s changed size while archiving", e.src)
		}
	} else if _, err := w.Write(e.data); err != nil {
		return err
	}
	return w.pad()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pad writes NULs up to the next multiple of 4 bytes.
func (c *countWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
