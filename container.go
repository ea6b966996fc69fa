package hull

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/netns"
)

// ContainerConfig is what to build: the options of "hull container run".
// Stored in container.json; decoded with unknown fields rejected.
type ContainerConfig struct {
	// Image is the reference to run ("busybox", "127.0.0.1:5000/app:v1").
	Image string `json:"image"`
	// Name is the container's name; empty: a random friendly one.
	Name string `json:"name,omitempty"`
	// Cmd replaces the image's Cmd when not empty.
	Cmd []string `json:"cmd,omitempty"`
	// Entrypoint replaces the image's Entrypoint (and drops its Cmd) when
	// not nil.
	Entrypoint []string `json:"entrypoint,omitempty"`
	// Env adds KEY=VALUE pairs, replacing the image's of the same name.
	Env []string `json:"env,omitempty"`
	// WorkingDir replaces the image's.
	WorkingDir string `json:"workingDir,omitempty"`
	// User is "name", "uid", "name:group" or "uid:gid", resolved in the
	// image's /etc/passwd and /etc/group.
	User string `json:"user,omitempty"`
	// Hostname; default: the first 12 characters of the ID.
	Hostname string `json:"hostname,omitempty"`
	// Volumes are bind mounts "HOST:CONTAINER[:OPTIONS]"; a missing host
	// directory is created. A HOST that is a name, not a path, is a named
	// volume, made on first use (seeded with the image's files there) and
	// kept after the container is removed; "CONTAINER" alone is an
	// anonymous volume. OPTIONS: ro, rw, nocopy. See Volume.
	Volumes []string `json:"volumes,omitempty"`
	// Platform chooses the image of a multi-platform index when pulling,
	// as "os/arch[/variant]"; default: this machine's.
	Platform string `json:"platform,omitempty"`
	// Network is none, host, bridge (default) or container:NAME (the
	// network namespace of another running container).
	Network string `json:"network,omitempty"`
	// Ports are published ports, as -p spells them ("8080:80/tcp").
	Ports []string `json:"ports,omitempty"`
	// Memory is the memory limit in bytes (0: none).
	Memory int64 `json:"memory,omitempty"`
	// PidsLimit caps the number of processes (0: none).
	PidsLimit int64 `json:"pidsLimit,omitempty"`
	// AutoRemove removes the container when it exits (--rm).
	AutoRemove bool `json:"autoRemove,omitempty"`
	// Interactive gives the container the stdin passed to Start (-i).
	Interactive bool `json:"interactive,omitempty"`
	// Health is the health check; nil: none.
	Health *HealthConfig `json:"health,omitempty"`
	// Restart is the restart policy: no (default), on-failure[:N] (at
	// most N restarts), always or unless-stopped. Stop ends any of them.
	Restart string `json:"restart,omitempty"`
	// Tty gives the container a terminal, held by its monitor: Attach
	// reaches it, and its output goes to the log too (-t).
	Tty bool `json:"tty,omitempty"`
	// StopSignal replaces the image's (default SIGTERM).
	StopSignal string `json:"stopSignal,omitempty"`
	// CPUs is the CPU time allowed, in CPUs (1.5: 150 ms every 100 ms).
	CPUs float64 `json:"cpus,omitempty"`
	// ReadOnly mounts the root filesystem read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Tmpfs mounts a tmpfs at each "PATH[:OPTIONS]".
	Tmpfs []string `json:"tmpfs,omitempty"`
	// CapAdd and CapDrop change docker's default capability set; "ALL"
	// names every capability. Names may omit the CAP_ prefix.
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	// Privileged gives every capability and unmasks /proc and /sys.
	Privileged bool `json:"privileged,omitempty"`
	// NoNewPrivileges sets no_new_privs: setuid binaries do not gain.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// Seccomp is the system call filter (see ParseSeccompProfile); nil:
	// none (docker's seccomp=unconfined).
	Seccomp *SeccompProfile `json:"seccomp,omitempty"`
	// Init runs a tiny reaper as the container's PID 1, which forwards
	// signals to the command and reaps orphans (docker's --init).
	Init bool `json:"init,omitempty"`
	// UserNS gives the container a user namespace: "host" or "" (none),
	// "auto" (65536 ids no other container uses) or "HOSTID:SIZE" (the
	// container's ids 0…SIZE-1 are the host's HOSTID…). See UserNSMapping.
	UserNS string `json:"userNS,omitempty"`
	// LogMaxSize rotates the log once it is this many bytes (0: never);
	// LogMaxFiles is how many files are kept, the current one included
	// (default 1: the rotated log is dropped). See container_log.go.
	LogMaxSize  int64 `json:"logMaxSize,omitempty"`
	LogMaxFiles int   `json:"logMaxFiles,omitempty"`
	// Labels become annotations of the container's config.json.
	Labels map[string]string `json:"labels,omitempty"`
}

// ContainerStatus is where a container is in its life.
type ContainerStatus string

// Statuses, as "hull container ps" shows them.
const (
	ContainerCreated ContainerStatus = "created" // made, never started
	ContainerRunning ContainerStatus = "running" // its monitor and process run
	ContainerExited  ContainerStatus = "exited"  // stopped; Start runs it again
	// ContainerDead: the record says running but its monitor is gone (killed, or
	// the machine rebooted). Stop or Remove cleans up after it.
	ContainerDead ContainerStatus = "dead"
)

