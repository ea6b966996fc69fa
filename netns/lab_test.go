package netns

import (
	"bufio"
	"context"
	"fmt"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullrt/hull/netns/nsfs"
	"github.com/vishvananda/netlink"
)

// A lab is a private world for one test: a namespace playing the host
// (bridge, table, veths and published ports all land there, never in the
// real host namespace), an "outside" namespace wired to it as the rest of
// the world (198.51.100.0/24, TEST-NET-2), and temporary run and state
// directories. Cleanup prunes, asserts that nothing is left, and removes
// the namespaces.
type lab struct {
	t       testing.TB
	dir     string
	host    string // the "host" namespace
	outside string // a third namespace: a client or server on another machine
	m       *Manager
}

const (
	hostAddr     = "198.51.100.1" // the host's own address, on its uplink
	outsideAddr  = "198.51.100.2" // also the host's default gateway
	outsideAddr2 = "198.51.100.3"
	// The same link over IPv6 (2001:db8::/32, for documentation).
	hostAddr6    = "2001:db8::1"
	outsideAddr6 = "2001:db8::2"
)

func requireRoot(t testing.TB) {
	t.Helper()
	testvm.Require(t, testvm.Root) // network namespaces, links, nftables
}

func newLab(t testing.TB) *lab {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	l := &lab{t: t, dir: dir}
	var err error
	if l.host, err = nsfs.Create(filepath.Join(dir, "ns"), "host"); err != nil {
		t.Fatal(err)
	}
	if l.outside, err = nsfs.Create(filepath.Join(dir, "ns"), "outside"); err != nil {
		nsfs.Remove(l.host)
		t.Fatal(err)
	}
	t.Cleanup(l.close)

	// host: lo up, uplink "up0" 198.51.100.1/24 and 2001:db8::1/64;
	// outside: "eth0" .2/24 and 2001:db8::2/64.
	// The outside has no route to the container subnet: replies reach
	// containers only if the host masquerades.
	hh := l.handle(l.host)
	defer hh.Close()
	oh := l.handle(l.outside)
	defer oh.Close()
	fd, err := os.Open(l.outside)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	must(t, hh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(fd.Fd()))}))
	for _, x := range []struct {
		h          *netlink.Handle
		link, addr string
		addr6      string
	}{{hh, "up0", hostAddr + "/24", hostAddr6 + "/64"}, {oh, "eth0", outsideAddr + "/24", outsideAddr6 + "/64"}} {
		lo, err := x.h.LinkByName("lo")
		must(t, err)
		must(t, x.h.LinkSetUp(lo))
		ln, err := x.h.LinkByName(x.link)
		must(t, err)
		a, _ := netlink.ParseAddr(x.addr)
		must(t, x.h.AddrAdd(ln, a))
		// No duplicate address detection: the address is usable at once
		// instead of "tentative" for a second.
		a6, _ := netlink.ParseAddr(x.addr6)
		a6.Flags = unix.IFA_F_NODAD
		must(t, x.h.AddrAdd(ln, a6))
		must(t, x.h.LinkSetUp(ln))
	}
	// The outside is the host's default gateway (pasta copies the host's
	// default route), and has a second address that is not the gateway.
	up0, _ := hh.LinkByName("up0")
	must(t, hh.RouteAdd(&netlink.Route{LinkIndex: up0.Attrs().Index, Gw: net.ParseIP(outsideAddr)}))
	eth0, _ := oh.LinkByName("eth0")
	a3, _ := netlink.ParseAddr(outsideAddr2 + "/24")
	must(t, oh.AddrAdd(eth0, a3))
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nsearch lab\n"), 0o644)
	upstream := filepath.Join(dir, "upstream.conf")
	os.WriteFile(upstream, []byte("nameserver 192.0.2.53\n"), 0o644)
	l.m, err = New(WithHostNetns(l.host), WithRunDir(filepath.Join(dir, "run")), WithStateDir(filepath.Join(dir, "state")),
		WithResolvConf(resolv, upstream))
	must(t, err)
	return l
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) handle(ns string) *netlink.Handle {
	l.t.Helper()
	h, err := handleIn(ns)
	must(l.t, err)
	return h
}

