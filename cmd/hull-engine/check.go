package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/internal/cli"
	"github.com/spf13/cobra"
)

func newCheckCommand(g *cli.Options) *cobra.Command {
	var asJSON, vm bool
	var record, fixture string
	cmd := &cobra.Command{
		Use:   "check [--json] [--vm]",
		Short: cli.EngineFamily("check").Short,
		Long: `check tries, for real, everything hull asks of the kernel and the CPU:

  namespaces        clone(2) of a throwaway child with each CLONE_NEW* flag
  user namespaces   max_user_namespaces, clone(CLONE_NEWUSER) as nobody,
                    newuidmap/newgidmap, /etc/subuid and /etc/subgid
  cgroups           v1, hybrid or unified; mounts, v2 and delegated controllers
  kernel features   overlayfs mounted in a private mount namespace, a seccomp
                    filter, pidfd_open(2), idmapped mounts (mount_setattr(2))
  virtualization    CPUID (vendor, VMX/SVM, nested paging, hypervisor), the
                    firmware's MSRs through /dev/cpu/N/msr
  kvm               the kvm module, /dev/kvm, KVM_GET_API_VERSION and every
                    capability the VMM needs

Each item is ok, degraded or missing, and every item that is not ok says
what to do about it. Run it as root for the complete answer.

The exit status is 0 when containers can run here, 1 otherwise; with --vm
micro-VMs must be able to run too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if record != "" {
				if err := hull.Record(ctx, record); err != nil {
					return fmt.Errorf("recording this machine: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "recorded this machine in %s; replay it with: hull check --fixture %s\n", record, record)
				return nil
			}
			var opts []hull.CheckOption
			if g.Debug {
				opts = append(opts, hull.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))))
			}
			if fixture != "" {
				opts = append(opts, hull.WithFixture(fixture))
			}
			rep, err := hull.Check(ctx, opts...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(out); err != nil {
				return err
			}
			if !rep.Containers.OK || vm && !rep.VMs.OK {
				return &cli.ExitError{Code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&vm, "vm", false, "also require micro-VMs (KVM) for exit status 0")
	f.StringVar(&record, "record", "", "record this machine's facts into a new directory `DIR` (for bug reports and tests)")
	f.StringVar(&fixture, "fixture", "", "judge a machine recorded with --record in `DIR` instead of this one")
	f.MarkHidden("record")
	f.MarkHidden("fixture")
	return cmd
}
