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

func newRootCommand() *cobra.Command {
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
		newNetworkCommand(g),
		newCheckCommand(g),
		newVMCommand(g),
		newImageCommand(g),
		newContainerCommand(g),
	)
	return root
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
	err := newRootCommand().Execute()
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
