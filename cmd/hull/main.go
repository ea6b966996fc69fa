// Command hull is an OCI container runtime and KVM micro-VM launcher.
//
// Its command line follows runc's, verb for verb and flag for flag, so that
// podman, containerd and CRI-O can use it as their runtime. Every verb is a
// thin layer over a library package: this command parses flags and prints;
// the work happens in runtime, cgroups, netns, image and vmm.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

// globalOptions are runc's global flags, accepted before any verb.
type globalOptions struct {
	root          string // --root: where container state lives
	log           string // --log: where the runtime writes its log
	logFormat     string // --log-format: text or json
	debug         bool   // --debug: log at debug level
	systemdCgroup bool   // --systemd-cgroup: cgroupsPath is slice:prefix:name
}

// newRootCommand builds the command tree for a command line (os.Args[1:]).
// runc's verbs, which containerd's shim, podman and CRI-O run several
// times per container, are always built; hull's own families (container,
// image, vm, network, check) only when the command line names none of
// runc's verbs: building their flags costs more than a "hull start"
// takes to run. Help, completion and errors then see the whole tree, as
// before.
func newRootCommand(args []string) *cobra.Command {
	g := &globalOptions{}
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
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", defaultStateRoot(), "root directory for storage of container state")
	pf.StringVar(&g.log, "log", "", "set the log file to write hull logs to (default is stderr)")
	pf.StringVar(&g.logFormat, "log-format", "text", "set the log format ('text' or 'json')")
	pf.BoolVar(&g.debug, "debug", false, "enable debug logging")
	pf.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (cgroupsPath is slice:prefix:name)")

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
	root.AddCommand(
		newNetworkCommand(g),
		newCheckCommand(g),
		newVMCommand(g),
		newImageCommand(g),
		newContainerCommand(g),
	)
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

// defaultStateRoot is runc's /run/runc, for hull: /run/hull for root, and
// $XDG_RUNTIME_DIR/hull for an unprivileged user.
func defaultStateRoot() string {
	if os.Geteuid() != 0 {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			return dir + "/hull"
		}
	}
	return "/run/hull"
}

// exitError carries a process exit status through cobra without printing
// anything more: the command has already said what went wrong.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	err := newRootCommand(os.Args[1:]).Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	fmt.Fprintf(os.Stderr, "hull: %v\n", err)
	os.Exit(1)
}
