package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/vmm/control"
	"github.com/hullrt/hull/vmm/vmproc"
)

// Detached VMs are managed by name through the control socket their
// process serves (package control documents the protocol; package
// vmproc starts that process).

func newVMListCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "list detached VMs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := control.List(g.Root)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tPID\tCPUS\tMEMORY\tSTARTED")
			for _, n := range names {
				resp, err := control.Call(g.Root, n, control.Request{Op: "inspect"})
				if err != nil || resp.Info == nil {
					// A VM process that died uncleanly left its
					// directory: never show it as running.
					st, pid, perr := control.Probe(g.Root, n)
					if perr != nil {
						continue // gone meanwhile
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\n", n, st, pidText(pid))
					continue
				}
				i := resp.Info
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%dM\t%s\n", i.Name, i.State, i.PID, i.CPUs, i.MemoryMiB, i.Started.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}

func newVMInspectCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use: "inspect NAME", Short: "show a detached VM's configuration and state as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := control.Call(g.Root, args[0], control.Request{Op: "inspect"})
			if err != nil {
				if st, pid, perr := control.Probe(g.Root, args[0]); perr == nil && st == control.Dead {
					return fmt.Errorf("vm %q is dead (its process%s is gone); hull vm kill %s removes its state", args[0], pidSuffix(pid), args[0])
				}
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(resp.Info)
		},
	}
}

func newVMStopCommand(g *cli.Options, op string) *cobra.Command {
	short := map[string]string{
		"stop": "press a detached VM's ACPI power button; kill it if it has not powered off after 30 s",
		"kill": "stop a detached VM at once",
	}[op]
	return &cobra.Command{
		Use: op + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := control.Call(g.Root, args[0], control.Request{Op: op}); err != nil {
				if !errors.Is(err, control.ErrNotRunning) {
					return err
				}
				// No answer: a VM whose process died leaves a stale
				// state directory, which stop and kill clean up.
				pid, rerr := control.RemoveStale(g.Root, args[0])
				if rerr != nil {
					return fmt.Errorf("%w; %w", err, rerr)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "vm %q was not running (its process%s is gone); removed its stale state\n", args[0], pidSuffix(pid))
				return nil
			}
			// Wait for the VM process to remove its socket.
			for deadline := time.Now().Add(vmproc.StopTimeout + 10*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(control.Dir(g.Root, args[0])); errors.Is(err, os.ErrNotExist) {
					return nil
				}
			}
			return fmt.Errorf("vm %q: still running %v after %s", args[0], vmproc.StopTimeout+10*time.Second, op)
		},
	}
}

func newVMConsoleCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use: "console NAME", Short: "attach to a detached VM's serial console (Ctrl-A x detaches)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := control.Dial(g.Root, args[0], control.Request{Op: "console"})
			if err != nil {
				return err
			}
			defer c.Close()
			r := bufio.NewReader(c)
			line, err := r.ReadBytes('\n')
			if err != nil {
				return err
			}
			var resp control.Response
			if err := json.Unmarshal(line, &resp); err != nil || !resp.OK {
				return fmt.Errorf("vm %q: console: %s", args[0], resp.Error)
			}
			stdin := int(os.Stdin.Fd())
			if term.IsTerminal(stdin) {
				if old, err := term.MakeRaw(stdin); err == nil {
					defer term.Restore(stdin, old)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "hull: attached to %s; Ctrl-A x detaches\r\n", args[0])
			}
			go func() {
				buf := make([]byte, 256)
				var esc vmproc.EscapeFilter
				for {
					n, err := os.Stdin.Read(buf)
					out, quit := esc.Filter(buf[:n])
					if quit {
						c.Close() // detach; the VM runs on
						return
					}
					if _, werr := c.Write(out); werr != nil || err != nil {
						return
					}
				}
			}()
			io.Copy(cmd.OutOrStdout(), r)
			return nil
		},
	}
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func pidSuffix(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf(" %d", pid)
}
