package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/netns"
)

// containerOptions locate the engine's directories.
type containerOptions struct {
	g                   *globalOptions
	data, registries    string
	netRunDir, netState string
	quietPull           bool
}

func (o *containerOptions) engine() (*hull.Engine, error) {
	cfg, err := pull.LoadConfig(o.registries)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	popts := []pull.Option{pull.WithConfig(cfg)}
	if !o.quietPull {
		popts = append(popts, pull.WithProgress(newProgressPrinter(os.Stderr).event))
	}
	return hull.NewEngine(
		hull.WithDataDir(o.data),
		hull.WithRunDir(filepath.Join(o.g.root, "containers")),
		hull.WithNetworkDirs(o.netRunDir, o.netState),
		hull.WithMonitor(exe, "container", "monitor"),
		hull.WithPullOptions(popts...),
		hull.WithEngineLogger(o.g.logger()),
	)
}

func newContainerCommand(g *globalOptions) *cobra.Command {
	o := &containerOptions{g: g}
	cmd := &cobra.Command{
		Use:     "container",
		Aliases: []string{"ctr"},
		Short:   "run containers from images, the way docker and podman do",
		Long: `container runs containers from images, daemonless: each running container
has a small monitor process of its own (hull re-executed, in a session of
its own) that owns its log, records its exit and cleans up after it, even
when the command that started it is long gone. All state is on disk
(--data/containers/ID), so every hull process sees every container.

  hull container run -d --name web -p 8080:80 IMAGE [CMD...]
  hull container ps -a
  hull container exec -it web sh
  hull container logs -f web
  hull container stop web; hull container start web
  hull container rm -f web`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.data, "data", defaultImageStore(), "where images and containers are kept")
	pf.StringVar(&o.registries, "registries", pull.DefaultConfigPath, "registry settings (JSON)")
	pf.StringVar(&o.netRunDir, "network-run-dir", netns.DefaultRunDir, "where container network namespaces are persisted")
	pf.StringVar(&o.netState, "network-state-dir", netns.DefaultStateDir, "where network attachments and leases are recorded")
	_ = pf.MarkHidden("network-run-dir")
	_ = pf.MarkHidden("network-state-dir")
	cmd.AddCommand(
		newContainerRunCommand(o),
		newContainerCreateCommand(o),
		newContainerStartCommand(o),
		newContainerPsCommand(o),
		newContainerLogsCommand(o),
		newContainerStopCommand(o),
		newContainerRmCommand(o),
		newContainerExecCommand(o),
		newContainerInspectCommand(o),
		newContainerWaitCommand(o),
		newContainerKillCommand(o),
		newContainerRestartCommand(o),
		newContainerPruneCommand(o),
		newContainerPortCommand(o),
		newContainerAttachCommand(o),
		newContainerHealthcheckCommand(o),
		newContainerTopCommand(o),
		newContainerStatsCommand(o),
		newContainerGenerateCommand(o),
		newContainerCpCommand(o),
		newContainerCommitCommand(o),
		&cobra.Command{
			Use:    "monitor",
			Short:  "a container's monitor (started by hull itself)",
			Hidden: true,
			Args:   cobra.NoArgs,
			Run:    func(*cobra.Command, []string) { hull.Monitor() },
		},
	)
	return cmd
}

// runOptions are the flags of "run" and "create" that are not fields of
// ContainerConfig as they are.
type runOptions struct {
	explain                      bool
	entrypoint                   string
	health                       healthFlags
	envFiles, labels, securityOp []string
}

// healthFlags are docker's --health-* flags.
type healthFlags struct {
	cmd               string
	interval, timeout time.Duration
	retries           int
}

