package runtime

import (
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// newNetNS starts making a network namespace for EnterNetNS, on an OS
// thread of its own, and returns at once: the kernel's milliseconds for
// it pass while the init starts. The thread then returns to its own
// network namespace; if it cannot, it is never given back to the
// scheduler: its goroutine ends locked, which ends the thread (or, for
// the main thread, parks it for good).
func newNetNS() *pendingNetNS {
	p := &pendingNetNS{ch: make(chan error, 1)}
	go func() {
		goruntime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			p.ch <- err
			goruntime.UnlockOSThread()
			return
		}
		defer own.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			p.ch <- &os.SyscallError{Syscall: "unshare(CLONE_NEWNET)", Err: err}
			goruntime.UnlockOSThread()
			return
		}
		p.f, err = os.Open("/proc/thread-self/ns/net")
		p.ch <- err
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			goruntime.UnlockOSThread()
		}
	}()
	return p
}

// pendingNetNS is a network namespace being made by newNetNS.
type pendingNetNS struct {
	ch   chan error
	f    *os.File // set before the error is sent
	err  error
	done bool
}

// wait returns the namespace once it is made.
func (p *pendingNetNS) wait() (*os.File, error) {
	if !p.done {
		p.err, p.done = <-p.ch, true
	}
	return p.f, p.err
}

// close waits for the namespace and closes the caller's reference to it:
// a namespace that no process holds goes away.
func (p *pendingNetNS) close() {
	if f, _ := p.wait(); f != nil {
		f.Close()
	}
}
