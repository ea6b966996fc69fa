package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/netns/nsfs"
)

// TestNetworkCLI attaches a container with the library inside a
// test-made "host" namespace, then drives "hull network ls/inspect/prune"
// on the same state: the container's namespace disappears as if the
// container died without a teardown, and prune must remove its veth,
// chain, lease and record, then the unused network.
func TestNetworkCLI(t *testing.T) {
	testvm.Require(t, testvm.Root)
	dir := t.TempDir()
	host, err := nsfs.Create(filepath.Join(dir, "ns"), "host")
	if err != nil {
		t.Fatal(err)
	}
	defer nsfs.Remove(host)
	root, runDir := filepath.Join(dir, "root"), filepath.Join(dir, "run")
	m, err := netns.New(netns.WithHostNetns(host), netns.WithRunDir(runDir), netns.WithStateDir(filepath.Join(root, "network")),
		netns.WithResolvConf(filepath.Join(dir, "none"), ""))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { // on failure too: nothing may outlive the test
		nsfs.Remove(filepath.Join(runDir, netns.NetnsName("web")))
		m.Prune(context.Background())
		unix.Unmount(runDir, unix.MNT_DETACH) // a shared mount point, as ip netns makes /run/netns
	}()
	ports, _ := netns.ParsePort("8080:80")
	a, err := m.Setup(context.Background(), netns.Config{ID: "web", Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	m.Release("web") // as if the process that set it up exited

	hull := func(args ...string) string {
		t.Helper()
		full := append([]string{"--root", root, "network"}, args...)
		full = append(full, "--netns-dir", runDir, "--host-netns", host)
		out, err := exec.Command(testvm.Hull(t), full...).CombinedOutput()
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return string(out)
	}

	ls := hull("ls")
	for _, want := range []string{"hull0", "10.88.0.0/16", "web", "10.88.0.2/16", "8080:80/tcp", "ready"} {
		if !strings.Contains(ls, want) {
			t.Errorf("network ls lacks %q:\n%s", want, ls)
		}
	}
	var got netns.Attachment
	if err := json.Unmarshal([]byte(hull("inspect", "web")), &got); err != nil {
		t.Fatal(err)
	}
	if got.HostVeth != a.HostVeth || len(got.Plan) == 0 {
		t.Errorf("inspect web: veth %q (want %q), %d plan steps", got.HostVeth, a.HostVeth, len(got.Plan))
	}
	if out := hull("inspect", "--plan", "web"); !strings.Contains(out, " 1. host netns: reserve port 8080:80/tcp") || !strings.Contains(out, "dnat ip to 10.88.0.2:80") {
		t.Errorf("inspect --plan web:\n%s", out)
	}
	// web holds 10.88.0.2: a plan for another container shows the next
	// address, and leases nothing.
	planned := hull("plan", "-p", "9090:90/udp", "demo")
	if !strings.Contains(planned, "reserve port 9090:90/udp") || !strings.Contains(planned, "RTM_NEWADDR 10.88.0.3/16 dev eth0") {
		t.Errorf("network plan demo:\n%s", planned)
	}
	if _, err := m.Inspect("demo"); err == nil {
		t.Error("network plan recorded an attachment")
	}
	if out := hull("prune"); out != "" {
		t.Errorf("prune removed a live attachment:\n%s", out)
	}

	// The container dies without a teardown.
	if err := nsfs.Remove(a.NetnsPath); err != nil {
		t.Fatal(err)
	}
	pruned := hull("prune")
	for _, want := range []string{"removed attachment web", "removed network hull (bridge hull0)"} {
		if !strings.Contains(pruned, want) {
			t.Errorf("prune output lacks %q:\n%s", want, pruned)
		}
	}
	lo, err := m.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if !lo.Empty() {
		t.Errorf("after prune: %+v", lo)
	}
	if out := hull("ls", "--all"); !strings.Contains(out, "links: -") || !strings.Contains(out, "table inet hull: false") {
		t.Errorf("ls --all after prune:\n%s", out)
	}
}
