package hull

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/image/rootfs"
	"github.com/hullrt/hull/internal/consolesock"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/runtime"
)

// monitorEnv carries the monitor's orders (monitorOrders as JSON) from
// Start to the re-executed program.
const monitorEnv = "_HULL_MONITOR"

// monitorOrders is everything a monitor needs to know: it shares no memory
// with the process that started it.
type monitorOrders struct {
	Dir       string `json:"dir"`
	DataDir   string `json:"dataDir"`
	RunDir    string `json:"runDir"`
	NetRunDir string `json:"netRunDir"`
	NetState  string `json:"netState"`
	// WaitAttach: a client will attach to the terminal; hold the
	// container's first output back for it.
	WaitAttach bool `json:"waitAttach,omitempty"`
}

// monitorReport is the one line a monitor writes on fd 3 once the
// container runs, or why it could not start it.
type monitorReport struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// MonitorPIDFile, in a container's directory, holds the PID of its
// monitor (for systemd's PIDFile=).
const MonitorPIDFile = "monitor.pid"

// IsMonitor reports whether this process was started as a container's
// monitor, or as the reaper of a container run with Init (named hull-init,
// see container_init.go); its main must then call Monitor (see
// WithMonitor).
func IsMonitor() bool { return os.Getenv(monitorEnv) != "" || isReaper() || isHolder() }

// StartOptions change how Start runs the container.
type StartOptions struct {
	// Stdin becomes the container's stdin when its config is interactive;
	// nil: /dev/null.
	Stdin *os.File
	// Attach announces that the caller will Attach to the container's
	// terminal right after Start: until it does (for up to 30 s), what the
	// container writes first waits for it.
	Attach bool
}

// Start runs a created or exited container under a new monitor and returns
// once its process runs. The container keeps the writes of its earlier runs.
func (e *Engine) Start(ctx context.Context, ref string, o StartOptions) error {
	id, err := e.resolve(ref)
	if err != nil {
		return err
	}
	dir := e.dir(id)
	lk, err := flock(dir, opLock, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.Close()
	c, err := readRecord(dir)
	if err != nil {
		return err
	}
	orphaned := observe(c)
	if c.State.Status == ContainerRunning {
		return fmt.Errorf("container %s is already running", c.Name)
	}
	if orphaned { // dead, or ended by a reboot
		if err := e.cleanup(ctx, c); err != nil {
			return err
		}
	}
	orders, err := json.Marshal(monitorOrders{Dir: dir, DataDir: e.dataDir, RunDir: e.runDir, NetRunDir: e.netRunDir, NetState: e.netState, WaitAttach: o.Attach && c.Config.Tty})
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return err
	}
	defer null.Close()
	stdin := null
	if o.Stdin != nil && c.Config.Interactive {
		stdin = o.Stdin
	}
	cmd := &exec.Cmd{
		Path:       e.monitor[0],
		Args:       e.monitor,
		Env:        append(slices.Clone(os.Environ()), monitorEnv+"="+string(orders)),
		Dir:        "/",
		Stdin:      stdin,
		Stdout:     null,
		Stderr:     null,
		ExtraFiles: []*os.File{w},
		// A session of its own: the terminal's ^C and hangup are not
		// the monitor's, and it outlives whoever started it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the monitor %s: %w", e.monitor[0], err)
	}
	// The monitor is not ours to wait for: it reparents to init (or a
	// subreaper) when we exit. Reap it in the background while we live.
	go func() { _ = cmd.Wait() }()
	line, rerr := bufio.NewReader(r).ReadBytes('\n')
	var rep monitorReport
	if jerr := json.Unmarshal(line, &rep); jerr != nil {
		if rerr == nil {
			rerr = jerr
		}
		return fmt.Errorf("monitor of %s exited without a word (%v): see %s", c.Name, rerr, filepath.Join(dir, "monitor.log"))
	}
	if rep.Error != "" {
		return fmt.Errorf("starting %s: %w", c.Name, &monitorError{rep.Error})
	}
	return nil
}

