package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hullrt/hull/netns/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestBridgeNetworking(t *testing.T) {
	l := newLab(t)
	ports, err := ParsePort("8080:80")
	must(t, err)
	udp, err := ParsePort("5353:53/udp")
	must(t, err)
	local, err := ParsePort("127.0.0.1:8082:80")
	must(t, err)
	one6, err := ParsePort("[" + hostAddr6 + "]:8086:80")
	must(t, err)
	a := l.setup(Config{ID: "web", Ports: append(append(append(ports, udp...), local...), one6...), MAC: "02:42:0a:58:00:aa"})
	b := l.setup(Config{ID: "client"})
	if addrOf(a) != "10.88.0.2" || addrOf(b) != "10.88.0.3" {
		t.Fatalf("addresses: web %s, client %s; want 10.88.0.2 and 10.88.0.3", addrOf(a), addrOf(b))
	}
	serveTCP(t, a.NetnsPath, ":80", "web")
	serveUDP(t, a.NetnsPath, ":53", "web")

	t.Run("container view", func(t *testing.T) {
		h := l.handle(a.NetnsPath)
		defer h.Close()
		eth0, err := h.LinkByName("eth0")
		must(t, err)
		if eth0.Attrs().MTU != 1500 || eth0.Attrs().HardwareAddr.String() != "02:42:0a:58:00:aa" || eth0.Attrs().Flags&unix.IFF_UP == 0 {
			t.Errorf("eth0: mtu %d mac %s flags %v", eth0.Attrs().MTU, eth0.Attrs().HardwareAddr, eth0.Attrs().Flags)
		}
		addrs, _ := h.AddrList(eth0, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.88.0.2/16" {
			t.Errorf("eth0 addresses = %v, want 10.88.0.2/16", addrs)
		}
		lo, _ := h.LinkByName("lo")
		if lo.Attrs().Flags&unix.IFF_UP == 0 {
			t.Error("lo is down in the container")
		}
		routes, _ := h.RouteList(nil, netlink.FAMILY_V4)
		var def string
		for _, r := range routes {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				def = r.Gw.String()
			}
		}
		if def != "10.88.0.1" {
			t.Errorf("default route via %q, want 10.88.0.1", def)
		}
		hh := l.handle(l.host)
		defer hh.Close()
		veth, err := hh.LinkByName(a.HostVeth)
		must(t, err)
		pi, err := hh.LinkGetProtinfo(veth)
		must(t, err)
		if !pi.Hairpin {
			t.Errorf("%s: hairpin off", a.HostVeth)
		}
		resolv, _ := os.ReadFile(a.EtcFiles["/etc/resolv.conf"])
		if !strings.Contains(string(resolv), "nameserver 192.0.2.53") || strings.Contains(string(resolv), "127.0.0.53") {
			t.Errorf("resolv.conf:\n%s", resolv)
		}
		hosts, _ := os.ReadFile(a.EtcFiles["/etc/hosts"])
		if !strings.Contains(string(hosts), "10.88.0.2\tweb\n") {
			t.Errorf("hosts:\n%s", hosts)
		}
	})

	// Who is asking, and what the server must see as the peer. A client on
	// another machine keeps its address; the host itself and containers
	// going through the published port are masqueraded to the bridge
	// address, or the reply would not come back through the host.
	for _, tc := range []struct {
		name, ns, network, addr, want string
	}{
		{"neighbour direct", b.NetnsPath, "tcp", "10.88.0.2:80", "web sees 10.88.0.3"},
		{"host 127.0.0.1", l.host, "tcp", "127.0.0.1:8080", "web sees 10.88.0.1"},
		{"host own address", l.host, "tcp", hostAddr + ":8080", "web sees " + hostAddr},
		{"host [::1] via proxy", l.host, "tcp", "[::1]:8080", "web sees 10.88.0.1"},
		{"third netns", l.outside, "tcp", hostAddr + ":8080", "web sees " + outsideAddr},
		{"hairpin to itself", a.NetnsPath, "tcp", hostAddr + ":8080", "web sees 10.88.0.1"},
		{"neighbour via gateway", b.NetnsPath, "tcp", "10.88.0.1:8080", "web sees 10.88.0.1"},
		{"udp third netns", l.outside, "udp", hostAddr + ":5353", "web sees " + outsideAddr + " ping"},
		{"udp host 127.0.0.1", l.host, "udp", "127.0.0.1:5353", "web sees 10.88.0.1 ping"},
		{"udp host [::1] via proxy", l.host, "udp", "[::1]:5353", "web sees 10.88.0.1 ping"},
		// An IPv4-only container still answers on the host's IPv6
		// addresses, as with docker: the proxy on [::]:PORT relays.
		{"third netns over IPv6 via proxy", l.outside, "tcp", "[" + hostAddr6 + "]:8080", "web sees 10.88.0.1"},
		{"udp third netns over IPv6 via proxy", l.outside, "udp", "[" + hostAddr6 + "]:5353", "web sees 10.88.0.1 ping"},
		{"one IPv6 host address via proxy", l.outside, "tcp", "[" + hostAddr6 + "]:8086", "web sees 10.88.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(tc.ns, tc.network, tc.addr)
			if err != nil || got != tc.want {
				t.Errorf("%s %s from %s: %q, %v; want %q", tc.network, tc.addr, tc.name, got, err, tc.want)
			}
		})
	}

	t.Run("host address limits a port", func(t *testing.T) {
		if got, err := fetch(l.host, "tcp", "127.0.0.1:8082"); err != nil || got != "web sees 10.88.0.1" {
			t.Errorf("127.0.0.1:8082: %q, %v", got, err)
		}
		for _, addr := range []string{hostAddr + ":8082", "[" + hostAddr6 + "]:8082"} {
			if got, err := fetch(l.outside, "tcp", addr); err == nil {
				t.Errorf("%s answered %q; the port is published on 127.0.0.1 only", addr, got)
			}
		}
		if got, err := fetch(l.host, "tcp", "[::1]:8082"); err == nil {
			t.Errorf("[::1]:8082 answered %q; the port is published on 127.0.0.1 only", got)
		}
	})

	t.Run("outbound masquerade", func(t *testing.T) {
		serveTCP(t, l.outside, outsideAddr+":9000", "outside")
		got, err := fetch(b.NetnsPath, "tcp", outsideAddr+":9000")
		if want := "outside sees " + hostAddr; err != nil || got != want {
			t.Errorf("container → outside: %q, %v; want %q", got, err, want)
		}
	})

	t.Run("port in use", func(t *testing.T) {
		_, err := l.m.Setup(context.Background(), Config{ID: "clash", Ports: ports})
		if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "8080") {
			t.Fatalf("second publish of 8080: %v, want EADDRINUSE naming the port", err)
		}
		if _, err := l.m.Inspect("clash"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed setup left a record: %v", err)
		}
	})

	t.Run("teardown", func(t *testing.T) {
		must(t, l.m.Teardown(context.Background(), "web"))
		must(t, l.m.Teardown(context.Background(), "client"))
		l.assertOnlyShared()
		if _, err := fetch(l.host, "tcp", "[::1]:8080"); err == nil {
			t.Error("[::1]:8080 still answers after teardown")
		}
		if ok, _ := nsfs.IsNetns(a.NetnsPath); ok {
			t.Errorf("%s still a namespace", a.NetnsPath)
		}
		h, err := handleIn(l.host, unix.NETLINK_NETFILTER)
		must(t, err)
		defer h.Close()
		flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
		must(t, err)
		for _, f := range flows {
			for _, ip := range []string{f.Forward.DstIP.String(), f.Reverse.SrcIP.String(), f.Reverse.DstIP.String()} {
				if ip == addrOf(a) || ip == addrOf(b) {
					t.Errorf("conntrack entry of a removed container: %s", f)
				}
			}
		}
	})
}

