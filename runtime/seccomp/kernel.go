package seccomp

import "golang.org/x/sys/unix"

// Kernel ABI of seccomp(2), in the kernel's spelling. Names x/sys/unix
// already has are used from there (unix.SECCOMP_RET_*, unix.AUDIT_ARCH_*,
// unix.SECCOMP_FILTER_FLAG_*, unix.BPF_*); this file holds the rest and the
// layouts the compiler and the notification helpers depend on.

// From include/uapi/linux/seccomp.h.
const (
	SECCOMP_SET_MODE_FILTER = 1 // seccomp(2) operation

	// SECCOMP_RET_ACTION_FULL masks the action of a filter's return value,
	// SECCOMP_RET_DATA the 16 bits of data (errno, trace message) it carries.
	SECCOMP_RET_ACTION_FULL = 0xffff0000
	SECCOMP_RET_DATA        = 0x0000ffff

	SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1 << 0 // seccomp_notif_resp.flags
)

// __X32_SYSCALL_BIT, from arch/x86/include/uapi/asm/unistd.h: x32 processes
// enter the kernel as AUDIT_ARCH_X86_64 with this bit set in the number.
const X32_SYSCALL_BIT = 0x40000000

// MAX_ERRNO, from include/linux/err.h: the kernel clamps SECCOMP_RET_ERRNO
// data to it.
const MAX_ERRNO = 4095

// struct seccomp_data, from include/uapi/linux/seccomp.h: what a filter
// reads with BPF_LD|BPF_W|BPF_ABS. Each field is in the task's native byte
// order; a 64-bit argument is read as two 32-bit words.
//
//	struct seccomp_data {
//		int   nr;                    // offset 0
//		__u32 arch;                  // offset 4, AUDIT_ARCH_*
//		__u64 instruction_pointer;   // offset 8
//		__u64 args[6];               // offset 16 + 8*i
//	};
const (
	seccompDataNr     = 0
	seccompDataArch   = 4
	seccompDataIP     = 8
	seccompDataArgs   = 16
	sizeofSeccompData = 64
)

// seccompData is struct seccomp_data.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// seccompNotif is struct seccomp_notif (80 bytes), filled by
// SECCOMP_IOCTL_NOTIF_RECV.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// seccompNotifResp is struct seccomp_notif_resp (24 bytes), read by
// SECCOMP_IOCTL_NOTIF_SEND.
type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// The notification ioctls, from include/uapi/linux/seccomp.h:
//
//	#define SECCOMP_IOC_MAGIC             '!'
//	#define SECCOMP_IOCTL_NOTIF_RECV      SECCOMP_IOWR(0, struct seccomp_notif)
//	#define SECCOMP_IOCTL_NOTIF_SEND      SECCOMP_IOWR(1, struct seccomp_notif_resp)
//	#define SECCOMP_IOCTL_NOTIF_ID_VALID  SECCOMP_IOW(2, __u64)
//
// RECV and SEND are unix.SECCOMP_IOCTL_NOTIF_RECV/SEND; x/sys lacks
// ID_VALID, so it is computed here from its parts (pinned by a test).
var SECCOMP_IOCTL_NOTIF_ID_VALID = ioc(iocWrite, unix.SECCOMP_IOC_MAGIC, 2, 8)

// _IOC from include/uapi/asm-generic/ioctl.h (x86, arm64, riscv, loongarch,
// s390; powerpc and mips use other direction bits but the seccomp ioctls of
// those architectures are not needed by hull's agents).
const (
	iocWrite     = 1
	iocRead      = 2
	iocNrShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30
)

func ioc(dir, typ, nr, size uint) uint {
	return dir<<iocDirShift | typ<<iocTypeShift | nr<<iocNrShift | size<<iocSizeShift
}

// Classic BPF opcodes the compiler emits, from include/uapi/linux/filter.h
// and bpf_common.h (as unix.BPF_* parts).
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS   // A = seccomp_data[k:k+4]
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K  // A &= k
	opJa     = unix.BPF_JMP | unix.BPF_JA                // pc += k
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K  // pc += A == k ? jt : jf
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K  // pc += A > k ? jt : jf
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K  // pc += A >= k ? jt : jf
	opJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K // pc += A & k != 0 ? jt : jf
	opRetK   = unix.BPF_RET | unix.BPF_K                 // return k
)

// BPF_MAXINSNS is the kernel's limit on a classic BPF program's length.
const BPF_MAXINSNS = unix.BPF_MAXINSNS
