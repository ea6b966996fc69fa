package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeVM struct {
	mu      sync.Mutex
	stopped bool
	killed  bool
	input   []byte
}

func (f *fakeVM) Info() Info { return Info{Name: "t1", State: "running", CPUs: 2, MemoryMiB: 256} }
func (f *fakeVM) Stop()      { f.mu.Lock(); f.stopped = true; f.mu.Unlock() }
func (f *fakeVM) Kill()      { f.mu.Lock(); f.killed = true; f.mu.Unlock() }
func (f *fakeVM) ConsoleInput(p []byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.input = append(f.input, p...)
	return len(p)
}

func serve(t *testing.T) (root string, vm *fakeVM, con *Console) {
	root = t.TempDir()
	vm, con = &fakeVM{}, NewConsole()
	s, err := Listen(root, "t1", vm, con)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		con.Close()
		<-done
		if err := s.Close(root, "t1"); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(Dir(root, "t1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state directory left behind: %v", err)
		}
	})
	return root, vm, con
}

func TestInspectStopKill(t *testing.T) {
	root, vm, _ := serve(t)
	resp, err := Call(root, "t1", Request{Op: "inspect"})
	if err != nil || resp.Info == nil || resp.Info.CPUs != 2 || resp.Info.State != "running" {
		t.Fatalf("inspect = %+v, %v", resp, err)
	}
	if _, err := Call(root, "t1", Request{Op: "stop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Call(root, "t1", Request{Op: "kill"}); err != nil {
		t.Fatal(err)
	}
	// kill answers first (the VM's process may exit right after), so
	// the fake sees it a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		vm.mu.Lock()
		stopped, killed := vm.stopped, vm.killed
		vm.mu.Unlock()
		if stopped && killed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stop/kill did not reach the VM: stopped %v, killed %v", stopped, killed)
		}
	}
	if _, err := Call(root, "t1", Request{Op: "reboot"}); err == nil || !strings.Contains(err.Error(), `unknown "reboot"`) {
		t.Errorf("unknown op: %v", err)
	}
	names, err := List(root)
	if err != nil || len(names) != 1 || names[0] != "t1" {
		t.Errorf("List = %v, %v", names, err)
	}
	if _, err := Call(root, "nope", Request{Op: "inspect"}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Call to a missing VM = %v, want ErrNotRunning", err)
	}
	if _, err := Listen(root, "t1", vm, NewConsole()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Listen for a running name = %v", err)
	}
}

func TestRejectsBadRequests(t *testing.T) {
	root, _, _ := serve(t)
	for _, req := range []string{"{\"op\":\"inspect\",\"extra\":1}\n", "not json\n", strings.Repeat("x", 5000)} {
		c, err := Dial(root, "t1", Request{})
		if err != nil {
			t.Fatal(err)
		}
		// Dial sent {"op":""}: replace it by closing and redialing raw.
		c.Close()
		raw, err := dialRaw(root)
		if err != nil {
			t.Fatal(err)
		}
		raw.Write([]byte(req))
		var resp Response
		json.NewDecoder(raw).Decode(&resp)
		raw.Close()
		if resp.OK || resp.Error == "" {
			t.Errorf("request %.20q: response %+v, want an error", req, resp)
		}
	}
}

func TestConsoleAttach(t *testing.T) {
	root, vm, con := serve(t)
	con.Write([]byte("boot log\n"))
	c, err := Dial(root, "t1", Request{Op: "console"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	line, _ := r.ReadString('\n')
	if !strings.Contains(line, `"ok":true`) {
		t.Fatalf("console response %q", line)
	}
	replay, _ := r.ReadString('\n')
	if replay != "boot log\n" {
		t.Errorf("replay = %q, want the recent output", replay)
	}
	c.Write([]byte("ls\n"))
	con.Write([]byte("bin etc\n"))
	live, _ := r.ReadString('\n')
	if live != "bin etc\n" {
		t.Errorf("live output = %q", live)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		vm.mu.Lock()
		in := string(vm.input)
		vm.mu.Unlock()
		if in == "ls\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest input = %q, want ls", in)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dialRaw(root string) (net.Conn, error) {
	return net.DialTimeout("unix", SocketPath(root, "t1"), 5*time.Second)
}
