package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/control"
)

// Tiny 64-bit guests, loaded as ELF kernels at 16 MiB and entered the way
// Linux is, that end the run in each way a guest can: ACPI power-off,
// i8042 reset, and a triple fault.
var tinyGuests = []struct {
	name   string
	code   []byte
	reason Reason
	detail string
	out    string
}{
	{"poweroff", concat(
		serialOut("OK\n"),
		[]byte{0x66, 0xba, 0x00, 0x06}, // mov dx, 0x600 (ACPI sleep control)
		[]byte{0xb0, 5<<2 | 1<<5},      // mov al, SLP_TYP=5 | SLP_EN
		[]byte{0xee},                   // out dx, al
		halt,
	), PowerOff, "S5", "OK\n"},
	{"i8042 reset", concat(
		serialOut("R\n"),
		[]byte{0xb0, 0xfe, 0xe6, 0x64}, // mov al, 0xfe; out 0x64, al
		halt,
	), Reboot, "reset", "R\n"},
	{"triple fault", concat(
		serialOut("X\n"),
		[]byte{0x0f, 0x0b}, // ud2: #UD with an empty IDT escalates to a triple fault
	), Crashed, "KVM_EXIT_SHUTDOWN: triple fault; vCPU 0: RIP=", "X\n"},
}

// halt is hlt; jmp back to the hlt: a guest that waits with interrupts
// off sleeps in KVM (the in-kernel local APIC) until hull kicks the vCPU
// thread. (A "jmp $" spin keeps the vCPU in guest mode instead, which the
// nested test VM's emulated AMD-V handles badly under load: soft lockups.)
var halt = []byte{0xf4, 0xeb, 0xfd}

