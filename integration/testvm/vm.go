package testvm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullrt/hull/integration/testvm/protocol"
)

// BaseModules are loaded in every test VM, with what they depend on: the
// virtio disk that carries the payload, ext4 for it (and crc32c, which ext4
// asks the crypto API for by name, so depends= does not list it), KVM on
// the emulated AMD-V, overlayfs, what container networking needs, and the
// BFQ I/O scheduler, behind cgroup v2's io.bfq.weight.
//
// The guest has no modprobe, so nothing is autoloaded: the nf_tables
// modules are those of hull's NAT table (nat chains, the nat, masq, ct and
// fib expressions) and conntrack over netlink (teardown forgets a
// container's connections).
var BaseModules = []string{
	"virtio_pci", "virtio_blk", "crc32c_generic", "ext4",
	"kvm_amd", "overlay", "veth", "bridge", "tun", "vhost_vsock", "bfq",
	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct", "nft_fib_inet", "nf_conntrack_netlink",
}

// Config describes one boot of the test VM.
type Config struct {
	// Kernel to boot; nil means FindKernel(ctx, DefaultCacheDir()).
	Kernel *Kernel
	// CPUs and MemoryMiB size the VM; zero means 2 and 2048.
	CPUs      int
	MemoryMiB int
	// Modules are loaded after BaseModules.
	Modules []string
	// Jobs run in order; each one's exit status is reported.
	Jobs []Job
	// Files are put on the payload disk: the key is the path below the
	// payload's root (/payload in the guest), the value the host file.
	Files map[string]string
	// Dirs are copied onto the payload disk like Files: the contents of
	// each host directory are merged into the payload's directory.
	Dirs map[string]string
	// HostTools are host programs (runc, crun, mkfs.ext4, …) made
	// available at their usual paths in the guest, with the shared
	// libraries ldd says they need.
	HostTools []string
	// Console receives the kernel's serial console (ttyS0) line by line;
	// Output the jobs' output (ttyS1). Either may be nil.
	Console, Output io.Writer

	freezeAfter time.Duration        // zero means FreezeAfter
	started     func(monitor string) // called with qemu's monitor socket once it runs (tests)
}

// Job is one program the guest runs.
type Job struct {
	Name    string
	Path    string // inside the guest, e.g. /payload/bin/cgroups.test
	Args    []string
	Dir     string // working directory inside the guest
	Env     []string
	Timeout time.Duration // zero means defaultJobTimeout
}

// defaultJobTimeout is how long a Job may run when it does not say.
const defaultJobTimeout = 10 * time.Minute

// Result is what a boot produced.
type Result struct {
	Exits   map[string]int    // job name → exit status
	Outputs map[string]string // job name → what it wrote
	Done    bool              // the guest reached the end of its jobs
	Elapsed time.Duration     // from starting qemu to its exit
}

// Run boots the VM, runs the jobs and returns their exit statuses. An
// error means the VM itself failed: qemu could not start, the guest
// panicked, hung until ctx ended, or powered off before its last job.
//
// A test VM whose emulator froze (see the package documentation) is
// booted once more, from the start, and the console says so: the freeze
// is a fault of TCG emulating nested AMD-V on a loaded machine, seen a
// few times a day on the development machines, not a result of the jobs.
// A second freeze is returned as the error (an *ErrFrozen).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	res, err := runOnce(ctx, cfg)
	var frozen *ErrFrozen
	if !errors.As(err, &frozen) || ctx.Err() != nil {
		return res, err
	}
	fmt.Fprintf(orDiscard(cfg.Console), "\ntestvm: %v\ntestvm: the emulator froze; booting the test VM again, once\n", err)
	fmt.Fprintf(orDiscard(cfg.Output), "testvm: the emulator froze after %s; booting the test VM again, once (its first output is above)\n", res.Elapsed.Round(time.Second))
	return runOnce(ctx, cfg)
}

// ErrFrozen is the error of a test VM whose emulator stopped: no
// heartbeat from its init for Config's freeze interval.
type ErrFrozen struct{ Detail string }

func (e *ErrFrozen) Error() string { return e.Detail }