// runFlags are what "run" and "create" share.
func runFlags(cmd *cobra.Command, c *hull.ContainerConfig, ro *runOptions) {
	f := cmd.Flags()
	f.StringVar(&c.Platform, "platform", "", "image platform os/arch[/variant] to pull from a multi-platform index (default: this machine's)")
	f.BoolVar(&ro.explain, "explain", false, "print what starting the container would ask of the kernel, step by step, and run nothing")
	f.StringArrayVar(&ro.envFiles, "env-file", nil, "read KEY=VALUE lines from a file")
	f.StringVar(&ro.health.cmd, "health-cmd", "", "health check command (run by /bin/sh -c in the container)")
	f.DurationVar(&ro.health.interval, "health-interval", 30*time.Second, "time between health checks")
	f.DurationVar(&ro.health.timeout, "health-timeout", 30*time.Second, "time a health check may take")
	f.IntVar(&ro.health.retries, "health-retries", 3, "failures in a row that make the container unhealthy")
	f.StringArrayVarP(&ro.labels, "label", "l", nil, "set a label KEY=VALUE (an annotation of config.json)")
	f.StringArrayVar(&ro.securityOp, "security-opt", nil, "no-new-privileges[:true|false]")
	f.Float64Var(&c.CPUs, "cpus", 0, "CPU time allowed, in CPUs (e.g. 1.5)")
	f.BoolVar(&c.ReadOnly, "read-only", false, "mount the root filesystem read-only")
	f.StringArrayVar(&c.Tmpfs, "tmpfs", nil, "mount a tmpfs at PATH[:OPTIONS]")
	f.StringArrayVar(&c.CapAdd, "cap-add", nil, "add a capability (ALL: every one)")
	f.StringArrayVar(&c.CapDrop, "cap-drop", nil, "drop a capability (ALL: every one)")
	f.BoolVar(&c.Privileged, "privileged", false, "every capability; /proc and /sys unmasked")
	f.SetInterspersed(false) // flags after IMAGE belong to the command
	f.StringVar(&c.Name, "name", "", "name of the container (default: a random friendly one)")
	f.StringArrayVarP(&c.Env, "env", "e", nil, "set an environment variable KEY=VALUE")
	f.StringVarP(&c.WorkingDir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&c.User, "user", "u", "", "user[:group] to run as (names from the image's /etc/passwd)")
	f.StringVar(&ro.entrypoint, "entrypoint", "", "replace the image's entrypoint (and drop its cmd)")
	// -h is --hostname, as in docker: help is --help only (cobra would
	// otherwise claim -h for it).
	f.StringVarP(&c.Hostname, "hostname", "h", "", "hostname (default: the short ID)")
	f.Bool("help", false, "help for "+cmd.Name())
	f.StringArrayVarP(&c.Volumes, "volume", "v", nil, "bind mount HOST:CONTAINER[:ro]; a HOST that is a name is a named volume, kept after rm")
	f.StringVar(&c.Network, "network", "bridge", "network: none, host, bridge or container:NAME")
	f.StringArrayVarP(&c.Ports, "publish", "p", nil, "publish [hostIP:]hostPort:containerPort[/tcp|udp]")
	f.Var((*byteSize)(&c.Memory), "memory", "memory limit (e.g. 64m, 1g)")
	f.Int64Var(&c.PidsLimit, "pids-limit", 0, "maximum number of processes")
	f.StringVar(&c.StopSignal, "stop-signal", "", "signal that stops the container (default: the image's, else SIGTERM)")
	f.BoolVar(&c.AutoRemove, "rm", false, "remove the container when it exits")
	f.BoolVarP(&c.Interactive, "interactive", "i", false, "keep stdin open for the container")
	f.StringVar(&c.Restart, "restart", "no", "restart policy: no, on-failure[:N], always, unless-stopped")
	f.BoolVarP(&c.Tty, "tty", "t", false, "give the container a terminal (held by its monitor: attach reaches it)")
}

func containerConfig(cmd *cobra.Command, c hull.ContainerConfig, ro runOptions, args []string) (hull.ContainerConfig, error) {
	c.Image = args[0]
	c.Cmd = args[1:]
	if cmd.Flags().Changed("entrypoint") {
		c.Entrypoint = []string{ro.entrypoint}
		if ro.entrypoint == "" {
			c.Entrypoint = []string{}
		}
	}
	if ro.health.cmd != "" {
		c.Health = &hull.HealthConfig{Cmd: ro.health.cmd, Interval: ro.health.interval, Timeout: ro.health.timeout, Retries: ro.health.retries}
	}
	var env []string
	for _, name := range ro.envFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			return c, fmt.Errorf("--env-file: %w", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if !strings.Contains(l, "=") { // NAME alone: from our environment
				l += "=" + os.Getenv(l)
			}
			env = append(env, l)
		}
	}
	c.Env = append(env, c.Env...)
	for _, l := range ro.labels {
		k, v, _ := strings.Cut(l, "=")
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	for _, o := range ro.securityOp {
		switch o {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
			c.NoNewPrivileges = true
		case "no-new-privileges:false", "no-new-privileges=false":
			c.NoNewPrivileges = false
		default:
			return c, fmt.Errorf("--security-opt %q: hull knows no-new-privileges (seccomp profiles are not implemented yet)", o)
		}
	}
	return c, nil
}

