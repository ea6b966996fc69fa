// Command hull is an OCI container runtime and KVM micro-VM launcher.
//
// Its command line follows runc's, verb for verb and flag for flag, so that
// podman, containerd and CRI-O can use it as their runtime. Every verb is a
// thin layer over a library package: this command parses flags and prints;
// the work happens in runtime, cgroups and vmm. The image-level families
// (check, container, image, network) are listed here but live in
// hull-engine, which hull executes for them (engine.go says why).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

// newRootCommand builds the command tree for a command line (os.Args[1:]).
// runc's verbs, which containerd's shim, podman and CRI-O run several
// times per container, are always built; hull's own families (vm, and
// the image-level ones that hull-engine carries: see engine.go) only
// when the command line names none of runc's verbs: building their
// flags costs more than a "hull start" takes to run. Help, completion
// and errors then see the whole tree.
func newRootCommand(args []string) *cobra.Command {
	g := &cli.Options{}
	root := &cobra.Command{
		Use:   "hull",
		Short: "an OCI container runtime and KVM micro-VM launcher",
		Long: `hull runs OCI containers and KVM micro-VMs.

It builds namespaces, cgroups and overlay root filesystems itself, speaks
runc's command line so that podman, containerd and CRI-O can use it as
their runtime, and drives /dev/kvm directly to boot Linux kernels.

Start with "hull check": it tells whether this machine can run containers
and micro-VMs, and what to change when it cannot.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(versionText())
	g.AddFlags(root.PersistentFlags())

	// One line per verb family; each lives in its own file of this package.
	root.AddCommand(
		newCreateCommand(g),
		newRunCommand(g),
		newStartCommand(g),
		newStateCommand(g),
		newListCommand(g),
		newKillCommand(g),
		newDeleteCommand(g),
		newPsCommand(g),
		newPauseCommand(g),
		newResumeCommand(g),
		newUpdateCommand(g),
		newEventsCommand(g),
		newSpecCommand(g),
		newFeaturesCommand(g),
		newInitCommand(g),
		newExecCommand(g),
	)
	if hasCommand(root, verbOf(root, args)) {
		return root
	}
	root.AddCommand(newVMCommand(g))
	root.AddCommand(engineCommands()...)
	return root
}

// verbOf returns the first word of args that is neither a flag nor a
// global flag's value ("create" in "--root /r create --bundle b id"), or
// "" when there is none.
func verbOf(root *cobra.Command, args []string) string {
	fs := root.PersistentFlags()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case a == "-" || !strings.HasPrefix(a, "-"):
			return a
		case strings.Contains(a, "="):
			continue
		}
		var noValue string // what a flag given without a value means
		known := false
		if name, ok := strings.CutPrefix(a, "--"); ok {
			if f := fs.Lookup(name); f != nil {
				noValue, known = f.NoOptDefVal, true
			}
		} else if len(a) == 2 {
			if f := fs.ShorthandLookup(a[1:]); f != nil {
				noValue, known = f.NoOptDefVal, true
			}
		}
		if known && noValue == "" {
			i++ // the flag's value
		}
	}
	return ""
}

// hasCommand reports whether root has a subcommand called name (or
// aliased so).
func hasCommand(root *cobra.Command, name string) bool {
	if name == "" {
		return false
	}
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}

// versionText is what "hull --version" prints, in runc's layout so that
// tools which parse "runc --version" read it too.
func versionText() string {
	return fmt.Sprintf("hull version %s\nspec: 1.2.0\n", version)
}

func main() {
	cli.Exit(newRootCommand(os.Args[1:]).Execute())
}
