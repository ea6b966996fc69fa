package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/runtime"
)

// createFlags are the flags create and run share.
type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring, explain bool
	preserveFDs                    int
}

func (f *createFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.bundle, "bundle", "b", "", "path to the root of the bundle directory, defaults to the current directory")
	fl.StringVar(&f.pidFile, "pid-file", "", "specify the file to write the process id to")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "do not use pivot root to jail process inside rootfs")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "do not create a new session keyring for the container")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
	fl.BoolVar(&f.explain, "explain", false, "print what hull would ask of the kernel, step by step, and run nothing")
}

func (f *createFlags) options() runtime.CreateOptions {
	// systemd socket activation: runc passes $LISTEN_FDS sockets on.
	listen, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	return runtime.CreateOptions{
		Bundle: f.bundle, PidFile: f.pidFile, ConsoleSocket: f.consoleSocket,
		NoPivot: f.noPivot, NoNewKeyring: f.noNewKeyring, PreserveFDs: f.preserveFDs, ListenFDs: max(listen, 0),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
}

func explain(rt *runtime.Runtime, id string, o runtime.CreateOptions) error {
	p, err := rt.Explain(id, o)
	if err != nil {
		return err
	}
	fmt.Print(p)
	return nil
}

func newCreateCommand(g *cli.Options) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [flags] <container-id>",
		Short: "create a container",
		Long: `The create command creates an instance of a container for a bundle: its
namespaces, cgroup and root filesystem are set up and its init waits for
"hull start" to run the program. The bundle is a directory with a
config.json and a root filesystem.`,
		Args: cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			if f.explain {
				return explain(rt, args[0], f.options())
			}
			return rt.Create(ctx, args[0], f.options())
		}),
	}
	f.add(cmd)
	return cmd
}

func newRunCommand(g *cli.Options) *cobra.Command {
	var f createFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] <container-id>",
		Short: "create and run a container",
		Long: `The run command creates a container from a bundle and starts it. Without
--detach it waits for the container's program, forwards signals to it,
deletes the container and exits with the program's exit status.`,
		Args: cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			o := f.options()
			if f.explain {
				return explain(rt, args[0], o)
			}
			if detach {
				if err := rt.Create(ctx, args[0], o); err != nil {
					return err
				}
				if err := rt.Start(ctx, args[0]); err != nil {
					_ = rt.Delete(ctx, args[0], true)
					return err
				}
				return nil
			}
			// A terminal without a console socket: hull holds the pty
			// master itself and wires it to its own stdio.
			var tty *cli.ConsoleProxy
			if o.ConsoleSocket == "" {
				// config.json is read and decoded once, here; Run
				// takes it as loaded.
				bundle, err := filepath.Abs(cmp.Or(o.Bundle, "."))
				if err != nil {
					return err
				}
				if o.Spec, err = runtime.LoadSpec(bundle); err != nil {
					return err
				}
				if o.Spec.Process != nil && o.Spec.Process.Terminal {
					if tty, err = cli.NewConsoleProxy(); err != nil {
						return err
					}
					defer tty.Close()
					o.ConsoleSocket = tty.Path
				}
			}
			// Every signal is forwarded, as runc does. Asking the Go
			// runtime for a signal is a round trip to its signal
			// thread: 1-5 ms for all 60 here, more on a busy machine.
			// So those that would end or stop hull (or crash it, sent
			// by kill) are asked for before anything exists; the
			// others, which a Go program drops until it asks for them,
			// while the container is created, and all of them before
			// its program starts. Nothing undoes this: the process
			// ends with the container, and signal.Stop would cost as
			// much again.
			sigs := make(chan os.Signal, 16)
			signal.Notify(sigs, unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGABRT, unix.SIGTERM,
				unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
				unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGSTKFLT, unix.SIGSYS)
			allSigs := make(chan struct{})
			go func() {
				signal.Notify(sigs)
				close(allSigs)
			}()
			defer func() { <-allSigs }()
			o.BeforeStart = func() error {
				<-allSigs
				return nil
			}
			fwd := make(chan os.Signal, 16)
			go func() {
				for s := range sigs {
					if s == unix.SIGCHLD || s == unix.SIGURG || s == unix.SIGPIPE {
						continue
					}
					if s == unix.SIGWINCH && tty != nil {
						tty.Resize()
						continue
					}
					fwd <- s
				}
			}()
			code, err := rt.Run(ctx, args[0], o, fwd)
			if err != nil {
				return err
			}
			if tty != nil {
				tty.Close()
			}
			if code != 0 {
				return &cli.ExitError{Code: code}
			}
			return nil
		}),
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	return cmd
}

func newStartCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "start <container-id>",
		Short: "start the program of a created container",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Start(ctx, args[0])
		}),
	}
}

// newInitCommand is the hidden verb hull re-executes itself with as a
// container's init; it is not for people to call.
func newInitCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:    "init",
		Short:  "the container's init (internal)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !runtime.IsInit() {
				return fmt.Errorf("init is run by hull itself inside a new container")
			}
			runtime.Init()
			return nil
		},
	}
}
