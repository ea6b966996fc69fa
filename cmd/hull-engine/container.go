package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/netns"
)

// containerOptions locate the engine's directories.
type containerOptions struct {
	g                   *cli.Options
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
		hull.WithRunDir(filepath.Join(o.g.Root, "containers")),
		hull.WithNetworkDirs(o.netRunDir, o.netState),
		hull.WithMonitor(exe, "container", "monitor"),
		hull.WithPullOptions(popts...),
		hull.WithEngineLogger(o.g.Logger()),
	)
}

// runE is cli.Options.RunE for the verbs that work on containers: it
// opens the engine first, so each verb starts with it in hand.
func (o *containerOptions) runE(fn func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error) func(*cobra.Command, []string) error {
	return o.g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		e, err := o.engine()
		if err != nil {
			return err
		}
		return fn(ctx, cmd, e, args)
	})
}

func newContainerCommand(g *cli.Options) *cobra.Command {
	o := &containerOptions{g: g}
	cmd := &cobra.Command{
		Use:     "container",
		Aliases: cli.EngineFamily("container").Aliases,
		Short:   cli.EngineFamily("container").Short,
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
		newContainerVolumeCommand(o),
		&cobra.Command{
			// Also a container's reaper (--init), run as
			// "hull-init container monitor -- CMD...".
			Use:                "monitor",
			Short:              "a container's monitor (started by hull itself)",
			Hidden:             true,
			Args:               cobra.ArbitraryArgs,
			DisableFlagParsing: true,
			Run:                func(*cobra.Command, []string) { hull.Monitor() },
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
	logOpts                      []string
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
	f.StringArrayVar(&ro.logOpts, "log-opt", nil, "log rotation: max-size=SIZE (e.g. 10m), max-file=N (files kept, default 1)")
	f.StringArrayVar(&ro.securityOp, "security-opt", nil, "no-new-privileges[=true|false], seccomp=PROFILE.json|unconfined")
	f.Float64Var(&c.CPUs, "cpus", 0, "CPU time allowed, in CPUs (e.g. 1.5)")
	f.BoolVar(&c.ReadOnly, "read-only", false, "mount the root filesystem read-only")
	f.StringArrayVar(&c.Tmpfs, "tmpfs", nil, "mount a tmpfs at PATH[:OPTIONS]")
	f.StringArrayVar(&c.CapAdd, "cap-add", nil, "add a capability (ALL: every one)")
	f.StringArrayVar(&c.CapDrop, "cap-drop", nil, "drop a capability (ALL: every one)")
	f.BoolVar(&c.Privileged, "privileged", false, "every capability; /proc and /sys unmasked")
	f.StringVar(&c.UserNS, "userns", "", "user namespace: host (none), auto (65536 ids of their own), HOSTID:SIZE")
	// podman spells it --userns; the issue that asked for it, --user-ns.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "user-ns" {
			name = "userns"
		}
		return pflag.NormalizedName(name)
	})
	f.BoolVar(&c.Init, "init", false, "run a tiny init as PID 1 that forwards signals and reaps orphans")
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
	for _, o := range ro.logOpts {
		for _, kv := range strings.Split(o, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "max-size":
				var b byteSize
				if err := b.Set(v); err != nil {
					return c, fmt.Errorf("--log-opt max-size: %w", err)
				}
				c.LogMaxSize = int64(b)
			case "max-file":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return c, fmt.Errorf("--log-opt max-file: %q is not a number of files", v)
				}
				c.LogMaxFiles = n
			default:
				return c, fmt.Errorf("--log-opt %q: hull knows max-size=SIZE and max-file=N", kv)
			}
		}
	}
	for _, o := range ro.securityOp {
		key, val, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
		switch {
		case key == "no-new-privileges" && (val == "" || val == "true"):
			c.NoNewPrivileges = true
		case key == "no-new-privileges" && val == "false":
			c.NoNewPrivileges = false
		case key == "seccomp" && val == "unconfined":
			c.Seccomp = nil
		case key == "seccomp" && val != "":
			b, err := os.ReadFile(val)
			if err != nil {
				return c, fmt.Errorf("--security-opt seccomp: %w", err)
			}
			if c.Seccomp, err = hull.ParseSeccompProfile(b); err != nil {
				return c, fmt.Errorf("--security-opt seccomp=%s: %w", val, err)
			}
		default:
			return c, fmt.Errorf("--security-opt %q: hull knows no-new-privileges[=true|false] and seccomp=PATH|unconfined", o)
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
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
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
	// Wait before starting: a --rm container that exits at once is
	// removed by its monitor as soon as no one waits for its exit code.
	w, err := e.Waiter(ctx, ctr.ID)
	if err != nil {
		return err
	}
	defer w.Close()
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
		code, err := w.Wait(ctx)
		// The code is read: let an AutoRemove container's monitor remove
		// it, which also ends the log being followed.
		w.Close()
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
				return &cli.ExitError{Code: r.code}
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
		RunE: o.runE(func(ctx context.Context, cmd *cobra.Command, e *hull.Engine, args []string) error {
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
// statusText is docker's STATUS column: "Up 3 minutes", "Exited (0) 2
// hours ago", "Created", and hull's "Dead (monitor gone)".
// portText is docker's PORTS entry: 0.0.0.0:8080->80/tcp.
// duration is docker's human duration: "Less than a second", "5 seconds",
// "About a minute", "3 hours".
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
