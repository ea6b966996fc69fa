package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/runtime"
)

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStateCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "state <container-id>",
		Short: "output the state of a container",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			st, err := rt.State(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(st)
		}),
	}
}

func newListCommand(g *cli.Options) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "lists containers started by hull with the given root",
		Args:    cli.ExactArgs(0, "none"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			list, err := rt.List(ctx)
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range list {
					fmt.Println(s.ID)
				}
				return nil
			}
			switch format {
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range list {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			case "json":
				if list == nil {
					list = []*runtime.State{}
				}
				b, err := json.Marshal(list)
				if err != nil {
					return err
				}
				fmt.Println(string(b))
				return nil
			}
			return fmt.Errorf("invalid format option %q", format)
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "select one of: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "display only container IDs")
	return cmd
}

func newKillCommand(g *cli.Options) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] <container-id> [signal]",
		Short: "send a signal (default SIGTERM) to a container's init",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("%q requires 1 or 2 arguments: container id and an optional signal", cmd.Name())
			}
			return nil
		},
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			sigName := "SIGTERM"
			if len(args) == 2 {
				sigName = args[1]
			}
			sig, err := cli.ParseSignal(sigName)
			if err != nil {
				return err
			}
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Kill(ctx, args[0], sig, all)
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process in the container's cgroup")
	return cmd
}

func newDeleteCommand(g *cli.Options) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [flags] <container-id>",
		Short: "delete a container and everything hull holds for it",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Delete(ctx, args[0], force)
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "forcibly delete the container if it is still running (uses SIGKILL)")
	return cmd
}

func newPsCommand(g *cli.Options) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [flags] <container-id> [-- ps options]",
		Short: "display the processes running inside a container",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%q requires a container id", cmd.Name())
			}
			return nil
		},
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			pids, err := rt.Pids(ctx, args[0])
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				b, _ := json.Marshal(pids)
				fmt.Println(string(b))
				return nil
			case "table":
			default:
				return fmt.Errorf("invalid format option %q", format)
			}
			// runc's table: ps(1) with the given options, filtered to the
			// container's processes.
			psArgs := []string{"-ef"}
			if len(args) > 1 {
				psArgs = args[1:]
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return fmt.Errorf("ps: %w", err)
			}
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			pidCol := -1
			for i, f := range strings.Fields(lines[0]) {
				if f == "PID" {
					pidCol = i
				}
			}
			if pidCol < 0 {
				return fmt.Errorf("ps output has no PID column")
			}
			in := map[int]bool{}
			for _, p := range pids {
				in[p] = true
			}
			fmt.Println(lines[0])
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if len(f) > pidCol {
					if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
						fmt.Println(l)
					}
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "select one of: table or json")
	return cmd
}

func newPauseCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "pause <container-id>",
		Short: "freeze every process of a container (cgroup freezer)",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Pause(ctx, args[0])
		}),
	}
}

func newResumeCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "resume <container-id>",
		Short: "thaw a paused container",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Resume(ctx, args[0])
		}),
	}
}
