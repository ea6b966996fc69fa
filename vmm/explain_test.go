package vmm

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Explain's output for a tiny ELF kernel with every kind of device,
// pinned by a golden file (go test -update rewrites it).
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "kernel.elf")
	os.WriteFile(kernel, elfKernel([]byte{0xf4}), 0o644) // its own fixed kernel: the golden pins its size
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(initrd, make([]byte, 1<<20), 0o644)
	got, err := Explain(Config{
		Kernel: kernel, Initrd: initrd, CPUs: 2, MemoryMiB: 256, RNG: true, VsockCID: 3,
		Disks: []Disk{{Path: "/var/lib/root.img"}, {Path: "/var/lib/data.img", ReadOnly: true}},
		Net:   []NetConfig{{Tap: "tap0"}, {Bridge: "br0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got = strings.ReplaceAll(got, dir, "DIR")
	path := filepath.Join("testdata", "explain.golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("Explain differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
