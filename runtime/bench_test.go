package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// BenchmarkRunTrue measures the life of a busybox "true" container
// through each runtime's command line, hull against runc and crun where
// they run (crun refuses a hybrid cgroup host: it runs in the test VM),
// and reports hull's time as a ratio of each peer's. Two ways, each
// container's whole life from the first command to the last one's exit:
//
//   - run: one "run" command, which creates, starts, waits and deletes;
//   - cli: "create", "start", then a wait for the container's init, then
//     "delete", four commands as containerd's shim and podman's conmon
//     drive a runtime (the benchmark is the init's subreaper, as they
//     are).
//
// The runtimes take turns within each iteration, so that a machine whose
// speed drifts slows them alike; the figures are medians.
//
//	go test -count=1 -run '^$' -bench RunTrue -benchtime 20x ./runtime
//
// bench/runtime.sh runs it on the host and in the test VM.
func BenchmarkRunTrue(b *testing.B) {
	testvm.Require(b, testvm.Root)
	hull := testvm.Hull(b)
	dir := b.TempDir()
	os.Chmod(dir, 0o755)
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(&testing.T{}, filepath.Join(bundle, "rootfs"))
	s := DefaultSpec(false)
	// The oldest version all three read (crun 1.8 refuses newer ones);
	// nothing here needs a newer one.
	s.Version = "1.0.2"
	s.Process.Terminal = false
	s.Process.Args = []string{"true"}
	s.Root.Path = "rootfs"
	s.Linux.CgroupsPath = fmt.Sprintf("hull-bench-%d", os.Getpid())
	buf, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	runtimes := []string{hull}
	for _, peer := range []string{"runc", "crun"} {
		p, err := exec.LookPath(peer)
		if err != nil {
			b.Logf("%s: not installed", peer)
			continue
		}
		// crun refuses hybrid hosts: keep only peers that run here.
		if out, err := exec.Command(p, "--root", filepath.Join(dir, "probe-"+peer), "run", "--bundle", bundle, "probe").CombinedOutput(); err != nil {
			b.Logf("%s does not run here: %v: %s", peer, err, out)
			continue
		}
		runtimes = append(runtimes, p)
	}
	// The cli way waits for an init whose parent (create) has exited:
	// it must be reparented to this process.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		b.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	modes := []struct {
		name string
		life func(bin, root, id string) error
	}{
		{"run", func(bin, root, id string) error {
			return runtimeCmd(bin, root, "run", "--bundle", bundle, id)
		}},
		{"cli", func(bin, root, id string) error {
			pidFile := filepath.Join(dir, id+".pid")
			if err := runtimeCmd(bin, root, "create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
				return err
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				return err
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("%s: %w", pidFile, err)
			}
			if err := runtimeCmd(bin, root, "start", id); err != nil {
				return err
			}
			var ws unix.WaitStatus
			for {
				_, err = unix.Wait4(pid, &ws, 0, nil)
				if err != unix.EINTR {
					break
				}
			}
			if err != nil {
				return &os.SyscallError{Syscall: "wait4", Err: err}
			}
			return runtimeCmd(bin, root, "delete", id)
		}},
	}
	times := make([][][]time.Duration, len(modes))
	for m := range modes {
		times[m] = make([][]time.Duration, len(runtimes))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for m, mode := range modes {
			for r, bin := range runtimes {
				id := fmt.Sprintf("bench-%s-%d", mode.name, i)
				root := filepath.Join(dir, "root"+strconv.Itoa(r))
				start := time.Now()
				if err := mode.life(bin, root, id); err != nil {
					b.Fatalf("%s, %s way: %v", filepath.Base(bin), mode.name, err)
				}
				times[m][r] = append(times[m][r], time.Since(start))
			}
		}
	}
	b.StopTimer()
	for m, mode := range modes {
		hullMed := median(times[m][0])
		b.ReportMetric(ms(hullMed), mode.name+":hull-ms")
		for r, bin := range runtimes[1:] {
			name := filepath.Base(bin)
			med := median(times[m][r+1])
			b.ReportMetric(ms(med), mode.name+":"+name+"-ms")
			b.ReportMetric(float64(hullMed)/float64(med), mode.name+":hull/"+name)
		}
	}
}

// runtimeCmd runs one command of a runtime with its state under root.
// Its output goes to a file, not a pipe: the container's init inherits
// create's stdio and would hold a pipe open past create's exit.
func runtimeCmd(bin, root string, args ...string) error {
	out, err := os.CreateTemp("", "bench-out-")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(bin, append([]string{"--root", root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), args[0], err, b)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
