package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hullrt/hull"
	"github.com/spf13/cobra"
)

func newCheckCommand(g *globalOptions) *cobra.Command {
	var asJSON, vm bool
	var record, fixture string
	cmd := &cobra.Command{
		Use:   "check [--json] [--vm]",
		Short: "tell whether this machine can run containers and micro-VMs, and what to change",
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
			if g.debug {
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
			} else {
				writeReport(out, rep)
			}
			if !rep.Containers.OK || vm && !rep.VMs.OK {
				return &exitError{code: 1}
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

// writeReport prints the report as a table: one section after another,
// each item's status, name and what was checked, and the remedy under any
// item that is not ok.
func writeReport(w io.Writer, r *hull.Report) {
	head := "Linux " + r.Kernel
	if r.CPU != "" {
		head += ", " + r.CPU
	}
	if r.Hypervisor != "" {
		head += ", in a VM of " + r.Hypervisor
	}
	fmt.Fprintln(w, head)
	width := 0
	for _, it := range r.Items {
		width = max(width, len(it.Name))
	}
	width = min(width, 28)
	section := ""
	for _, it := range r.Items {
		if it.Section != section {
			section = it.Section
			fmt.Fprintf(w, "\n%s\n", strings.ToUpper(section))
		}
		fmt.Fprintf(w, "  %-9s %-*s %s\n", it.Status, width, it.Name, it.Detail)
		if it.Remedy != "" {
			fmt.Fprintf(w, "  %-9s %-*s remedy: %s\n", "", width, "", it.Remedy)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, verdict("containers can run:", r.Containers))
	fmt.Fprintln(w, verdict("micro-VMs can run: ", r.VMs))
}

func verdict(what string, v hull.Verdict) string {
	if v.OK {
		return what + " yes"
	}
	return what + " no (" + strings.Join(v.Blockers, ", ") + ")"
}
