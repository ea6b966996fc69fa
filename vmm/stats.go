package vmm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
)

// MemoryStats is what a VM costs its host process in memory. The guest's
// RAM is anonymous memory of that process, so the process's resident set
// counts every guest page the guest has touched; what is left is hull's
// own overhead (OverheadBytes).
//
// What counts as overhead is everything else the resident set (VmRSS)
// holds, as the kernel counts it:
//
//   - anonymous memory: the Go heap, including its free pages not yet
//     returned to the kernel; goroutine and thread stacks (those of the
//     C library's threads too); the Go runtime's metadata; the written
//     pages of the executable's data and bss;
//   - file-backed pages this process has mapped: the hull binary's code,
//     constants and pclntab, the C library's. They are shared through
//     the page cache with every process running the same files, yet each
//     process's resident set counts them in full, and so does this. The
//     kernel maps them in blocks around each page touched (fault-around,
//     64 KiB by default), so a scattered touch costs more than its page;
//   - the kvm_run pages of each vCPU, mapped from KVM.
//
// It leaves out what the kernel keeps for the VM outside the process's
// resident set: KVM's own structures (vCPU state, the second-level page
// tables), the process's page tables, the page cache of the kernel,
// initrd and disk images (the kernel and initrd are mapped only while
// Start copies them into guest RAM). Guest RAM counts as the guest's
// wherever its pages came from: the kernel and initrd copied by Start,
// and the whole 2 MiB of a transparent huge page the guest touched part
// of.
type MemoryStats struct {
	// GuestBytes is the guest's RAM size.
	GuestBytes uint64 `json:"guest_bytes"`
	// GuestResidentBytes is the guest RAM the host has backed with pages
	// (mincore(2)).
	GuestResidentBytes uint64 `json:"guest_resident_bytes"`
	// RSSBytes is the process's resident set (VmRSS in /proc/self/status),
	// RSSAnonBytes its anonymous part (RssAnon), which holds guest RAM and
	// hull's heap and stacks but not its mapped code.
	RSSBytes     uint64 `json:"rss_bytes"`
	RSSAnonBytes uint64 `json:"rss_anon_bytes"`
	// RSSFileBytes is the resident set's file-backed part (RssFile): the
	// hull binary's and its shared libraries' pages this process has
	// mapped. The page cache shares them with every other process running
	// the same binary, but they count in each one's resident set.
	RSSFileBytes uint64 `json:"rss_file_bytes"`
	// Threads is the process's OS threads: one per vCPU, the Go runtime's
	// (sysmon, the Ps' threads, threads blocked in system calls).
	Threads int `json:"threads"`
	// Go is the Go runtime's account of the memory it manages, from
	// runtime/metrics: where the anonymous overhead goes.
	Go GoMemory `json:"go"`
}

// GoMemory is the Go runtime's own figures (runtime/metrics'
// /memory/classes), which are what it has mapped and not returned to
// the kernel: most but not all of it resident.
type GoMemory struct {
	// HeapBytes is heap memory in use: live and not yet swept objects,
	// and the unused space in the spans that hold them.
	HeapBytes uint64 `json:"heap_bytes"`
	// HeapFreeBytes is free heap the runtime has not yet returned to the
	// kernel (its scavenger does so gradually; debug.FreeOSMemory at once).
	HeapFreeBytes uint64 `json:"heap_free_bytes"`
	// StackBytes is goroutine stacks and the runtime's OS thread stacks
	// (threads created through cgo have theirs from the C library, which
	// this omits).
	StackBytes uint64 `json:"stack_bytes"`
	// RuntimeBytes is the runtime's metadata (spans, GC bitmaps, caches)
	// and other internal memory.
	RuntimeBytes uint64 `json:"runtime_bytes"`
}

// OverheadBytes is the process's resident set less the guest's resident
// RAM: hull's own cost, code included.
func (s MemoryStats) OverheadBytes() uint64 {
	return s.RSSBytes - min(s.RSSBytes, s.GuestResidentBytes)
}

// MemoryStats measures the VM's process now. It fails once the VM is torn
// down (after Wait).
func (m *VM) MemoryStats() (MemoryStats, error) {
	m.closersMu.Lock()
	defer m.closersMu.Unlock()
	if m.closers == nil || m.mem == nil {
		return MemoryStats{}, errors.New("memory stats: the VM is torn down")
	}
	s := MemoryStats{GuestBytes: m.mem.Size()}
	var err error
	if s.GuestResidentBytes, err = m.mem.Resident(); err != nil {
		return MemoryStats{}, err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return MemoryStats{}, err
	}
	if s.RSSBytes, err = statusKiB(status, "VmRSS"); err != nil {
		return MemoryStats{}, err
	}
	if s.RSSAnonBytes, err = statusKiB(status, "RssAnon"); err != nil {
		return MemoryStats{}, err
	}
	if s.RSSFileBytes, err = statusKiB(status, "RssFile"); err != nil {
		return MemoryStats{}, err
	}
	if s.Threads, err = statusInt(status, "Threads"); err != nil {
		return MemoryStats{}, err
	}
	s.Go = readGoMemory()
	return s, nil
}

// goMemoryMetrics are the runtime/metrics that GoMemory sums.
var goMemoryMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
}

func readGoMemory() GoMemory {
	samples := make([]metrics.Sample, len(goMemoryMetrics))
	for i, name := range goMemoryMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var g GoMemory
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			continue // unknown to this Go release
		}
		v := s.Value.Uint64()
		switch s.Name {
		case "/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes":
			g.HeapBytes += v
		case "/memory/classes/heap/free:bytes":
			g.HeapFreeBytes += v
		case "/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes":
			g.StackBytes += v
		default:
			g.RuntimeBytes += v
		}
	}
	return g
}

// statusInt reads a "Name:   12" line of /proc/PID/status.
func statusInt(status []byte, name string) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != name {
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil {
			break
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc/self/status: no %s line", name)
}

// statusKiB reads a "Name:   1234 kB" line of /proc/PID/status, in bytes.
func statusKiB(status []byte, name string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != name {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("/proc/self/status: no %s line in kB", name)
}

// Running is closed when the boot vCPU first enters the guest: the end
// of the VMM's setup.
func (m *VM) Running() <-chan struct{} { return m.running }
