package registrytest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Tree describes every entry under root, one line per path: type,
// permission bits (set-ID and sticky included), owner, size and content
// hash, link target, device number, xattrs (overlayfs's own excluded) and,
// for everything but directories, mtime. Two unpackers agree on a root
// filesystem when their Trees are equal.
func Tree(t testing.TB, root string) map[string]string {
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
		rel, _ := filepath.Rel(root, p)
		desc := fmt.Sprintf("type=%o perm=%04o owner=%d:%d", st.Mode>>12, st.Mode&0o7777, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += fmt.Sprintf(" size=%d sha256=%s", len(b), hex.EncodeToString(sum[:8]))
		case unix.S_IFLNK:
			tgt, _ := os.Readlink(p)
			desc += " -> " + tgt
		case unix.S_IFCHR, unix.S_IFBLK:
			desc += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			desc += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
		}
		desc += xattrs(p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var kv []string
	for _, a := range strings.Split(string(buf[:n]), "\x00") {
		if a == "" || strings.HasPrefix(a, "trusted.overlay.") {
			continue
		}
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, a, v)
		kv = append(kv, a+"="+string(v[:max(m, 0)]))
	}
	sort.Strings(kv)
	if len(kv) == 0 {
		return ""
	}
	return " xattrs=" + strings.Join(kv, ",")
}

// DiffTrees reports the differences between two Trees, one line each.
func DiffTrees(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only in first:  "+k+" "+v)
		} else if v != w {
			out = append(out, "differs: "+k+"\n\t"+v+"\n\t"+w)
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only in second: "+k+" "+v)
		}
	}
	sort.Strings(out)
	return out
}
