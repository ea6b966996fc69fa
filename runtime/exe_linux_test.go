package runtime

import (
	"bytes"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The rootless copy of hull is the whole binary, sealed: no write, no
// resize, no new seal.
func TestMemfdExeSealed(t *testing.T) {
	f, err := memfdExe("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(f, 0, int64(len(want))+1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the memfd holds %d bytes that differ from /proc/self/exe's %d", len(got), len(want))
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	const all = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals&all != all {
		t.Errorf("seals = %#x, want %#x set", seals, all)
	}
	if _, err := f.WriteAt([]byte{0}, 0); err == nil {
		t.Error("a write to the sealed copy succeeded")
	}
	if err := f.Truncate(0); err == nil {
		t.Error("truncating the sealed copy succeeded")
	}
}
