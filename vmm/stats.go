package vmm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// MemoryStats is what a VM costs its host process in memory. The guest's
// RAM is anonymous memory of that process, so the process's resident set
// counts every guest page the guest has touched; what is left is hull's
// own overhead: its heap, stacks, code, and KVM's per-process state that
// the kernel charges to it.
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
	return s, nil
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
