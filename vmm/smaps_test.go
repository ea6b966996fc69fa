package vmm

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/hullrt/hull/vmm/memory"
)

// A process's memory, mapping by mapping, from /proc/PID/smaps: where
// BenchmarkMemoryOverhead's overhead lives.

// smapsCategory says what mapping i of the VM process holds. exe is the
// process's executable; guestMiB its guest RAM. Anonymous memory is told
// apart by where it lies: guest RAM by its size, the executable's bss by
// following its last mapping, the C library's thread stacks (cgo's
// threads) by the one-page PROT_NONE guard just below each, the Go heap
// by its addresses (the runtime maps its arenas at hint addresses below
// the 0x7f... area where mmap(2) places the rest).
func smapsCategory(maps []smapsEntry, i int, exe string, guestMiB uint64) string {
	e := maps[i]
	switch {
	case e.path == exe && strings.HasPrefix(e.perms, "r-x"):
		return "hull: text"
	case e.path == exe && strings.HasPrefix(e.perms, "r--"):
		return "hull: rodata, pclntab (and relro)"
	case e.path == exe:
		return "hull: data, bss"
	case strings.Contains(e.path, ".so"):
		return "shared libraries (libc, ld.so)"
	case strings.HasPrefix(e.path, "anon_inode:kvm"):
		return "KVM (kvm_run pages)"
	case e.path == "[stack]":
		return "main thread's stack"
	case e.path == "[heap]":
		return "C heap (brk)"
	case e.path == "[vdso]" || e.path == "[vvar]" || e.path == "[vvar_vclock]" || e.path == "[vsyscall]":
		return "vdso"
	case strings.HasPrefix(e.path, "[anon:"):
		return e.path
	case e.path != "":
		return "other files: " + e.path
	case e.perms == "---p":
		return "reserved (PROT_NONE)"
	}
	for _, r := range memory.Layout(guestMiB << 20) {
		if e.size == r.Size>>10 && e.anonymous == e.rss {
			return "guest RAM"
		}
	}
	if i > 0 && maps[i-1].path == exe && maps[i-1].end == e.start {
		return "hull: data, bss" // the bss beyond the file's last page
	}
	if i > 0 && maps[i-1].perms == "---p" && maps[i-1].end == e.start && maps[i-1].size == 4 {
		return "C thread stacks"
	}
	if e.start < 0x7f00_0000_0000 {
		return "Go heap (arenas)"
	}
	return "other anonymous (Go runtime metadata, C malloc)"
}

// smapsOverheadKiB is what pid's mappings hold resident besides guest
// RAM, read from the outside in one pass: the counterpart of
// MemoryStats.OverheadBytes, which the VM process measures itself.
func smapsOverheadKiB(pid int, guestMiB uint64) (uint64, error) {
	entries, err := readSmaps(pid)
	if err != nil {
		return 0, err
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, err
	}
	var n uint64
	for i, e := range entries {
		if smapsCategory(entries, i, exe, guestMiB) != "guest RAM" {
			n += e.rss
		}
	}
	return n, nil
}

// smapsBreakdown sums the mappings of pid by category, as a table.
func smapsBreakdown(pid int, guestMiB uint64) (string, error) {
	entries, err := readSmaps(pid)
	if err != nil {
		return "", err
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "", err
	}
	type sum struct {
		name                      string
		n                         int
		size, rss, anon, fileBack uint64
	}
	sums := map[string]*sum{}
	var total sum
	for i, e := range entries {
		c := smapsCategory(entries, i, exe, guestMiB)
		s := sums[c]
		if s == nil {
			s = &sum{name: c}
			sums[c] = s
		}
		for _, s := range []*sum{s, &total} {
			s.n++
			s.size += e.size
			s.rss += e.rss
			s.anon += e.anonymous
			s.fileBack += e.rss - min(e.rss, e.anonymous)
		}
	}
	var rows []*sum
	for _, s := range sums {
		rows = append(rows, s)
	}
	slices.SortFunc(rows, func(a, b *sum) int { return int(b.rss) - int(a.rss) })
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mappings\tsize KiB\tRSS KiB\tanon KiB\tfile KiB\t what")
	for _, s := range append(rows, &total) {
		name := s.name
		if s == &total {
			name = "total"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t %s\n", s.n, s.size, s.rss, s.anon, s.fileBack, name)
	}
	tw.Flush()
	return buf.String(), nil
}

// The breakdown of this very process adds up to its resident set.
func TestSmapsBreakdown(t *testing.T) {
	entries, err := readSmaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var rss uint64
	exe, _ := os.Executable()
	var text bool
	for i, e := range entries {
		rss += e.rss
		text = text || smapsCategory(entries, i, exe, 0) == "hull: text"
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	vmRSS, err := statusKiB(status, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	// The two are read at different moments: allow for the pages the
	// test touches in between.
	if d := int64(rss) - int64(vmRSS>>10); d < -1024 || d > 1024 {
		t.Errorf("smaps' Rss sums to %d KiB, VmRSS is %d KiB", rss, vmRSS>>10)
	}
	if !text {
		t.Errorf("no mapping of %s's text among %d mappings", exe, len(entries))
	}
	table, err := smapsBreakdown(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "total") {
		t.Errorf("smapsBreakdown has no total:\n%s", table)
	}
}
