package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/internal/cli"
)

func eachContainer(cmd *cobra.Command, args []string, fn func(ref string) error) error {
	var failed int
	for _, ref := range args {
		if err := fn(ref); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "hull: %s: %v\n", ref, err)
			failed++
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), ref)
	}
	if failed > 0 {
		return &cli.ExitError{Code: 1}
	}
	return nil
}

func newContainerStartCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER...",
		Short: "start created or stopped containers (their writes are kept)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			return eachContainer(cmd, args, func(ref string) error { return e.Start(ctx, ref, hull.StartOptions{}) })
		}),
	}
}

func newContainerRmCommand(o *containerOptions) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [-f] [-v] CONTAINER...",
		Short: "remove containers, their writes and logs",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			var opts []hull.RemoveOption
			if volumes {
				opts = append(opts, hull.RemoveVolumes())
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Remove(ctx, ref, force, opts...) })
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove its anonymous volumes too")
	return cmd
}

func newContainerWaitCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "wait for containers to exit and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			for _, ref := range args {
				code, err := e.Wait(ctx, ref)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
			}
			return nil
		}),
	}
}

func newContainerKillCommand(o *containerOptions) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [-s SIGNAL] CONTAINER...",
		Short: "send a signal to containers (default SIGKILL)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			s, err := cli.ParseSignal(sig)
			if err != nil {
				return fmt.Errorf("--signal: %w", err)
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Kill(ctx, ref, s, false) })
		}),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send (name or number)")
	return cmd
}

func newContainerPruneCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "remove every container that is not running (and clean up dead ones)",
		Args:  cobra.NoArgs,
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			ids, err := e.Prune(ctx)
			for _, id := range ids {
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			return err
		}),
	}
}

func newContainerStopCommand(o *containerOptions) *cobra.Command {
	return newGracePeriodCommand(o, "stop [-t SECONDS] CONTAINER...",
		"stop containers: their stop signal, then SIGKILL after a grace period", (*hull.Engine).Stop)
}

func newContainerRestartCommand(o *containerOptions) *cobra.Command {
	return newGracePeriodCommand(o, "restart [-t SECONDS] CONTAINER...",
		"stop and start containers again", (*hull.Engine).Restart)
}

// newGracePeriodCommand builds the verbs that stop containers with their
// stop signal and a grace period (-t) before SIGKILL.
func newGracePeriodCommand(o *containerOptions, use, short string,
	do func(e *hull.Engine, ctx context.Context, ref string, grace time.Duration) error) *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			return eachContainer(cmd, args, func(ref string) error {
				return do(e, ctx, ref, time.Duration(seconds)*time.Second)
			})
		}),
	}
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL")
	return cmd
}
