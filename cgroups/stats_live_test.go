package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Stats beyond cpu, memory and pids, observed where the kernel keeps
// them: block I/O on a real disk, pressure stall information (cgroup2),
// and huge pages.

// diskOf returns the whole disk that holds dir's file system, or ok false
// when it is not on a block device (tmpfs, overlayfs). io.stat and v1's
// blkio tables count per disk, partitions included.
func diskOf(dir string) (major, minor uint32, ok bool) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, 0, false
	}
	major, minor = unix.Major(st.Dev), unix.Minor(st.Dev)
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		b, err := os.ReadFile(filepath.Join(sys, "..", "dev"))
		if err != nil {
			return 0, 0, false
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor); err != nil {
			return 0, 0, false
		}
	} else if _, err := os.Stat(sys); err != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// blkioBytes sums one operation's bytes on one device.
func blkioBytes(st *Stats, major, minor uint32, op string) (bytes, ios uint64) {
	for _, e := range st.Blkio.IoServiceBytesRecursive {
		if e.Major == uint64(major) && e.Minor == uint64(minor) && strings.EqualFold(e.Op, op) {
			bytes += e.Value
		}
	}
	for _, e := range st.Blkio.IoServicedRecursive {
		if e.Major == uint64(major) && e.Minor == uint64(minor) && strings.EqualFold(e.Op, op) {
			ios += e.Value
		}
	}
	return bytes, ios
}

// testStatsIO does 1 MiB of O_DIRECT I/O, which bypasses the page cache
// and so reaches the device from the process itself, and finds at least
// that many bytes, in at least 16 requests (64 KiB or less each), in the
// cgroup's io.stat (v2) or blkio tables (v1). The device:
//
//	v1  a loop device of the test's own, written then read. v1 counts
//	    per cgroup only in blk-throttle (or BFQ, not in use here), and
//	    blk-throttle only on a device that has a rule (so on the
//	    development hosts' 6.18 kernel: without one the tables stay
//	    empty): the cgroup gets one far above what the test does.
//	v2  a file on the disk that holds the test's temporary directory,
//	    written then read; in the test VM, whose /tmp is not on a disk,
//	    a read of its read-only disk. The cgroup's io.pressure counts the
//	    time the process waited for that I/O.
func testStatsIO(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	var major, minor uint32
	ops := []string{"Write", "Read"}
	const rw = "dd if=/dev/zero of=%[1]s bs=64k count=16 oflag=direct 2>&1 && dd if=%[1]s of=/dev/null bs=64k count=16 iflag=direct 2>&1"
	var script string
	if !v2 {
		dev, maj, min := loopDevice(t)
		major, minor, script = uint32(maj), uint32(min), fmt.Sprintf(rw, dev)
	} else {
		dir := t.TempDir()
		var ok bool
		major, minor, ok = diskOf(dir)
		script = fmt.Sprintf(rw, dir+"/f")
		if !ok {
			if !testvm.InGuest() {
				t.Skipf("%s is not on a block device", dir)
			}
			maj, min := blockDevice(t, "vda")
			major, minor, ops = uint32(maj), uint32(min), []string{"Read"}
			script = "dd if=/dev/vda of=/dev/null bs=64k count=16 iflag=direct 2>&1"
		}
	}
	// v1: a rule that makes blk-throttle count. v2: the io controller,
	// for io.stat, and a rate that makes each 1 MiB take about 250 ms,
	// time that the process spends waiting for its I/O, which
	// io.pressure counts (a disk as fast as the test VM's completes a
	// 64 KiB read before the task can sleep on it).
	rate := uint64(1 << 40)
	if v2 {
		rate = 4 << 20
	}
	limit := []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: int64(major), Minor: int64(minor)}, Rate: rate}}
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: limit, ThrottleWriteBpsDevice: limit}}); err != nil {
		t.Fatal(err)
	}
	p := start(t, m, v2, script)
	if err := p.wait(t); err != nil {
		t.Fatalf("%s: %v: %s", script, err, p.output())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		bytes, ios := blkioBytes(st, major, minor, op)
		t.Logf("%d:%d %s: %d bytes in %d requests", major, minor, op, bytes, ios)
		if bytes < 1<<20 || ios < 16 {
			t.Errorf("%d:%d %s: %d bytes in %d requests; want at least 1 MiB in 16 (O_DIRECT, 64 KiB each)\nstats: %+v", major, minor, op, bytes, ios, st.Blkio)
		}
	}
	if v2 {
		if st.Blkio.PSI == nil || st.Blkio.PSI.Some.Total == 0 {
			t.Errorf("io.pressure: %+v, want some stall time after throttled direct I/O", st.Blkio.PSI)
		} else {
			t.Logf("io.pressure some: %+v", st.Blkio.PSI.Some)
		}
	}
}

// psiTotal reads the "some" total of a pressure file, parsed apart from
// the package's own parser.
func psiTotal(t *testing.T, dir, file string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var a10, a60, a300 float64
	var total uint64
	if _, err := fmt.Sscanf(string(b), "some avg10=%f avg60=%f avg300=%f total=%d", &a10, &a60, &a300, &total); err != nil {
		t.Fatalf("%s: %q: %v", file, b, err)
	}
	return total
}