// TestDualStack publishes ports of a container with an IPv6 address: a
// port without host address answers on both families, on every address
// (IPv6 through DNAT, [::1] through the proxy, which then dials the
// container's IPv6 address); [::] and 0.0.0.0 limit it to one family.
func TestDualStack(t *testing.T) {
	l := newLab(t)
	n := Network{IPv6Subnet: netip.MustParsePrefix("fd88:1::/64")}
	var ports []PortMapping
	for _, spec := range []string{"8080:80", "[::]:8081:80", "0.0.0.0:8083:80", "[" + hostAddr6 + "]:8086:80", "5353:53/udp"} {
		p, err := ParsePort(spec)
		must(t, err)
		ports = append(ports, p...)
	}
	a := l.setup(Config{ID: "v6web", Network: n, Ports: ports})
	b := l.setup(Config{ID: "v6client", Network: n})
	if len(a.Addrs) != 2 || a.Addrs[1].String() != "fd88:1::2/64" {
		t.Fatalf("addresses %v, want an IPv6 one fd88:1::2/64", a.Addrs)
	}
	serveTCP(t, a.NetnsPath, ":80", "web")
	serveUDP(t, a.NetnsPath, ":53", "web")
	h6 := "[" + hostAddr6 + "]"
	for _, tc := range []struct{ name, ns, network, addr, want string }{ // want "": refused
		{"neighbour over IPv6", b.NetnsPath, "tcp", "[fd88:1::2]:80", "web sees fd88:1::3"},
		{"IPv6 publish via gateway", b.NetnsPath, "tcp", "[fd88:1::1]:8080", "web sees fd88:1::1"},
		{"host [::1]", l.host, "tcp", "[::1]:8080", "web sees fd88:1::1"},
		{"host own IPv6 address", l.host, "tcp", h6 + ":8080", "web sees " + hostAddr6},
		{"third netns over IPv6", l.outside, "tcp", h6 + ":8080", "web sees " + outsideAddr6},
		{"host 127.0.0.1", l.host, "tcp", "127.0.0.1:8080", "web sees 10.88.0.1"},
		{"third netns over IPv4", l.outside, "tcp", hostAddr + ":8080", "web sees " + outsideAddr},
		{"[::] host [::1]", l.host, "tcp", "[::1]:8081", "web sees fd88:1::1"},
		{"[::] third netns over IPv6", l.outside, "tcp", h6 + ":8081", "web sees " + outsideAddr6},
		{"[::] not on 127.0.0.1", l.host, "tcp", "127.0.0.1:8081", ""},
		{"[::] not on IPv4", l.outside, "tcp", hostAddr + ":8081", ""},
		{"0.0.0.0 host 127.0.0.1", l.host, "tcp", "127.0.0.1:8083", "web sees 10.88.0.1"},
		{"0.0.0.0 third netns", l.outside, "tcp", hostAddr + ":8083", "web sees " + outsideAddr},
		{"0.0.0.0 not on [::1]", l.host, "tcp", "[::1]:8083", ""},
		{"0.0.0.0 not on IPv6", l.outside, "tcp", h6 + ":8083", ""},
		{"one IPv6 address", l.outside, "tcp", h6 + ":8086", "web sees " + outsideAddr6},
		{"one IPv6 address, not [::1]", l.host, "tcp", "[::1]:8086", ""},
		{"one IPv6 address, not IPv4", l.outside, "tcp", hostAddr + ":8086", ""},
		{"udp third netns over IPv6", l.outside, "udp", h6 + ":5353", "web sees " + outsideAddr6 + " ping"},
		{"udp host [::1]", l.host, "udp", "[::1]:5353", "web sees fd88:1::1 ping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(tc.ns, tc.network, tc.addr)
			if tc.want == "" {
				if err == nil {
					t.Errorf("%s %s answered %q, want no answer", tc.network, tc.addr, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("%s %s: %q, %v; want %q", tc.network, tc.addr, got, err, tc.want)
			}
		})
	}

	t.Run("IPv6 port held", func(t *testing.T) {
		// Nothing else on the host may take [::]:8080 while it is
		// published, and a port taken on IPv6 only fails a publish.
		var err error
		must(t, nsfs.Do(l.host, func() error {
			ln, lerr := net.Listen("tcp6", "[::]:8080")
			if lerr == nil {
				ln.Close()
			}
			err = lerr
			return nil
		}))
		if !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("listen [::]:8080 while published: %v, want EADDRINUSE", err)
		}
		var squatter net.Listener
		must(t, nsfs.Do(l.host, func() (err error) { squatter, err = net.Listen("tcp6", "[::]:8085"); return }))
		defer squatter.Close()
		p, _ := ParsePort("8085:80")
		_, err = l.m.Setup(context.Background(), Config{ID: "v6clash", Network: n, Ports: p})
		if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "8085") {
			t.Errorf("publish 8085 taken on [::]: %v, want EADDRINUSE naming the port", err)
		}
	})

	must(t, l.m.Teardown(context.Background(), "v6web"))
	must(t, l.m.Teardown(context.Background(), "v6client"))
	l.assertOnlyShared()
	if _, err := fetch(l.outside, "tcp", h6+":8080"); err == nil {
		t.Errorf("%s:8080 still answers after teardown", h6)
	}
}

