// Package vmproc is the process that runs one micro-VM: in the
// foreground, with the guest's serial console on the terminal, or
// detached, serving the VM's control socket (package control) until the
// guest ends.
//
// That process lives as long as its guest, so what it holds besides
// guest RAM is hull's memory overhead per VM. It is therefore a program
// of its own, hull-vmm (cmd/hull-vmm), that links only the VMM: started
// from hull, which parses the command line, and found next to it. The
// hull command links the container runtime, the image store and the
// network code as well; their package initialisation and code pages
// would be resident in every VM process for nothing:
//
//	hull vm run --kernel K …            parse flags, validate, probe /dev/kvm
//	  └─ execve hull-vmm --config JSON  the same process, now only the VMM:
//	                                     vmm.Start, console, wait, exit status
//	hull vm run --detach --name N …
//	  └─ fork, setsid, execve hull-vmm --detach --root R --config JSON
//	                                     control.Listen, vmm.Start, "ok" on fd 3,
//	                                     serve the socket until the guest ends
//
// Where there is no hull-vmm beside hull (a hull built alone with go
// build), hull runs the same functions itself: the VM works the same and
// costs a few MiB more.
//
// Both ways, the VM process is started with transparent huge pages off
// for the Go heap and a small RLIMIT_STACK (Env, StackLimit), and gives
// back once the VM runs what setting it up took (vmm.ReleaseSetupMemory).
package vmproc

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/hullrt/hull/internal/sibling"
	"github.com/hullrt/hull/vmm"
)

// BinaryName is the VM process's program, installed next to hull.
const BinaryName = "hull-vmm"

// Binary returns the path of hull-vmm next to the running executable,
// or "" when there is none (or it is not executable).
func Binary() string { return sibling.Find(BinaryName) }

// StackLimit is the VM process's RLIMIT_STACK. The C library sizes the
// stacks of the threads it starts (cgo's: every thread but the first,
// when hull-vmm or hull is built with cgo) by it, and a stack of the
// default 8 MiB that happens to be 2 MiB-aligned gets a huge page when
// first touched. Go uses a few KiB of each (without cgo, its threads'
// stacks are 16 KiB).
const StackLimit = 1 << 20

// Env is env with disablethp added to GODEBUG, unless it sets
// disablethp itself: the Go heap, a few MiB, stays in 4 KiB pages rather
// than mostly empty 2 MiB ones on hosts whose transparent huge pages are
// "always", as Debian's are (guest RAM keeps its own MADV_HUGEPAGE).
func Env(env []string) []string {
	out := make([]string, 0, len(env)+1)
	var godebug string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	if !strings.Contains(","+godebug, ",disablethp=") {
		godebug = strings.TrimPrefix(godebug+",disablethp=1", ",")
	}
	return append(out, "GODEBUG="+godebug)
}

// gcPercent is the VM process's GOGC once the VM runs. Its live heap is
// about 500 KiB (package tables, the VM's devices) and it allocates
// little (nothing per exit or console byte), so collecting at 25% growth
// rather than 100% costs little CPU and keeps the heap goal at 1 MiB
// (the runtime's floor is 4 MiB × GOGC/100) instead of letting garbage
// build up to 4 MiB between collections. (10% measured no smaller: what
// stays is the spans' unused space.)
const gcPercent = 25

// settle is called once the VM runs: this process is the VM's from now
// on. It collects more often (gcPercent), and what setting the VM up
// took goes back to the kernel (vmm.ReleaseSetupMemory). A failure costs
// memory, not the VM: it is reported and the run goes on.
func settle(stderr io.Writer) {
	debug.SetGCPercent(gcPercent)
	if err := vmm.ReleaseSetupMemory(); err != nil {
		fmt.Fprintf(stderr, "hull: %v\r\n", err)
	}
}