// monitorError is an error a monitor reported as text: errors.Is still
// finds the engine's errors a caller may branch on.
type monitorError struct{ msg string }

func (e *monitorError) Error() string { return e.msg }

func (e *monitorError) Is(target error) bool {
	return target == ErrNoIdmap && strings.Contains(e.msg, ErrNoIdmap.Error())
}

// Monitor is the main of a container's monitor process, and of a
// container's reaper (ContainerConfig.Init): it never returns.
func Monitor() {
	if isReaper() && os.Getenv(monitorEnv) == "" {
		os.Exit(reaper(os.Args[1:]))
	}
	if isHolder() && os.Getenv(monitorEnv) == "" {
		os.Exit(holder())
	}
	var o monitorOrders
	err := json.Unmarshal([]byte(os.Getenv(monitorEnv)), &o)
	os.Unsetenv(monitorEnv) // not for the container's init
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull monitor: %s: %v\n", monitorEnv, err)
		os.Exit(2)
	}
	os.Exit(monitor(o))
}

func monitor(o monitorOrders) int {
	report := os.NewFile(3, "report")
	say := func(rep monitorReport) {
		if report == nil {
			return
		}
		b, _ := json.Marshal(rep)
		_, _ = report.Write(append(b, '\n'))
		report.Close()
		report = nil
	}
	logf, err := os.OpenFile(filepath.Join(o.Dir, "monitor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		say(monitorReport{Error: err.Error()})
		return 1
	}
	log := slog.New(slog.NewTextHandler(logf, nil))
	ml, err := flock(o.Dir, monitorLock, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		say(monitorReport{Error: fmt.Sprintf("another monitor runs: %v", err)})
		return 1
	}
	defer ml.Close()
	if err := os.WriteFile(filepath.Join(o.Dir, MonitorPIDFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		say(monitorReport{Error: err.Error()})
		return 1
	}
	// A SIGTERM or ^C meant for the monitor goes to the container, which
	// then exits the usual way; hangups do not concern a detached monitor.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)

	e, err := NewEngine(WithDataDir(o.DataDir), WithRunDir(o.RunDir), WithNetworkDirs(o.NetRunDir, o.NetState), WithEngineLogger(log))
	if err != nil {
		say(monitorReport{Error: err.Error()})
		return 1
	}
	c, err := readRecord(o.Dir)
	if err != nil {
		say(monitorReport{Error: err.Error()})
		return 1
	}
	ctx := context.Background()
	_ = os.Remove(filepath.Join(o.Dir, stoppingFile))
	clog, err := openCtrLog(c.LogPath, c.Config.LogMaxSize, c.Config.LogMaxFiles)
	if err != nil {
		say(monitorReport{Error: err.Error()})
		return 1
	}
	defer clog.Close()
	policy, _ := parseRestart(c.Config.Restart)
	var current atomicID
	go func() {
		for s := range sigs {
			if s == unix.SIGHUP {
				continue
			}
			_ = e.rt.Kill(ctx, current.get(), s.(unix.Signal), false)
		}
	}()
	restarts := 0
	for {
		pid, tty, drained, err := e.run(ctx, c, clog)
		if err != nil {
			log.Error("start", "err", err)
			c.Network = nil
			c.State = ContainerState{Status: ContainerExited, ExitCode: 127, FinishedAt: time.Now().UTC(), Error: err.Error(), RestartCount: restarts}
			_ = writeRecord(c)
			// Done before the word goes out: whoever removes the
			// container next finds no monitor.
			ml.Close()
			say(monitorReport{Error: err.Error()})
			return 1
		}
		current.set(c.ID)
		c.State = ContainerState{Status: ContainerRunning, Pid: pid, MonitorPid: os.Getpid(), StartedAt: time.Now().UTC(), RestartCount: restarts, BootID: bootID()}
		if c.Config.Health != nil {
			c.State.Health = &Health{Status: HealthStarting}
		}
		if err := writeRecord(c); err != nil {
			log.Error("record", "err", err)
		}
		say(monitorReport{Pid: pid})
		log.Info("running", "pid", pid, "restarts", restarts)
		if tty != nil {
			go tty.serve(o.WaitAttach && restarts == 0)
		}
		hctx, hstop := context.WithCancel(ctx)
		var checks sync.WaitGroup
		if c.Config.Health != nil {
			checks.Add(1)
			go func() {
				defer checks.Done()
				e.healthLoop(hctx, c, c.Config.Health.withDefaults())
			}()
		}
		code := waitExit(pid)
		hstop()
		checks.Wait()
		log.Info("exited", "code", code)
		// The last output is still in the pipes or the pty: let the
		// pumps drain it (they end on EOF, or EIO once no pty slave is
		// open). What the container left running in the background
		// may hold them open: not for long.
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
		}
		if tty != nil {
			tty.master.Close()
		}
		cerr := e.release(ctx, c)
		if cerr != nil {
			log.Error("cleanup", "err", cerr)
		}
		c.State.Status = ContainerExited
		c.State.ExitCode = code
		c.State.FinishedAt = time.Now().UTC()
		c.Network = nil
		if cerr != nil {
			c.State.Error = cerr.Error()
		}
		again := cerr == nil && policy.again(code, restarts)
		if !again {
			c.State.MonitorPid = 0
		}
		if err := writeRecord(c); err != nil {
			log.Error("record", "err", err)
		}
		// Stop asks for no restart by leaving a file; the back-off
		// (100 ms, doubling, as docker's) looks for it too.
		if again && !backoff(o.Dir, 100*time.Millisecond<<min(restarts, 7)) {
			restarts++
			continue
		}
		if again { // stopped during the back-off
			c.State.MonitorPid = 0
			if err := writeRecord(c); err != nil {
				log.Error("record", "err", err)
			}
		}
		if c.Config.AutoRemove && cerr == nil {
			// Wait callers hold wait.lock shared until they have
			// read the exit code; then the container goes.
			if wl, err := flock(o.Dir, waitLock, unix.LOCK_EX); err == nil {
				if err := e.removeDir(c); err != nil {
					log.Error("remove", "err", err)
				}
				wl.Close()
			}
		}
		return 0
	}
}

// stoppingFile is left by Stop: the monitor must not restart the container.
const stoppingFile = "stopping"

// backoff waits d before a restart and reports whether Stop asked for none
// meanwhile.
func backoff(dir string, d time.Duration) (stopped bool) {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(filepath.Join(dir, stoppingFile)); err == nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(min(pollInterval, time.Until(deadline)+time.Millisecond))
	}
}

