package seccomp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/seccomp"
)

func ExampleCompile() {
	exdev := uint(unix.EXDEV)
	f, err := seccomp.Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &exdev},
			{Names: []string{"unshare"}, Action: specs.ActKillProcess},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(f.Architectures()), "architectures; notifies:", f.Notifies())
	fmt.Println(strings.Contains(f.Summary(), "BPF instructions, default SCMP_ACT_ALLOW"))
	_, err = seccomp.Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdri"}, Action: specs.ActErrno}},
	})
	fmt.Println(strings.Contains(err.Error(), `linux.seccomp.syscalls[0].names[1]: unknown syscall "mkdri"`))
	// Output:
	// 3 architectures; notifies: false
	// true
	// true
}

// String shows the program as annotated BPF assembly, one instruction a
// line ("0008: ret  #0x50012   ; nr 258 mkdirat: SCMP_ACT_ERRNO(EXDEV)");
// here the verdict for mkdirat, whatever its number on this machine.
func ExampleFilter_String() {
	exdev := uint(unix.EXDEV)
	f, err := seccomp.Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: &exdev}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(f.String(), "\n") {
		if i := strings.Index(line, "mkdirat:"); i >= 0 {
			fmt.Println(line[i:])
		}
	}
	// Output:
	// mkdirat: SCMP_ACT_ERRNO(EXDEV)
}

// Load is the last step of a container's init before execve: set
// no_new_privs, load, hand the listener (if any) to the runtime, exec.
func ExampleFilter_Load() {
	f, err := seccomp.Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"reboot"}, Action: specs.ActErrno}}})
	if err != nil {
		log.Fatal(err)
	}
	goruntime.LockOSThread() // the init execs from this thread
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		log.Fatal(err)
	}
	fd, err := f.Load()
	if err != nil {
		log.Fatal(err)
	}
	if fd >= 0 {
		// send fd to linux.seccomp.listenerPath with SCM_RIGHTS
	}
	_ = unix.Exec("/bin/sh", []string{"sh"}, nil)
}

// A seccomp agent answers notified calls on the listener fd.
func ExampleReceive() {
	var listener int // received from the container's init
	for {
		n, err := seccomp.Receive(listener)
		if err != nil {
			log.Fatal(err)
		}
		if n.Syscall() == "mknod" {
			// emulate it, then make the call return 0
			_ = seccomp.Respond(listener, seccomp.Response{ID: n.ID, Val: 0})
			continue
		}
		_ = seccomp.Respond(listener, seccomp.Response{ID: n.ID, Errno: unix.EPERM})
	}
}

func ExampleSyscall() {
	nr, _ := seccomp.Syscall(specs.ArchX86_64, "seccomp")
	fmt.Println(nr)
	nr, _ = seccomp.Syscall(specs.ArchAARCH64, "seccomp")
	fmt.Println(nr)
	// Output:
	// 317
	// 277
}

// The runtime hands a notifying filter's listener to the agent named in
// the spec, with the container's state.
func ExampleSendListener() {
	s := &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     "/run/seccomp-agent.sock",
		ListenerMetadata: "emulate-mknod",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mknod", "mknodat"}, Action: specs.ActNotify}},
	}
	f, err := seccomp.Compile(s)
	if err != nil {
		log.Fatal(err)
	}
	fd, err := f.Load() // in the container's init, after no_new_privs
	if err != nil {
		log.Fatal(err)
	}
	st := specs.ContainerProcessState{
		Pid:      os.Getpid(),
		Metadata: s.ListenerMetadata,
		State:    specs.State{ID: "web", Status: specs.StateCreating, Pid: os.Getpid()},
	}
	if err := seccomp.SendListener(context.Background(), s.ListenerPath, fd, st); err != nil {
		log.Fatal(err)
	}
	unix.Close(fd)
}

func ExampleFeatures() {
	f := seccomp.Features()
	fmt.Println(f.Actions[0], f.Operators[0], len(f.KnownFlags))
	// Output: SCMP_ACT_ALLOW SCMP_CMP_EQ 4
}
