package vmm

import (
	"errors"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseSetupMemory hands back to the kernel what the process needed
// only to set its VMs up, so that its resident set holds what the running
// VMs use (MemoryStats):
//
//   - the Go heap's free pages (debug.FreeOSMemory, which collects
//     first): what parsing the configuration, building the machine and
//     the command line's own setup left behind;
//   - its page-table entries for the read-only pages of the executable
//     and its shared libraries (MADV_DONTNEED on their r-xp and r--p
//     mappings): the code and constants that starting the process and
//     the VM ran through. The pages stay in the page cache, shared with
//     every process running the same binary; those the running VM uses
//     again fault back in (minor faults, no I/O), and count again: the
//     vCPU loop, the devices, the control socket, and the garbage
//     collector, whose stack scans read the pclntab of every function on
//     every goroutine's stack.
//
// A mapping holding anonymous pages (written: relocations, a debugger's
// or uprobe's breakpoints) is left alone, as are writable mappings and
// files not mapped executable: only pages identical to the file, of
// files the process maps for good, are dropped. It affects the whole
// process, so it is for a process that exists to run VMs, as hull vm
// run's does: call it once they run.
func ReleaseSetupMemory() error {
	debug.FreeOSMemory()
	maps, err := readSmaps(0)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range readOnlyCodeMappings(maps) {
		// madvise with an address, not a slice: these pages are not Go
		// memory, and nothing here reads them.
		_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), unix.MADV_DONTNEED)
		if e != 0 {
			errs = append(errs, os.NewSyscallError("madvise "+m.path, e))
		}
	}
	return errors.Join(errs...)
}

// readOnlyCodeMappings are the mappings ReleaseSetupMemory drops:
// private, read-only, resident, with no anonymous page, of a file that
// is also mapped executable — the executable and the shared libraries
// the dynamic loader mapped, which stay mapped for the process's life, so
// that no other mapping can take their place between reading smaps and
// madvise. (A kernel or initrd that Start maps to read is never
// executable here.)
func readOnlyCodeMappings(maps []smapsEntry) []smapsEntry {
	code := map[string]bool{}
	for _, m := range maps {
		if m.perms == "r-xp" && strings.HasPrefix(m.path, "/") {
			code[m.path] = true
		}
	}
	var out []smapsEntry
	for _, m := range maps {
		if (m.perms == "r-xp" || m.perms == "r--p") && code[m.path] && m.rss != 0 && m.anonymous == 0 {
			out = append(out, m)
		}
	}
	return out
}
