package testvm

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is one Go package whose tests run in the test VM.
type Package struct {
	// Path is the package's directory relative to the module root,
	// as given to go test: "./cgroups".
	Path string
	// Run selects tests as go test -run does; empty runs them all.
	Run string
	// Args are more flags for the test binary ("-test.count=1", …).
	Args []string
	// Timeout bounds the package's run inside the guest; zero means ten
	// minutes.
	Timeout time.Duration
}

// Options tune TestPackages.
type Options struct {
	CPUs, MemoryMiB int
	Modules         []string // more kernel modules to load
	HostTools       []string // host programs the tests run (runc, crun, …)
	Timeout         time.Duration
}

// TestPackages compiles each package's tests with go test -c, runs them
// all in one boot of the test VM, and reports each package as a subtest
// of t: it fails when the package's test binary fails, and also when it
// ran no test at all, so a misspelt -run can never pass. The guest's
// console and the tests' output stream into t's log.
//
// Tests inside the guest see HULL_TESTVM=1 (InGuest), run as root in the
// root cgroup of a cgroup2 hierarchy with every controller, can open
// /dev/kvm, and find hull itself at $HULL_BINARY (see Hull).
func TestPackages(t *testing.T, opts Options, pkgs ...Package) {
	t.Helper()
	if InGuest() {
		t.Skip("already inside the test VM")
	}
	Require(t, Root)
	results, elapsed, err := RunPackages(context.Background(), opts, logWriter{t, "console: "}, logWriter{t, ""}, pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test VM: %d package(s) in %s", len(pkgs), elapsed.Round(100*time.Millisecond))
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			t.Logf("in the test VM: %s", r.Summary)
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// PackageResult is how one package's tests did in the test VM.
type PackageResult struct {
	Name     string // the package's directory below the module root; "hull" for the root
	Exit     int    // the test binary's exit status
	Reported bool   // the guest reported the exit status at all
	Summary  Summary
}

// Err says why the package failed, or is nil when it passed: its test
// binary exited 0 and passed at least one test.
func (r PackageResult) Err() error {
	switch {
	case !r.Reported:
		return fmt.Errorf("%s never reported its exit status", r.Name)
	case r.Exit != 0:
		return fmt.Errorf("%s failed in the test VM (exit status %d): %s", r.Name, r.Exit, strings.Join(r.Summary.FailedNames, ", "))
	case r.Summary.Passed == 0:
		return fmt.Errorf("%s ran no test in the test VM", r.Name)
	}
	return nil
}

// RunPackages is TestPackages without the testing.T: it compiles the
// packages' tests, runs them in one boot, streams the guest's console and
// the tests' output to the writers, and returns each package's result.
// The error is for the VM and the build; package failures are in the
// results.
func RunPackages(ctx context.Context, opts Options, console, output io.Writer, pkgs ...Package) ([]PackageResult, time.Duration, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	root, err := ModuleRoot()
	if err != nil {
		return nil, 0, err
	}
	bins, err := os.MkdirTemp("", "hull-testvm-bin-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(bins)
	cfg := Config{
		CPUs: opts.CPUs, MemoryMiB: opts.MemoryMiB, Modules: opts.Modules, HostTools: opts.HostTools,
		Files: map[string]string{}, Dirs: map[string]string{},
		Console: console, Output: output,
	}
	hull, err := hullBinary(ctx)
	if err != nil {
		return nil, 0, err
	}
	maps.Copy(cfg.Files, HullFiles(hull))
	for _, p := range pkgs {
		name := filepath.ToSlash(filepath.Clean(p.Path))
		if name == "." {
			name = "hull" // the module's root package
		}
		bin := filepath.Join(bins, strings.ReplaceAll(name, "/", "_")+".test")
		if err := goTestCompile(ctx, root, p.Path, bin); err != nil {
			return nil, 0, err
		}
		guestBin := "bin/" + filepath.Base(bin)
		cfg.Files[guestBin] = bin
		// The binary runs in its package's directory of a mirror of the
		// module holding every testdata/ directory, so that testdata/ is
		// where go test would have it, also a neighbour's.
		guestDir := "src/" + filepath.ToSlash(filepath.Clean(p.Path))
		if err := os.MkdirAll(filepath.Join(bins, "empty", guestDir), 0o755); err != nil {
			return nil, 0, err
		}
		cfg.Dirs[guestDir] = filepath.Join(bins, "empty", guestDir)
		// The test binary's own timeout comes a minute before the job's,
		// so that a test that hangs fails with every goroutine's stack.
		jobTimeout := p.Timeout
		if jobTimeout == 0 {
			jobTimeout = defaultJobTimeout
		}
		args := append([]string{"-test.v", "-test.count=1", "-test.timeout=" + (jobTimeout - time.Minute).String()}, p.Args...)
		if p.Run != "" {
			args = append(args, "-test.run", p.Run)
		}
		cfg.Jobs = append(cfg.Jobs, Job{
			Name: name, Path: "/payload/" + guestBin, Args: args,
			Dir: "/payload/" + guestDir, Timeout: jobTimeout,
		})
	}
	testdata, err := testdataDirs(root)
	if err != nil {
		return nil, 0, err
	}
	for _, rel := range testdata {
		cfg.Dirs["src/"+rel] = filepath.Join(root, rel)
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	var results []PackageResult
	for _, j := range cfg.Jobs {
		code, ok := res.Exits[j.Name]
		results = append(results, PackageResult{Name: j.Name, Exit: code, Reported: ok, Summary: Summarize(res.Outputs[j.Name])})
	}
	return results, res.Elapsed, nil
}

// testdataDirs lists the module's testdata directories, relative to root.
func testdataDirs(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch d.Name() {
		case ".git", "bin":
			return filepath.SkipDir
		case "testdata":
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		return nil
	})
	return dirs, err
}

// Summary counts the results in a test binary's -test.v output.
type Summary struct {
	Passed, Failed, Skipped int
	FailedNames             []string
}

func (s Summary) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

var resultLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// Summarize reads the "--- PASS: TestX" lines of -test.v output,
// subtests included.
func Summarize(out string) Summary {
	var s Summary
	for _, m := range resultLine.FindAllStringSubmatch(out, -1) {
		switch m[1] {
		case "PASS":
			s.Passed++
		case "FAIL":
			s.Failed++
			s.FailedNames = append(s.FailedNames, m[2])
		case "SKIP":
			s.Skipped++
		}
	}
	return s
}

func goTestCompile(ctx context.Context, root, pkg, out string) error {
	return run(ctx, root, "go", "test", "-c", "-o", out, pkg)
}

var hullOnce struct {
	sync.Mutex
	path string
}

func hullBinary(ctx context.Context) (string, error) {
	hullOnce.Lock()
	defer hullOnce.Unlock()
	if hullOnce.path != "" {
		return hullOnce.path, nil
	}
	dir, err := os.MkdirTemp("", "hull-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hull")
	if err := goBuild(ctx, out, "github.com/hullrt/hull/cmd/hull", false); err != nil {
		return "", err
	}
	// hull runs each VM in hull-vmm, each container's init in hull-init
	// and its image-level families in hull-engine, found next to it
	// (packages vmproc, runtime and internal/cli); as make builds them,
	// only hull-init, which needs runtime/nsenter's constructor, with cgo.
	for _, c := range companions {
		if err := goBuild(ctx, filepath.Join(dir, c), "github.com/hullrt/hull/cmd/"+c, c == hullInit); err != nil {
			return "", err
		}
	}
	hullOnce.path = out
	return out, nil
}

// hull's companion programs, installed next to it: hullVMM is
// vmproc.BinaryName, the VM process's program, hullInit
// runtime.InitProgramName, the container init's, and hullEngine
// cli.EngineProgram, the image-level families'. testvm cannot import
// those packages, whose own tests import testvm.
const (
	hullVMM    = "hull-vmm"
	hullInit   = "hull-init"
	hullEngine = "hull-engine"
)

var companions = []string{hullVMM, hullInit, hullEngine}

// HullFiles is what a test VM's payload needs of hull (hull at path,
// built by Hull, and its companions beside it), keyed by their paths on
// the payload disk, where $HULL_BINARY finds hull.
func HullFiles(path string) map[string]string {
	files := map[string]string{"bin/hull": path}
	for _, c := range companions {
		files["bin/"+c] = filepath.Join(filepath.Dir(path), c)
	}
	return files
}

// CopyHull copies hull (from Hull) and its companions into dir, for a
// test that runs them as another user or from a place of its own, and
// returns the copy of hull.
func CopyHull(t testing.TB, dir string) string {
	t.Helper()
	for name, src := range HullFiles(Hull(t)) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "hull")
}

// Hull returns the path of a hull binary built from this tree: the one
// the test VM carries ($HULL_BINARY) inside the guest, or one built once
// per test process with go build on the host. Tests of the command line
// run it with os/exec.
func Hull(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HULL_BINARY"); p != "" {
		return p
	}
	p, err := hullBinary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logWriter writes each line to a test's log.
type logWriter struct {
	t      testing.TB
	prefix string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}
