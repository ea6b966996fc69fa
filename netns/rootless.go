package netns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hullrt/hull/netns/nsfs"
	"golang.org/x/sys/unix"
)

// Rootless networking. Without root there is no bridge to create and no
// nftables table to own: a user-space program outside the container plays
// the network instead. It holds a tap device ("eth0") inside the
// container's namespace, translates the container's packets into ordinary
// sockets of the host, and listens on the host for the published ports.
//
//   - pasta (Debian package passt) gives the container the host's own
//     address and routes, and forwards published ports with -t/-u.
//   - slirp4netns gives it 10.0.2.100/24 behind a NAT gateway 10.0.2.2,
//     and publishes ports through its API socket (add_hostfwd).
//
// Either runs as a child of the process that called Setup, in the host
// namespace, and is stopped by Teardown (or by Prune, by PID and start
// time, after a crash).

// ErrNoRootlessNetwork: neither helper is installed.
var ErrNoRootlessNetwork = errors.New("rootless networking needs pasta (Debian package passt) or slirp4netns (package slirp4netns), and neither is in $PATH")

// resolveMode turns mode bridge into a rootless mode when not running as
// root: an unprivileged process can create neither a bridge nor veths in
// the host namespace.
func resolveMode(c Config) (Config, error) { return resolveModeFor(c, os.Geteuid()) }

func resolveModeFor(c Config, euid int) (Config, error) {
	if euid == 0 {
		return c, nil
	}
	if c.Mode == ModeBridge {
		found := false
		for _, mode := range []string{ModePasta, ModeSlirp4netns} {
			if _, err := exec.LookPath(mode); err == nil {
				c.Mode, found = mode, true
				break
			}
		}
		if !found {
			return c, ErrNoRootlessNetwork
		}
	}
	if kind, _ := SplitMode(c.Mode); c.NetnsPath == "" && (kind == ModeNone || rootless(kind)) {
		// unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN, which an unprivileged
		// process has only inside a user namespace of its own: the
		// runtime creates the container's namespaces there and says where.
		return c, fmt.Errorf("mode %s without root: netnsPath must name the container's network namespace (created inside its user namespace)", c.Mode)
	}
	return c, nil
}

// helper is a pasta or slirp4netns process started by this Manager.
type helper struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd.Wait returned
	stderr bytes.Buffer
}

// startHelper runs bin in the host namespace and waits until ready
// reports true, the process exits (an error with its stderr), or ctx ends.
func (m *Manager) startHelper(ctx context.Context, id string, bin string, args []string, extra []*os.File, ready func() (bool, error)) (*helper, error) {
	h := &helper{done: make(chan struct{})}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stderr = &h.stderr
	h.cmd.ExtraFiles = extra
	// The child inherits the namespaces of the thread that forks it.
	if err := nsfs.Do(m.o.hostNetns, h.cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { // owned by the helper: stopHelper waits for done
		h.cmd.Wait()
		close(h.done)
	}()
	for {
		ok, err := ready()
		if err == nil && ok {
			m.mu.Lock()
			m.helpers[id] = h
			m.mu.Unlock()
			return h, nil
		}
		if err == nil {
			select {
			case <-h.done:
				err = fmt.Errorf("%s exited (%v): %s", filepath.Base(bin), h.cmd.ProcessState, strings.TrimSpace(h.stderr.String()))
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(5 * time.Millisecond):
				continue
			}
		}
		h.cmd.Process.Kill()
		<-h.done
		return nil, err
	}
}

// stopHelper ends the helper of att: this process's child if it is one
// (SIGTERM, then reaped), otherwise the recorded PID if it still is the
// same process (same start time).
func (m *Manager) stopHelper(ctx context.Context, id string, rec *Owner) error {
	m.mu.Lock()
	h := m.helpers[id]
	delete(m.helpers, id)
	m.mu.Unlock()
	if h != nil {
		h.cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			<-h.done
		}
		return nil
	}
	if rec == nil || rec.PID == 0 || !rec.Alive() {
		return nil
	}
	return stopPID(ctx, rec.PID)
}

// stopPID signals a process that is not our child through a pidfd, so a
// PID recycled between the check and the signal cannot be hit, and polls
// the pidfd until the process has exited.
func stopPID(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(fd)
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return os.NewSyscallError("pidfd_send_signal", err)
		}
		// The pidfd becomes readable when the process exits.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 5000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll(pidfd)", err)
		}
		if n > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("helper %d did not exit after SIGKILL", pid)
}

// startPasta runs pasta on the container's namespace.
type startPasta struct {
	Binary, Netns, Userns, PIDFile string
	Ports                          []PortMapping
	UID                            int
	// MAC of the container's eth0. pasta learns the guest's MAC from the
	// first frame the guest sends; until then it addresses frames to
	// broadcast, and the kernel drops TCP in a non-PACKET_HOST frame, so an
	// inbound connection to a published port stalls. Setting the MAC
	// ourselves tells pasta from the start.
	MAC net.HardwareAddr
}