func TestModes(t *testing.T) {
	l := newLab(t)
	br := l.setup(Config{ID: "br"})
	none := l.setup(Config{ID: "quiet", Mode: "none"})
	host := l.setup(Config{ID: "hostnet", Mode: "host"})
	shared := l.setup(Config{ID: "sidecar", Mode: "container:br"})
	byPath := l.setup(Config{ID: "bypath", Mode: "ns:" + l.outside})

	if host.NetnsPath != "" {
		t.Errorf("mode host: netns %q, want none of its own", host.NetnsPath)
	}
	if shared.NetnsPath != br.NetnsPath || byPath.NetnsPath != l.outside {
		t.Errorf("joined namespaces: sidecar %q (want %q), bypath %q (want %q)", shared.NetnsPath, br.NetnsPath, byPath.NetnsPath, l.outside)
	}
	h := l.handle(none.NetnsPath)
	links, _ := h.LinkList()
	h.Close()
	if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&unix.IFF_UP == 0 {
		t.Errorf("mode none: links %v, want only lo, up", links)
	}
	if _, err := l.m.Setup(context.Background(), Config{ID: "orphan", Mode: "container:nosuch"}); err == nil {
		t.Error("container:nosuch accepted")
	}
	if _, err := l.m.Setup(context.Background(), Config{ID: "br"}); !errors.Is(err, ErrExist) {
		t.Errorf("second Setup of br: %v, want ErrExist", err)
	}
	// Leaving a shared namespace must not destroy it.
	must(t, l.m.Teardown(context.Background(), "sidecar"))
	must(t, l.m.Teardown(context.Background(), "bypath"))
	for _, p := range []string{br.NetnsPath, l.outside} {
		if ok, _ := nsfs.IsNetns(p); !ok {
			t.Errorf("teardown of a joiner removed %s", p)
		}
	}
	for _, id := range []string{"br", "quiet", "hostnet"} {
		must(t, l.m.Teardown(context.Background(), id))
	}
	l.assertOnlyShared()
}

