package hull

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/runtime"
)

// An Engine runs containers from images, the way "docker run" and "podman
// run" do, without a daemon: every container has a small monitor process
// of its own (hull re-executed), and all state is on disk, so any number of
// Engines in any number of processes see the same containers.
//
// # Layout
//
//	DATA/                         default /var/lib/hull (the image store too)
//	  containers/lock             flock: names are unique
//	  containers/ID/
//	    container.json            the record: config, image, state, exit
//	    bundle/config.json        the OCI spec the runtime runs
//	    rootfs/                   overlay mount point (mounted while running)
//	    idmapped/N/               with a user namespace: layer N, idmapped
//	                              (mounted while running; container_userns.go)
//	    upper/, work/             the container's writes: kept by stop,
//	                              removed by rm
//	    ctr.log, ctr.log.N        the container's stdout and stderr, one
//	                              timestamped record a line, rotated (see
//	                              container_log.go)
//	    monitor.log               what the monitor has to say
//	    monitor.pid               the monitor's PID (systemd's PIDFile=)
//	    attach.sock               the terminal, with Tty (see Attach)
//	    ctl                       FIFO: window sizes for the terminal (Resize)
//	    stopping                  left by Stop: no restart policy applies
//	    lock                      flock: one lifecycle operation at a time
//	    monitor.lock              flock held by the live monitor
//	    wait.lock                 flock held (shared) by Wait callers
//	  volumes/NAME/_data/         a volume, kept after rm (container_volumes.go)
//	  volumes/NAME/volume.json    its name, creation time, anonymous or not
//	RUN/                          default /run/hull/containers: the
//	                              runtime's state (runc's --root)
//
// # Processes
//
//	Start (any process)                 monitor (setsid, detached)
//	───────────────────                 ───────────────────────────
//	fork+exec self, HULL_MONITOR=… ───▶ flock monitor.lock (held for life)
//	                                    netns.Setup (ports stay held here)
//	                                    idmapped layers (user namespace)
//	                                    mount overlay on rootfs/
//	                                    runtime Create + Start
//	read fd 3 ◀─ {"pid":N} or error ─── record "running"
//	return                              health checks (runtime Exec), the
//	                                    stdout/stderr pipes' or the pty's
//	                                    pumps to ctr.log, wait4(init) …
//	                                    exit status
//	                                    runtime Delete, unmount, Teardown
//	                                    record "exited", code, time
//	                                    restart policy: again after a
//	                                    back-off, unless stopping exists
//	                                    --rm: flock wait.lock exclusively
//	                                    (Wait callers have read the code),
//	                                    remove the directory
//
// A container whose record says "running" while monitor.lock is free has lost
// its monitor: killed, it is reported "dead" (what is left of it may still
// run); started before the machine's last boot (ContainerState.BootID), it
// is "exited" with code 255 and the reboot as its reason. Start, Stop,
// Remove and Prune clean up what the monitor would have.
//
// With Init, the container's PID 1 is the monitor's program again, as a
// reaper (container_init.go).
type Engine struct {
	dataDir   string
	runDir    string
	monitor   []string
	netRunDir string
	netState  string
	pullOpts  []pull.Option
	log       *slog.Logger
	rt        *runtime.Runtime
	images    *store.Store
}

// EngineOption changes how an Engine behaves.
type EngineOption func(*engineOptions) error

type engineOptions struct {
	dataDir, runDir     string
	monitor             []string
	netRunDir, netState string
	pullOpts            []pull.Option
	log                 *slog.Logger
}

// WithDataDir sets where images and containers are kept.
// Default: /var/lib/hull.
func WithDataDir(dir string) EngineOption {
	return func(o *engineOptions) error { o.dataDir = dir; return nil }
}

// WithRunDir sets where the runtime keeps the state of running containers.
// Default: /run/hull/containers.
func WithRunDir(dir string) EngineOption {
	return func(o *engineOptions) error { o.runDir = dir; return nil }
}

// WithMonitor sets the command that becomes a container's monitor: a program
// that calls Monitor when IsMonitor reports true. Default: this program
// itself (/proc/self/exe) without arguments, so that its main must begin
//
//	if hull.IsMonitor() {
//		hull.Monitor()
//	}
//
// The hull command passes its hidden verb "container monitor".
func WithMonitor(path string, args ...string) EngineOption {
	return func(o *engineOptions) error {
		if path == "" {
			return errors.New("monitor: empty path")
		}
		o.monitor = append([]string{path}, args...)
		return nil
	}
}

// WithNetworkDirs sets where the netns package persists namespaces and
// keeps its records. Default: /run/netns and /run/hull/network.
func WithNetworkDirs(runDir, stateDir string) EngineOption {
	return func(o *engineOptions) error { o.netRunDir, o.netState = runDir, stateDir; return nil }
}

// WithPullOptions passes options to image pulls (registry config, progress,
// platform). Default: none.
func WithPullOptions(opts ...pull.Option) EngineOption {
	return func(o *engineOptions) error { o.pullOpts = append(o.pullOpts, opts...); return nil }
}

// WithEngineLogger sets a logger for debugging. Default: discard.
func WithEngineLogger(l *slog.Logger) EngineOption {
	return func(o *engineOptions) error { o.log = l; return nil }
}

// NewEngine returns an Engine, creating its directories.
func NewEngine(opts ...EngineOption) (*Engine, error) {
	o := engineOptions{
		dataDir:   store.DefaultRoot,
		runDir:    "/run/hull/containers",
		netRunDir: netns.DefaultRunDir,
		netState:  netns.DefaultStateDir,
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.monitor == nil {
		o.monitor = []string{"/proc/self/exe"}
	}
	// The monitor outlives this process and may run from another working
	// directory: every path it is handed is absolute.
	for _, p := range []*string{&o.dataDir, &o.runDir, &o.netRunDir, &o.netState} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if o.monitor[0] == "/proc/self/exe" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the monitor program: %w", err)
		}
		o.monitor[0] = exe
	}
	if err := os.MkdirAll(filepath.Join(o.dataDir, "containers"), 0o700); err != nil {
		return nil, err
	}
	rt, err := runtime.New(o.runDir, runtime.WithLogger(o.log))
	if err != nil {
		return nil, err
	}
	st, err := store.Open(o.dataDir)
	if err != nil {
		return nil, err
	}
	return &Engine{
		dataDir: o.dataDir, runDir: o.runDir, monitor: o.monitor,
		netRunDir: o.netRunDir, netState: o.netState,
		pullOpts: o.pullOpts, log: o.log, rt: rt, images: st,
	}, nil
}

// Images is the engine's image store.
func (e *Engine) Images() *store.Store { return e.images }

// Runtime is the OCI runtime the engine's containers run in.
func (e *Engine) Runtime() *runtime.Runtime { return e.rt }

func (e *Engine) containersDir() string { return filepath.Join(e.dataDir, "containers") }

func (e *Engine) dir(id string) string { return filepath.Join(e.containersDir(), id) }

func (e *Engine) network() (*netns.Manager, error) {
	return netns.New(netns.WithRunDir(e.netRunDir), netns.WithStateDir(e.netState), netns.WithLogger(e.log))
}
