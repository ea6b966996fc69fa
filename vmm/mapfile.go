package vmm

import (
	"fmt"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// mapFile maps path read-only, for the kernel and initrd: Start copies
// them into guest RAM once, so reading them into Go's heap would leave
// their size in the process's resident set long after (the runtime
// returns freed heap to the kernel only gradually), where a mapping is
// gone at unmap. unmap is idempotent; an empty file maps to nil.
func mapFile(path string) (b []byte, unmap func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, func() {}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, func() {}, err
	}
	if !st.Mode().IsRegular() {
		return nil, func() {}, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	b, err = unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, func() {}, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	done := false
	return b, func() {
		if !done {
			done = true
			unix.Munmap(b)
		}
	}, nil
}

// faultAsError runs fn, which reads mapped files, turning a fault on
// that memory (the file was truncated meanwhile: SIGBUS) into an error
// instead of a crash of the whole process.
func faultAsError(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			f, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("a mapped kernel or initrd file changed while hull read it (fault at %#x)", f.Addr())
		}
	}()
	return fn()
}