// serialOut is mov dx, 0x3f8 then mov al, c; out dx, al for each byte.
func serialOut(s string) []byte {
	b := []byte{0x66, 0xba, 0xf8, 0x03}
	for _, c := range []byte(s) {
		b = append(b, 0xb0, c, 0xee)
	}
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// elfKernel wraps code in an ELF64 executable with one PT_LOAD at 16 MiB,
// entered at its first byte.
func elfKernel(code []byte) []byte {
	const entry, phoff = 0x1000000, 64
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("\x7fELF\x02\x01\x01\x00")
	b.Write(make([]byte, 8))
	w(uint16(2))  // ET_EXEC
	w(uint16(62)) // EM_X86_64
	w(uint32(1))
	w(uint64(entry))
	w(uint64(phoff))
	w(uint64(0))
	w(uint32(0))
	w(uint16(64))
	w(uint16(56))
	w(uint16(1))
	w(uint16(64))
	w(uint16(0))
	w(uint16(0))
	off := uint64(phoff + 56)
	w(uint32(1)) // PT_LOAD
	w(uint32(5)) // R+X
	w(off)
	w(uint64(entry))
	w(uint64(entry))
	w(uint64(len(code)))
	w(uint64(len(code)))
	w(uint64(0x1000))
	b.Write(code)
	return b.Bytes()
}

func TestBootTinyGuests(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	for _, g := range tinyGuests {
		t.Run(g.name, func(t *testing.T) {
			kernel := filepath.Join(t.TempDir(), "kernel.elf")
			if err := os.WriteFile(kernel, elfKernel(g.code), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			vm, err := Start(ctx, Config{Kernel: kernel, MemoryMiB: 64, CPUs: 2}, WithConsole(&out))
			if err != nil {
				t.Fatal(err)
			}
			res := vm.Wait()
			if res.Reason != g.reason || !strings.Contains(res.Detail, g.detail) {
				t.Errorf("run ended with %v (%s), want %v mentioning %q", res.Reason, res.Detail, g.reason, g.detail)
			}
			if out.String() != g.out {
				t.Errorf("console = %q, want %q", out.String(), g.out)
			}
		})
	}
}

// A context cancelled while the guest halts ends the run as Stopped: the
// kick reaches a vCPU sleeping in KVM_RUN.
func TestBootStopRunningGuest(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	kernel := filepath.Join(t.TempDir(), "kernel.elf")
	os.WriteFile(kernel, elfKernel(halt), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := Start(ctx, Config{Kernel: kernel, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	<-vm.Running()
	// The kernel image and the zero page were written, the guest runs
	// its one page of code: a few pages resident of 64 MiB, and the
	// process's resident set holds them.
	st, err := vm.MemoryStats()
	if err != nil || st.GuestBytes != 64<<20 || st.GuestResidentBytes == 0 || st.GuestResidentBytes > 32<<20 ||
		st.RSSBytes < st.GuestResidentBytes || st.RSSAnonBytes < st.GuestResidentBytes {
		t.Errorf("MemoryStats() = %+v, %v; want 64 MiB, a few pages resident, counted in the RSS", st, err)
	}
	t.Logf("memory: %+v, overhead %d KiB (the test binary's)", st, st.OverheadBytes()>>10)
	time.AfterFunc(500*time.Millisecond, cancel)
	if res := vm.Wait(); res.Reason != Stopped {
		t.Errorf("run ended with %v (%s), want Stopped", res.Reason, res.Detail)
	}
	if _, err := vm.MemoryStats(); err == nil {
		t.Error("MemoryStats() after Wait succeeded; want an error")
	}
}

// hull vm run's exit status follows the guest: 0 for a power-off, 1 with
// the reason for a crash.
func TestBootCLI(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	hull := testvm.Hull(t)
	for _, g := range []struct {
		i      int
		status int
		stderr string
	}{{0, 0, ""}, {2, 1, "guest crashed: KVM_EXIT_SHUTDOWN: triple fault"}} {
		kernel := filepath.Join(t.TempDir(), "kernel.elf")
		os.WriteFile(kernel, elfKernel(tinyGuests[g.i].code), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, hull, "vm", "run", "--kernel", kernel, "--memory", "64M")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != g.status || !strings.Contains(stderr.String(), g.stderr) || stdout.String() != tinyGuests[g.i].out {
			t.Errorf("hull vm run (%s): status %d, stdout %q, stderr %q; want %d, %q, %q",
				tinyGuests[g.i].name, status, stdout.String(), stderr.String(), g.status, tinyGuests[g.i].out, g.stderr)
		}
	}
}

// A detached VM: hull vm run --detach returns once it runs; ls and
// inspect see it through its control socket; kill ends it and its state
// directory goes.
func TestBootDetached(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	hull := testvm.Hull(t)
	root := t.TempDir()
	kernel := filepath.Join(t.TempDir(), "spin.elf")
	os.WriteFile(kernel, elfKernel(concat(serialOut("up\n"), halt)), 0o644)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, hull, append([]string{"--root", root}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("vm", "run", "--detach", "--name", "spin1", "--kernel", kernel, "--memory", "64M", "--cpus", "2"); strings.TrimSpace(out) != "spin1" {
		t.Fatalf("run --detach printed %q", out)
	}
	if out := run("vm", "ls"); !strings.Contains(out, "spin1") || !strings.Contains(out, "running") {
		t.Errorf("vm ls = %q, want spin1 running", out)
	}
	out := run("vm", "inspect", "spin1")
	var info struct{ PID int }
	json.Unmarshal([]byte(out), &info)
	// The VM's process is hull-vmm, the program beside hull.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", info.PID)); err != nil || filepath.Base(exe) != "hull-vmm" {
		t.Errorf("the VM process %d runs %q (%v), want hull-vmm", info.PID, exe, err)
	}
	for _, want := range []string{`"name": "spin1"`, `"cpus": 2`, `"memory_mib": 64`, `"state": "running"`, `"overhead_kib": `} {
		if !strings.Contains(out, want) {
			t.Errorf("vm inspect lacks %s:\n%s", want, out)
		}
	}
	// A second VM with the same name is refused.
	dupCtx, cancelDup := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelDup()
	if out, err := exec.CommandContext(dupCtx, hull, "--root", root, "vm", "run", "--detach", "--name", "spin1", "--kernel", kernel, "--memory", "64M").CombinedOutput(); err == nil || !strings.Contains(string(out), "already running") {
		t.Errorf("duplicate name: %v %s", err, out)
	}
	// A kernel hull cannot load: the error names it, and the name it
	// claimed is given back (no state directory).
	bad := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(bad, bytes.Repeat([]byte{0x5a}, 8192), 0o644)
	if out, err := exec.CommandContext(dupCtx, hull, "--root", root, "vm", "run", "--detach", "--name", "bad", "--kernel", bad, "--memory", "64M").CombinedOutput(); err == nil || !strings.Contains(string(out), "garbage") {
		t.Errorf("a VM with a garbage kernel: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "bad")); !os.IsNotExist(err) {
		t.Errorf("a VM that failed to start left its state directory: %v", err)
	}
	// console replays what the guest printed, and ends when the VM does.
	con := exec.Command(hull, "--root", root, "vm", "console", "spin1")
	conIn, _ := con.StdinPipe()
	conOut, _ := con.StdoutPipe()
	if err := con.Start(); err != nil {
		t.Fatal(err)
	}
	// Neither the replay nor the console's end may hang the test: after
	// two minutes, say where the VM process's threads wait and end it.
	hung := time.AfterFunc(2*time.Minute, func() {
		t.Errorf("vm console still attached after 2 minutes; the VM process's threads:\n%s", procThreads(info.PID))
		con.Process.Kill()
	})
	defer hung.Stop()
	replay := make([]byte, 3)
	if _, err := io.ReadFull(conOut, replay); err != nil || string(replay) != "up\n" {
		t.Errorf("vm console replayed %q, %v; want the guest's \"up\"", replay, err)
	}
	run("vm", "kill", "spin1")
	conIn.Close()
	if err := con.Wait(); err != nil {
		t.Errorf("vm console after the VM ended: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "spin1")); !os.IsNotExist(err) {
		t.Errorf("state directory still there after kill: %v", err)
	}
	if out := run("vm", "ls"); strings.Contains(out, "spin1") {
		t.Errorf("vm ls after kill = %q", out)
	}
}

// SIGTERM to a foreground hull vm run presses the power button; a guest
// that ignores it (this one spins) is stopped by a second signal, and
// hull exits 0: the host ended the run.
func TestBootCLISignal(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	hull := testvm.Hull(t)
	kernel := filepath.Join(t.TempDir(), "spin.elf")
	os.WriteFile(kernel, elfKernel(concat(serialOut("up\n"), halt)), 0o644)
	cmd := exec.Command(hull, "vm", "run", "--kernel", kernel, "--memory", "64M")
	stdout, _ := cmd.StdoutPipe()
	stderr := &console{t: t} // a locked buffer that also logs
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(2*time.Minute, func() {
		t.Errorf("hull vm run still running after 2 minutes; its threads:\n%s", procThreads(cmd.Process.Pid))
		cmd.Process.Kill()
	})
	defer hung.Stop()
	line := make([]byte, 3)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "up\n" {
		t.Fatalf("console = %q, %v", line, err)
	}
	// hull has become hull-vmm: same process, only the VMM's program.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); err != nil || filepath.Base(exe) != "hull-vmm" {
		t.Errorf("hull vm run's process runs %q (%v), want hull-vmm", exe, err)
	}
	cmd.Process.Signal(unix.SIGTERM)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "power button"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no power-button message after SIGTERM; stderr %q", stderr.String())
		}
	}
	cmd.Process.Signal(unix.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("hull vm run after two SIGTERMs: %v\n%s", err, stderr.String())
	}
}

// Where hull-vmm is not beside hull (a hull built alone with go build),
// hull runs the VM in its own process, foreground and detached.
func TestBootWithoutVMM(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	src, err := os.ReadFile(testvm.Hull(t))
	if err != nil {
		t.Fatal(err)
	}
	hull := filepath.Join(t.TempDir(), "hull")
	if err := os.WriteFile(hull, src, 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	kernel := filepath.Join(t.TempDir(), "kernel.elf")
	os.WriteFile(kernel, elfKernel(tinyGuests[0].code), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, hull, append([]string{"--root", root}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("vm", "run", "--kernel", kernel, "--memory", "64M"); out != tinyGuests[0].out {
		t.Errorf("hull vm run printed %q, want %q", out, tinyGuests[0].out)
	}
	spin := filepath.Join(t.TempDir(), "spin.elf")
	os.WriteFile(spin, elfKernel(concat(serialOut("up\n"), halt)), 0o644)
	run("vm", "run", "--detach", "--name", "alone", "--kernel", spin, "--memory", "64M")
	var info struct{ PID int }
	json.Unmarshal([]byte(run("vm", "inspect", "alone")), &info)
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", info.PID)); err != nil || exe != hull {
		t.Errorf("the VM process %d runs %q (%v), want %s", info.PID, exe, err, hull)
	}
	run("vm", "kill", "alone")
	if _, err := os.Stat(filepath.Join(root, "vm", "alone")); !os.IsNotExist(err) {
		t.Errorf("state directory still there after kill: %v", err)
	}
}

// A detached VM's process killed outright (SIGKILL: no cleanup) leaves
// its state directory; ls shows the VM dead, never running, and kill
// removes the directory and says so.
func TestBootDetachedDied(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	hull := testvm.Hull(t)
	root := t.TempDir()
	kernel := filepath.Join(t.TempDir(), "spin.elf")
	os.WriteFile(kernel, elfKernel(concat(serialOut("up\n"), halt)), 0o644)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, hull, append([]string{"--root", root}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("vm", "run", "--detach", "--name", "doomed", "--kernel", kernel, "--memory", "64M")
	var info struct{ PID int }
	if err := json.Unmarshal([]byte(run("vm", "inspect", "doomed")), &info); err != nil || info.PID == 0 {
		t.Fatalf("vm inspect: pid %d, %v", info.PID, err)
	}
	if err := unix.Kill(info.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The process is gone (or a zombie) once it no longer answers.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if st, _, _ := control.Probe(root, "doomed"); st == control.Dead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed VM's process never counted as dead")
		}
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "doomed")); err != nil {
		t.Fatalf("SIGKILL left no state directory to clean (%v): the test proves nothing", err)
	}
	if out := run("vm", "ls"); !strings.Contains(out, "dead") || strings.Contains(out, "running") {
		t.Errorf("vm ls of a killed VM = %q, want it dead", out)
	}
	if out := run("vm", "kill", "doomed"); !strings.Contains(out, "removed its stale state") {
		t.Errorf("vm kill of a dead VM = %q", out)
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "doomed")); !os.IsNotExist(err) {
		t.Errorf("state directory still there after kill: %v", err)
	}
}

// procThreads describes where process pid's threads wait: each one's
// name, state, wait channel and kernel stack, for a test that hung.
func procThreads(pid int) string {
	if pid == 0 {
		return "(no PID)"
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		return fmt.Sprintf("(process %d: no threads to show: %v)", pid, err)
	}
	var b strings.Builder
	for _, task := range tasks {
		read := func(name string) string {
			data, _ := os.ReadFile(filepath.Join(task, name))
			return strings.TrimSpace(string(data))
		}
		state := ""
		for _, l := range strings.Split(read("status"), "\n") {
			if s, ok := strings.CutPrefix(l, "State:"); ok {
				state = strings.TrimSpace(s)
			}
		}
		fmt.Fprintf(&b, "thread %s (%s) %s, waiting in %s\n%s\n", filepath.Base(task), read("comm"), state, read("wchan"), read("stack"))
	}
	return b.String()
}
