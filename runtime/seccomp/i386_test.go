package seccomp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// i386MkdirProgram returns a static 32-bit x86 ELF executable that calls
// mkdir("x", 0755) through int 0x80 (the i386 system call entry: the
// kernel reports it as AUDIT_ARCH_I386, nr 39) and exits with the errno it
// got, 0 on success.
func i386MkdirProgram() []byte {
	const base = 0x08048000
	const hdrs = 52 + 32 // Elf32_Ehdr + one Elf32_Phdr
	var code []byte
	code = append(code, 0xb8, 39, 0, 0, 0) // mov eax, 39 (__NR_mkdir)
	pathAt := base + hdrs + 28
	code = append(code, 0xbb) // mov ebx, path
	code = binary.LittleEndian.AppendUint32(code, uint32(pathAt))
	code = append(code, 0xb9, 0xed, 0x01, 0, 0) // mov ecx, 0755
	code = append(code, 0xcd, 0x80)             // int 0x80
	code = append(code, 0xf7, 0xd8)             // neg eax: -errno → errno
	code = append(code, 0x89, 0xc3)             // mov ebx, eax
	code = append(code, 0xb8, 1, 0, 0, 0)       // mov eax, 1 (__NR_exit)
	code = append(code, 0xcd, 0x80)             // int 0x80
	code = append(code, 'x', 0)

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 1 /* ELFCLASS32 */, 1 /* ELFDATA2LSB */, 1 /* EV_CURRENT */, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, le, struct {
		Type, Machine                       uint16
		Version, Entry, Phoff, Shoff, Flags uint32
		Ehsize, Phentsize, Phnum            uint16
		Shentsize, Shnum, Shstrndx          uint16
	}{Type: 2 /* ET_EXEC */, Machine: 3 /* EM_386 */, Version: 1, Entry: base + hdrs, Phoff: 52, Ehsize: 52, Phentsize: 32, Phnum: 1})
	size := uint32(hdrs + len(code))
	binary.Write(&b, le, struct {
		Type, Offset, Vaddr, Paddr, Filesz, Memsz, Flags, Align uint32
	}{Type: 1 /* PT_LOAD */, Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Flags: 5 /* R|X */, Align: 0x1000})
	b.Write(code)
	return b.Bytes()
}

// A 32-bit program's calls reach the SCMP_ARCH_X86 block, with i386
// numbers; without SCMP_ARCH_X86 in the filter they kill it.
func TestKernelI386Calls(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("needs an x86_64 kernel with IA32 emulation")
	}
	prog := filepath.Join(t.TempDir(), "mkdir32")
	if err := os.WriteFile(prog, i386MkdirProgram(), 0o755); err != nil {
		t.Fatal(err)
	}
	// The program itself, unfiltered: it must work, or the kernel cannot
	// run 32-bit programs and the test says so.
	dir := t.TempDir()
	cmd := exec.Command(prog)
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		// Some hosts (this project's sandboxed development and CI
		// machines among them) cannot run 32-bit programs; the test VM's
		// Debian kernel can, so there it must work.
		if errors.Is(err, unix.ENOEXEC) && !testvm.InGuest() {
			t.Skipf("this kernel cannot run i386 programs (%v); the test runs in the test VM", err)
		}
		t.Fatalf("the i386 program without a filter: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err != nil {
		t.Fatalf("the i386 program did not mkdir: %v", err)
	}

	exdev := uintp(uint(unix.EXDEV))
	tests := []struct {
		name   string
		arches []specs.Arch
		names  []string
		exit   int            // the program's exit code: the errno of mkdir
		signal syscall.Signal // or the signal that killed it
	}{
		{"x86 listed, mkdir denied", []specs.Arch{specs.ArchX86}, []string{"mkdir"}, int(unix.EXDEV), 0},
		{"x86 listed, only x86_64's mkdirat denied", []specs.Arch{specs.ArchX86}, []string{"mkdirat"}, 0, 0},
		{"x86 not listed", nil, []string{"mkdir"}, 0, unix.SIGSYS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: tt.arches,
				Syscalls: []specs.LinuxSyscall{{Names: tt.names, Action: specs.ActErrno, ErrnoRet: exdev}}}
			dir := t.TempDir()
			cmd := startChild(t, "exec", s, []string{prog})
			cmd.Dir = dir
			err := cmd.Run()
			var ee *exec.ExitError
			switch {
			case tt.signal != 0:
				if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != tt.signal {
					t.Fatalf("program: %v, want killed by %v", err, tt.signal)
				}
			case tt.exit == 0:
				if err != nil {
					t.Fatalf("program: %v, want exit 0", err)
				}
			default:
				if !errors.As(err, &ee) || ee.ExitCode() != tt.exit {
					t.Fatalf("program: %v, want exit %d", err, tt.exit)
				}
			}
			_, err = os.Stat(filepath.Join(dir, "x"))
			if created := err == nil; created != (tt.exit == 0 && tt.signal == 0) {
				t.Errorf("directory created = %v", created)
			}
		})
	}
}