func (l *lab) close() {
	t := l.t
	if l.m != nil {
		if _, err := l.m.Prune(context.Background()); err != nil {
			t.Errorf("cleanup: prune: %v", err)
		}
		lo, err := l.m.Scan()
		if err != nil {
			t.Errorf("cleanup: scan: %v", err)
		}
		if !lo.Empty() {
			t.Errorf("cleanup: left behind after prune: %+v", lo)
		}
	}
	nsfs.Remove(l.host)
	nsfs.Remove(l.outside)
	unix.Unmount(filepath.Join(l.dir, "run"), unix.MNT_DETACH) // nsfs.ShareDir made it a mount point
	if m, _ := nsfs.MountsUnder(l.dir); len(m) != 0 {
		t.Errorf("cleanup: mounts left under %s: %v", l.dir, m)
	}
}

// assertOnlyShared fails unless the only hull objects left are the shared
// ones of a network (bridge, table, network record).
func (l *lab) assertOnlyShared(ids ...string) {
	l.t.Helper()
	lo, err := l.m.Scan()
	must(l.t, err)
	var bad []string
	for _, link := range lo.Links {
		if strings.HasPrefix(link, "hv") {
			bad = append(bad, "link "+link)
		}
	}
	for _, c := range lo.Chains {
		bad = append(bad, "chain "+c)
	}
	for _, x := range lo.Leases {
		bad = append(bad, "lease "+x)
	}
	for _, x := range append(lo.Netns, lo.Mounts...) {
		bad = append(bad, "netns/mount "+x)
	}
	for _, x := range lo.Attachments {
		bad = append(bad, "attachment "+x)
	}
	etc, _ := filepath.Glob(filepath.Join(l.dir, "state", "etc", "*"))
	for _, x := range etc {
		bad = append(bad, "etc "+x)
	}
	if len(bad) > 0 {
		l.t.Errorf("left behind: %s", strings.Join(bad, ", "))
	}
}

// serveTCP listens in namespace ns and answers every connection with
// "<name> sees <peer address>\n".
func serveTCP(t *testing.T, ns, addr, name string) {
	t.Helper()
	var ln net.Listener
	must(t, nsfs.Do(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return }))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s sees %s\n", name, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// serveTCPListening serves clients that speak first: it reads a line and
// answers "<name> heard <line> from <peer address>\n".
func serveTCPListening(t *testing.T, ns, addr, name string) {
	t.Helper()
	var ln net.Listener
	must(t, nsfs.Do(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return }))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "%s heard %s from %s\n", name, strings.TrimSpace(line), c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// serveUDP answers every datagram with "<name> sees <peer> <payload>".
func serveUDP(t *testing.T, ns, addr, name string) {
	t.Helper()
	var pc net.PacketConn
	must(t, nsfs.Do(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return }))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			fmt.Fprintf(writerTo{pc, from}, "%s sees %s %s", name, from.(*net.UDPAddr).AddrPort().Addr().Unmap(), b[:n])
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
}

type writerTo struct {
	pc net.PacketConn
	to net.Addr
}

func (w writerTo) Write(b []byte) (int, error) { return w.pc.WriteTo(b, w.to) }

// fetch dials addr over network from inside ns and returns what the
// server says; the socket is made on a thread in ns (nsfs.Do) and then
// used from this goroutine.
func fetch(ns, network, addr string) (string, error) {
	var c net.Conn
	err := nsfs.Do(ns, func() (err error) {
		c, err = net.DialTimeout(network, addr, 10*time.Second)
		return
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a lost packet fails the test instead of hanging it
	if network == "udp" {
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		b := make([]byte, 1500)
		n, err := c.Read(b)
		return string(b[:n]), err
	}
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

// fetchSaying dials addr over TCP from inside ns, sends say and a newline,
// and returns the server's answer.
func fetchSaying(ns, addr, say string) (string, error) {
	var c net.Conn
	err := nsfs.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintln(c, say); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

func (l *lab) setup(c Config) *Attachment {
	l.t.Helper()
	a, err := l.m.Setup(context.Background(), c)
	if err != nil {
		l.t.Fatalf("Setup(%s): %v", c.ID, err)
	}
	return a
}

func addrOf(a *Attachment) string { return a.Addrs[0].Addr().String() }

var _ = netip.Addr{}
