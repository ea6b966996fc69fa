package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/internal/sibling"
)

func newContainerLogsCommand(o *containerOptions) *cobra.Command {
	var follow, timestamps bool
	var tail int
	var since string
	cmd := &cobra.Command{
		Use:   "logs [-f] [-t] [-n N] [--since WHEN] CONTAINER",
		Short: "print a container's output",
		Args:  cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			var err error
			ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
			defer cancel()
			lo := hull.LogsOptions{Follow: follow, Tail: tail, Timestamps: timestamps}
			if since != "" {
				if lo.Since, err = parseSince(since, time.Now()); err != nil {
					return err
				}
			}
			err = e.Logs(ctx, args[0], cmd.OutOrStdout(), lo)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the container exits")
	cmd.Flags().IntVarP(&tail, "tail", "n", 0, "start with the last N lines (0: all)")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "begin each line with the time it was written")
	cmd.Flags().StringVar(&since, "since", "", "only what was written since a time (RFC 3339, Unix seconds) or for a duration (10m)")
	return cmd
}

// parseSince reads docker's --since: a duration before now ("10m"), an
// RFC 3339 time, a date, or Unix seconds ("1700000000.5").
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: not a duration (10m), an RFC 3339 time or Unix seconds", s)
}

func newContainerExecCommand(o *containerOptions) *cobra.Command {
	var c hull.ExecConfig
	var interactive bool
	cmd := &cobra.Command{
		Use:   "exec [-it] [-u USER] [-w DIR] [-e K=V] CONTAINER COMMAND [ARG...]",
		Short: "run a process in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			var err error
			c.Cmd = args[1:]
			c.Stdout, c.Stderr = os.Stdout, os.Stderr
			if interactive {
				c.Stdin = os.Stdin
			}
			var tty *cli.ConsoleProxy
			if c.Tty {
				if tty, err = cli.NewConsoleProxy(); err != nil {
					return err
				}
				defer tty.Close()
				c.ConsoleSocket = tty.Path
			}
			// Signals go to the process; a window change resizes its
			// terminal.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGWINCH)
			defer signal.Stop(sigs)
			fwd := make(chan os.Signal, 8)
			go func() {
				for s := range sigs {
					if s == unix.SIGWINCH {
						if tty != nil {
							tty.Resize()
						}
						continue
					}
					fwd <- s
				}
			}()
			code, err := e.Exec(ctx, args[0], c, fwd)
			if tty != nil {
				<-tty.Done()
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return &cli.ExitError{Code: code}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&c.Tty, "tty", "t", false, "allocate a terminal")
	f.StringVarP(&c.User, "user", "u", "", "user[:group] to run as")
	f.StringVarP(&c.WorkingDir, "workdir", "w", "", "working directory")
	f.StringArrayVarP(&c.Env, "env", "e", nil, "set an environment variable KEY=VALUE")
	return cmd
}

func attachTTY(ctx context.Context, e *hull.Engine, id string, interactive bool, out io.Writer) error {
	conn, err := e.Attach(ctx, id)
	if err != nil {
		return err
	}
	defer conn.Close()
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		// The container's terminal takes our window's size, now and
		// whenever it changes.
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
				_ = e.Resize(ctx, id, ws.Row, ws.Col)
			}
		}
		resize()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-winch:
					resize()
				case <-stop:
					return
				}
			}
		}()
	}
	if interactive {
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			if st, err := term.MakeRaw(fd); err == nil {
				defer term.Restore(fd, st)
			}
		}
		go func() {
			_, _ = io.Copy(conn, os.Stdin)
			_ = conn.CloseWrite()
		}()
	}
	_, err = io.Copy(out, conn)
	return err
}

func newContainerAttachCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "attach CONTAINER",
		Short: "connect to a running container's terminal (or follow its output)",
		Args:  cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			c, err := e.Inspect(ctx, args[0])
			if err != nil {
				return err
			}
			if !c.Config.Tty {
				return e.Logs(ctx, c.ID, cmd.OutOrStdout(), hull.LogsOptions{Follow: true})
			}
			return attachTTY(ctx, e, c.ID, true, cmd.OutOrStdout())
		}),
	}
}

func newContainerHealthcheckCommand(o *containerOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "run containers' health checks by hand",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run CONTAINER",
		Short: "run a container's health check now: exit 0 when healthy, 1 when not",
		Args:  cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			p, err := e.HealthCheck(ctx, args[0])
			if err != nil {
				return err
			}
			if p.ExitCode != 0 {
				fmt.Fprint(cmd.ErrOrStderr(), p.Output)
				fmt.Fprintln(cmd.OutOrStdout(), "unhealthy")
				return &cli.ExitError{Code: 1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "healthy")
			return nil
		}),
	})
	return cmd
}

func newContainerGenerateCommand(o *containerOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "generate files that manage containers",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "systemd CONTAINER",
		Short: "print a systemd unit that starts and stops a container",
		Long: `systemd prints a unit for an existing container, as "podman generate
systemd" does: systemd starts it with "hull container start", whose
monitor it then follows through the PID file, and stops it with
"hull container stop".`,
		Args: cobra.ExactArgs(1),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			c, err := e.Inspect(ctx, args[0])
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			// The unit names hull, next to this program, as users do;
			// this program itself where it runs alone.
			if hull := sibling.Find("hull"); hull != "" {
				exe = hull
			}
			self := fmt.Sprintf("%s --root %s container --data %s", exe, o.g.Root, o.data)
			fmt.Fprintf(cmd.OutOrStdout(), `# container-%s.service, generated by hull for container %s
[Unit]
Description=hull container %s
Wants=network-online.target
After=network-online.target

[Service]
Restart=on-failure
TimeoutStopSec=70
ExecStart=%s start %s
ExecStop=%s stop -t 10 %s
Type=forking
PIDFile=%s

[Install]
WantedBy=default.target
`, c.Name, c.ID, c.Name, self, c.ID, self, c.ID, filepath.Join(c.Dir, hull.MonitorPIDFile))
			return nil
		}),
	})
	return cmd
}

func newContainerCpCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC DEST | SRC CONTAINER:DEST",
		Short: "copy files between a running container and the host",
		Args:  cobra.ExactArgs(2),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			// A host path with a colon must be written ./a:b.
			fromCtr, fromPath, fromOK := strings.Cut(args[0], ":")
			toCtr, toPath, toOK := strings.Cut(args[1], ":")
			fromOK = fromOK && !strings.Contains(fromCtr, "/")
			toOK = toOK && !strings.Contains(toCtr, "/")
			switch {
			case fromOK && !toOK:
				return e.CopyFrom(ctx, fromCtr, fromPath, args[1])
			case toOK && !fromOK:
				return e.CopyTo(ctx, toCtr, args[0], toPath)
			}
			return fmt.Errorf("cp: exactly one of %q and %q must be CONTAINER:PATH", args[0], args[1])
		}),
	}
}

func newContainerCommitCommand(o *containerOptions) *cobra.Command {
	var co hull.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [-a AUTHOR] [-m MESSAGE] CONTAINER IMAGE",
		Short: "make a new image of a container's writes on top of its image",
		Args:  cobra.ExactArgs(2),
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
			im, err := e.Commit(ctx, args[0], args[1], co)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), im.Digest)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&co.Author, "author", "a", "", "author of the new image")
	cmd.Flags().StringVarP(&co.Message, "message", "m", "", "commit message (the history entry's comment)")
	return cmd
}
