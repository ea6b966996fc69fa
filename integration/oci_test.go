package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/knownfailures"
	"github.com/hullrt/hull/integration/ocivalidation"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// knownFailures lists the validation programs that runc passes on the
// same kernel and hull does not yet, each with the reason. TestOCIValidation
// fails on any other program hull fails where runc passes; a listed program
// that passes is reported so that the list only shrinks.
const knownFailures = "testdata/oci-validation-known-failures.txt"

// peers are the runtimes the suite also runs, by name on PATH: runc is
// the reference hull is held to, crun is counted for comparison only. A
// peer missing from PATH is left out of the counts.
var peers = []string{"runc", "crun"}

// TestOCIValidation runs the OCI runtime-tools validation suite against
// runc, crun and hull, program by program, and holds hull to every
// program runc passes on this kernel. In the test VM (cgroup v2) it runs
// from TestOCIValidationInVM, which carries the suite there.
func TestOCIValidation(t *testing.T) {
	testvm.Require(t, testvm.Root)
	if testing.Short() {
		t.Skip("the validation suite takes minutes: not in -short runs")
	}
	dir := ociSuite(t)
	tests, err := ocivalidation.Tests(dir)
	if err != nil {
		t.Fatal(err)
	}
	known, err := knownfailures.Read(knownFailures)
	if err != nil {
		t.Fatal(err)
	}
	runtimes := peerRuntimes(t)
	runtimes = append(runtimes, suiteRuntime{"hull", testvm.Hull(t)})
	ctx := context.Background()
	passed := map[string]int{}
	var both int
	var nowPassing []string
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			results := make([]ocivalidation.Result, len(runtimes))
			run := func(i int) {
				// Not t.TempDir: its 0700 parents would keep a container
				// whose root maps to another host uid out of its bundle.
				tmp, err := os.MkdirTemp("", "hull-oci-")
				if err == nil {
					err = os.Chmod(tmp, 0o755)
				}
				if err != nil {
					t.Error(err)
					return
				}
				defer os.Remove(tmp)
				results[i] = ocivalidation.Run(ctx, dir, name, runtimes[i].path, tmp, 3*time.Minute)
				cleanSuiteLeftovers(t, tmp)
			}
			// Each runtime gets its own bundles and containers, so they
			// run side by side, except for the programs that make the
			// same cgroup (the suite's fixed cgroupsPath).
			if sharesCgroup(name) {
				for i := range runtimes {
					run(i)
				}
			} else {
				var wg sync.WaitGroup
				for i := range runtimes {
					wg.Go(func() { run(i) })
				}
				wg.Wait()
			}
			ok := map[string]bool{}
			for i, r := range results {
				label := runtimes[i].label
				t.Logf("%s: %s", label, r)
				if !r.OK() {
					t.Logf("%s's last lines:\n%s", label, lastLines(r.Output, 6))
				}
				ok[label] = r.OK()
				if r.OK() {
					passed[label]++
				}
			}
			_, isKnown := known[name]
			switch {
			case ok["runc"] && ok["hull"]:
				both++
				if isKnown {
					nowPassing = append(nowPassing, name)
				}
			case ok["runc"] && isKnown:
				t.Logf("known failure: %s", known[name])
			case ok["runc"]:
				t.Errorf("runc passes %s and hull does not:\n%s", name, results[len(results)-1].Output)
			}
		})
	}
	counts := fmt.Sprintf("runc passes %d of %d programs", passed["runc"], len(tests))
	if slices.ContainsFunc(runtimes, func(r suiteRuntime) bool { return r.label == "crun" }) {
		counts += fmt.Sprintf(", crun %d", passed["crun"])
	}
	t.Logf("OCI validation on %s (kernel %s): %s, hull %d (%d of runc's)", where(), kernelRelease(), counts, passed["hull"], both)
	if len(nowPassing) > 0 {
		t.Logf("hull now passes %s: remove them from %s", strings.Join(nowPassing, ", "), knownFailures)
	}
}

// suiteRuntime is one runtime the suite drives: its name in the counts
// and the program it runs.
type suiteRuntime struct{ label, path string }

// peerRuntimes returns the peers found on PATH. runc must be there.
//
// crun runs on a pure cgroup v2 host only: on a hybrid one (the
// development machines) it refuses every container ("cgroups in hybrid
// mode not supported, drop all controllers from cgroupv2"). And it runs
// through crunShim: crun 1.8 (Debian 12's) refuses every
// config whose ociVersion is not 1.0.x ("unknown version specified"),
// and the suite writes the version of the runtime-spec module it was
// built with (1.3.0), so unwrapped it would fail every program for that
// alone.
func peerRuntimes(t *testing.T) []suiteRuntime {
	var rts []suiteRuntime
	for _, p := range peers {
		path, err := exec.LookPath(p)
		switch {
		case err != nil && p == "runc":
			t.Fatalf("runc, the reference, is not on PATH: %v", err)
		case err != nil:
			continue
		case p == "crun" && !pureCgroup2():
			t.Logf("crun left out: this host is not a pure cgroup v2 host, which crun needs")
			continue
		case p == "crun":
			shim := filepath.Join(t.TempDir(), "crun")
			if err := os.WriteFile(shim, []byte(fmt.Sprintf(crunShim, path)), 0o755); err != nil {
				t.Fatal(err)
			}
			path = shim
		}
		rts = append(rts, suiteRuntime{p, path})
	}
	return rts
}

func pureCgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// crunShim runs crun (%s) with the bundle's ociVersion set to 1.0.2.
const crunShim = `#!/bin/sh
prev=
for a in "$@"; do
	if [ "$prev" = --bundle ]; then
		sed -i 's/"ociVersion": *"[^"]*"/"ociVersion": "1.0.2"/' "$a/config.json"
	fi
	prev=$a
done
exec %s "$@"
`

// sharesCgroup reports whether a validation program makes a cgroup at a
// fixed path (the suite's cgroupsPath "/cgrouptest"), which two runtimes
// running it at once would both make.
func sharesCgroup(program string) bool {
	return strings.HasPrefix(program, "linux_cgroups_") || strings.HasPrefix(program, "delete_")
}

// TestOCIValidationInVM runs TestOCIValidation in the test VM, a pure
// cgroup v2 host with another kernel: the suite, built here (the VM has
// no Go toolchain), travels on the payload disk with this package's test
// binary, hull, runc and crun.
func TestOCIValidationInVM(t *testing.T) {
	if testvm.InGuest() {
		t.Skip("already inside the test VM")
	}
	testvm.Require(t, testvm.Root)
	if testing.Short() {
		t.Skip("the validation suite takes minutes: not in -short runs")
	}
	suite := ociSuite(t)
	bin := filepath.Join(t.TempDir(), "integration.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	const job = "oci-validation"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var output strings.Builder
	files := testvm.HullFiles(testvm.Hull(t))
	files["bin/integration.test"] = bin
	res, err := testvm.Run(ctx, testvm.Config{
		Files: files,
		Dirs: map[string]string{
			"ocisuite":                 suite,
			"src/integration/testdata": "testdata",
		},
		// GNU tar and gzip: the suite unpacks its rootfs with
		// "tar -xf rootfs-amd64.tar.gz", which busybox's tar cannot.
		HostTools: append([]string{"tar", "gzip"}, peers...),
		Jobs: []testvm.Job{{
			Name: job, Path: "/payload/bin/integration.test",
			Args: []string{"-test.v", "-test.count=1", "-test.run", "^TestOCIValidation$"},
			Dir:  "/payload/src/integration",
			// /usr/bin first, for GNU tar rather than busybox's.
			Env:     []string{"HULL_OCI_SUITE=/payload/ocisuite", "PATH=/usr/bin:/usr/sbin:/bin:/sbin:/payload/bin"},
			Timeout: 35 * time.Minute,
		}},
		Console: testLog{t, "console: "},
		Output:  io.MultiWriter(testLog{t, ""}, &output),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test VM: %s", res.Elapsed.Round(time.Second))
	sum := testvm.Summarize(output.String())
	switch code, ok := res.Exits[job]; {
	case !ok:
		t.Fatal("the validation suite never reported its exit status")
	case code != 0:
		t.Fatalf("TestOCIValidation failed in the test VM (exit status %d): %s", code, strings.Join(sum.FailedNames, ", "))
	case sum.Passed == 0:
		t.Fatal("TestOCIValidation ran no test in the test VM")
	}
}

// testLog writes each line to a test's log.
type testLog struct {
	t      *testing.T
	prefix string
}

func (w testLog) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func where() string {
	if testvm.InGuest() {
		return "the test VM (cgroup v2)"
	}
	return "the host (cgroup v1 hybrid)"
}

var suiteOnce struct {
	sync.Mutex
	dir string
}

// ociSuite returns the directory holding the built validation suite: the
// one the test VM carries ($HULL_OCI_SUITE), or one built once per process.
func ociSuite(t *testing.T) string {
	if d := os.Getenv("HULL_OCI_SUITE"); d != "" {
		return d
	}
	suiteOnce.Lock()
	defer suiteOnce.Unlock()
	if suiteOnce.dir == "" {
		dir, err := os.MkdirTemp("", "hull-ocisuite-")
		if err != nil {
			t.Fatal(err)
		}
		if err := ocivalidation.Build(context.Background(), "ocivalidation/suite", dir); err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		suiteOnce.dir = dir
	}
	return suiteOnce.dir
}

// cleanSuiteLeftovers undoes what a validation program leaves in tmp,
// whichever runtime it drove: bundles, and mounts inside them (the rootfs
// propagation programs bind a bundle on itself).
func cleanSuiteLeftovers(t *testing.T, tmp string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Error(err) // not Fatal: it runs on the goroutine of one runtime
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], tmp+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
	}
}
