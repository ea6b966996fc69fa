// Command testvm runs packages' tests inside hull's test VM, as
// TestInVM does in CI, for working on one package:
//
//	go run ./integration/cmd/testvm -run TestFreeze ./cgroups
//
// It needs root, qemu-system-x86_64 and busybox-static (make deps), and
// fetches Debian's kernel into /var/cache/hull-testvm on first use.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hullrt/hull/integration/testvm"
)

func main() {
	run := flag.String("run", "", "run only the tests matching this regular expression, as go test -run")
	cpus := flag.Int("cpus", 2, "vCPUs of the test VM")
	mem := flag.Int("memory", 2048, "memory of the test VM in MiB")
	tools := flag.String("tools", "", "comma-separated host programs the tests run in the guest (runc,crun,...)")
	console := flag.Bool("console", false, "show the guest kernel's console too")
	timeout := flag.Duration("timeout", 30*time.Minute, "bound on the whole run")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: testvm [flags] PACKAGE...\n\nRuns the tests of each package inside the test VM.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	opts := testvm.Options{CPUs: *cpus, MemoryMiB: *mem, Timeout: *timeout}
	if *tools != "" {
		opts.HostTools = strings.Split(*tools, ",")
	}
	var pkgs []testvm.Package
	for _, p := range flag.Args() {
		pkgs = append(pkgs, testvm.Package{Path: p, Run: *run})
	}
	var con io.Writer
	if *console {
		con = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, elapsed, err := testvm.RunPackages(ctx, opts, con, os.Stdout, pkgs...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testvm: %v\n", err)
		os.Exit(1)
	}
	code := 0
	for _, r := range results {
		status := "ok"
		if err := r.Err(); err != nil {
			status, code = "FAIL: "+err.Error(), 1
		}
		fmt.Printf("%-30s %s (%s)\n", r.Name, status, r.Summary)
	}
	fmt.Printf("test VM: %d package(s) in %s\n", len(results), elapsed.Round(100*time.Millisecond))
	os.Exit(code)
}
