package vmm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/control"
)

// The benchmarks of issue #7. They need /dev/kvm, so they run in the test
// VM, where bench/vm.sh puts them (through TestDebianInTestVM with
// HULL_VMM_BENCH set); the Debian ones need the kernel and initramfs that
// test provides, and BenchmarkBootToInit qemu-system-x86_64 too. Each
// skips, naming what it lacks, elsewhere.

// benchCmdline is the command line every benchmark boot uses, hull's
// and qemu's alike: the console on the first UART, no kernel chatter.
const benchCmdline = "console=ttyS0 panic=-1 quiet"

// initFirstLine is the first line the guest's init (testguest) writes.
const initFirstLine = "testguest: started"

// BenchmarkSetup times the VMM's setup, from Start to the boot vCPU's
// first KVM_RUN: opening /dev/kvm, the VM and its irqchip, guest RAM,
// devices, ACPI tables, loading the kernel and initrd, the vCPUs.
func BenchmarkSetup(b *testing.B) {
	testvm.Require(b, testvm.KVM)
	tiny := filepath.Join(b.TempDir(), "halt.elf")
	if err := os.WriteFile(tiny, elfKernel(halt), 0o644); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
	}{{"tiny-64M-1cpu", Config{Kernel: tiny, MemoryMiB: 64}}}
	if k, i := os.Getenv(envKernel), os.Getenv(envInitrd); k != "" && i != "" {
		cases = append(cases, struct {
			name string
			cfg  Config
		}{"debian-256M-2cpu", Config{Kernel: k, Initrd: i, MemoryMiB: 256, CPUs: 2, RNG: true, Cmdline: benchCmdline}})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StartTimer()
				vm, err := Start(ctx, c.cfg)
				if err != nil {
					b.Fatal(err)
				}
				<-vm.Running()
				b.StopTimer()
				vm.Stop()
				vm.Wait()
			}
		})
	}
}

// benchDebian returns the Debian kernel and initramfs, or skips.
func benchDebian(b *testing.B) (kernel, initrd string) {
	b.Helper()
	testvm.Require(b, testvm.KVM)
	kernel, initrd = os.Getenv(envKernel), os.Getenv(envInitrd)
	if kernel == "" || initrd == "" {
		b.Skipf("%s and %s are unset: bench/vm.sh runs this benchmark in the test VM with them", envKernel, envInitrd)
	}
	return kernel, initrd
}

// BenchmarkBootToInit times `hull vm run` from its start to the guest
// init's first line on the console, against qemu's microvm machine on
// KVM booting the same kernel and initramfs with the same command line,
// vCPUs and memory. Each iteration boots both, one after the other.
// Metrics: hull-ms and qemu-ms (medians), and qemu/hull, their ratio
// (above 1: hull reaches the init sooner).
func BenchmarkBootToInit(b *testing.B) {
	kernel, initrd := benchDebian(b)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		b.Skipf("qemu-system-x86_64: %v", err)
	}
	hull := testvm.Hull(b)
	hullArgs := []string{hull, "vm", "run", "--kernel", kernel, "--initrd", initrd, "--append", benchCmdline,
		"--cpus", "2", "--memory", "256M"}
	qemuArgs := []string{qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-smp", "2", "-m", "256M",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd, "-append", benchCmdline}
	var hullTimes, qemuTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hullTimes = append(hullTimes, timeToLine(b, hullArgs, initFirstLine))
		qemuTimes = append(qemuTimes, timeToLine(b, qemuArgs, initFirstLine))
	}
	b.StopTimer()
	h, q := median(hullTimes), median(qemuTimes)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(h.Milliseconds()), "hull-ms")
	b.ReportMetric(float64(q.Milliseconds()), "qemu-ms")
	b.ReportMetric(q.Seconds()/h.Seconds(), "qemu/hull")
}

