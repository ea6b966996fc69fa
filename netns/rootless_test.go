package netns

import (
	"context"
	"errors"
	"golang.org/x/sys/unix"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/netns/nsfs"
)

// TestRootlessHelpers runs the rootless modes (as root, inside the lab:
// the helpers only need a namespace they may enter). The container gets a
// network from a user-space stack, published ports answer on the host,
// and outbound connections leave from the host's address.
func TestRootlessHelpers(t *testing.T) {
	for _, mode := range []string{ModePasta, ModeSlirp4netns} {
		t.Run(mode, func(t *testing.T) {
			if _, err := exec.LookPath(mode); err != nil {
				t.Skipf("needs %s (Debian: apt-get install %s)", mode, map[string]string{ModePasta: "passt", ModeSlirp4netns: "slirp4netns"}[mode])
			}
			l := newLab(t)
			var ports []PortMapping
			for _, spec := range rootlessPorts {
				p, _ := ParsePort(spec)
				ports = append(ports, p...)
			}
			a := l.setup(Config{ID: "rl", Mode: mode, Ports: ports})
			if a.Helper == nil || !a.Helper.Alive() {
				t.Fatalf("no live helper recorded: %+v", a.Helper)
			}
			h := l.handle(a.NetnsPath)
			lo, err := h.LinkByName("lo")
			h.Close()
			if err != nil || lo.Attrs().Flags&unix.IFF_UP == 0 {
				t.Errorf("lo in the container: %v, %v; want up", lo, err)
			}
			testRootlessTraffic(t, l, mode, a.NetnsPath)
			pid := a.Helper.PID
			must(t, l.m.Teardown(context.Background(), "rl"))
			if a.Helper.Alive() {
				t.Errorf("%s (pid %d) still runs after teardown", mode, pid)
			}
			if ok, _ := nsfs.IsNetns(a.NetnsPath); ok {
				t.Errorf("%s still a namespace", a.NetnsPath)
			}
			l.assertOnlyShared()
		})
	}
}

// skipPastaServerFirst skips, for pasta, the case of a client on another
// machine that waits for the server to speak first (SSH, SMTP, our test
// server).
//
// Debian 12's passt (0.0~git20230309.7c7625d) never completes such a
// connection: pasta accepts it on the host, sends the SYN over the tap,
// the container answers SYN-ACK, and pasta never sends the final ACK — a
// capture on the container's eth0 shows the SYN-ACK retransmitted at 1 s,
// 2 s, 4 s… and nothing else. In that version tcp_conn_from_sock_finish()
// sets seq_ack_to_tap = seq_from_tap and then calls
// tcp_send_flag(ACK_IF_NEEDED), which finds nothing to acknowledge and
// sends nothing; the first data segment from the client carries the ACK,
// so a client that speaks first gets through (the "client speaks first"
// case). Later passt sends the ACK unconditionally there. Loopback
// clients are spliced, without the tap, and unaffected. HULL_PASTA_TRY=1
// runs the case anyway, for a newer pasta.
func skipPastaServerFirst(t *testing.T) {
	t.Helper()
	if os.Getenv("HULL_PASTA_TRY") == "" {
		t.Skip("Debian 12's pasta never ACKs the container's SYN-ACK of an inbound connection before the client sends data (see skipPastaServerFirst)")
	}
}

// rootlessPorts are what the rootless tests publish: a server that speaks
// first (80), one that listens first (81), and UDP.
var rootlessPorts = []string{"8080:80", "8081:81", "5353:53/udp"}

// testRootlessTraffic checks the network of a rootless container whose
// namespace is ctr: published ports from the host and from another
// machine, and outbound connections, which leave from the host's address.
func testRootlessTraffic(t *testing.T, l *lab, mode, ctr string) {
	serveTCP(t, ctr, ":80", "rl")
	serveTCPListening(t, ctr, ":81", "rl")
	serveUDP(t, ctr, ":53", "rl")
	serveTCP(t, l.outside, outsideAddr2+":9000", "outside")
	for _, tc := range []struct{ name, ns, network, addr, say, want string }{
		{"host 127.0.0.1", l.host, "tcp", "127.0.0.1:8080", "", "rl sees "},
		{"third netns", l.outside, "tcp", hostAddr + ":8080", "", "rl sees "},
		{"third netns, client speaks first", l.outside, "tcp", hostAddr + ":8081", "hello", "rl heard hello from "},
		{"udp third netns", l.outside, "udp", hostAddr + ":5353", "", "rl sees "},
		{"outbound", ctr, "tcp", outsideAddr2 + ":9000", "", "outside sees " + hostAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if mode == ModePasta && tc.name == "third netns" {
				skipPastaServerFirst(t)
			}
			fetchIt := fetch
			if tc.say != "" {
				fetchIt = func(ns, network, addr string) (string, error) { return fetchSaying(ns, addr, tc.say) }
			}
			got, err := fetchIt(tc.ns, tc.network, tc.addr)
			if err != nil || !strings.HasPrefix(got, tc.want) {
				t.Errorf("%s %s: %q, %v; want %q…", tc.network, tc.addr, got, err, tc.want)
			}
		})
	}
}

func TestResolveMode(t *testing.T) {
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "slirp4netns"), []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", bin)
	for _, tc := range []struct {
		c    Config
		euid int
		want string // resolved mode, or "error: ..."
	}{
		{Config{ID: "x", Mode: ModeBridge}, 0, ModeBridge},
		{Config{ID: "x", Mode: ModeBridge, NetnsPath: "/proc/1/ns/net"}, 1000, ModeSlirp4netns},
		{Config{ID: "x", Mode: ModeBridge}, 1000, "error: netnsPath must name"},
		{Config{ID: "x", Mode: ModeNone}, 1000, "error: netnsPath must name"},
		{Config{ID: "x", Mode: ModeHost}, 1000, ModeHost},
	} {
		c, err := resolveModeFor(tc.c, tc.euid)
		got := c.Mode
		if err != nil {
			got = "error: " + err.Error()
		}
		ok := got == tc.want
		if want, isErr := strings.CutPrefix(tc.want, "error: "); isErr {
			ok = err != nil && strings.Contains(got, want)
		}
		if !ok {
			t.Errorf("resolveModeFor(%s, euid %d) = %q, want %q", tc.c.Mode, tc.euid, got, tc.want)
		}
	}
}

func TestRootlessWithoutHelpers(t *testing.T) {
	if os.Geteuid() == 0 {
		// resolveMode only steps in for unprivileged callers; check the
		// message with an empty $PATH through a helper that pretends.
		t.Setenv("PATH", t.TempDir())
		_, err := resolveModeFor(Config{ID: "x", Mode: ModeBridge}, 1000)
		if !errors.Is(err, ErrNoRootlessNetwork) || !strings.Contains(err.Error(), "passt") {
			t.Errorf("no helper installed: %v, want ErrNoRootlessNetwork naming the packages", err)
		}
		return
	}
	t.Setenv("PATH", t.TempDir())
	m, _ := New(WithStateDir(t.TempDir()), WithRunDir(t.TempDir()))
	if _, err := m.Setup(context.Background(), Config{ID: "x"}); !errors.Is(err, ErrNoRootlessNetwork) {
		t.Errorf("unprivileged setup without helpers: %v, want ErrNoRootlessNetwork", err)
	}
}
