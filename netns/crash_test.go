package netns

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestCrashHelperProcess is not a test: TestSIGKILLThenPrune runs the test
// binary again with HULL_NETNS_CRASH_AT set, and this function then starts
// a setup that stalls before that step, until it is killed.
func TestCrashHelperProcess(t *testing.T) {
	at := os.Getenv("HULL_NETNS_CRASH_AT")
	if at == "" {
		t.Skip("helper process for TestSIGKILLThenPrune")
	}
	k, _ := strconv.Atoi(at)
	dir := os.Getenv("HULL_NETNS_LAB")
	m, err := New(WithHostNetns(filepath.Join(dir, "ns", "host")), WithRunDir(filepath.Join(dir, "run")),
		WithStateDir(filepath.Join(dir, "state")), WithResolvConf(filepath.Join(dir, "resolv.conf"), ""))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	m.o.stepHook = func(i int, s Step) error {
		if i == k {
			fmt.Println("stalled")
			select {} // until SIGKILL
		}
		return nil
	}
	ports, _ := ParsePort("8080:80")
	_, err = m.Setup(context.Background(), Config{ID: "victim", Ports: ports})
	fmt.Println("finished:", err)
	select {}
}

// TestSIGKILLThenPrune kills a setup process in the middle of each step in
// turn; Prune must then remove everything it had made.
func TestSIGKILLThenPrune(t *testing.T) {
	l := newLab(t)
	ports, _ := ParsePort("8080:80")
	steps, err := l.m.Plan(Config{ID: "victim", Ports: ports}, Addresses{IPv4: netip.MustParsePrefix("10.88.0.2/16")})
	must(t, err)
	for k := range len(steps) + 1 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$")
		cmd.Env = append(os.Environ(), "HULL_NETNS_CRASH_AT="+strconv.Itoa(k), "HULL_NETNS_LAB="+l.dir)
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		line, _ := bufio.NewReader(out).ReadString('\n')
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		want := "stalled\n"
		if k == len(steps) {
			want = "finished: <nil>\n" // the hook never fires: setup completes
		}
		if line != want {
			t.Fatalf("helper at step %d said %q, want %q", k+1, line, want)
		}
		if k == len(steps) {
			// A finished setup is a live network, not debris: Prune keeps
			// it (its namespace exists) until the container is torn down.
			if _, err := l.m.Prune(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := l.m.Inspect("victim"); err != nil {
				t.Fatalf("prune removed a finished attachment: %v", err)
			}
			must(t, l.m.Teardown(context.Background(), "victim"))
		} else if k > 0 {
			// Something really was left to clean up.
			if lo, _ := l.m.Scan(); lo.Empty() {
				t.Errorf("killed before step %d: nothing to prune, the test proves nothing", k+1)
			}
		}
		if k%2 == 1 {
			// The same container started again repairs the crashed setup
			// by itself; its teardown then leaves only shared objects.
			if _, err := l.m.Setup(context.Background(), Config{ID: "victim", Ports: ports}); err != nil {
				t.Fatalf("setup again after a kill before step %d: %v", k+1, err)
			}
			must(t, l.m.Teardown(context.Background(), "victim"))
			l.assertOnlyShared()
		}
		removed, err := l.m.Prune(context.Background())
		if err != nil {
			t.Fatalf("prune after a kill before step %d: %v", k+1, err)
		}
		lo, err := l.m.Scan()
		must(t, err)
		if !lo.Empty() {
			t.Fatalf("killed before step %d (%s), prune removed %q but left %+v", k+1, stepName(steps[min(k, len(steps)-1)]), removed, lo)
		}
	}
}
