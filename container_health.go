package hull

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime"
)

// HealthConfig is a container's health check (docker's --health-*): Cmd
// runs in the container every Interval; Retries failures in a row make the
// container unhealthy, one success healthy again.
type HealthConfig struct {
	// Cmd is run by /bin/sh -c.
	Cmd string `json:"cmd"`
	// Interval between checks; default 30 s.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout of one check, after which it is killed and failed;
	// default 30 s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is how many failures in a row make it unhealthy; default 3.
	Retries int `json:"retries,omitempty"`
}

func (h HealthConfig) withDefaults() HealthConfig {
	if h.Interval <= 0 {
		h.Interval = 30 * time.Second
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Retries <= 0 {
		h.Retries = 3
	}
	return h
}

// Health statuses, as docker spells them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is the outcome of a container's health checks so far.
type Health struct {
	Status        string        `json:"status"`
	FailingStreak int           `json:"failingStreak"`
	Log           []HealthProbe `json:"log,omitempty"` // the last five
}

// HealthProbe is one run of the check.
type HealthProbe struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

// probeHealth runs the check once in the running container id.
func (e *Engine) probeHealth(ctx context.Context, id string, h HealthConfig) HealthProbe {
	p := HealthProbe{Start: time.Now().UTC(), ExitCode: -1}
	defer func() { p.End = time.Now().UTC() }()
	s, err := e.rt.Config(ctx, id)
	if err != nil {
		p.Output = err.Error()
		return p
	}
	r, w, err := os.Pipe()
	if err != nil {
		p.Output = err.Error()
		return p
	}
	proc := *s.Process
	proc.Args = []string{"/bin/sh", "-c", h.Cmd}
	proc.Terminal = false
	proc.ConsoleSize = nil
	ep, err := e.rt.Exec(ctx, id, runtime.ExecOptions{Process: &proc, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		r.Close()
		p.Output = err.Error()
		return p
	}
	var out bytes.Buffer
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if out.Len() < 4096 {
				out.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	sigs := make(chan os.Signal, 1)
	t := time.AfterFunc(h.Timeout, func() { sigs <- unix.SIGKILL })
	code, err := ep.Wait(sigs)
	timedOut := !t.Stop()
	r.Close()
	copied.Wait()
	p.ExitCode, p.Output = code, out.String()
	switch {
	case timedOut:
		p.ExitCode = -1
		p.Output = fmt.Sprintf("health check timed out after %s\n%s", h.Timeout, p.Output)
	case err != nil:
		p.ExitCode = -1
		p.Output = err.Error()
	}
	return p
}

// record adds a probe to h and updates its status.
func (h *Health) record(p HealthProbe, retries int) {
	if p.ExitCode == 0 {
		h.Status, h.FailingStreak = HealthHealthy, 0
	} else {
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = HealthUnhealthy
		}
	}
	h.Log = append(h.Log, p)
	if len(h.Log) > 5 {
		h.Log = h.Log[len(h.Log)-5:]
	}
}

// HealthCheck runs a container's health check once, now, and returns the
// outcome ("hull container healthcheck run"); the monitor's record of the
// container's health is left to the monitor.
func (e *Engine) HealthCheck(ctx context.Context, ref string) (HealthProbe, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return HealthProbe{}, err
	}
	if c.Config.Health == nil {
		return HealthProbe{}, fmt.Errorf("container %s has no health check", c.Name)
	}
	if c.State.Status != ContainerRunning {
		return HealthProbe{}, fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	return e.probeHealth(ctx, c.ID, c.Config.Health.withDefaults()), nil
}

// healthLoop runs the check every interval until ctx ends, recording each
// outcome in c. The monitor starts it after writing the "running" record
// and waits for it before writing the next: it is the record's only writer
// meanwhile.
func (e *Engine) healthLoop(ctx context.Context, c *Container, h HealthConfig) {
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := e.probeHealth(ctx, c.ID, h)
		if ctx.Err() != nil {
			return
		}
		c.State.Health.record(p, h.Retries)
		if err := writeRecord(c); err != nil {
			e.log.Error("record", "err", err)
		}
	}
}
