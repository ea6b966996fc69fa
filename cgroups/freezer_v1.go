package cgroups

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The v1 freezer (freezer.state) and a task in execve.
//
// Writing FROZEN starts freezing; each read of freezer.state moves the
// kernel's state machine on, and reports FROZEN once every task is. A
// multi-threaded process in execve is the exception: before the new
// program replaces it, the exec'ing thread waits (killably, but not
// freezably) for its other threads to die, and those may already sit
// frozen. The cgroup then stays FREEZING for as long as it stays asked to
// freeze (seen for good, not just for a while). Thawing lets the threads
// die and the execve end, after which a new freeze can complete; runc
// thaws and retries the same way.
//
// So freezeV1 asks again and again, thaws and starts over every
// v1ThawEvery attempts, and gives up after v1FreezeAttempts, thawing the
// cgroup rather than leaving it FREEZING (where nothing in it runs, and
// nothing can kill it).
const (
	v1FreezeAttempts = 1000
	v1ThawEvery      = 25
	v1MaxPause       = time.Millisecond // between two reads of freezer.state
)

// ErrFreezeIncomplete is returned (wrapped) when a v1 freeze did not
// complete within its attempts; the cgroup has been thawed again.
var ErrFreezeIncomplete = errors.New("some task could not be frozen")

// freezeV1 freezes the v1 freezer cgroup at dir (see above).
func freezeV1(ctx context.Context, dir string) (err error) {
	defer func() {
		if err != nil {
			// Never leave the cgroup FREEZING: thaw it, and say so.
			if terr := writeFile(dir, "freezer.state", string(Thawed)); terr != nil {
				err = fmt.Errorf("%w (and thawing it again: %v)", err, terr)
			} else {
				err = fmt.Errorf("%w; thawed it again", err)
			}
		}
	}()
	pause := 10 * time.Microsecond
	for attempt := 1; attempt <= v1FreezeAttempts; attempt++ {
		if attempt%v1ThawEvery == 0 {
			// Let a task stuck in execve finish it.
			if err := writeFile(dir, "freezer.state", string(Thawed)); err != nil {
				return fmt.Errorf("freeze %s: thaw to retry: %w", dir, err)
			}
			pause = 10 * time.Microsecond
		}
		if err := writeFile(dir, "freezer.state", string(Frozen)); err != nil {
			return fmt.Errorf("freeze %s: %w", dir, err)
		}
		st, err := readFile(dir, "freezer.state")
		if err != nil {
			return fmt.Errorf("freeze %s: %w", dir, err)
		}
		if FreezerState(st) == Frozen {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("freeze %s: still %s: %w", dir, st, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(pause*2, v1MaxPause)
	}
	return fmt.Errorf("freeze %s: still FREEZING after %d attempts, thawing every %d (a task in execve?): %w",
		dir, v1FreezeAttempts, v1ThawEvery, ErrFreezeIncomplete)
}
