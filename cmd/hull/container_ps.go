package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/netns"
)

func newContainerInspectCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect CONTAINER...",
		Short: "print containers' records as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			var out []*hull.Container
			for _, ref := range args {
				c, err := e.Inspect(ctx, ref)
				if err != nil {
					return err
				}
				out = append(out, c)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}),
	}
}

func newContainerPsCommand(o *containerOptions) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "ps [-a] [-q] [--format table|json]",
		Aliases: []string{"ls"},
		Short:   "list containers (running ones; -a: all)",
		Args:    cobra.NoArgs,
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			list, err := e.List(ctx)
			if err != nil {
				return err
			}
			var shown []*hull.Container
			for _, c := range list {
				if all || c.State.Status == hull.ContainerRunning || c.State.Status == hull.ContainerDead {
					shown = append(shown, c)
				}
			}
			out := cmd.OutOrStdout()
			switch {
			case format == "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if shown == nil {
					shown = []*hull.Container{}
				}
				return enc.Encode(shown)
			case format != "" && format != "table":
				return fmt.Errorf("--format %q: want table or json", format)
			case quiet:
				for _, c := range shown {
					fmt.Fprintln(out, c.ID[:12])
				}
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			for _, c := range shown {
				var ports []string
				for _, p := range c.Ports {
					ports = append(ports, portText(p))
				}
				fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", c.ID[:12], c.Config.Image,
					truncate(strings.Join(c.Command, " "), 20), ago(now, c.Created), statusText(now, c), strings.Join(ports, ", "), c.Name)
			}
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers, not only running ones")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only IDs")
	f.StringVar(&format, "format", "table", "table or json")
	return cmd
}

func statusText(now time.Time, c *hull.Container) string {
	switch c.State.Status {
	case hull.ContainerRunning:
		up := "Up " + duration(now.Sub(c.State.StartedAt))
		if h := c.State.Health; h != nil {
			up += " (" + h.Status + ")"
		}
		return up
	case hull.ContainerExited:
		return fmt.Sprintf("Exited (%d) %s", c.State.ExitCode, ago(now, c.State.FinishedAt))
	case hull.ContainerDead:
		return "Dead (monitor gone)"
	}
	return "Created"
}

func portText(p netns.PortMapping) string {
	host := netip.IPv4Unspecified()
	if p.HostIP.IsValid() {
		host = p.HostIP
	}
	return fmt.Sprintf("%s->%d/%s", netip.AddrPortFrom(host, p.HostPort), p.ContainerPort, p.Protocol)
}

func ago(now, t time.Time) string { return duration(now.Sub(t)) + " ago" }

func duration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case d.Minutes() < 2:
		return "About a minute"
	case d.Minutes() < 60:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d.Hours() < 2:
		return "About an hour"
	case d.Hours() < 48:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newContainerPortCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER",
		Short: "list a container's published ports",
		Args:  cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			c, err := e.Inspect(ctx, args[0])
			if err != nil {
				return err
			}
			for _, p := range c.Ports {
				host := netip.IPv4Unspecified()
				if p.HostIP.IsValid() {
					host = p.HostIP
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d/%s -> %s\n", p.ContainerPort, p.Protocol, netip.AddrPortFrom(host, p.HostPort))
			}
			return nil
		}),
	}
}

func newContainerTopCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "list a container's processes (host PIDs)",
		Args:  cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			pids, err := e.Top(ctx, args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "PID\tCMD")
			for _, pid := range pids {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				fmt.Fprintf(tw, "%d\t%s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
			}
			return tw.Flush()
		}),
	}
}

func newContainerStatsCommand(o *containerOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats [--format table|json] CONTAINER...",
		Short: "print containers' resource use, from their cgroups",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			if format != "json" {
				fmt.Fprintln(tw, "NAME\tCPU TIME\tMEM USAGE / LIMIT\tPIDS")
			}
			for _, ref := range args {
				c, err := e.Inspect(ctx, ref)
				if err != nil {
					return err
				}
				st, err := e.Stats(ctx, c.ID)
				if err != nil {
					return err
				}
				if format == "json" {
					if err := json.NewEncoder(out).Encode(map[string]any{"id": c.ID, "name": c.Name, "stats": st}); err != nil {
						return err
					}
					continue
				}
				limit := "-"
				if l := st.Memory.Usage.Limit; l > 0 && l < 1<<62 {
					limit = humanBytes(int64(l))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%d\n", c.Name, time.Duration(st.CPU.Usage.Total),
					humanBytes(int64(st.Memory.Usage.Usage)), limit, st.Pids.Current)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json (one object per line)")
	return cmd
}
