package cgroups

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) attribute blocks hull uses: prefixes of union bpf_attr in
// include/uapi/linux/bpf.h. The kernel accepts a prefix of the union as
// long as the size passed says so, and zero-fills the rest.

// bpfProgLoadAttr is the BPF_PROG_LOAD member.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64 // __aligned_u64 pointer to struct bpf_insn[]
	license            uint64 // pointer to a NUL-terminated string
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfProgAttachAttr is the BPF_PROG_ATTACH / BPF_PROG_DETACH member.
type bpfProgAttachAttr struct {
	targetFD     uint32 // the cgroup directory
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

// bpfProgQueryAttr is the BPF_PROG_QUERY member.
type bpfProgQueryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64 // __aligned_u64 pointer to __u32[]
	progCnt     uint32
	_           uint32 // padding to the __aligned_u64 that follows in the union
}

// bpfGetFDByIDAttr is the BPF_PROG_GET_FD_BY_ID member.
type bpfGetFDByIDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	for try := 0; ; try++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if errno == unix.EINTR || errno == unix.EAGAIN && cmd == unix.BPF_PROG_LOAD && try < 5 {
			continue // the verifier may be interrupted; retrying is what libbpf does
		}
		if errno != 0 {
			return 0, errno
		}
		return r, nil
	}
}

// loadDeviceFilter loads a BPF_PROG_TYPE_CGROUP_DEVICE program. When the
// verifier refuses it, the error carries the verifier's log.
func loadDeviceFilter(insns []Insn) (*os.File, error) {
	code := encodeInsns(insns)
	license := []byte("Apache-2.0\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		// SAFETY: code and license stay alive (KeepAlive below) for the
		// syscall, which only reads them.
		insns:   uint64(uintptr(unsafe.Pointer(&code[0]))),
		license: uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "hull_devices")
	// SAFETY: attr is a plain struct laid out like the kernel's.
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		// Load again with the verifier's log to say why.
		log := make([]byte, 64*1024)
		attr.logLevel = 1
		attr.logSize = uint32(len(log))
		// SAFETY: log outlives the syscall (KeepAlive below); the kernel
		// writes at most logSize bytes into it.
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		if fd2, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
			unix.Close(int(fd2))
		}
		runtime.KeepAlive(log)
		msg := string(log[:clen(log)])
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		if msg != "" {
			return nil, fmt.Errorf("bpf(BPF_PROG_LOAD): %w; verifier log:\n%s", err, msg)
		}
		return nil, os.NewSyscallError("bpf(BPF_PROG_LOAD)", err)
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	return os.NewFile(fd, "bpf-prog:hull_devices"), nil
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// attachDeviceFilter attaches prog to the cgroup directory with
// BPF_F_ALLOW_MULTI, so that programs attached by a parent (systemd's,
// say) keep running too: the kernel allows an access only when every
// program on the way up allows it.
func attachDeviceFilter(cgroupDir, prog *os.File) error {
	attr := bpfProgAttachAttr{
		targetFD:    uint32(cgroupDir.Fd()),
		attachBPFFD: uint32(prog.Fd()),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	// SAFETY: attr is a plain struct laid out like the kernel's; the fds
	// stay open through the call (KeepAlive).
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(cgroupDir)
	runtime.KeepAlive(prog)
	if err != nil {
		return os.NewSyscallError("bpf(BPF_PROG_ATTACH)", err)
	}
	return nil
}

// detachDeviceFilter detaches one program from the cgroup directory.
func detachDeviceFilter(cgroupDir, prog *os.File) error {
	attr := bpfProgAttachAttr{
		targetFD:    uint32(cgroupDir.Fd()),
		attachBPFFD: uint32(prog.Fd()),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	// SAFETY: as in attachDeviceFilter.
	_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(cgroupDir)
	runtime.KeepAlive(prog)
	if err != nil {
		return os.NewSyscallError("bpf(BPF_PROG_DETACH)", err)
	}
	return nil
}

// attachedDeviceFilters opens the device programs attached directly to
// the cgroup directory (not its ancestors').
func attachedDeviceFilters(cgroupDir *os.File) ([]*os.File, error) {
	ids := make([]uint32, 64)
	for {
		attr := bpfProgQueryAttr{
			targetFD:   uint32(cgroupDir.Fd()),
			attachType: unix.BPF_CGROUP_DEVICE,
			// SAFETY: ids outlives the call (KeepAlive); the kernel
			// writes at most progCnt entries.
			progIDs: uint64(uintptr(unsafe.Pointer(&ids[0]))),
			progCnt: uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(ids)
		runtime.KeepAlive(cgroupDir)
		if errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids) {
			ids = make([]uint32, attr.progCnt) // more programs than room: the kernel said how many
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("bpf(BPF_PROG_QUERY)", err)
		}
		var progs []*os.File
		for _, id := range ids[:attr.progCnt] {
			a := bpfGetFDByIDAttr{progID: id}
			// SAFETY: a is a plain struct laid out like the kernel's.
			fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&a), unsafe.Sizeof(a))
			if err != nil {
				for _, p := range progs {
					p.Close()
				}
				return nil, os.NewSyscallError(fmt.Sprintf("bpf(BPF_PROG_GET_FD_BY_ID, %d)", id), err)
			}
			progs = append(progs, os.NewFile(fd, fmt.Sprintf("bpf-prog:%d", id)))
		}
		return progs, nil
	}
}
