// Package seccomp compiles the OCI linux.seccomp section into a classic BPF
// program and installs it with seccomp(2), in pure Go (no libseccomp).
//
// # What the kernel runs
//
// A seccomp filter is a classic BPF program the kernel runs on every system
// call the thread makes, before the call. It reads a struct seccomp_data
// (the call's number, the AUDIT_ARCH_* of the calling convention, the
// instruction pointer and the six arguments) and returns a 32-bit verdict:
// an action in the high 16 bits (SECCOMP_RET_ALLOW, _ERRNO, _KILL_PROCESS,
// _USER_NOTIF…) and data in the low 16 bits (the errno to fail with).
// Classic BPF has one 32-bit accumulator, forward jumps of at most 255
// instructions, and at most BPF_MAXINSNS (4096) instructions.
//
// Compile turns a profile into such a program: it resolves each system call
// name to its number on every architecture of the filter (tables generated
// from golang.org/x/sys, see zsyscalls.go), builds a search tree per
// architecture (generate.go draws the layout), splits 64-bit argument
// comparisons into two 32-bit ones, and assembles it, inserting long-jump
// trampolines where a branch is out of reach (asm.go). Filter.String prints
// the result as annotated assembly; Load installs it.
//
// # Kernel interfaces
//
//   - seccomp(2) SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC,
//     _LOG, _SPEC_ALLOW, _NEW_LISTENER, _TSYNC_ESRCH, _WAIT_KILLABLE_RECV;
//   - ioctl(2) SECCOMP_IOCTL_NOTIF_RECV, _SEND and _ID_VALID on the
//     listener fd of a filter using SCMP_ACT_NOTIFY (Receive, Respond).
//
// # Notification protocol
//
//	container init                         seccomp agent (listenerPath)
//	--------------                         ----------------------------
//	prctl(PR_SET_NO_NEW_PRIVS)
//	fd = Load()  (NEW_LISTENER)
//	SendListener(listenerPath, fd, state)  accept: ContainerProcessState
//	  one message: JSON + SCM_RIGHTS ----> JSON, fds ["seccompFd"] + the fd
//	execve(process.args)                   Receive(fd) blocks
//	  mkdir("/x")  … thread sleeps ------> Notification{Nr: mkdir, Args…}
//	  returns Val or -Errno  <-----------  Respond(fd, Response{…})
//
// (runc sends from the runtime process, after the init passed it the fd;
// either side can call SendListener.)
//
// The kernel structures live in kernel.go, spelled as in
// include/uapi/linux/seccomp.h.
package seccomp

//go:generate go run ./internal/mksysnum -o zsyscalls.go
