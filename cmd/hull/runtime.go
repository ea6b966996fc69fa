package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime"
)

// This file holds what runc's verbs share: the runtime from the global
// flags, and runc's way of reporting an error.

// openRuntime returns the runtime for --root, logging to --log.
func (g *globalOptions) openRuntime() (*runtime.Runtime, error) {
	return runtime.New(g.root, runtime.WithLogger(g.logger()), runtime.WithSystemdCgroup(g.systemdCgroup))
}

// logger writes to --log (default stderr) in --log-format.
func (g *globalOptions) logger() *slog.Logger {
	var w io.Writer = os.Stderr
	if g.log != "" {
		if f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644); err == nil {
			w = f
		}
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// fail reports err as runc does, so that its callers parse it: on
// stderr as a logrus text line, and in --log as one line of text or JSON
// ({"level":"error","msg":...,"time":...}), which is what podman reads
// as a whole and containerd reads as the last error line. It returns the
// exit status 1 for main.
func (g *globalOptions) fail(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msg := err.Error()
	fmt.Fprintf(os.Stderr, "time=%q level=error msg=%q\n", now, msg)
	if g.log != "" {
		if f, ferr := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644); ferr == nil {
			if g.logFormat == "json" {
				b, _ := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": now})
				fmt.Fprintf(f, "%s\n", b)
			} else {
				fmt.Fprintf(f, "time=%q level=error msg=%q\n", now, msg)
			}
			f.Close()
		}
	}
	return &exitError{code: 1}
}

// runE wraps a verb's body: its error is reported runc's way.
func (g *globalOptions) runE(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return g.fail(fn(cmd.Context(), cmd, args))
	}
}

// exactArgs is cobra.ExactArgs with runc's message.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%q requires exactly %d argument(s): %s", cmd.Name(), n, what)
		}
		return nil
	}
}

// parseSignal accepts "KILL", "SIGKILL", "sigkill" and "9".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}
