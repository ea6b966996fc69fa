package seccomp

import (
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sysnum is one entry of a generated system call table (zsyscalls.go).
type sysnum struct {
	name string
	nr   uint32
}

// arch is an architecture a filter can hold rules for.
type arch struct {
	name      specs.Arch
	audit     uint32   // AUDIT_ARCH_* the kernel puts in seccomp_data.arch
	table     []sysnum // sorted by name
	bigEndian bool     // selects which word of a 64-bit argument is the low half
	x32       bool     // shares AUDIT_ARCH_X86_64, numbers carry X32_SYSCALL_BIT
}

// arches lists the architectures with a system call table, in the order
// their blocks appear in a program.
var arches = []*arch{
	{name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, table: sysX86_64},
	{name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, table: sysX32, x32: true},
	{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, table: sysX86},
	{name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, table: sysAARCH64},
	{name: specs.ArchARM, audit: unix.AUDIT_ARCH_ARM, table: sysARM},
	{name: specs.ArchRISCV64, audit: unix.AUDIT_ARCH_RISCV64, table: sysRISCV64},
	{name: specs.ArchPPC64LE, audit: unix.AUDIT_ARCH_PPC64LE, table: sysPPC64LE},
	{name: specs.ArchPPC64, audit: unix.AUDIT_ARCH_PPC64, table: sysPPC64, bigEndian: true},
	{name: specs.ArchPPC, audit: unix.AUDIT_ARCH_PPC, table: sysPPC, bigEndian: true},
	{name: specs.ArchS390X, audit: unix.AUDIT_ARCH_S390X, table: sysS390X, bigEndian: true},
	{name: specs.ArchLOONGARCH64, audit: unix.AUDIT_ARCH_LOONGARCH64, table: sysLOONGARCH64},
	{name: specs.ArchMIPS, audit: unix.AUDIT_ARCH_MIPS, table: sysMIPS, bigEndian: true},
	{name: specs.ArchMIPSEL, audit: unix.AUDIT_ARCH_MIPSEL, table: sysMIPSEL},
	{name: specs.ArchMIPS64, audit: unix.AUDIT_ARCH_MIPS64, table: sysMIPS64, bigEndian: true},
	{name: specs.ArchMIPSEL64, audit: unix.AUDIT_ARCH_MIPSEL64, table: sysMIPSEL64},
}

// goarchs maps GOARCH to the architecture a Go binary runs as.
var goarchs = map[string]specs.Arch{
	"amd64":    specs.ArchX86_64,
	"386":      specs.ArchX86,
	"arm64":    specs.ArchAARCH64,
	"arm":      specs.ArchARM,
	"riscv64":  specs.ArchRISCV64,
	"ppc64le":  specs.ArchPPC64LE,
	"ppc64":    specs.ArchPPC64,
	"s390x":    specs.ArchS390X,
	"loong64":  specs.ArchLOONGARCH64,
	"mips":     specs.ArchMIPS,
	"mipsle":   specs.ArchMIPSEL,
	"mips64":   specs.ArchMIPS64,
	"mips64le": specs.ArchMIPSEL64,
}

// NativeArch is the architecture of the running process. Like libseccomp,
// every filter holds rules for it whether or not the spec lists it.
func NativeArch() specs.Arch { return goarchs[goruntime.GOARCH] }

// Arches lists the architectures Compile has system call tables for.
func Arches() []specs.Arch {
	out := make([]specs.Arch, len(arches))
	for i, a := range arches {
		out[i] = a.name
	}
	return out
}

func lookupArch(name specs.Arch) *arch {
	for _, a := range arches {
		if a.name == name {
			return a
		}
	}
	return nil
}

// archByAudit returns the architecture of a seccomp_data (arch, nr) pair.
func archByAudit(audit uint32, nr int32) *arch {
	for _, a := range arches {
		if a.audit == audit && a.x32 == (audit == unix.AUDIT_ARCH_X86_64 && nr&X32_SYSCALL_BIT != 0) {
			return a
		}
	}
	return nil
}

// lookup resolves a system call name on a.
func (a *arch) lookup(name string) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(a.table, name, func(s sysnum, n string) int { return strings.Compare(s.name, n) })
	if !ok {
		return 0, false
	}
	return a.table[i].nr, true
}

// syscallName is the reverse of lookup, for the teaching view.
func (a *arch) syscallName(nr uint32) string {
	for _, s := range a.table {
		if s.nr == nr {
			return s.name
		}
	}
	return ""
}

// Syscall returns the number of the system call name on arch, or false if
// arch has no such call (or hull has no table for arch).
func Syscall(arch specs.Arch, name string) (uint32, bool) {
	a := lookupArch(arch)
	if a == nil {
		return 0, false
	}
	return a.lookup(name)
}

// SyscallName returns the name of system call nr as the kernel reports it in
// seccomp_data (an AUDIT_ARCH_* value and a number), or "" if unknown.
func SyscallName(auditArch uint32, nr int32) string {
	a := archByAudit(auditArch, nr)
	if a == nil {
		return ""
	}
	return a.syscallName(uint32(nr))
}

func knownName(name string) bool {
	_, ok := slices.BinarySearch(knownNames, name)
	return ok
}