func TestConcurrentSetups(t *testing.T) {
	l := newLab(t)
	const n = 50
	atts := make([]*Attachment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atts[i], errs[i] = l.m.Setup(context.Background(), Config{ID: fmt.Sprintf("c%02d", i)})
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	for i, a := range atts {
		if errs[i] != nil {
			t.Fatalf("setup %d: %v", i, errs[i])
		}
		if other, dup := seen[addrOf(a)]; dup {
			t.Fatalf("%s and %s both got %s", other, a.ID, addrOf(a))
		}
		seen[addrOf(a)] = a.ID
	}
	// Every container really holds its address, and reaches the gateway.
	for _, a := range []*Attachment{atts[0], atts[n-1]} {
		serveTCP(t, a.NetnsPath, ":80", a.ID)
		got, err := fetch(atts[n/2].NetnsPath, "tcp", addrOf(a)+":80")
		if want := a.ID + " sees " + addrOf(atts[n/2]); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", a.ID, got, err, want)
		}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.m.Teardown(context.Background(), atts[i].ID)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	l.assertOnlyShared()
}

// TestSetupFailureRollsBack fails a setup at each of its steps in turn and
// checks that every time nothing of the container is left.
func TestSetupFailureRollsBack(t *testing.T) {
	l := newLab(t)
	ports, _ := ParsePort("8080:80")
	c := Config{ID: "doomed", Ports: ports}
	steps, err := l.m.Plan(c, Addresses{IPv4: netip.MustParsePrefix("10.88.0.2/16")})
	must(t, err)
	boom := errors.New("injected failure")
	for k := range len(steps) + 1 {
		l.m.o.stepHook = func(i int, s Step) error {
			if i == k {
				return boom
			}
			return nil
		}
		_, err := l.m.Setup(context.Background(), c)
		if k == len(steps) {
			// The hook never fired: the full setup works, and tears down.
			must(t, err)
			must(t, l.m.Teardown(context.Background(), c.ID))
		} else if !errors.Is(err, boom) {
			t.Fatalf("failing before step %d: %v", k+1, err)
		}
		l.assertOnlyShared()
		if t.Failed() {
			t.Fatalf("after failing at step %d (%s)", k+1, steps[min(k, len(steps)-1)])
		}
		// The port is free again.
		if f, err := l.m.reserve("tcp", netip.MustParseAddrPort("0.0.0.0:8080")); err != nil {
			t.Fatalf("after failing at step %d: port 8080 still held: %v", k+1, err)
		} else {
			f.Close()
		}
	}
	l.m.o.stepHook = nil
}

// TestAdoptedBridge joins a bridge that existed before hull: teardown and
// prune must leave it, while a conflicting definition of the same network
// is refused.
func TestAdoptedBridge(t *testing.T) {
	l := newLab(t)
	h := l.handle(l.host)
	defer h.Close()
	must(t, h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}))
	lan := Network{Name: "lan", Bridge: "br0", Subnet: netip.MustParsePrefix("10.99.0.0/24")}
	a := l.setup(Config{ID: "onlan", Network: lan})
	if addrOf(a) != "10.99.0.2" {
		t.Errorf("address on lan = %s, want 10.99.0.2", addrOf(a))
	}
	// A new network whose subnet the host already routes is refused
	// before its bridge exists.
	clash := Network{Name: "clash", Bridge: "clash0", Subnet: netip.MustParsePrefix("198.51.100.128/25")}
	if _, err := l.m.Setup(context.Background(), Config{ID: "clash", Network: clash}); err == nil ||
		!strings.Contains(err.Error(), "overlaps the host's route 198.51.100.0/24 dev up0") {
		t.Errorf("overlapping subnet: %v", err)
	}
	if _, err := h.LinkByName("clash0"); err == nil {
		t.Error("bridge clash0 created for an overlapping subnet")
	}
	other := lan
	other.Subnet = netip.MustParsePrefix("10.98.0.0/24")
	if _, err := l.m.Setup(context.Background(), Config{ID: "conflict", Network: other}); err == nil || !strings.Contains(err.Error(), "network lan exists") {
		t.Errorf("conflicting network definition: %v", err)
	}
	must(t, l.m.Teardown(context.Background(), "onlan"))
	removed, err := l.m.Prune(context.Background())
	must(t, err)
	if _, err := h.LinkByName("br0"); err != nil {
		t.Errorf("prune (%q) deleted the adopted bridge br0: %v", removed, err)
	}
	if nets, _ := l.m.Networks(); len(nets) != 0 {
		t.Errorf("networks after prune: %v", nets)
	}
}