func newContainerRunCommand(o *containerOptions) *cobra.Command {
	var c hull.ContainerConfig
	var ro runOptions
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "create and start a container (pulling its image when missing)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			cfg, err := containerConfig(cmd, c, ro, args)
			if err != nil {
				return err
			}
			ctr, err := e.Create(ctx, cfg)
			if err != nil {
				return err
			}
			if ro.explain {
				return explainContainer(ctx, e, ctr.ID, cmd.OutOrStdout())
			}
			so := hull.StartOptions{}
			if cfg.Interactive && !cfg.Tty {
				so.Stdin = os.Stdin
			}
			so.Attach = cfg.Tty && !detach
			if detach {
				if err := e.Start(ctx, ctr.ID, so); err != nil {
					// A run that failed leaves nothing behind.
					_ = e.Remove(context.WithoutCancel(ctx), ctr.ID, true)
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), ctr.ID)
				return nil
			}
			return attach(ctx, e, ctr, so, cmd.OutOrStdout())
		}),
	}
	runFlags(cmd, &c, &ro)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and print the container ID")
	return cmd
}

// attach starts the container in the foreground: its output is followed
// from the log, signals are passed on, and its exit code becomes ours.
func attach(ctx context.Context, e *hull.Engine, ctr *hull.Container, so hull.StartOptions, out io.Writer) error {
	type result struct {
		code int
		err  error
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	if err := e.Start(ctx, ctr.ID, so); err != nil {
		_ = e.Remove(context.WithoutCancel(ctx), ctr.ID, true)
		return err
	}
	logsDone := make(chan error, 1)
	if ctr.Config.Tty {
		go func() { logsDone <- attachTTY(ctx, e, ctr.ID, ctr.Config.Interactive, out) }()
	} else {
		go func() { logsDone <- e.Logs(ctx, ctr.ID, out, hull.LogsOptions{Follow: true}) }()
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.Wait(ctx, ctr.ID)
		done <- result{code, err}
	}()
	for {
		select {
		case s := <-sigs:
			_ = e.Runtime().Kill(ctx, ctr.ID, s.(unix.Signal), false)
		case r := <-done:
			lerr := <-logsDone
			if r.err != nil {
				return r.err
			}
			if lerr != nil {
				return lerr
			}
			if r.code != 0 {
				return &exitError{code: r.code}
			}
			return nil
		}
	}
}

func newContainerCreateCommand(o *containerOptions) *cobra.Command {
	var c hull.ContainerConfig
	var ro runOptions
	cmd := &cobra.Command{
		Use:   "create [flags] IMAGE [COMMAND [ARG...]]",
		Short: "create a container without starting it",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			cfg, err := containerConfig(cmd, c, ro, args)
			if err != nil {
				return err
			}
			ctr, err := e.Create(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ctr.ID)
			return nil
		}),
	}
	runFlags(cmd, &c, &ro)
	return cmd
}

// eachContainer runs fn for each argument, reports each failure and fails
// when one did, as docker's multi-container verbs do.
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
		return &exitError{code: 1}
	}
	return nil
}

func newContainerStartCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER...",
		Short: "start created or stopped containers (their writes are kept)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Start(ctx, ref, hull.StartOptions{}) })
		}),
	}
}

func newContainerStopCommand(o *containerOptions) *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   "stop [-t SECONDS] CONTAINER...",
		Short: "stop containers: their stop signal, then SIGKILL after a grace period",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return e.Stop(ctx, ref, time.Duration(seconds)*time.Second)
			})
		}),
	}
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL")
	return cmd
}

func newContainerRmCommand(o *containerOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [-f] CONTAINER...",
		Short: "remove containers, their writes and logs",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Remove(ctx, ref, force) })
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}

func newContainerWaitCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "wait for containers to exit and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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

func newContainerLogsCommand(o *containerOptions) *cobra.Command {
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs [-f] [-n N] CONTAINER",
		Short: "print a container's output",
		Args:  cobra.ExactArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
			defer cancel()
			err = e.Logs(ctx, args[0], cmd.OutOrStdout(), hull.LogsOptions{Follow: follow, Tail: tail})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the container exits")
	cmd.Flags().IntVarP(&tail, "tail", "n", 0, "start with the last N lines (0: all)")
	return cmd
}

func newContainerInspectCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect CONTAINER...",
		Short: "print containers' records as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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

func newContainerExecCommand(o *containerOptions) *cobra.Command {
	var c hull.ExecConfig
	var interactive bool
	cmd := &cobra.Command{
		Use:   "exec [-it] [-u USER] [-w DIR] [-e K=V] CONTAINER COMMAND [ARG...]",
		Short: "run a process in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			c.Cmd = args[1:]
			c.Stdout, c.Stderr = os.Stdout, os.Stderr
			if interactive {
				c.Stdin = os.Stdin
			}
			var tty *consoleProxy
			if c.Tty {
				if tty, err = newConsoleProxy(); err != nil {
					return err
				}
				defer tty.Close()
				c.ConsoleSocket = tty.path
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
							tty.resize()
						}
						continue
					}
					fwd <- s
				}
			}()
			code, err := e.Exec(ctx, args[0], c, fwd)
			if tty != nil {
				<-tty.done
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code}
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