// atomicID is the container ID the signal forwarder may use once it runs.
type atomicID struct {
	mu sync.Mutex
	id string
}

func (a *atomicID) set(id string) { a.mu.Lock(); a.id = id; a.mu.Unlock() }
func (a *atomicID) get() string   { a.mu.Lock(); defer a.mu.Unlock(); return a.id }

// restartPolicy is docker's --restart: no, on-failure[:N], always.
type restartPolicy struct {
	name string
	max  int // on-failure: at most this many restarts (0: no limit)
}

func parseRestart(s string) (restartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := restartPolicy{name: name}
	switch name {
	case "", "no":
		p.name = "no"
	case "always", "unless-stopped":
	case "on-failure":
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return p, fmt.Errorf("restart: %q: the count must be a number", s)
			}
			p.max = v
		}
		return p, nil
	default:
		return p, fmt.Errorf("restart: %q is not no, on-failure[:N], always or unless-stopped", s)
	}
	if hasN {
		return p, fmt.Errorf("restart: %q: only on-failure takes a count", s)
	}
	return p, nil
}

// again says whether a container that exited with code after restarts
// restarts should run again.
func (p restartPolicy) again(code, restarts int) bool {
	switch p.name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.max == 0 || restarts < p.max)
	}
	return false
}

// waitExit waits for the container's init (a child of the monitor) and
// returns its exit code, 128+signal when killed, as shells report it.
func waitExit(pid int) int {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 255
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// run gives the container its network and root filesystem, writes the
// final config.json and creates and starts it, its output going to clog;
// it returns the init's pid, and a channel closed once the output has
// been drained after the container exited. On error everything it did is
// undone.
func (e *Engine) run(ctx context.Context, c *Container, clog *ctrLog) (pid int, tty *ttyServer, drained <-chan struct{}, err error) {
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	bundleDir := filepath.Join(c.Dir, "bundle")
	b, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		return 0, nil, nil, err
	}
	spec, err := runtime.ParseSpec(b)
	if err != nil {
		return 0, nil, nil, err
	}
	mode := c.Config.Network
	if mode == "" {
		mode = netns.ModeBridge
	}
	if mode != netns.ModeHost {
		nm, err := e.network()
		if err != nil {
			return 0, nil, nil, err
		}
		att, err := nm.Setup(ctx, netns.Config{ID: c.ID, Mode: mode, Ports: c.Ports, Hostname: spec.Hostname})
		if err != nil {
			return 0, nil, nil, fmt.Errorf("network: %w", err)
		}
		undo = append(undo, func() { _ = nm.Teardown(context.WithoutCancel(ctx), c.ID) })
		c.Network = att
		for i := range spec.Linux.Namespaces {
			if spec.Linux.Namespaces[i].Type == specs.NetworkNamespace {
				spec.Linux.Namespaces[i].Path = att.NetnsPath
			}
		}
		etc := att.EtcFiles
		if kind, other := netns.SplitMode(mode); kind == "container" {
			// The other container's hosts and resolv.conf, as its
			// network is.
			if oa, err := nm.Inspect(other); err == nil {
				etc = oa.EtcFiles
			}
		}
		spec.Mounts = withEtcFiles(spec.Mounts, etc)
	}

	layers, err := e.layerDirs(c)
	if err != nil {
		return 0, nil, nil, err
	}
	if c.UserNS != nil {
		if layers, err = e.idmappedLayers(c, layers); err != nil {
			return 0, nil, nil, fmt.Errorf("root filesystem: %w", err)
		}
		undo = append(undo, func() { _ = unmountIdmapped(c.Dir) })
	}
	m, err := rootfs.Overlay(layers, filepath.Join(c.Dir, "upper"), filepath.Join(c.Dir, "work"))
	if err != nil {
		return 0, nil, nil, err
	}
	merged := filepath.Join(c.Dir, "rootfs")
	if err := m.Mount(merged); err != nil {
		return 0, nil, nil, fmt.Errorf("root filesystem: %w", err)
	}
	undo = append(undo, func() { _ = rootfs.Unmount(merged) })

	if c.UserNS != nil {
		// The init reaches bind sources as the container's root.
		for _, m := range spec.Mounts {
			if m.Type == "bind" && m.Source != "/sys" {
				if err := searchable(filepath.Dir(m.Source), "/"); err != nil {
					return 0, nil, nil, fmt.Errorf("userNS: %w", err)
				}
			}
		}
	}
	b, err = json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return 0, nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(bundleDir, "config.json"), b, 0o600); err != nil {
		return 0, nil, nil, err
	}
	co := runtime.CreateOptions{Bundle: bundleDir}
	if c.Config.Interactive {
		co.Stdin = os.Stdin
	}
	var master chan consoleResult
	var pipes []*os.File // the write ends, the container's: closed here after Create
	done := make(chan struct{})
	if c.Config.Tty {
		// The init sends the pty master to a console socket of ours
		// during Create.
		co = runtime.CreateOptions{Bundle: bundleDir}
		tmp, err := os.MkdirTemp("", "hull-console-")
		if err != nil {
			return 0, nil, nil, err
		}
		defer os.RemoveAll(tmp)
		co.ConsoleSocket = filepath.Join(tmp, "console.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: co.ConsoleSocket, Net: "unix"})
		if err != nil {
			return 0, nil, nil, err
		}
		defer ln.Close()
		master = make(chan consoleResult, 1)
		go func() {
			f, err := consolesock.Accept(ln)
			master <- consoleResult{f, err}
		}()
	} else {
		// stdout and stderr: a pipe each, pumped into the log.
		outs := make([]chan struct{}, 2)
		for i, stream := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				for _, w := range pipes {
					w.Close()
				}
				return 0, nil, nil, err
			}
			pipes = append(pipes, w)
			outs[i] = make(chan struct{})
			go pump(r, clog.stream(stream), outs[i])
		}
		co.Stdout, co.Stderr = pipes[0], pipes[1]
		go func() {
			<-outs[0]
			<-outs[1]
			close(done)
		}()
	}
	err = e.rt.Create(ctx, c.ID, co)
	for _, w := range pipes {
		w.Close()
	}
	if err != nil {
		return 0, nil, nil, err
	}
	undo = append(undo, func() { _ = e.rt.Delete(context.WithoutCancel(ctx), c.ID, true) })
	if master != nil {
		r := <-master
		if r.err == nil {
			tty, r.err = newTTYServer(c.Dir, r.f, clog.stream("stdout"))
		}
		if r.err != nil {
			if r.f != nil {
				r.f.Close()
			}
			return 0, nil, nil, fmt.Errorf("terminal: %w", r.err)
		}
		undo = append(undo, func() { tty.close(); tty.master.Close() })
		done = tty.done
	}
	st, err := e.rt.State(ctx, c.ID)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := e.rt.Start(ctx, c.ID); err != nil {
		return 0, nil, nil, err
	}
	return st.Pid, tty, done, nil
}