// testStatsPSI runs one more busy loop than there are CPUs: one of them
// always waits for a CPU, and cpu.pressure counts that wait. Stats reads
// a total between two reads of the file itself. (Every cgroup2 cgroup
// has the pressure files, with or without controllers.)
func testStatsPSI(t *testing.T, h *Host) {
	m := newManager(t, h)
	dir := m.Paths()[""]
	if _, err := os.Stat(filepath.Join(dir, "cpu.pressure")); err != nil {
		t.Skipf("no pressure stall information: %v", err)
	}
	n := runtime.NumCPU() // the CPUs this process, and so the loops, may run on
	script := ""
	for range n + 1 {
		script += "while :; do :; done & "
	}
	start(t, m, true, script+"wait")
	eventually(t, "CPU pressure", func() bool { return psiTotal(t, dir, "cpu.pressure") > 0 })
	before := psiTotal(t, dir, "cpu.pressure")
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	after := psiTotal(t, dir, "cpu.pressure")
	if st.CPU.PSI == nil || st.CPU.PSI.Some.Total < before || st.CPU.PSI.Some.Total > after {
		t.Fatalf("cpu PSI %+v, want some total in %d..%d µs (%d busy loops on %d CPUs)", st.CPU.PSI, before, after, n+1, n)
	}
	if st.Memory.PSI == nil || st.Blkio.PSI == nil {
		t.Errorf("memory PSI %+v, io PSI %+v: want both read", st.Memory.PSI, st.Blkio.PSI)
	}
	t.Logf("%d busy loops on %d CPUs: cpu some %+v", n+1, n, st.CPU.PSI.Some)
}

// testStatsHugetlb holds one huge page in the cgroup through a file on a
// hugetlbfs mount of the test's own, and tries for three more under a
// limit of two: the stats show the page in use and the refused allocation. The
// kernel's pool gets the pages the test needs, and its size back after.
func testStatsHugetlb(t *testing.T, h *Host, v2 bool) {
	const size = "2MB"
	if !hugetlbAvailable(h) {
		t.Skip("no hugetlb controller")
	}
	if !v2 {
		restoreSubtreeControl(t, h.SelfDir(""))
	}
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: 2 << 21}}}); err != nil {
		t.Fatal(err)
	}
	hugePool(t, 4) // the pool has room for all: only the limit refuses
	mnt := t.TempDir()
	if err := unix.Mount("hugetlbfs", mnt, "hugetlbfs", unix.MS_NOSUID|unix.MS_NODEV, "pagesize=2M"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	// A fallocate that fails keeps the pages it got: rm gives them back.
	p := start(t, m, v2, fmt.Sprintf(`fallocate -l 2097152 %[1]s/one && echo one
		fallocate -l 6291456 %[1]s/three 2>&1 || echo three-refused
		rm -f %[1]s/three`, mnt))
	if err := p.wait(t); err != nil || !strings.Contains(p.output(), "one\n") || !strings.Contains(p.output(), "three-refused") {
		t.Fatalf("%v, output %q; want one page allocated, three refused", err, p.output())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := st.Hugetlb[size]
	// One page stays, the first file's.
	if got.Usage != 2<<20 || got.Failcnt < 1 {
		t.Errorf("hugetlb %s: %+v; want usage %d (one page held) and failcnt >= 1", size, got, 2<<20)
	}
	t.Logf("hugetlb %s: %+v", size, got)
}

// hugetlbAvailable: 2 MB pages, and a hugetlb controller (a v1 hierarchy,
// or on the cgroup2 side).
func hugetlbAvailable(h *Host) bool {
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		return false
	}
	if _, v1 := h.V1["hugetlb"]; v1 {
		return true
	}
	for _, c := range h.Delegated {
		if c == "hugetlb" {
			return true
		}
	}
	return false
}

// hugePool makes sure the kernel has n free 2 MB huge pages, growing the
// pool if need be and shrinking it back when the test ends.
func hugePool(t *testing.T, n int) {
	t.Helper()
	const dir = "/sys/kernel/mm/hugepages/hugepages-2048kB"
	read := func(f string) int {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return v
	}
	free := read("free_hugepages")
	if free >= n {
		return
	}
	total := read("nr_hugepages")
	want := total + n - free
	if err := os.WriteFile(filepath.Join(dir, "nr_hugepages"), []byte(strconv.Itoa(want)), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(dir, "nr_hugepages"), []byte(strconv.Itoa(total)), 0); err != nil {
			t.Errorf("shrink the huge page pool back to %d: %v", total, err)
		}
	})
	if got := read("free_hugepages"); got < n {
		t.Skipf("the kernel found %d free huge pages of the %d asked for", got, n)
	}
}

func TestV1StatsIO(t *testing.T)      { testStatsIO(t, hostV1(t), false) }
func TestV1StatsHugetlb(t *testing.T) { testStatsHugetlb(t, hostV1(t), false) }
func TestV2CoreStatsPSI(t *testing.T) { testStatsPSI(t, hostV2Core(t)) }
func TestV2StatsIO(t *testing.T)      { testStatsIO(t, hostV2(t), true) }
func TestV2StatsPSI(t *testing.T)     { testStatsPSI(t, hostV2(t)) }
func TestV2StatsHugetlb(t *testing.T) { testStatsHugetlb(t, hostV2(t), true) }
