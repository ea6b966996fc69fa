package highertools

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
)

// errUnsupported marks a flow step the higher tool itself cannot express
// (ctr 1.6 has no update verb and no pids limit flag); such a flow is
// reported as not applicable to that tool, for every runtime alike.
var errUnsupported = errors.New("not expressible with this tool")

// container is what a flow asks a higher tool to run.
type container struct {
	args    []string
	stdin   string // written to the container's stdin (a client with -i)
	tty     bool   // a terminal for the container, and the client run on one
	memory  int64  // memory limit in bytes, 0 for none (swap limited alike)
	pids    int64  // pids limit, 0 for the tool's default
	hostPID bool   // share the host's pid namespace
	// stopSignal is the signal "stop" sends, without "SIG" (podman's
	// --stop-signal); empty for TERM.
	stopSignal string
}

// engine is one higher tool with its OCI runtime pointed at one binary.
// podman and containerd each implement it; every flow is written once
// against it.
type engine interface {
	// run runs c in the foreground; the result's exit code is the
	// client's, which both tools make the container's.
	run(ctx context.Context, c container) (result, error)
	// start runs c detached and returns its name.
	start(ctx context.Context, c container) (string, error)
	// exec runs a process in a running container and returns its result.
	exec(ctx context.Context, name string, args ...string) (result, error)
	// execTTY is exec with a terminal, the client run on one.
	execTTY(ctx context.Context, name string, args ...string) (result, error)
	// stop sends SIGTERM, waits for the container to exit and returns
	// its exit code.
	stop(ctx context.Context, name string) (int, error)
	// killAll has the runtime send sig (a name without "SIG", the
	// container's stop signal) to every process of the container
	// ("kill --all"), waits for it to exit and returns its exit code.
	killAll(ctx context.Context, name, sig string) (int, error)
	// remove deletes a stopped container.
	remove(ctx context.Context, name string) error
	pause(ctx context.Context, name string) error
	resume(ctx context.Context, name string) error
	// status is "running", "paused" or "stopped", as the tool reports it.
	status(ctx context.Context, name string) (string, error)
	// pid is the host pid of the container's init.
	pid(ctx context.Context, name string) (int, error)
	// update sets a running container's memory limit (and swap alike).
	update(ctx context.Context, name string, memory int64) error
	// runtimeID is the ID the tool gave the runtime for the container.
	runtimeID(ctx context.Context, name string) (string, error)
	// runtimeRoot is the runtime's --root as the tool passes it.
	runtimeRoot() string
	// runtimePath is the runtime binary.
	runtimePath() string

	// takeIDs returns the runtime IDs of the containers made since the
	// last call, for the leftover checks.
	takeIDs() []string
	// list returns the containers the tool still knows.
	list(ctx context.Context) ([]string, error)
	// cleanup removes every container the tool knows, by force.
	cleanup(ctx context.Context) error
	// ownCgroups are the cgroups below the parent the tool keeps for
	// itself (podman's shared "conmon" cgroup).
	ownCgroups() []string
}

// defaultRoot is where a runtime keeps its state when the caller passes
// no --root (podman never does): runc's /run/runc, hull's /run/hull.
func defaultRoot(runtime string) string {
	return filepath.Join("/run", filepath.Base(runtime))
}

func atoi(s string) (int, error) { return strconv.Atoi(strings.TrimSpace(s)) }
