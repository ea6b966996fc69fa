package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// event is one line of "hull events": runc's shape, with the few stats
// fields the test reads.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data *struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Usage uint64 `json:"usage"`
				Limit uint64 `json:"limit"`
			} `json:"usage"`
			Events map[string]uint64 `json:"events"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

// TestEventsCLI runs a busybox container under a 32 MiB memory limit and
// reads "hull events" as containerd's shim would: --stats prints one
// stats event with the container's real counters and exits; the stream
// prints a stats event per --interval, and an "oom" event when a memory
// hog exec'd into the container is OOM-killed; the stream ends by itself
// once the container has stopped.
func TestEventsCLI(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hull := testvm.Hull(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "state")
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(t, filepath.Join(bundle, "rootfs"), "sleep", "tail")
	limit, pids := int64(32<<20), int64(20)
	s := runtime.DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = []string{"sleep", "1000"}
	s.Linux.CgroupsPath = fmt.Sprintf("hull-events-test-%d", os.Getpid())
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit} // no paging out where there is swap
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	// Files, not pipes, for the verbs: the container's init keeps the
	// stdio of "hull create".
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		outF, err := os.CreateTemp(dir, "stdout")
		if err != nil {
			t.Fatal(err)
		}
		defer outF.Close()
		errF, err := os.CreateTemp(dir, "stderr")
		if err != nil {
			t.Fatal(err)
		}
		defer errF.Close()
		cmd := exec.Command(hull, append([]string{"--root", root}, args...)...)
		cmd.Dir = bundle
		cmd.Stdout, cmd.Stderr = outF, errF
		err = cmd.Run()
		ob, _ := os.ReadFile(outF.Name())
		eb, _ := os.ReadFile(errF.Name())
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(ob), string(eb), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := run(args...)
		if code != 0 {
			t.Fatalf("hull %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	t.Cleanup(func() { run("delete", "--force", "ev") })
	must("create", "ev")
	must("start", "ev")

	// --stats: exactly one event, with the numbers of a live container.
	out := must("events", "--stats", "ev")
	dec := json.NewDecoder(strings.NewReader(out))
	var ev event
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("events --stats printed %q: %v", out, err)
	}
	if dec.More() {
		t.Errorf("events --stats printed more than one event: %q", out)
	}
	if ev.Type != "stats" || ev.ID != "ev" || ev.Data == nil {
		t.Fatalf("events --stats: %q, want a stats event for ev", out)
	}
	d := ev.Data
	if d.Pids.Current < 1 || d.Pids.Limit != uint64(pids) || d.Memory.Usage.Usage == 0 ||
		d.Memory.Usage.Limit != uint64(limit) || d.CPU.Usage.Total == 0 {
		t.Errorf("events --stats: pids %+v, memory %+v, cpu total %d; want pids >= 1 of %d, memory > 0 of %d, cpu > 0",
			d.Pids, d.Memory.Usage, d.CPU.Usage.Total, pids, limit)
	}
	if _, errs, code := run("events", "--interval", "0s", "ev"); code != 1 || !strings.Contains(errs, "interval must be greater than 0") {
		t.Errorf("events --interval 0s: exit %d, %q", code, errs)
	}

	// The stream.
	events := exec.Command(hull, "--root", root, "events", "--interval", "100ms", "ev")
	stdout, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	events.Stderr = &stderr
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan event)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev.Type = "unparsable: " + sc.Text()
			}
			lines <- ev
		}
		exited <- events.Wait()
	}()
	t.Cleanup(func() {
		events.Process.Kill()
		for range lines {
		}
	})
	// next returns the next event of the stream, failing after a bound
	// generous enough for the test VM (not a timing assertion: a hang).
	next := func(what string) event {
		t.Helper()
		select {
		case ev, ok := <-lines:
			if !ok {
				t.Fatalf("waiting for %s: the stream ended (%v): %s", what, <-exited, stderr.String())
			}
			return ev
		case <-time.After(30 * time.Second):
			t.Fatalf("waiting for %s: no event for 30s", what)
		}
		panic("unreachable")
	}
	for i := range 2 {
		if ev := next("stats"); ev.Type != "stats" || ev.ID != "ev" || ev.Data == nil || ev.Data.Pids.Current < 1 {
			t.Fatalf("stream event %d: %+v, want stats of ev", i, ev)
		}
	}

	// tail keeps the last line in memory: /dev/zero has no newline.
	if _, errs, code := run("exec", "ev", "tail", "/dev/zero"); code != 128+9 {
		t.Fatalf("memory hog: exit %d (%s), want 137: SIGKILL by the OOM killer", code, errs)
	}
	for {
		ev := next("the oom event")
		if ev.Type == "oom" {
			if ev.ID != "ev" || ev.Data != nil {
				t.Errorf("oom event %+v, want id ev and no data", ev)
			}
			break
		}
		if ev.Type != "stats" {
			t.Fatalf("stream: %+v", ev)
		}
	}
	if ev := next("stats after the oom"); ev.Type != "stats" || ev.Data.Memory.Events["oom_kill"] < 1 {
		t.Errorf("stats after the OOM kill: %+v, want memory.events oom_kill >= 1", ev)
	}

	// Stopping the container ends the stream (today with an error, as
	// the stats of a stopped container are: the test does not pin that).
	must("kill", "ev", "KILL")
	for i := 0; ; i++ {
		var st struct{ Status string }
		if err := json.Unmarshal([]byte(must("state", "ev")), &st); err == nil && st.Status == "stopped" {
			break
		}
		if i == 500 {
			t.Fatal("the container never stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	must("delete", "ev")
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-lines:
			if ok {
				continue
			}
			err := <-exited
			t.Logf("the stream ended: %v %s", err, stderr.String())
		case <-deadline:
			t.Fatal("hull events still runs 30s after the container stopped")
		}
		break
	}
}