// timeToLine starts argv and returns how long until its output has a
// line containing want; then it kills the process.
func timeToLine(b *testing.B, argv []string, want string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		go io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	var last []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return time.Since(start)
		}
		last = append(last, sc.Text())
	}
	b.Fatalf("%s: no %q on its console; last lines:\n%s\nstderr: %s", filepath.Base(argv[0]), want,
		strings.Join(last[max(0, len(last)-20):], "\n"), stderr.String())
	return 0
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkMemoryOverhead measures hull's own memory: a detached VM —
// a tiny guest that prints a line and halts (1 vCPU, 64 MiB), and the
// Debian kernel (2 vCPUs, 256 MiB, an entropy device) — is inspected
// through its control socket once its guest has printed its first line
// (for Debian, the init's). Metrics (medians over iterations):
// overhead-KiB, the VM process's resident set less the guest RAM the
// guest touched, as the VM process measures itself for inspect
// (vmm.MemoryStats); anon-overhead-KiB, the same for anonymous memory
// only (no code); file-KiB, the resident file-backed pages (the hull
// binary's, the C library's); smaps-overhead-KiB, the process's
// mappings other than guest RAM read from its /proc/PID/smaps once the
// inspect is answered (so it includes what answering touched, which the
// process's own figure cannot); guest-KiB, the guest RAM touched. The last iteration's process is printed mapping by mapping
// (smapsBreakdown) with the Go runtime's figures, each line prefixed
// with "memory <case>:" (printed, not logged: benchmark logs are cut at
// ten lines).
func BenchmarkMemoryOverhead(b *testing.B) {
	testvm.Require(b, testvm.KVM)
	hull := testvm.Hull(b)
	tiny := filepath.Join(b.TempDir(), "up.elf")
	if err := os.WriteFile(tiny, elfKernel(concat(serialOut("up\n"), halt)), 0o644); err != nil {
		b.Fatal(err)
	}
	type vmCase struct {
		name     string
		memMiB   uint64
		args     []string
		lineWant string
	}
	cases := []vmCase{{"tiny-64M-1cpu", 64, []string{"--kernel", tiny, "--memory", "64M"}, "up"}}
	if k, i := os.Getenv(envKernel), os.Getenv(envInitrd); k != "" && i != "" {
		cases = append(cases, vmCase{"debian-256M-2cpu", 256, []string{"--kernel", k, "--initrd", i,
			"--append", benchCmdline, "--cpus", "2", "--memory", "256M", "--rng"}, initFirstLine})
	}
	breakdowns := map[string]string{} // the last process's, by case
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			root := b.TempDir()
			var overhead, anon, file, smaps, guest []uint64
			var last string
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("bench%d", i)
				args := append([]string{"--root", root, "vm", "run", "--detach", "--name", name}, c.args...)
				out, err := exec.Command(hull, args...).CombinedOutput()
				if err != nil {
					b.Fatalf("hull vm run --detach: %v\n%s", err, out)
				}
				info, err := inspectAfterLine(root, name, c.lineWant)
				var ext uint64
				if err == nil {
					ext, err = smapsOverheadKiB(info.PID, c.memMiB)
				}
				if err == nil && i == b.N-1 {
					table, terr := smapsBreakdown(info.PID, c.memMiB)
					mem, _ := json.Marshal(info.Memory)
					last = fmt.Sprintf("%s\n%s", mem, table)
					if terr != nil {
						last += terr.Error()
					}
				}
				exec.Command(hull, "--root", root, "vm", "kill", name).Run()
				if err != nil {
					b.Fatal(err)
				}
				m := info.Memory
				overhead = append(overhead, m.OverheadKiB)
				anon = append(anon, m.RSSAnonKiB-min(m.RSSAnonKiB, m.GuestResidentKiB))
				file = append(file, m.RSSFileKiB)
				smaps = append(smaps, ext)
				guest = append(guest, m.GuestResidentKiB)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(medianU(overhead)), "overhead-KiB")
			b.ReportMetric(float64(medianU(anon)), "anon-overhead-KiB")
			b.ReportMetric(float64(medianU(file)), "file-KiB")
			b.ReportMetric(float64(medianU(smaps)), "smaps-overhead-KiB")
			b.ReportMetric(float64(medianU(guest)), "guest-KiB")
			breakdowns[c.name] = last
		})
	}
	// A foreground hull vm run is the same program (hull-vmm, executed
	// in hull's place), measured from the outside alone: it has no
	// control socket to ask.
	for _, c := range cases {
		b.Run(c.name+"-foreground", func(b *testing.B) {
			var smaps []uint64
			for i := 0; i < b.N; i++ {
				kib, err := foregroundOverheadKiB(hull, c.args, c.lineWant, c.memMiB)
				if err != nil {
					b.Fatal(err)
				}
				smaps = append(smaps, kib)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(medianU(smaps)), "smaps-overhead-KiB")
		})
	}
	// Printed once every sub-benchmark has reported: output in the
	// middle of one would split its result line.
	for _, c := range cases {
		for _, l := range strings.Split(strings.TrimRight(breakdowns[c.name], "\n"), "\n") {
			fmt.Printf("memory %s: %s\n", c.name, l)
		}
	}
}

// foregroundOverheadKiB runs hull vm run with args in the foreground,
// waits for a console line containing want, and returns the process's
// RSS less guest RAM, read from its smaps; then it kills the VM.
func foregroundOverheadKiB(hull string, args []string, want string, memMiB uint64) (uint64, error) {
	cmd := exec.Command(hull, append([]string{"vm", "run"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				found <- true
				io.Copy(io.Discard, stdout)
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			return 0, fmt.Errorf("hull vm run ended without %q on its console", want)
		}
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("hull vm run: no %q on its console after 5 minutes", want)
	}
	return smapsOverheadKiB(cmd.Process.Pid, memMiB)
}

// inspectAfterLine follows VM name's console until a line contains want,
// then asks the VM for its figures.
func inspectAfterLine(root, name, want string) (*control.Info, error) {
	c, err := control.Dial(root, name, control.Request{Op: "console"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	sc := bufio.NewScanner(c)
	found := false
	for !found && sc.Scan() {
		found = strings.Contains(sc.Text(), want)
	}
	if !found {
		return nil, fmt.Errorf("vm %s: no %q on its console (%v)", name, want, sc.Err())
	}
	resp, err := control.Call(root, name, control.Request{Op: "inspect"})
	if err != nil {
		return nil, err
	}
	if resp.Info == nil || resp.Info.Memory == nil {
		b, _ := json.Marshal(resp)
		return nil, fmt.Errorf("vm %s: inspect gave no memory figures: %s", name, b)
	}
	return resp.Info, nil
}

func medianU(v []uint64) uint64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
