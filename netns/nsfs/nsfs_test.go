package nsfs

import (
	"fmt"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	testvm.Require(t, testvm.Root) // network namespaces, links, nftables
}

func TestCreateDoRemove(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	path, err := Create(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := IsNetns(path); err != nil || !ok {
		t.Fatalf("IsNetns(%q) = %v, %v, want true", path, ok, err)
	}
	if ok, _ := Mounted(path); !ok {
		t.Fatalf("%s is not a mount point", path)
	}
	ino, err := ID(path)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := ID("/proc/thread-self/ns/net")
	if ino == self {
		t.Fatalf("new namespace has the host's inode %d", ino)
	}

	// Inside, the thread sees the new namespace.
	var seen string
	if err := Do(path, func() error {
		var err error
		seen, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]", ino); seen != want {
		t.Errorf("inside Do: /proc/thread-self/ns/net = %q, want %q", seen, want)
	}

	// Other tools can enter it the way they enter "ip netns add" files.
	if nsenter, err := exec.LookPath("nsenter"); err == nil {
		out, err := exec.Command(nsenter, "--net="+path, "readlink", "/proc/self/ns/net").CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter: %v: %s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != fmt.Sprintf("net:[%d]", ino) {
			t.Errorf("nsenter --net=%s sees %q", path, got)
		}
	}

	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after Remove, stat %s: %v, want not exist", path, err)
	}
	if m, _ := MountsUnder(dir); len(m) != 0 {
		t.Errorf("after Remove, mounts under %s: %v", dir, m)
	}
	if err := Remove(path); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}
}

func TestShareDir(t *testing.T) {
	testvm.Require(t, testvm.Root)
	dir := filepath.Join(t.TempDir(), "netns")
	for range 2 { // the second call finds a shared mount point already
		if err := ShareDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) > 6 && f[4] == dir {
			line = l
		}
	}
	if !strings.Contains(line, " shared:") {
		t.Errorf("mountinfo of %s = %q, want a shared mount", dir, line)
	}
}

func TestCreateRejectsBadNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b"} {
		if _, err := Create(dir, name); err == nil {
			t.Errorf("Create(%q) = nil error, want error", name)
		}
	}
	if _, err := Create(dir, "x"); err == nil {
		if _, err := Create(dir, "x"); err == nil {
			t.Error("Create of an existing name succeeded")
		}
		Remove(filepath.Join(dir, "x"))
	}
}

func TestIsNetnsOnPlainFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o644)
	if ok, err := IsNetns(p); err != nil || ok {
		t.Errorf("IsNetns(plain file) = %v, %v, want false, nil", ok, err)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/run/netns/a`, `/run/netns/a`},
		{`/tmp/a\040b`, `/tmp/a b`},
		{`/tmp/back\134slash`, `/tmp/back\slash`},
		{`/tmp/trail\04`, `/tmp/trail\04`},
	} {
		if got := unescapeOctal(tc.in); got != tc.want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
