package hull

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A container with a terminal (ContainerConfig.Tty) has its pty master
// held by the monitor, which copies what the container writes to the log
// and to every attached client, and what clients write to the container:
//
//	container ⇄ pty slave ═ pty master (monitor) ─▶ ctr.log
//	                                           ⇄ attach.sock ⇄ hull container attach
//	                          TIOCSWINSZ ◀── ctl (FIFO) ◀── "resize ROWS COLS\n" (Resize)
//
// A window size change reaches the pty out of band, through the FIFO ctl
// (conmon has one too): the monitor holds it open for reading and
// writing, so that it never sees an end, and sets the master's size for
// each line; the kernel then sends SIGWINCH to the terminal's foreground
// process group in the container.
//
// Until the first client attaches (or attachGrace passes) when Start was
// asked to expect one, the master is not read: what the container writes
// first waits in the pty for the client instead of being missed.
const attachSock = "attach.sock"

// ctlFifo is the FIFO through which Resize reaches the monitor.
const ctlFifo = "ctl"

// attachGrace is how long a monitor waits for the client Start announced.
const attachGrace = 30 * time.Second

// sockPath names dir/name for bind(2) and connect(2) through an O_PATH
// descriptor of dir, since sun_path holds only 108 bytes and container
// directories are deeper than that. close releases the descriptor.
func sockPath(dir, name string) (path string, close func(), err error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, name), func() { unix.Close(fd) }, nil
}

// ttyServer is the monitor's side of a terminal.
type ttyServer struct {
	dir     string
	master  *os.File
	log     io.Writer
	ln      *net.UnixListener
	ctl     *os.File // ctlFifo, open for reading and writing
	mu      sync.Mutex
	clients map[*net.UnixConn]bool
	first   chan struct{} // closed when the first client arrives
	once    sync.Once
	done    chan struct{} // closed when the container's side is gone
}

func newTTYServer(dir string, master *os.File, log io.Writer) (*ttyServer, error) {
	path, release, err := sockPath(dir, attachSock)
	if err != nil {
		return nil, err
	}
	defer release()
	_ = os.Remove(filepath.Join(dir, attachSock))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the path names an fd that is gone by then
	fifo := filepath.Join(dir, ctlFifo)
	_ = os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		ln.Close()
		return nil, &os.PathError{Op: "mkfifo", Path: fifo, Err: err}
	}
	ctl, err := os.OpenFile(fifo, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &ttyServer{dir: dir, master: master, log: log, ln: ln, ctl: ctl, clients: map[*net.UnixConn]bool{},
		first: make(chan struct{}), done: make(chan struct{})}
	go s.control()
	return s, nil
}

// control applies the window sizes written to ctl until it is closed.
func (s *ttyServer) control() {
	sc := bufio.NewScanner(s.ctl)
	for sc.Scan() {
		var rows, cols uint16
		if _, err := fmt.Sscanf(sc.Text(), "resize %d %d", &rows, &cols); err != nil {
			continue
		}
		_ = unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
}

// close releases the listener and the control FIFO.
func (s *ttyServer) close() {
	s.ln.Close()
	s.ctl.Close()
	_ = os.Remove(filepath.Join(s.dir, ctlFifo))
}

// serve accepts clients and pumps the master until the container's side
// of the terminal is closed; waitFirst holds the pump back until a client
// is there (or attachGrace passes).
func (s *ttyServer) serve(waitFirst bool) {
	go s.accept()
	if waitFirst {
		select {
		case <-s.first:
		case <-time.After(attachGrace):
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := s.master.Read(buf)
		if n > 0 {
			_, _ = s.log.Write(buf[:n])
			s.mu.Lock()
			for c := range s.clients {
				if _, err := c.Write(buf[:n]); err != nil {
					c.Close()
					delete(s.clients, c)
				}
			}
			s.mu.Unlock()
		}
		if err != nil { // EIO: every slave fd is closed, the container is gone
			break
		}
	}
	s.close()
	_ = os.Remove(filepath.Join(s.dir, attachSock))
	s.mu.Lock()
	for c := range s.clients {
		c.Close()
	}
	s.clients = nil
	s.mu.Unlock()
	close(s.done)
}

func (s *ttyServer) accept() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.clients == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.clients[c] = true
		s.mu.Unlock()
		s.once.Do(func() { close(s.first) })
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := s.master.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					// The client closed its sending side: it is
					// done typing, but still reads.
					return
				}
			}
		}()
	}
}

// Attach connects to the terminal of a running container started with
// Tty: what is read from the connection is the container's output, what is
// written to it the container's input. The connection ends when the
// container exits.
func (e *Engine) Attach(ctx context.Context, ref string) (*net.UnixConn, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !c.Config.Tty {
		return nil, fmt.Errorf("container %s has no terminal: follow its output with Logs", c.Name)
	}
	if c.State.Status != ContainerRunning {
		return nil, fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	path, release, err := sockPath(c.Dir, attachSock)
	if err != nil {
		return nil, err
	}
	defer release()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %s: its monitor does not take attachments (%w)", c.Name, err)
		}
		return nil, err
	}
	return conn.(*net.UnixConn), nil
}

// Resize sets the size of a running container's terminal (Tty), as a
// client's window changes: the container gets SIGWINCH.
func (e *Engine) Resize(ctx context.Context, ref string, rows, cols uint16) error {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if !c.Config.Tty {
		return fmt.Errorf("container %s has no terminal", c.Name)
	}
	if c.State.Status != ContainerRunning {
		return fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	// Non-blocking: with no monitor reading, ENXIO, not a hang.
	f, err := os.OpenFile(filepath.Join(c.Dir, ctlFifo), os.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container %s: its monitor takes no resize: %w", c.Name, err)
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "resize %d %d\n", rows, cols)
	return err
}
