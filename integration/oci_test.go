package integration

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
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

// TestOCIValidation runs the OCI runtime-tools validation suite against
// runc and against hull, program by program, and holds hull to every
// program runc passes on this kernel.
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
	hull := testvm.Hull(t)
	ctx := context.Background()
	var runcOK, hullOK, both int
	var nowPassing []string
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			// Not t.TempDir: its 0700 parents would keep a container
			// whose root maps to another host uid out of its bundle.
			tmp, err := os.MkdirTemp("", "hull-oci-")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(tmp)
			defer cleanSuiteLeftovers(t, tmp)
			ref := ocivalidation.Run(ctx, dir, name, "runc", tmp, 3*time.Minute)
			cleanSuiteLeftovers(t, tmp)
			got := ocivalidation.Run(ctx, dir, name, hull, tmp, 3*time.Minute)
			t.Logf("runc: %s", ref)
			t.Logf("hull: %s", got)
			if ref.OK() {
				runcOK++
			}
			if got.OK() {
				hullOK++
			}
			_, isKnown := known[name]
			switch {
			case ref.OK() && got.OK():
				both++
				if isKnown {
					nowPassing = append(nowPassing, name)
				}
			case ref.OK() && isKnown:
				t.Logf("known failure: %s", known[name])
			case ref.OK():
				t.Errorf("runc passes %s and hull does not:\n%s", name, got.Output)
			}
		})
	}
	t.Logf("OCI validation on %s: runc passes %d of %d programs, hull %d (%d of runc's)",
		where(), runcOK, len(tests), hullOK, both)
	if len(nowPassing) > 0 {
		t.Logf("hull now passes %s: remove them from %s", strings.Join(nowPassing, ", "), knownFailures)
	}
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
		t.Fatal(err)
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
