package seccomp

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadProfile(t testing.TB, name string) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &s
}

func uintp(u uint) *uint { return &u }

func TestCompileErrors(t *testing.T) {
	allow := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
	}
	tests := []struct {
		name string
		spec specs.LinuxSeccomp
		want []string // each must appear in the error
	}{
		{"unknown syscall", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			allow("read"), allow("write"), allow("close"), allow("read", "foo")}},
			[]string{`linux.seccomp.syscalls[3].names[1]: unknown syscall "foo" for SCMP_ARCH_X86_64`}},
		{"empty name", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{allow("")}},
			[]string{"linux.seccomp.syscalls[0].names[0]: empty system call name"}},
		{"no names", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}},
			[]string{"linux.seccomp.syscalls[0].names: no system call names"}},
		{"missing default action", specs.LinuxSeccomp{},
			[]string{"linux.seccomp.defaultAction: missing action"}},
		{"unknown default action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"},
			[]string{`linux.seccomp.defaultAction: unknown action "SCMP_ACT_MAYBE"`}},
		{"unknown rule action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_NOPE"}}},
			[]string{`linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_NOPE"`}},
		{"errnoRet with allow", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)},
			[]string{"linux.seccomp.defaultAction: errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"}},
		{"errno too large", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(5000)}}},
			[]string{"linux.seccomp.syscalls[0].action: errnoRet 5000 of SCMP_ACT_ERRNO is larger than 4095"}},
		{"unknown arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, "SCMP_ARCH_VAX"}},
			[]string{`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`}},
		{"arch without table", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchPARISC}},
			[]string{"linux.seccomp.architectures[0]: no system call table for SCMP_ARCH_PARISC"}},
		{"unknown flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FAST"}},
			[]string{`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FAST"`}},
		{"wait killable without notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
			[]string{"linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY"}},
		{"bad arg index and op", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}, {Index: 0, Op: "SCMP_CMP_ABOUT"}}}}},
			[]string{"linux.seccomp.syscalls[0].args[0].index: 6 is not an argument", `linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_ABOUT"`}},
		{"every problem reported", specs.LinuxSeccomp{DefaultAction: "X", Syscalls: []specs.LinuxSyscall{allow("nope"), allow("neither")}},
			[]string{"defaultAction", `"nope"`, `"neither"`}},
	}
	if NativeArch() != specs.ArchX86_64 {
		t.Skip("error texts name the native architecture, x86_64 here")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(&tt.spec)
			if err == nil {
				t.Fatalf("Compile = %v, want an error", f)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Compile error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileNil(t *testing.T) {
	if _, err := Compile(nil); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

// A name the filter's architectures lack is skipped (arch_prctl is x86
// only, set_tls ARM only); this is what lets one profile serve every
// architecture.
func TestCompileSkipsOtherArchitecturesCalls(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "set_tls", "breakpoint"}, Action: specs.ActAllow}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := f.String(); !strings.Contains(s, `skipped syscalls[0].names[1] "set_tls"`) {
		t.Errorf("String() does not mention the skipped set_tls:\n%s", s)
	}
}

// Two unconditional rules for one call: the first stays, as in libseccomp,
// and the teaching view says so.
func TestCompileConflictingActions(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86}, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActErrno}, {Names: []string{"rmdir", "mkdir"}, Action: specs.ActKillProcess}}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`syscalls[1].names[1]: "mkdir" already has action SCMP_ACT_ERRNO(EPERM) from syscalls[0] on %s: SCMP_ACT_KILL_PROCESS ignored`, NativeArch())
	if s := f.String(); !strings.Contains(s, want) {
		t.Errorf("String() lacks %q:\n%s", want, s)
	}
	a := lookupArch(NativeArch())
	nr, _ := a.lookup("mkdir")
	if got := run(t, f.prog, seccompData{Nr: int32(nr), Arch: a.audit}, orderOf(a)); got != unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM) {
		t.Errorf("mkdir: %s, want the first rule's SCMP_ACT_ERRNO(EPERM)", retString(got))
	}
}

