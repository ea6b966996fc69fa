// Package ocivalidation builds the OCI runtime-tools validation suite and
// runs it against a runtime, so that hull can be held to what runc passes
// on the same kernel.
//
// The suite (github.com/opencontainers/runtime-tools, validation/) is a
// set of programs, one per area of the runtime spec, each of which makes
// bundles from a small rootfs tarball shipped in the module, drives the
// runtime named by $RUNTIME through its runc-style command line, runs its
// runtimetest program inside the containers, and prints TAP. Its version
// is pinned by the module in suite/, kept apart from hull's go.mod.
package ocivalidation

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

const suiteModule = "github.com/opencontainers/runtime-tools"

// Build compiles runtimetest and every validation program into dir and
// puts the rootfs tarball they unpack beside them. suiteDir is this
// package's suite/ directory, whose go.mod pins the suite's version.
func Build(ctx context.Context, suiteDir, dir string) error {
	out, err := goCmd(ctx, suiteDir, nil, "list", "-m", "-f", "{{.Dir}}", suiteModule)
	if err != nil {
		return err
	}
	src := strings.TrimSpace(out)
	if _, err := goCmd(ctx, suiteDir, nil, "build", "-o", dir+"/", suiteModule+"/validation/..."); err != nil {
		return err
	}
	if _, err := goCmd(ctx, suiteDir, []string{"CGO_ENABLED=0"}, "build", "-o", filepath.Join(dir, "runtimetest"), suiteModule+"/cmd/runtimetest"); err != nil {
		return err
	}
	tarball, err := os.ReadFile(filepath.Join(src, "rootfs-amd64.tar.gz"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "rootfs-amd64.tar.gz"), tarball, 0o644)
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out), nil
}

// Tests lists the validation programs built in dir.
func Tests(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 && e.Name() != "runtimetest" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Result is one validation program's outcome against one runtime.
type Result struct {
	Test                 string
	Passed, Failed, Skip int    // TAP assertions
	Exit                 int    // the program's exit status; -1 if it was killed
	Output               string // the TAP it printed, and its stderr
}

// OK reports whether the program passed: it exited 0, made at least one
// assertion and none failed. Several programs print "1..0" and an error
// diagnostic when the runtime fails them before any assertion, and still
// exit 0: those did not pass. One that skipped every assertion passes, as
// under prove(1).
func (r Result) OK() bool { return r.Exit == 0 && r.Failed == 0 && r.Passed+r.Skip > 0 }

func (r Result) String() string {
	status := "PASS"
	if !r.OK() {
		status = "FAIL"
	}
	return fmt.Sprintf("%s %s (%d ok, %d not ok, %d skipped, exit %d)", status, r.Test, r.Passed, r.Failed, r.Skip, r.Exit)
}

var tapLine = regexp.MustCompile(`^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO))?`)

// Run runs the validation program test from dir against runtime (a path
// or a name on PATH), with timeout as its bound. The program makes its
// bundles in tmp (its $TMPDIR), so that a caller can clean up after it
// without touching anyone else's.
func Run(ctx context.Context, dir, test, runtime, tmp string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, test))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RUNTIME="+runtime, "TMPDIR="+tmp)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	r := Result{Test: test, Output: buf.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.Exit = -1
		r.Output += fmt.Sprintf("\nkilled after %s\n", timeout)
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		r.Exit = -1
		r.Output += "\n" + err.Error()
	}
	sc := bufio.NewScanner(strings.NewReader(r.Output))
	for sc.Scan() {
		m := tapLine.FindStringSubmatch(sc.Text())
		switch {
		case m == nil:
		case m[3] != "":
			r.Skip++
		case m[1] == "ok":
			r.Passed++
		default:
			r.Failed++
		}
	}
	return r
}

// Totals counts programs that passed and failed.
func Totals(results []Result) (passed, failed int) {
	for _, r := range results {
		if r.OK() {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}
