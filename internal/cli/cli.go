// Package cli is what hull's two command-line programs share: runc's
// global flags, runc's way of reporting an error, exit statuses carried
// through cobra, signal names, and the console proxy of a container with
// a terminal.
//
// The two programs are hull (cmd/hull), the OCI runtime that podman,
// containerd and CRI-O run several times per container, with the VM
// verbs; and hull-engine (cmd/hull-engine), the image-level families
// (image, container, network, check), which hull executes for those
// verbs. They are two programs because a Go program's start-up grows
// with what it links: hull does not link the registry client, TLS, HTTP
// or nftables, so that each of the runtime's verbs starts sooner.
package cli

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
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime"
)

// Options are runc's global flags, accepted before any verb.
type Options struct {
	Root          string // --root: where container state lives
	Log           string // --log: where the runtime writes its log
	LogFormat     string // --log-format: text or json
	Debug         bool   // --debug: log at debug level
	SystemdCgroup bool   // --systemd-cgroup: cgroupsPath is slice:prefix:name
}

// AddFlags defines the global flags in fs (a root command's persistent
// flags).
func (g *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.Root, "root", DefaultStateRoot(), "root directory for storage of container state")
	fs.StringVar(&g.Log, "log", "", "set the log file to write hull logs to (default is stderr)")
	fs.StringVar(&g.LogFormat, "log-format", "text", "set the log format ('text' or 'json')")
	fs.BoolVar(&g.Debug, "debug", false, "enable debug logging")
	fs.BoolVar(&g.SystemdCgroup, "systemd-cgroup", false, "use the systemd cgroup driver (cgroupsPath is slice:prefix:name)")
}

// DefaultStateRoot is runc's /run/runc, for hull: /run/hull for root, and
// $XDG_RUNTIME_DIR/hull for an unprivileged user.
func DefaultStateRoot() string {
	if os.Geteuid() != 0 {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			return dir + "/hull"
		}
	}
	return "/run/hull"
}

// OpenRuntime returns the runtime for --root, logging to --log.
func (g *Options) OpenRuntime() (*runtime.Runtime, error) {
	return runtime.New(g.Root, runtime.WithLogger(g.Logger()), runtime.WithSystemdCgroup(g.SystemdCgroup))
}

// Logger writes to --log (default stderr) in --log-format.
func (g *Options) Logger() *slog.Logger {
	var w io.Writer = os.Stderr
	if g.Log != "" {
		if f, err := os.OpenFile(g.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644); err == nil {
			w = f
		}
	}
	level := slog.LevelWarn
	if g.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Fail reports err as runc does, so that its callers parse it: on
// stderr as a logrus text line, and in --log as one line of text or JSON
// ({"level":"error","msg":...,"time":...}), which is what podman reads
// as a whole and containerd reads as the last error line. It returns the
// exit status 1 for Exit.
func (g *Options) Fail(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msg := err.Error()
	fmt.Fprintf(os.Stderr, "time=%q level=error msg=%q\n", now, msg)
	if g.Log != "" {
		if f, ferr := os.OpenFile(g.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644); ferr == nil {
			if g.LogFormat == "json" {
				b, _ := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": now})
				fmt.Fprintf(f, "%s\n", b)
			} else {
				fmt.Fprintf(f, "time=%q level=error msg=%q\n", now, msg)
			}
			f.Close()
		}
	}
	return &ExitError{Code: 1}
}

// RunE wraps a verb's body: its error is reported runc's way.
func (g *Options) RunE(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return g.Fail(fn(cmd.Context(), cmd, args))
	}
}

// ExitError carries a process exit status through cobra without printing
// anything more: the command has already said what went wrong.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Exit ends the program after its command tree returned err: status 0
// for nil, an ExitError's status, or 1 with err printed.
func Exit(err error) {
	if err == nil {
		os.Exit(0)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.Code)
	}
	fmt.Fprintf(os.Stderr, "hull: %v\n", err)
	os.Exit(1)
}

// ExactArgs is cobra.ExactArgs with runc's message.
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%q requires exactly %d argument(s): %s", cmd.Name(), n, what)
		}
		return nil
	}
}

// ParseSignal accepts "KILL", "SIGKILL", "sigkill" and "9".
func ParseSignal(s string) (unix.Signal, error) {
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
