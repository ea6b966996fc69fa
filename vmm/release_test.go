package vmm

import (
	"os"
	"slices"
	"testing"
)

const smapsSample = `00400000-00401000 r--p 00000000 fe:00 12 /payload/bin/hull
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
00401000-00ae2000 r-xp 00001000 fe:00 12 /payload/bin/hull
Size:               7044 kB
Rss:                5276 kB
Anonymous:             0 kB
AnonHugePages:         0 kB
VmFlags: rd ex mr mw me dw
00ae2000-01202000 r--p 006e2000 fe:00 12 /payload/bin/hull
Size:               7296 kB
Rss:                4444 kB
Anonymous:             0 kB
01202000-01203000 r--p 00e02000 fe:00 12 /payload/bin/hull
Size:                  4 kB
Rss:                   4 kB
Anonymous:             4 kB
01203000-01290000 rw-p 00e03000 fe:00 12 /payload/bin/hull
Size:                564 kB
Rss:                 292 kB
Anonymous:           100 kB
01290000-032d9000 rw-p 00000000 00:00 0
Size:              33060 kB
Rss:                  96 kB
Anonymous:            96 kB
184b86400000-184b86800000 rw-p 00000000 00:00 0
Size:               4096 kB
Rss:                1732 kB
Anonymous:          1732 kB
7f4fe0000000-7f4fe4000000 rw-p 00000000 00:00 0
Size:              65536 kB
Rss:                4096 kB
Anonymous:          4096 kB
AnonHugePages:      4096 kB
7f4ff0000000-7f4ff0100000 r--p 00000000 fe:00 40 /payload/vmm/vmlinuz
Size:               1024 kB
Rss:                1024 kB
Anonymous:             0 kB
7f503fe93000-7f503ffe9000 r-xp 00028000 fe:00 30 /payload/sysroot/lib/x86_64-linux-gnu/libc.so.6
Size:               1368 kB
Rss:                 692 kB
Anonymous:             0 kB
7f503ffe9000-7f504003c000 r--p 0017e000 fe:00 30 /payload/sysroot/lib/x86_64-linux-gnu/libc.so.6
Size:                332 kB
Rss:                   0 kB
Anonymous:             0 kB
7f504003c000-7f5040040000 r--p 001d0000 fe:00 30 /payload/sysroot/lib/x86_64-linux-gnu/libc.so.6
Size:                 16 kB
Rss:                  16 kB
Anonymous:            16 kB
7f5040052000-7f5040078000 r-xp 00001000 fe:00 31 /usr/lib/old/libfoo.so.1 (deleted)
Size:                152 kB
Rss:                 152 kB
Anonymous:             0 kB
7f5041000000-7f5041003000 rw-s 00000000 00:0e 99 anon_inode:kvm-vcpu:0
Size:                 12 kB
Rss:                   8 kB
Anonymous:             0 kB
7ffc0000000-7ffc0021000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
Rss:                  12 kB
Anonymous:            12 kB
`

// ReleaseSetupMemory drops only clean, read-only pages of the executable
// and the shared libraries: never written ones (relro), writable ones,
// anonymous memory, guest RAM, or other files (a kernel being loaded).
func TestReadOnlyCodeMappings(t *testing.T) {
	maps, err := parseSmaps([]byte(smapsSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 15 {
		t.Fatalf("parseSmaps found %d mappings, want 15", len(maps))
	}
	if m := maps[1]; m.start != 0x401000 || m.end != 0xae2000 || m.perms != "r-xp" || m.path != "/payload/bin/hull" || m.size != 7044 || m.rss != 5276 {
		t.Errorf("parseSmaps: mapping 1 = %+v", m)
	}
	if m := maps[7]; m.path != "" || m.anonHuge != 4096 {
		t.Errorf("parseSmaps: mapping 7 = %+v, want anonymous with 4096 kB of huge pages", m)
	}
	var got []string
	for _, m := range readOnlyCodeMappings(maps) {
		got = append(got, m.perms+" "+m.path)
	}
	want := []string{
		"r--p /payload/bin/hull", "r-xp /payload/bin/hull", "r--p /payload/bin/hull",
		"r-xp /payload/sysroot/lib/x86_64-linux-gnu/libc.so.6",
		"r-xp /usr/lib/old/libfoo.so.1 (deleted)", // replaced on disk: its pages refault from the old inode, which the mapping keeps
	}
	if !slices.Equal(got, want) {
		t.Errorf("readOnlyCodeMappings = %q, want %q", got, want)
	}
}

// Dropping the process's clean code pages lowers its file-backed resident
// set, and the process runs on: the pages fault back in.
func TestReleaseSetupMemory(t *testing.T) {
	rssFile := func() uint64 {
		t.Helper()
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		n, err := statusKiB(status, "RssFile")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := rssFile()
	if err := ReleaseSetupMemory(); err != nil {
		t.Fatal(err)
	}
	after := rssFile()
	t.Logf("RssFile: %d KiB before, %d KiB after", before>>10, after>>10)
	if after >= before {
		t.Errorf("RssFile after ReleaseSetupMemory = %d KiB, want below the %d KiB before", after>>10, before>>10)
	}
}