func runOnce(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 2048
	}
	k := cfg.Kernel
	if k == nil {
		var err error
		if k, err = FindKernel(ctx, DefaultCacheDir()); err != nil {
			return nil, err
		}
	}
	work, err := os.MkdirTemp("", "hull-testvm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	initrd := filepath.Join(work, "initramfs.cpio")
	if err := buildInitramfs(ctx, k, append(BaseModules[:len(BaseModules):len(BaseModules)], cfg.Modules...), initrd); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	disk := filepath.Join(work, "payload.ext4")
	if err := buildPayload(ctx, cfg, filepath.Join(work, "payload"), disk); err != nil {
		return nil, fmt.Errorf("build payload disk: %w", err)
	}

	sock := filepath.Join(work, "results.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	defer ln.Close()

	// One test VM at a time on the machine: two emulators on two cores
	// slow each other several times over, and nested KVM under a starved
	// emulator is where the test VM has frozen.
	unlock, err := lockMachine(ctx, machineLock, cfg.Console)
	if err != nil {
		return nil, err
	}
	defer unlock()

	monitor := filepath.Join(work, "monitor.sock")
	qctx, stopQemu := context.WithCancel(ctx)
	defer stopQemu()
	qemu := exec.CommandContext(qctx, "qemu-system-x86_64",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", fmt.Sprint(cfg.CPUs), "-m", fmt.Sprint(cfg.MemoryMiB),
		"-kernel", k.Image(), "-initrd", initrd,
		"-append", "console=ttyS0 rdinit=/init edd=off no_timer_check panic=-1 oops=panic loglevel=4 mitigations=off",
		"-serial", "stdio",
		"-chardev", "socket,id=results,path="+sock,
		"-serial", "chardev:results",
		"-drive", "file="+disk+",if=none,format=raw,id=payload,cache=unsafe",
		"-device", "virtio-blk-pci,drive=payload",
		"-monitor", "unix:"+monitor+",server=on,wait=off",
	)
	qemu.Stdin = nil
	// A test binary that dies (a go test -timeout panic) must not leave
	// an emulator spinning on the machine.
	qemu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := qemu.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var qemuErr bytes.Buffer
	qemu.Stderr = &qemuErr
	start := time.Now()
	if err := qemu.Start(); err != nil {
		return nil, fmt.Errorf("start qemu-system-x86_64 (apt-get install qemu-system-x86): %w", err)
	}

	tail := newTail(60)
	alive := newWatchdog(start, cfg.freezeAfter)
	if cfg.started != nil {
		go cfg.started(monitor)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyLines(stdout, alive.filter(io.MultiWriter(tail, orDiscard(cfg.Console))))
	}()
	watchDone, frozenc := make(chan struct{}), make(chan string, 1)
	go func() {
		silent, ok := alive.wait(qctx, watchDone)
		if !ok {
			frozenc <- ""
			return
		}
		frozenc <- fmt.Sprintf("the test VM froze: no heartbeat from its init for %s (the emulator stalled: even the guest's timers stopped). qemu's monitor:\n%s",
			silent.Round(time.Second), askMonitor(monitor, "info status", "info registers -a"))
		stopQemu()
	}()

	res := &Result{Exits: map[string]int{}, Outputs: map[string]string{}}
	resultsDone := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			resultsDone <- err
			return
		}
		defer conn.Close()
		resultsDone <- readResults(conn, res, orDiscard(cfg.Output))
	}()

	waitErr := qemu.Wait()
	close(watchDone)
	frozen := <-frozenc
	ln.Close()
	wg.Wait()
	var readErr error
	select {
	case readErr = <-resultsDone:
	case <-time.After(5 * time.Second):
		readErr = errors.New("result port never closed")
	}
	res.Elapsed = time.Since(start)

	switch {
	case frozen != "":
		return res, &ErrFrozen{Detail: fmt.Sprintf("%s\nlast console lines:\n%s", frozen, tail)}
	case ctx.Err() != nil:
		return res, fmt.Errorf("test VM did not finish: %w after %s; last console lines:\n%s", ctx.Err(), res.Elapsed.Round(time.Second), tail)
	case waitErr != nil:
		return res, fmt.Errorf("qemu-system-x86_64: %w: %s\nlast console lines:\n%s", waitErr, bytes.TrimSpace(qemuErr.Bytes()), tail)
	case !res.Done:
		return res, fmt.Errorf("the guest stopped before its last job (panic or init failure; result port: %v); last console lines:\n%s", readErr, tail)
	}
	return res, nil
}

// readResults copies the guest's job output to out and records the
// events announced on it.
func readResults(r io.Reader, res *Result, out io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var job strings.Builder
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		rest, ok := strings.CutPrefix(line, protocol.Marker+" ")
		if !ok {
			fmt.Fprintln(out, line)
			job.WriteString(line + "\n")
			continue
		}
		var ev protocol.Event
		if err := json.Unmarshal([]byte(rest), &ev); err != nil {
			return fmt.Errorf("bad result line %q: %w", line, err)
		}
		if ev.Job != "" && ev.Exit != nil {
			res.Exits[ev.Job] = *ev.Exit
			res.Outputs[ev.Job] = job.String()
			job.Reset()
		}
		if ev.Done {
			res.Done = true
		}
	}
	return sc.Err()
}

func copyLines(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(w, strings.TrimRight(sc.Text(), "\r"))
	}
	_, _ = io.Copy(io.Discard, r)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tail keeps the last lines written to it.
type tail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
