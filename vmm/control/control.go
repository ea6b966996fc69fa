// Package control is the control socket of a detached VM: a Unix stream
// socket per VM, speaking newline-delimited JSON, through which "hull vm"
// lists, inspects, stops and kills VMs and attaches to their consoles —
// what Firecracker's API socket is to it, or virsh to libvirt.
//
// The protocol, one exchange per connection:
//
//	client                                   VM process
//	  {"op":"inspect"}\n              →
//	                                  ←      {"ok":true,"info":{...}}\n
//
//	  {"op":"stop"}\n                 →      (the run ends as Stopped)
//	                                  ←      {"ok":true}\n
//
//	  {"op":"kill"}\n                 →      (the run ends, the process exits)
//	                                  ←      {"ok":true}\n
//
//	  {"op":"console"}\n              →
//	                                  ←      {"ok":true}\n
//	  raw bytes to the guest's UART   ⇄      raw bytes from it (the recent
//	                                         output is replayed first)
//
// An unknown op gets {"ok":false,"error":"..."}. Requests larger than
// 4 KiB are refused. The socket's directory is root-only (0700); it also
// holds the VM process's PID, by which Probe tells a VM that died without
// cleaning up (its socket file left, nobody listening) from a live one.
// The VM process removes the directory when the run ends.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Request is what a client sends first.
type Request struct {
	Op string `json:"op"` // inspect, stop, kill or console
}

// Response answers a Request.
type Response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Info  *Info  `json:"info,omitempty"`
}

// Info is what inspect reports about a VM.
type Info struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // running, or how the run ended
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	CPUs      int       `json:"cpus"`
	MemoryMiB uint64    `json:"memory_mib"`
	Kernel    string    `json:"kernel"`
	Initrd    string    `json:"initrd,omitempty"`
	Cmdline   string    `json:"cmdline"`
	Disks     []string  `json:"disks,omitempty"`
	Net       []string  `json:"net,omitempty"`
	Console   struct {
		TxBytes uint64 `json:"tx_bytes"`
		RxBytes uint64 `json:"rx_bytes"`
	} `json:"console"`
	// Memory is what the VM's process holds, in KiB: guest RAM the guest
	// has touched, the process's resident set, and the difference, hull's
	// own overhead. Absent once the run has ended.
	Memory *Memory `json:"memory,omitempty"`
}

// Memory is a VM process's memory figures, in KiB (vmm.MemoryStats
// defines each).
type Memory struct {
	GuestResidentKiB uint64 `json:"guest_resident_kib"`
	RSSKiB           uint64 `json:"rss_kib"`
	RSSAnonKiB       uint64 `json:"rss_anon_kib"`
	RSSFileKiB       uint64 `json:"rss_file_kib"`
	// OverheadKiB is the resident set less the guest RAM touched.
	OverheadKiB uint64 `json:"overhead_kib"`
	Threads     int    `json:"threads"`
	// The Go runtime's account of its anonymous memory.
	GoHeapKiB     uint64 `json:"go_heap_kib"`
	GoHeapFreeKiB uint64 `json:"go_heap_free_kib"`
	GoStackKiB    uint64 `json:"go_stack_kib"`
	GoRuntimeKiB  uint64 `json:"go_runtime_kib"`
}

// VM is what the server controls: the running VM, seen from its process.
type VM interface {
	Info() Info
	Stop()
	Kill()
	// ConsoleInput queues bytes for the guest's UART and returns how many
	// fit.
	ConsoleInput(p []byte) int
}

// SocketPath is where VM name's control socket lives under the state root.
func SocketPath(root, name string) string { return filepath.Join(root, "vm", name, "control.sock") }

// Dir is VM name's state directory.
func Dir(root, name string) string { return filepath.Join(root, "vm", name) }

const maxRequest = 4096

// Server serves one VM's control socket.
type Server struct {
	vm      VM
	console *Console
	ln      net.Listener
	wg      sync.WaitGroup
}

// Listen creates the VM's state directory and socket. It fails if a VM
// of that name is running (its socket answers).
func Listen(root, name string, vm VM, console *Console) (*Server, error) {
	dir := Dir(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := SocketPath(root, name)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("vm %q is already running (%s)", name, path)
	}
	os.Remove(path) // a stale socket from a VM that died
	if err := writePID(dir); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	return &Server{vm: vm, console: console, ln: ln}, nil
}

// Serve answers connections until ctx is done, then closes the listener,
// waits for the connections it serves and removes the state directory.
func (s *Server) Serve(ctx context.Context) {
	go func() { <-ctx.Done(); s.ln.Close() }()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
	s.wg.Wait()
}

// Close removes the socket and the state directory.
func (s *Server) Close(root, name string) error {
	s.ln.Close()
	return os.RemoveAll(Dir(root, name))
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(io.LimitReader(c, maxRequest), maxRequest)
	line, err := r.ReadBytes('\n')
	if err != nil {
		reply(c, Response{Error: "request: a JSON object on one line, at most 4 KiB"})
		return
	}
	var req Request
	d := json.NewDecoder(bytesReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		reply(c, Response{Error: "request: " + err.Error()})
		return
	}
	switch req.Op {
	case "inspect":
		info := s.vm.Info()
		reply(c, Response{OK: true, Info: &info})
	case "stop":
		s.vm.Stop()
		reply(c, Response{OK: true})
	case "kill":
		reply(c, Response{OK: true})
		s.vm.Kill()
	case "console":
		reply(c, Response{OK: true})
		s.attach(ctx, c, r)
	default:
		reply(c, Response{Error: fmt.Sprintf("op: unknown %q (inspect, stop, kill, console)", req.Op)})
	}
}

// attach streams the console both ways until either side closes or the
// VM ends.
func (s *Server) attach(ctx context.Context, c net.Conn, pending *bufio.Reader) {
	out, cancel := s.console.Subscribe()
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Input already read past the request line comes first.
		buf := make([]byte, 256)
		src := io.MultiReader(pending, c)
		for {
			n, err := src.Read(buf)
			for in := buf[:n]; len(in) > 0; {
				m := s.vm.ConsoleInput(in)
				in = in[m:]
				if len(in) > 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case b, ok := <-out:
			if !ok {
				return
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		case <-done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func reply(w io.Writer, r Response) {
	b, _ := json.Marshal(r)
	w.Write(append(b, '\n'))
}

// Call sends one request to VM name's socket and decodes the response.
func Call(root, name string, req Request) (Response, error) {
	c, err := Dial(root, name, req)
	if err != nil {
		return Response{}, err
	}
	defer c.Close()
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("vm %q: reading the response: %w", name, err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("vm %q: %s", name, resp.Error)
	}
	return resp, nil
}

// ErrNotRunning is wrapped when no VM of that name answers.
var ErrNotRunning = errors.New("no such VM running")

// Dial connects to VM name's socket and sends req; the caller reads the
// response (and, for console, the stream after it).
func Dial(root, name string, req Request) (net.Conn, error) {
	c, err := net.DialTimeout("unix", SocketPath(root, name), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("vm %q: %w (%w)", name, ErrNotRunning, err)
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// List returns the names of VMs with a state directory under root.
func List(root string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "vm"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