func TestGolden(t *testing.T) {
	if NativeArch() != specs.ArchX86_64 {
		t.Skip("golden programs are for x86_64 hosts")
	}
	for _, name := range []string{"small"} {
		t.Run(name, func(t *testing.T) {
			f, err := Compile(loadProfile(t, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got := f.String()
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("String() differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func TestDockerProfileSize(t *testing.T) {
	f, err := Compile(loadProfile(t, "docker.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Instructions())
	if n > BPF_MAXINSNS {
		t.Fatalf("docker profile: %d instructions, more than BPF_MAXINSNS", n)
	}
	t.Logf("docker profile: %d instructions for %s", n, archList(f.Architectures()))
	if f.Notifies() {
		t.Error("docker profile: Notifies() = true")
	}
}

// The ioctl numbers derived in kernel.go and the struct sizes the kernel
// checks, pinned against x/sys and the uapi header.
func TestKernelABI(t *testing.T) {
	if got, want := ioc(iocRead|iocWrite, '!', 0, 80), uint(unix.SECCOMP_IOCTL_NOTIF_RECV); got != want {
		t.Errorf("_IOWR('!', 0, struct seccomp_notif) = %#x, want %#x", got, want)
	}
	if got, want := ioc(iocRead|iocWrite, '!', 1, 24), uint(unix.SECCOMP_IOCTL_NOTIF_SEND); got != want {
		t.Errorf("_IOWR('!', 1, struct seccomp_notif_resp) = %#x, want %#x", got, want)
	}
	if got, want := SECCOMP_IOCTL_NOTIF_ID_VALID, uint(0x40082102); got != want {
		t.Errorf("SECCOMP_IOCTL_NOTIF_ID_VALID = %#x, want %#x", got, want)
	}
	if got := sizeofNotif(); got != 80 {
		t.Errorf("sizeof(struct seccomp_notif) = %d, want 80", got)
	}
	if got := sizeofNotifResp(); got != 24 {
		t.Errorf("sizeof(struct seccomp_notif_resp) = %d, want 24", got)
	}
}

func TestSyscallTables(t *testing.T) {
	tests := []struct {
		arch specs.Arch
		name string
		want uint32
	}{
		{specs.ArchX86_64, "read", 0},
		{specs.ArchX86_64, "seccomp", 317},
		{specs.ArchX86, "seccomp", 354},
		{specs.ArchAARCH64, "seccomp", 277},
		{specs.ArchARM, "seccomp", 383},
		{specs.ArchARM, "set_tls", 0x0f0005},
		{specs.ArchX32, "read", X32_SYSCALL_BIT},
		{specs.ArchX32, "execve", X32_SYSCALL_BIT | 520},
		{specs.ArchX32, "pwritev2", X32_SYSCALL_BIT | 547},
	}
	for _, tt := range tests {
		if got, ok := Syscall(tt.arch, tt.name); !ok || got != tt.want {
			t.Errorf("Syscall(%s, %q) = %d, %v, want %d", tt.arch, tt.name, got, ok, tt.want)
		}
	}
	if _, ok := Syscall(specs.ArchAARCH64, "arch_prctl"); ok {
		t.Error("AArch64 has arch_prctl")
	}
	if got := SyscallName(unix.AUDIT_ARCH_X86_64, X32_SYSCALL_BIT|520); got != "execve" {
		t.Errorf("SyscallName(x32 520) = %q, want execve", got)
	}
}

func BenchmarkCompileDocker(b *testing.B) {
	s := loadProfile(b, "docker.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Fatal("Enabled is not true")
	}
	if len(f.Actions) != 9 || len(f.Operators) != 7 || !slices.Contains(f.Archs, "SCMP_ARCH_X32") {
		t.Errorf("Features() = %+v", f)
	}
	// Kernels from 5.19 (hosts and the test VM) support every flag hull knows; the
	// probe must say so, and must reject a made-up bit.
	if !slices.Equal(f.SupportedFlags, f.KnownFlags) {
		t.Errorf("SupportedFlags %v, KnownFlags %v", f.SupportedFlags, f.KnownFlags)
	}
	if FlagSupported(1 << 20) {
		t.Error("FlagSupported(1<<20) = true")
	}
}

// zsyscalls.go is what `go generate` writes from the x/sys version go.mod
// pins: regenerating must change nothing.
func TestGeneratedTablesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	if testvm.InGuest() {
		t.Skip("the test VM has no Go toolchain; this test runs on the host")
	}
	out := filepath.Join(t.TempDir(), "zsyscalls.go")
	cmd := exec.Command("go", "run", "./internal/mksysnum", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/mksysnum: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("zsyscalls.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("zsyscalls.go is stale: run go generate ./runtime/seccomp")
	}
}

// A MASKED_EQ whose datum has bits outside the mask can never match: the
// teaching view says so.
func TestCompileNotesImpossibleMask(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"clone"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xff, ValueTwo: 0x100}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "syscalls[0].args[0]: args & 0xff can never equal 0x100: the rule never matches"; !strings.Contains(f.String(), want) {
		t.Errorf("String() lacks %q", want)
	}
}
