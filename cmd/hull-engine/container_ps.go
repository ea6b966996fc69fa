package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/cgroups"
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
	var noStream bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "stats [--no-stream] [--format table|json] CONTAINER...",
		Short: "show containers' resource use, from their cgroups, until interrupted",
		Long: `stats shows each container's CPU use (as a share of one CPU over the last
interval), memory and processes, refreshed every interval until ^C or until
none of them runs, as "docker stats" does; --no-stream prints once. With
--format json each sample is one JSON object a line.`,
		Args: cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %s: must be positive", interval)
			}
			ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
			defer cancel()
			out := cmd.OutOrStdout()
			clear := !noStream && format == "table" && isTerminal(out)
			prev := map[string]sample{}
			for first := true; ; first = false {
				var rows []statsRow
				for _, ref := range args {
					c, err := e.Inspect(ctx, ref)
					if err != nil {
						return err
					}
					st, err := e.Stats(ctx, c.ID)
					if err != nil {
						if noStream || first {
							return err
						}
						continue // stopped meanwhile
					}
					now := sample{at: time.Now(), cpu: st.CPU.Usage.Total}
					row := statsRow{ID: c.ID, Name: c.Name, CPUPercent: -1, Stats: st}
					if p, ok := prev[c.ID]; ok && now.at.After(p.at) {
						row.CPUPercent = 100 * float64(now.cpu-p.cpu) / float64(now.at.Sub(p.at).Nanoseconds())
					}
					prev[c.ID] = now
					rows = append(rows, row)
				}
				if len(rows) == 0 {
					return nil // nothing runs any more
				}
				// --no-stream prints the second sample: a CPU share
				// needs two.
				if !noStream || !first {
					if err := printStats(out, format, rows, clear); err != nil {
						return err
					}
				}
				wait := interval
				if first {
					wait = min(interval, 200*time.Millisecond)
				}
				if noStream && !first {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}),
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "table", "table or json (one object a line)")
	f.BoolVar(&noStream, "no-stream", false, "print once and exit")
	f.DurationVar(&interval, "interval", time.Second, "time between samples")
	return cmd
}

// sample is a container's CPU time at a moment.
type sample struct {
	at  time.Time
	cpu uint64 // ns
}

// statsRow is one container's line of "stats", and its JSON.
type statsRow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CPUPercent is the CPU time used over the last interval, in percent
	// of one CPU; -1 before a second sample.
	CPUPercent float64        `json:"cpuPercent"`
	Stats      *cgroups.Stats `json:"stats"`
}

func printStats(out io.Writer, format string, rows []statsRow, clear bool) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if clear {
		fmt.Fprint(out, "\033[2J\033[H")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU %\tCPU TIME\tMEM USAGE / LIMIT\tPIDS")
	for _, r := range rows {
		st := r.Stats
		limit := "-"
		if l := st.Memory.Usage.Limit; l > 0 && l < 1<<62 {
			limit = humanBytes(int64(l))
		}
		cpu := "--"
		if r.CPUPercent >= 0 {
			cpu = fmt.Sprintf("%.2f%%", r.CPUPercent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%d\n", r.Name, cpu, time.Duration(st.CPU.Usage.Total),
			humanBytes(int64(st.Memory.Usage.Usage)), limit, st.Pids.Current)
	}
	return tw.Flush()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