// ContainerState is the part of a record that changes as the container runs.
type ContainerState struct {
	Status     ContainerStatus `json:"status"`
	Pid        int             `json:"pid,omitempty"`        // of the container's init
	MonitorPid int             `json:"monitorPid,omitempty"` // while it runs
	ExitCode   int             `json:"exitCode"`
	StartedAt  time.Time       `json:"startedAt,omitzero"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"`
	// Error says why the container is dead, or why it failed to start.
	Error string `json:"error,omitempty"`
	// RestartCount is how often the restart policy has run it again.
	RestartCount int `json:"restartCount,omitempty"`
	// Health is set while a container with a health check runs.
	Health *Health `json:"health,omitempty"`
	// BootID is the kernel's boot ID (/proc/sys/kernel/random/boot_id)
	// when the container was started: a running record from another boot
	// is a container the machine's reboot ended.
	BootID string `json:"bootID,omitempty"`
}

// Container is a container's record: what "hull container inspect" prints.
type Container struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Created     time.Time           `json:"created"`
	ImageDigest string              `json:"imageDigest"`
	Command     []string            `json:"command"` // the command's argv (below the reaper, with Init)
	Config      ContainerConfig     `json:"config"`
	Ports       []netns.PortMapping `json:"ports,omitempty"`
	StopSignal  string              `json:"stopSignal"`
	Dir         string              `json:"dir"`
	LogPath     string              `json:"logPath"`
	State       ContainerState      `json:"state"`
	Network     *netns.Attachment   `json:"network,omitempty"`
	// Volumes names the named and anonymous volumes it uses.
	Volumes []string `json:"volumes,omitempty"`
	// UserNS is the host ids of the container's user namespace, if any.
	UserNS *UserNSMapping `json:"userNS,omitempty"`
}

// ErrNoSuchContainer is wrapped when no container has the ID or name.
var ErrNoSuchContainer = errors.New("no such container")

const (
	recordFile  = "container.json"
	logFile     = "ctr.log"
	monitorLock = "monitor.lock"
	opLock      = "lock"
	waitLock    = "wait.lock"
)

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// readRecord reads dir's container.json.
func readRecord(dir string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	c := &Container{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	return c, nil
}

// writeRecord replaces container.json atomically: a reader sees the old or
// the new record, never half of one.
func writeRecord(c *Container) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, recordFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, recordFile))
}

// flock opens dir/name and takes a lock on it (how: unix.LOCK_EX or
// LOCK_SH, maybe |LOCK_NB). The lock lives as long as the returned file.
func flock(dir, name string, how int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return f, nil
}

// monitorAlive reports whether a monitor holds dir's monitor.lock.
func monitorAlive(dir string) bool {
	f, err := flock(dir, monitorLock, unix.LOCK_SH|unix.LOCK_NB)
	if err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	f.Close()
	return false
}

// observe fills in what the record cannot know: a running container whose
// monitor is gone is dead (what is left of it may still run), or, when it
// was started before the machine last booted, exited (nothing of it runs,
// 255 as its exit code); it reports whether the container needs what its
// monitor would have done after the exit (release, recording).
func observe(c *Container) (orphaned bool) {
	if c.State.Status != ContainerRunning || monitorAlive(c.Dir) {
		return false
	}
	// The monitor records the exit before it lets go of its lock, but
	// that may have happened after the caller read c: read it again.
	if fresh, err := readRecord(c.Dir); err == nil && fresh.State.Status != ContainerRunning {
		*c = *fresh
		return false
	}
	if now := bootID(); c.State.BootID != "" && now != "" && c.State.BootID != now {
		c.State.Status = ContainerExited
		c.State.ExitCode = 255
		c.State.MonitorPid = 0
		c.State.Error = fmt.Sprintf("the machine rebooted while it ran (boot %.8s, now %.8s)", c.State.BootID, now)
		return true
	}
	c.State.Status = ContainerDead
	c.State.Error = fmt.Sprintf("monitor %d is gone: the container is no longer supervised", c.State.MonitorPid)
	return true
}

// bootID is the kernel's random ID of this boot, "" if unknown.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Inspect returns the record of the container named by ref: an ID, a unique
// prefix of one, or a name.
func (e *Engine) Inspect(ctx context.Context, ref string) (*Container, error) {
	id, err := e.resolve(ref)
	if err != nil {
		return nil, err
	}
	c, err := readRecord(e.dir(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", ref, ErrNoSuchContainer)
	}
	if err != nil {
		return nil, err
	}
	observe(c)
	return c, nil
}

// List returns every container, newest first.
func (e *Engine) List(ctx context.Context) ([]*Container, error) {
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		c, err := readRecord(filepath.Join(e.containersDir(), ent.Name()))
		if err != nil {
			continue // being created or removed
		}
		observe(c)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// resolve finds the ID of a container by ID, ID prefix or name.
func (e *Engine) resolve(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty container reference: %w", ErrNoSuchContainer)
	}
	if _, err := os.Stat(filepath.Join(e.dir(ref), recordFile)); err == nil && !strings.Contains(ref, "/") {
		return ref, nil
	}
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return "", err
	}
	var byPrefix []string
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		c, err := readRecord(filepath.Join(e.containersDir(), ent.Name()))
		if err != nil {
			continue
		}
		if c.Name == ref {
			return c.ID, nil
		}
		if strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c.ID)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return "", fmt.Errorf("%s: %w", ref, ErrNoSuchContainer)
	}
	return "", fmt.Errorf("%s: ambiguous: %d containers have IDs starting so", ref, len(byPrefix))
}
