// Command hull-vmm is the process of one micro-VM, started by hull: it
// links only the VMM, so that what a running VM costs besides its guest
// RAM stays small (package vmproc explains the split). It is installed
// next to hull, which finds it there; it is not meant to be run by hand.
//
//	hull-vmm --config JSON                       the VM in the foreground
//	hull-vmm --detach --root DIR --config JSON   a detached VM (fd 3: ready pipe)
//
// JSON is a vmm.Config, as hull vm run --explain describes it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hullrt/hull/vmm"
	"github.com/hullrt/hull/vmm/vmproc"
)

func main() {
	fs := flag.NewFlagSet(vmproc.BinaryName, flag.ContinueOnError)
	cfgJSON := fs.String("config", "", "the VM's configuration, a vmm.Config as JSON")
	detach := fs.Bool("detach", false, "run detached: serve the control socket under --root, report readiness on fd 3")
	root := fs.String("root", "/run/hull", "hull's state directory (with --detach)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *cfgJSON == "" || fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "%s: usage: %s [--detach --root DIR] --config JSON (started by hull vm run)\n", vmproc.BinaryName, vmproc.BinaryName)
		os.Exit(2)
	}
	if *detach {
		os.Exit(vmproc.RunDetached(*cfgJSON, *root))
	}
	cfg, err := vmm.ParseConfig(strings.NewReader(*cfgJSON))
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull: %v\n", err)
		os.Exit(1)
	}
	os.Exit(vmproc.RunForeground(context.Background(), cfg, os.Stdin, os.Stdout, os.Stderr))
}