func portSpec(ports []PortMapping, proto string) string {
	var specs []string
	for _, p := range ports {
		if p.Protocol != proto {
			continue
		}
		spec := fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
		if p.HostIP.IsValid() {
			spec = p.HostIP.String() + "/" + spec
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return "none"
	}
	return strings.Join(specs, ",")
}

func (s startPasta) args() []string {
	a := []string{"--config-net", "--foreground", "--quiet", "--runas", strconv.Itoa(s.UID),
		"--netns", s.Netns, "--ns-ifname", "eth0", "--ns-mac-addr", s.MAC.String(),
		// Without this, connections to the gateway address would reach
		// the host's loopback; hull's bridge mode does not do that either.
		"--no-map-gw",
		// Published ports in, and nothing of the host's own ports leaking
		// into the container ("auto" would forward every bound port).
		"-t", portSpec(s.Ports, "tcp"), "-u", portSpec(s.Ports, "udp"), "-T", "none", "-U", "none",
		"--pid", s.PIDFile}
	if s.Userns != "" {
		a = append(a, "--userns", s.Userns)
	}
	return a
}

func (s startPasta) String() string {
	return "host netns: exec " + s.Binary + " " + strings.Join(s.args(), " ") + " (ready when it writes its PID file)"
}

func (s startPasta) apply(ctx context.Context, e *env) (func() error, error) {
	os.MkdirAll(filepath.Dir(s.PIDFile), 0o700)
	os.Remove(s.PIDFile)
	// pasta writes its PID file once the tap device, addresses, routes
	// and port listeners are in place: that is the readiness signal.
	h, err := e.m.startHelper(ctx, e.att.ID, s.Binary, s.args(), nil, func() (bool, error) {
		b, err := os.ReadFile(s.PIDFile)
		return err == nil && bytes.HasSuffix(b, []byte("\n")), nil
	})
	if err != nil {
		return nil, err
	}
	return e.recordHelper(h, s.PIDFile)
}

func (e *env) recordHelper(h *helper, pidFile string) (func() error, error) {
	st, err := startTime(h.cmd.Process.Pid)
	if err != nil {
		e.m.stopHelper(context.Background(), e.att.ID, nil)
		return nil, err
	}
	e.att.Helper = &Owner{PID: h.cmd.Process.Pid, StartTime: st}
	e.att.HelperFile = pidFile
	// Recorded at once: if this process dies now, Prune finds the helper.
	if err := e.m.saveAttachment(e.att); err != nil {
		e.m.stopHelper(context.Background(), e.att.ID, nil)
		return nil, err
	}
	return func() error {
		err := e.m.stopHelper(context.Background(), e.att.ID, e.att.Helper)
		os.Remove(pidFile)
		return err
	}, nil
}

// startSlirp runs slirp4netns on the container's namespace and publishes
// the ports through its API socket.
type startSlirp struct {
	Binary, Netns, Userns, APISocket string
	Ports                            []PortMapping
	MTU                              int
}

func (s startSlirp) args() []string {
	a := []string{"--configure", "--mtu=" + strconv.Itoa(s.MTU), "--disable-host-loopback",
		"--api-socket", s.APISocket, "--ready-fd=3", "--netns-type=path"}
	if s.Userns != "" {
		a = append(a, "--userns-path="+s.Userns)
	}
	return append(a, s.Netns, "eth0")
}

func (s startSlirp) String() string {
	str := "host netns: exec " + s.Binary + " " + strings.Join(s.args(), " ") + " (ready when it writes to fd 3)"
	for _, p := range s.Ports {
		str += "; " + s.APISocket + ": " + string(hostfwd(p))
	}
	return str
}

// hostfwd is slirp4netns's API request publishing one port.
func hostfwd(p PortMapping) []byte {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	b, _ := json.Marshal(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Protocol, "host_addr": host, "host_port": p.HostPort, "guest_port": p.ContainerPort}})
	return b
}

func (s startSlirp) apply(ctx context.Context, e *env) (func() error, error) {
	os.MkdirAll(filepath.Dir(s.APISocket), 0o700)
	os.Remove(s.APISocket)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	readyc := make(chan error, 1)
	go func() { // ends when slirp4netns writes or closes its end
		b := make([]byte, 1)
		_, err := r.Read(b)
		readyc <- err
	}()
	var readErr error
	h, err := e.m.startHelper(ctx, e.att.ID, s.Binary, s.args(), []*os.File{w}, func() (bool, error) {
		select {
		case readErr = <-readyc:
			return readErr == nil, readErr
		default:
			return false, nil
		}
	})
	w.Close()
	if err != nil {
		r.Close()
		if readErr == nil {
			<-readyc
		}
		return nil, err
	}
	undo, err := e.recordHelper(h, "")
	if err != nil {
		return nil, err
	}
	for _, p := range s.Ports {
		if err := slirpCall(s.APISocket, hostfwd(p)); err != nil {
			undo()
			return nil, fmt.Errorf("publish %s: %w", p, err)
		}
	}
	return func() error { err := undo(); os.Remove(s.APISocket); return err }, nil
}

// slirpCall sends one request to slirp4netns's API socket and returns its
// error reply, if any.
func slirpCall(sock string, req []byte) error {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return err
	}
	c.(*net.UnixConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	var reply struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return fmt.Errorf("slirp4netns API reply %q: %w", line, err)
	}
	if reply.Error != nil {
		return fmt.Errorf("slirp4netns: %s", reply.Error.Desc)
	}
	return nil
}
