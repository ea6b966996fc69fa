package cgroups

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// OOM kills are counted by the kernel; hull watches the counter and sends
// one value on the channel per kill.
//
//	v2: memory.events has "oom_kill N"; the kernel calls fsnotify on the
//	    file whenever a key changes, so an inotify IN_MODIFY watch wakes
//	    us. When the cgroup is removed the watch gets IN_IGNORED.
//	v1: memory.oom_control takes an eventfd through cgroup.event_control
//	    ("<eventfd> <fd of memory.oom_control>"); the kernel signals it
//	    on every OOM in the cgroup, and once more when the cgroup is
//	    removed. memory.oom_control's "oom_kill N" (Linux 4.13) counts
//	    the kills.
//
// Both fds are non-blocking and handed to os.File, so the Go runtime's
// poller waits on them and a read deadline ends the wait when ctx ends.

func watchOOMv2(ctx context.Context, dir string) (<-chan struct{}, error) {
	file := filepath.Join(dir, "memory.events")
	count := func() (uint64, error) {
		s := &statReader{dir: dir}
		ev := s.keyed("memory.events")
		if s.err != nil {
			return 0, s.err
		}
		if ev == nil {
			return 0, fmt.Errorf("%s: missing (is the memory controller enabled?)", file)
		}
		return ev["oom_kill"], nil
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "inotify_add_watch", Path: file, Err: err}
	}
	last, err := count()
	if err != nil {
		f.Close()
		return nil, err
	}
	return watch(ctx, dir, f, func(buf []byte) (uint64, bool) {
		// Events are struct inotify_event; a watch removed by the
		// kernel (IN_IGNORED) means the cgroup is gone.
		for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
			// struct inotify_event { int wd; u32 mask; u32 cookie; u32 len; char name[]; }
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			if mask&unix.IN_IGNORED != 0 {
				return 0, false
			}
			off += unix.SizeofInotifyEvent + nameLen
		}
		n, err := count()
		if err != nil {
			return 0, false
		}
		kills := n - last
		if n < last {
			kills = 0
		}
		last = n
		return kills, true
	}), nil
}

func watchOOMv1(ctx context.Context, dir string) (<-chan struct{}, error) {
	oc, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		oc.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	f := os.NewFile(uintptr(efd), "eventfd")
	if err := writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, oc.Fd())); err != nil {
		f.Close()
		oc.Close()
		return nil, fmt.Errorf("register OOM eventfd in %s: %w", dir, err)
	}
	count := func() (kills uint64, hasKill, underOOM bool) {
		ev := (&statReader{dir: dir}).keyed("memory.oom_control")
		kills, hasKill = ev["oom_kill"]
		return kills, hasKill, ev["under_oom"] == 1
	}
	last, _, _ := count()
	ch := watch(ctx, dir, f, func([]byte) (uint64, bool) {
		if _, err := os.Stat(dir); err != nil {
			return 0, false // the removal notification
		}
		// The kernel notifies when the cgroup runs out of memory, before
		// the OOM killer picks its victim: give the counter a moment.
		for try := 0; try < 100; try++ {
			n, hasKill, underOOM := count()
			if !hasKill {
				return 1, true // before Linux 4.13: one OOM, maybe no kill
			}
			if n > last {
				kills := n - last
				last = n
				return kills, true
			}
			if underOOM && try > 10 {
				// memory.oom_control has the OOM killer disabled: the
				// cgroup waits for memory instead. Report the OOM.
				return 1, true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return 0, true
	})
	// oc must stay open as long as the registration: the kernel holds
	// its own reference, so closing ours now is safe.
	oc.Close()
	return ch, nil
}

// watch runs the reader goroutine: it reads f, asks seen how many kills
// happened (false: stop), and sends that many values. It closes f and the
// channel when done: when ctx ends, or when dir is gone. (kernfs does not
// always tell an inotify watch that its cgroup was removed, so the
// goroutine also looks every half second.)
func watch(ctx context.Context, dir string, f *os.File, seen func([]byte) (uint64, bool)) <-chan struct{} {
	ch := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	go func() {
		defer close(ch)
		defer f.Close()
		defer stop()
		buf := make([]byte, 4096)
		for ctx.Err() == nil {
			f.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := f.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if _, err := os.Stat(dir); err != nil {
					return
				}
				continue
			}
			if err != nil {
				return
			}
			kills, ok := seen(buf[:n])
			if !ok {
				return
			}
			for range kills {
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}