func newContainerPsCommand(o *containerOptions) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "ps [-a] [-q] [--format table|json]",
		Aliases: []string{"ls"},
		Short:   "list containers (running ones; -a: all)",
		Args:    cobra.NoArgs,
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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

// statusText is docker's STATUS column: "Up 3 minutes", "Exited (0) 2
// hours ago", "Created", and hull's "Dead (monitor gone)".
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

// portText is docker's PORTS entry: 0.0.0.0:8080->80/tcp.
func portText(p netns.PortMapping) string {
	host := netip.IPv4Unspecified()
	if p.HostIP.IsValid() {
		host = p.HostIP
	}
	return fmt.Sprintf("%s->%d/%s", netip.AddrPortFrom(host, p.HostPort), p.ContainerPort, p.Protocol)
}

func ago(now, t time.Time) string { return duration(now.Sub(t)) + " ago" }

// duration is docker's human duration: "Less than a second", "5 seconds",
// "About a minute", "3 hours".
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

// byteSize is a flag value like docker's --memory: 64m, 1g, 512k, bytes.
type byteSize int64

func (b *byteSize) String() string { return fmt.Sprint(int64(*b)) }
func (b *byteSize) Type() string   { return "bytes" }
func (b *byteSize) Set(s string) error {
	mult := int64(1)
	num := strings.ToLower(s)
	num = strings.TrimSuffix(num, "b")
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k':
			mult, num = 1<<10, num[:n-1]
		case 'm':
			mult, num = 1<<20, num[:n-1]
		case 'g':
			mult, num = 1<<30, num[:n-1]
		}
	}
	var v int64
	if _, err := fmt.Sscanf(num, "%d", &v); err != nil || fmt.Sprint(v) != num || v < 0 {
		return fmt.Errorf("%q is not a size like 64m or 1g", s)
	}
	*b = byteSize(v * mult)
	return nil
}

func newContainerKillCommand(o *containerOptions) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [-s SIGNAL] CONTAINER...",
		Short: "send a signal to containers (default SIGKILL)",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			s, err := parseSignalFlag(sig)
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Kill(ctx, ref, s, false) })
		}),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send (name or number)")
	return cmd
}

// parseSignalFlag reads "KILL", "SIGKILL" or "9".
func parseSignalFlag(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("--signal %q: unknown signal", s)
}

func newContainerRestartCommand(o *containerOptions) *cobra.Command {
	var seconds int
	cmd := &cobra.Command{
		Use:   "restart [-t SECONDS] CONTAINER...",
		Short: "stop and start containers again",
		Args:  cobra.MinimumNArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return e.Restart(ctx, ref, time.Duration(seconds)*time.Second)
			})
		}),
	}
	cmd.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before SIGKILL")
	return cmd
}

func newContainerPruneCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "remove every container that is not running (and clean up dead ones)",
		Args:  cobra.NoArgs,
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			ids, err := e.Prune(ctx)
			for _, id := range ids {
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			return err
		}),
	}
}

func newContainerPortCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER",
		Short: "list a container's published ports",
		Args:  cobra.ExactArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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

// attachTTY connects hull's stdio to the terminal of container id (stdin
// only when interactive), in raw mode when stdin is a terminal, until the
// container's side closes.
func attachTTY(ctx context.Context, e *hull.Engine, id string, interactive bool, out io.Writer) error {
	conn, err := e.Attach(ctx, id)
	if err != nil {
		return err
	}
	defer conn.Close()
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
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			p, err := e.HealthCheck(ctx, args[0])
			if err != nil {
				return err
			}
			if p.ExitCode != 0 {
				fmt.Fprint(cmd.ErrOrStderr(), p.Output)
				fmt.Fprintln(cmd.OutOrStdout(), "unhealthy")
				return &exitError{code: 1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "healthy")
			return nil
		}),
	})
	return cmd
}

func newContainerTopCommand(o *containerOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "list a container's processes (host PIDs)",
		Args:  cobra.ExactArgs(1),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
			c, err := e.Inspect(ctx, args[0])
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			self := fmt.Sprintf("%s --root %s container --data %s", exe, o.g.root, o.data)
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
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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

// explainContainer prints Explain for a container made only to be
// explained, and removes it again.
func explainContainer(ctx context.Context, e *hull.Engine, id string, out io.Writer) error {
	defer e.Remove(context.WithoutCancel(ctx), id, true)
	text, err := e.Explain(ctx, id)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, text)
	return err
}

func newContainerCommitCommand(o *containerOptions) *cobra.Command {
	var co hull.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [-a AUTHOR] [-m MESSAGE] CONTAINER IMAGE",
		Short: "make a new image of a container's writes on top of its image",
		Args:  cobra.ExactArgs(2),
		RunE: o.g.runE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			e, err := o.engine()
			if err != nil {
				return err
			}
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
