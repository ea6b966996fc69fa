package seccomp

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Load installs the filter with seccomp(2) SECCOMP_SET_MODE_FILTER and the
// spec's flags. It returns the user-notification listener fd when the
// filter can return SCMP_ACT_NOTIFY, else -1.
//
// Load always adds SECCOMP_FILTER_FLAG_TSYNC: a Go process has many
// threads, and a filter on one of them only would leave the others free
// until execve. With a listener it also adds
// SECCOMP_FILTER_FLAG_NEW_LISTENER and SECCOMP_FILTER_FLAG_TSYNC_ESRCH
// (Linux 5.7), without which the kernel refuses TSYNC with a listener; on
// older kernels it then filters the calling thread only, unless the spec
// asked for SECCOMP_FILTER_FLAG_TSYNC.
//
// The kernel accepts a filter only from a thread with no_new_privs set
// (prctl(PR_SET_NO_NEW_PRIVS)) or CAP_SYS_ADMIN in its user namespace;
// otherwise Load fails with EACCES. A filter can never be removed: the
// calling process and all its descendants keep it. So, as runc does: with
// process.noNewPrivileges, set it and Load as late as possible, right
// before execve, so that the runtime's own last calls are not filtered;
// without it, Load while CAP_SYS_ADMIN is still effective, before the
// capability sets are applied (runtime/capability). When the filter
// notifies, the runtime must still be able to pass the fd on (runc refuses
// SCMP_ACT_NOTIFY for write(2) and as the default action for that reason).
func (f *Filter) Load() (notifyFD int, err error) {
	flags := f.flags | unix.SECCOMP_FILTER_FLAG_TSYNC
	if f.notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	r, err := seccompSetModeFilter(flags, f.prog)
	if f.notify && errors.Is(err, unix.EINVAL) && f.flags&unix.SECCOMP_FILTER_FLAG_TSYNC == 0 {
		// Linux 5.0 to 5.6 have listeners but not TSYNC_ESRCH: filter
		// the calling thread only, as runc always does; the init execs
		// from it, which ends the other threads.
		flags &^= unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		r, err = seccompSetModeFilter(flags, f.prog)
	}
	if err != nil {
		if errors.Is(err, unix.EACCES) {
			err = fmt.Errorf("%w (no_new_privs is not set and the thread lacks CAP_SYS_ADMIN)", err)
		}
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, %s): %w", flagString(flags), err)
	}
	if f.notify {
		return int(r), nil
	}
	if r != 0 {
		// With TSYNC alone, the kernel reports the thread it could not
		// synchronize (one with another filter) as the return value.
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, %s): thread %d could not be synchronized", flagString(flags), r)
	}
	return -1, nil
}