type consoleResult struct {
	f   *os.File
	err error
}

// withEtcFiles binds the network's /etc/hosts, hostname and resolv.conf
// read-only into the container, replacing earlier binds of the same files.
func withEtcFiles(mounts []specs.Mount, files map[string]string) []specs.Mount {
	var out []specs.Mount
	for _, m := range mounts {
		if _, ok := files[m.Destination]; !ok {
			out = append(out, m)
		}
	}
	for _, dst := range slices.Sorted(mapKeys(files)) {
		out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: files[dst], Options: []string{"rbind", "ro", "rprivate"}})
	}
	return out
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// layerDirs are the image layers of c, lowest first.
func (e *Engine) layerDirs(c *Container) ([]string, error) {
	im, err := e.images.Lookup(c.ImageDigest)
	if err != nil {
		return nil, fmt.Errorf("image %s of container %s: %w", c.ImageDigest, c.Name, err)
	}
	return e.images.LayerDirs(im)
}

// release undoes what run did once the container has exited: the runtime's
// state (and cgroup), the root filesystem mount and the network.
func (e *Engine) release(ctx context.Context, c *Container) error {
	var errs []error
	if err := e.rt.Delete(ctx, c.ID, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		errs = append(errs, fmt.Errorf("runtime delete: %w", err))
	}
	if err := unmountIfMounted(filepath.Join(c.Dir, "rootfs")); err != nil {
		errs = append(errs, err)
	} else if err := unmountIdmapped(c.Dir); err != nil {
		errs = append(errs, err)
	}
	if c.Config.Network != netns.ModeHost {
		nm, err := e.network()
		if err == nil {
			err = nm.Teardown(ctx, c.ID)
		}
		// Torn down already (by the monitor, or an earlier cleanup).
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("network teardown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// unmountIfMounted unmounts target when something is mounted there.
func unmountIfMounted(target string) error {
	mounted, err := isMountPoint(target)
	if err != nil || !mounted {
		return err
	}
	return rootfs.Unmount(target)
}

// isMountPoint reads /proc/self/mountinfo for target.
func isMountPoint(target string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	return mountinfoHas(f, target)
}

func mountinfoHas(r io.Reader, target string) (bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var id, parent int
		var devs, root, point string
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %s %s %s", &id, &parent, &devs, &root, &point); err != nil {
			continue
		}
		if unescapeMountinfo(point) == target {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				out = append(out, v)
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}