// TestGivenNamespace is the runtime's way: the container's process made
// its own namespace (here a persisted one standing in for
// /proc/<pid>/ns/net) and Setup only wires it; teardown unwires it and
// leaves the namespace to its owner.
func TestGivenNamespace(t *testing.T) {
	l := newLab(t)
	path, err := nsfs.Create(l.dir+"/ns", "given")
	must(t, err)
	defer nsfs.Remove(path)
	a := l.setup(Config{ID: "given", NetnsPath: path})
	if a.NetnsPath != path || a.OwnNetns {
		t.Errorf("attachment netns %q own=%v, want %q not owned", a.NetnsPath, a.OwnNetns, path)
	}
	serveTCP(t, path, ":80", "given")
	if got, err := fetch(l.host, "tcp", addrOf(a)+":80"); err != nil || got != "given sees 10.88.0.1" {
		t.Errorf("host → given: %q, %v", got, err)
	}
	must(t, l.m.Teardown(context.Background(), "given"))
	if ok, _ := nsfs.IsNetns(path); !ok {
		t.Fatalf("teardown removed the caller's namespace %s", path)
	}
	h := l.handle(path)
	defer h.Close()
	if _, err := h.LinkByName("eth0"); err == nil {
		t.Error("eth0 still in the namespace after teardown")
	}
	l.assertOnlyShared()
}
