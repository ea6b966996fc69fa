package seccomp

import (
	"bufio"
	"bytes"
	goruntime "runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// The kernel hands an installed filter back to a tracer with CAP_SYS_ADMIN:
// PTRACE_SECCOMP_GET_FILTER (the program) and PTRACE_SECCOMP_GET_METADATA
// (its flags; the kernel records SECCOMP_FILTER_FLAG_LOG). Reading them
// from a child proves Load installed exactly what Compile produced, with
// the spec's flags.
func TestKernelInstalledProgram(t *testing.T) {
	testvm.Require(t, testvm.Root) // PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN
	s := loadProfile(t, "docker.json")
	s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, "hold", s, nil)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, stderr.Bytes())
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "loaded\n" {
		t.Fatalf("child: %q, %v\n%s", line, err, stderr.Bytes())
	}

	// ptrace requests come from the thread that attached.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	pid := cmd.Process.Pid
	if err := unix.PtraceAttach(pid); err != nil {
		t.Fatalf("PTRACE_ATTACH: %v", err)
	}
	defer unix.PtraceDetach(pid)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		t.Fatalf("waiting for the tracee to stop: %v, %v", ws, err)
	}

	n, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), 0, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER: %v", errno)
	}
	got := make([]unix.SockFilter, n)
	// SAFETY: got has room for the n struct sock_filter the kernel copies.
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), 0, uintptr(unsafe.Pointer(&got[0])), 0, 0); errno != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER: %v", errno)
	}
	if !slices.Equal(got, f.Instructions()) {
		t.Errorf("the kernel holds a %d-instruction program, Compile produced %d: they differ", len(got), len(f.Instructions()))
	}

	// struct seccomp_metadata, include/uapi/linux/ptrace.h.
	meta := struct{ FilterOff, Flags uint64 }{}
	// SAFETY: meta has the layout and the size (16) the kernel is told.
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_METADATA, uintptr(pid), unsafe.Sizeof(meta), uintptr(unsafe.Pointer(&meta)), 0, 0); errno != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_METADATA: %v", errno)
	}
	if meta.Flags != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Errorf("filter flags %s, want SECCOMP_FILTER_FLAG_LOG", flagString(uint(meta.Flags)))
	}
}
