package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// e is one tar entry for tests: a header plus content.
type e struct {
	tar.Header
	body string
}

var epoch = time.Unix(1700000000, 0)

func file(name, body string) e {
	return e{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}, body}
}
func dir(name string) e {
	return e{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}}
}
func symlink(name, target string) e {
	return e{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: epoch}}
}
func hardlink(name, target string) e {
	return e{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

func mktar(t testing.TB, entries ...e) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, en := range entries {
		h := en.Header
		if h.PAXRecords != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(en.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// snapshot records everything under root (names, types, modes, sizes,
// content hashes, link targets) to compare the host side before and after.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := []string{fs.FileMode(st.Mode & 0o7777).String(), string(rune('0' + st.Mode>>12))}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			desc = append(desc, "->"+tgt)
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			desc = append(desc, sha(b))
		}
		out[strings.TrimPrefix(p, root)] = strings.Join(desc, " ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireRoot: device nodes, trusted.* xattrs and chown need root.
func requireRoot(t testing.TB) { t.Helper(); testvm.Require(t, testvm.Root) }
