package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull"
)

// newContainerVolumeCommand is podman's "volume" family, under container.
func newContainerVolumeCommand(o *containerOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "list and remove volumes (named: -v NAME:/path; anonymous: -v /path)",
	}
	var format string
	ls := &cobra.Command{
		Use:     "ls [--format table|json]",
		Aliases: []string{"list"},
		Short:   "list volumes and the containers using them",
		Args:    cobra.NoArgs,
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			vols, err := e.Volumes(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(vols)
			case "table":
			default:
				return fmt.Errorf("--format %q: want table or json", format)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "VOLUME NAME\tCREATED\tUSED BY")
			for _, v := range vols {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.Created.Local().Format("2006-01-02 15:04:05"), strings.Join(v.UsedBy, ", "))
			}
			return tw.Flush()
		}),
	}
	ls.Flags().StringVar(&format, "format", "table", "table or json")
	var force bool
	rm := &cobra.Command{
		Use:   "rm [-f] VOLUME...",
		Short: "remove volumes and what they hold (in use: only with -f)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			return eachContainer(cmd, args, func(name string) error { return e.RemoveVolume(ctx, name, force) })
		}),
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "remove a volume even while containers use it")
	prune := &cobra.Command{
		Use:   "prune",
		Short: "remove every volume no container uses",
		Args:  cobra.NoArgs,
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			names, err := e.PruneVolumes(ctx)
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return err
		}),
	}
	cmd.AddCommand(ls, rm, prune)
	return cmd
}
