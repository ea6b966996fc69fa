package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hullrt/hull/internal/consolesock"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// ConsoleProxy is what "hull run" does for a container with a terminal
// when no --console-socket is given: it listens on its own console
// socket, receives the pty master from the container's init, and copies
// between it and hull's stdio, with hull's terminal in raw mode.
type ConsoleProxy struct {
	Path    string // the socket to pass as --console-socket
	dir     string
	ln      *net.UnixListener
	master  *os.File
	restore *term.State
	mu      sync.Mutex
	done    chan struct{}
}

// NewConsoleProxy listens on a new console socket in a private temporary
// directory and, once a container's init sends its pty master there,
// copies between it and this process's stdio.
func NewConsoleProxy() (*ConsoleProxy, error) {
	dir, err := os.MkdirTemp("", "hull-console-")
	if err != nil {
		return nil, err
	}
	p := &ConsoleProxy{dir: dir, Path: filepath.Join(dir, "console.sock"), done: make(chan struct{})}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.Path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.ln = ln
	go p.serve()
	return p, nil
}

func (p *ConsoleProxy) serve() {
	defer close(p.done)
	master, err := consolesock.Accept(p.ln)
	if errors.Is(err, net.ErrClosed) {
		return // closed before the init connected
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull: console: %v\n", err)
		return
	}
	p.mu.Lock()
	p.master = master
	if term.IsTerminal(int(os.Stdin.Fd())) {
		p.restore, _ = term.MakeRaw(int(os.Stdin.Fd()))
	}
	p.mu.Unlock()
	p.Resize()
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	_, _ = io.Copy(os.Stdout, master)
}

// Resize copies hull's window size to the container's terminal.
func (p *ConsoleProxy) Resize() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master == nil {
		return
	}
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Done is closed once the container's side of the terminal has closed
// and its output is copied.
func (p *ConsoleProxy) Done() <-chan struct{} { return p.done }

// Close stops the proxy once the container's output is drained: the copy
// from the master ends when the last holder of the slave has exited.
func (p *ConsoleProxy) Close() {
	p.ln.Close()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	p.mu.Lock()
	if p.restore != nil {
		_ = term.Restore(int(os.Stdin.Fd()), p.restore)
		p.restore = nil
	}
	p.mu.Unlock()
	os.RemoveAll(p.dir)
}
