package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/runtime"
)

func newExecCommand(g *cli.Options) *cobra.Command {
	var (
		processFile, consoleSocket, cwd, user, pidFile string
		env, caps, gids                                []string
		tty, detach, noNewPrivs, explainOnly           bool
		preserveFDs                                    int
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] <container-id> [command [args...]]",
		Short: "execute a new process inside a container",
		Long: `The exec command runs a process in every namespace of a running
container (user and mount included) and in its cgroup. The process is
given by --process (a process.json) or by the command line, starting from
the container's own process settings.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%q requires a container id", cmd.Name())
			}
			if processFile == "" && len(args) < 2 {
				return fmt.Errorf("%q requires a command when --process is not given", cmd.Name())
			}
			return nil
		},
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			id := args[0]
			var proc *specs.Process
			if processFile != "" {
				b, err := os.ReadFile(processFile)
				if err != nil {
					return err
				}
				proc = &specs.Process{}
				if err := json.Unmarshal(b, proc); err != nil {
					return fmt.Errorf("%s: %w", processFile, err)
				}
			} else {
				s, err := rt.Config(ctx, id)
				if err != nil {
					return err
				}
				p := *s.Process
				proc = &p
				proc.Args = args[1:]
				proc.Terminal = tty
				proc.ConsoleSize = nil
				proc.Env = append(append([]string(nil), proc.Env...), env...)
				if cwd != "" {
					proc.Cwd = cwd
				}
				if user != "" {
					u, g, hasGID := strings.Cut(user, ":")
					uid, err := strconv.ParseUint(u, 10, 32)
					if err != nil {
						return fmt.Errorf("--user %q: not uid[:gid]", user)
					}
					proc.User.UID = uint32(uid)
					if hasGID {
						gid, err := strconv.ParseUint(g, 10, 32)
						if err != nil {
							return fmt.Errorf("--user %q: not uid[:gid]", user)
						}
						proc.User.GID = uint32(gid)
					}
				}
				for _, gs := range gids {
					gid, err := strconv.ParseUint(gs, 10, 32)
					if err != nil {
						return fmt.Errorf("--additional-gids %q: not a number", gs)
					}
					proc.User.AdditionalGids = append(proc.User.AdditionalGids, uint32(gid))
				}
				if noNewPrivs {
					proc.NoNewPrivileges = true
				}
				if len(caps) > 0 {
					c := specs.LinuxCapabilities{}
					if proc.Capabilities != nil {
						c = *proc.Capabilities
					}
					for _, name := range caps {
						c.Bounding = append(c.Bounding, name)
						c.Effective = append(c.Effective, name)
						c.Permitted = append(c.Permitted, name)
						c.Ambient = append(c.Ambient, name)
					}
					proc.Capabilities = &c
				}
			}
			o := runtime.ExecOptions{
				Process: proc, PidFile: pidFile, ConsoleSocket: consoleSocket, PreserveFDs: preserveFDs,
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			}
			if explainOnly {
				s, err := rt.Config(ctx, id)
				if err != nil {
					return err
				}
				st, err := rt.State(ctx, id)
				if err != nil {
					return err
				}
				p, err := runtime.ExecPlan(s, st.Pid, proc, preserveFDs)
				if err != nil {
					return err
				}
				fmt.Print(p)
				return nil
			}
			var tty *cli.ConsoleProxy
			if proc.Terminal && consoleSocket == "" && !detach {
				if tty, err = cli.NewConsoleProxy(); err != nil {
					return err
				}
				defer tty.Close()
				o.ConsoleSocket = tty.Path
			}
			// The exec'd process is our child; as a subreaper we also
			// collect what it leaves behind.
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
			p, err := rt.Exec(ctx, id, o)
			if err != nil {
				return err
			}
			if detach {
				return nil
			}
			sigs := make(chan os.Signal, 16)
			signal.Notify(sigs)
			defer signal.Stop(sigs)
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
			code, err := p.Wait(fwd)
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
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVarP(&processFile, "process", "p", "", "path to the process.json")
	fl.StringVar(&consoleSocket, "console-socket", "", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal")
	fl.StringVar(&cwd, "cwd", "", "current working directory in the container")
	fl.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	fl.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	fl.StringVarP(&user, "user", "u", "", "UID (format: <uid>[:<gid>])")
	fl.StringSliceVarP(&gids, "additional-gids", "g", nil, "additional gids")
	fl.StringVar(&pidFile, "pid-file", "", "specify the file to write the process id to")
	fl.BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	fl.BoolVar(&noNewPrivs, "no-new-privs", false, "set the no new privileges value for the process")
	fl.StringArrayVarP(&caps, "cap", "c", nil, "add a capability to the bounding set for the process")
	fl.IntVar(&preserveFDs, "preserve-fds", 0, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)")
	fl.BoolVar(&explainOnly, "explain", false, "print what hull would ask of the kernel, step by step, and run nothing")
	return cmd
}
