package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullrt/hull/netns/etcfiles"
	"github.com/hullrt/hull/netns/nsfs"
	"github.com/hullrt/hull/netns/portproxy"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// reservePort binds the host port, so that nothing else can take it and a
// conflict is EADDRINUSE before any rule exists. The sockets are held by
// the Attachment until Close. Where the kernel cannot DNAT (a client on
// [::1], or IPv6 toward a container without an IPv6 address) the socket
// listens instead and a userland proxy relays to the container.
type reservePort struct {
	Port    PortMapping
	Target  netip.Addr // the container's IPv4 address
	Target6 netip.Addr // its IPv6 address; invalid on an IPv4-only network
}

// portBind is one socket of a published port.
type portBind struct {
	Addr netip.AddrPort
	// Proxy, when valid, makes the socket listen and relay to it.
	Proxy netip.AddrPort
	// Optional: a host without IPv6 skips it (EAFNOSUPPORT, EADDRNOTAVAIL).
	Optional bool
}

// binds lists the sockets of the port, as docker publishes:
//
//   - 8080:80 — both families: 0.0.0.0:8080, and [::]:8080 listening
//     (IPV6_V6ONLY). With an IPv6 container, DNAT takes every IPv6 packet
//     but those to ::1, which the output chain lets through to this
//     listener; without one, every IPv6 client reaches it.
//   - 0.0.0.0:8080:80, 127.0.0.1:8080:80 — IPv4 only, on that address.
//   - [::]:8080:80, [::1]:8080:80 — IPv6 only, listening as above.
//   - [2001:db8::1]:8080:80 — DNAT only with an IPv6 container; else the
//     proxy listens there.
func (s reservePort) binds() []portBind {
	p := s.Port
	proxyTo := netip.AddrPortFrom(s.Target, p.ContainerPort)
	if s.Target6.IsValid() {
		proxyTo = netip.AddrPortFrom(s.Target6, p.ContainerPort)
	}
	at := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, p.HostPort) }
	switch {
	case !p.HostIP.IsValid():
		return []portBind{{Addr: at(netip.IPv4Unspecified())}, {Addr: at(netip.IPv6Unspecified()), Proxy: proxyTo, Optional: true}}
	case p.HostIP.Is4():
		return []portBind{{Addr: at(p.HostIP)}}
	case p.HostIP.IsUnspecified(), p.HostIP.IsLoopback(), !s.Target6.IsValid():
		return []portBind{{Addr: at(p.HostIP), Proxy: proxyTo}}
	default:
		return []portBind{{Addr: at(p.HostIP)}}
	}
}

func (s reservePort) String() string {
	var parts []string
	for _, b := range s.binds() {
		fam := "AF_INET"
		if b.Addr.Addr().Is6() {
			fam = "AF_INET6"
		}
		part := fmt.Sprintf("socket(%s, %s) + bind(%s)", fam, sockType(s.Port.Protocol), b.Addr)
		if b.Addr.Addr().Is6() {
			part = fmt.Sprintf("socket(%s, %s) + IPV6_V6ONLY + bind(%s)", fam, sockType(s.Port.Protocol), b.Addr)
		}
		if b.Proxy.IsValid() {
			if s.Port.Protocol == "tcp" {
				part += " + listen"
			}
			part += " + userland proxy to " + b.Proxy.String()
		}
		if b.Optional {
			part += " (skipped if the host has no IPv6)"
		}
		parts = append(parts, part)
	}
	return "host netns: reserve port " + s.Port.String() + ": " + strings.Join(parts, "; ")
}

func sockType(proto string) string {
	if proto == "udp" {
		return "SOCK_DGRAM"
	}
	return "SOCK_STREAM"
}

func (s reservePort) apply(ctx context.Context, e *env) (func() error, error) {
	var held []*os.File
	var proxies []*portproxy.Proxy
	undo := func() error {
		for _, p := range proxies {
			p.Close()
		}
		for _, f := range held {
			f.Close()
		}
		return nil
	}
	for _, b := range s.binds() {
		var err error
		if b.Proxy.IsValid() {
			var p *portproxy.Proxy
			if p, err = e.m.startProxy(s.Port.Protocol, b.Addr, b.Proxy); err == nil {
				proxies = append(proxies, p)
			}
		} else {
			var f *os.File
			if f, err = e.m.reserve(s.Port.Protocol, b.Addr); err == nil {
				held = append(held, f)
			}
		}
		if err != nil && b.Optional && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL)) {
			continue // no IPv6 on the host: nothing to publish there
		}
		if err != nil {
			undo()
			return nil, fmt.Errorf("publish %s: %w", s.Port, err)
		}
	}
	e.live.held = append(e.live.held, held...)
	e.live.proxies = append(e.live.proxies, proxies...)
	return nil, nil // the Attachment holds the sockets; Close releases them
}

type createNetns struct{ Path string }

func (s createNetns) String() string {
	return fmt.Sprintf("mount(%s, MS_SHARED|MS_REC) (bind onto itself first if needed, as ip netns does); unshare(CLONE_NEWNET) + mount(/proc/thread-self/ns/net, %s, MS_BIND)",
		filepath.Dir(s.Path), s.Path)
}

func (s createNetns) apply(ctx context.Context, e *env) (func() error, error) {
	if err := nsfs.ShareDir(filepath.Dir(s.Path)); err != nil {
		return nil, err
	}
	if _, err := nsfs.Create(filepath.Dir(s.Path), filepath.Base(s.Path)); err != nil {
		return nil, err
	}
	return func() error { return nsfs.Remove(s.Path) }, nil
}

// linkUp sets a link up in a namespace ("" is the host's).
type linkUp struct{ Netns, Name string }

func (s linkUp) String() string {
	return fmt.Sprintf("netns %s: RTM_NEWLINK %s IFF_UP", s.Netns, s.Name)
}

func (s linkUp) apply(ctx context.Context, e *env) (func() error, error) {
	h, l, err := e.link(s.Netns, s.Name)
	if err != nil {
		return nil, err
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("netns %s: set %s up: %w", s.Netns, s.Name, err)
	}
	return nil, nil
}

// ensureBridge creates the network's bridge with its gateway addresses,
// unless it exists. The bridge is shared: a container's rollback leaves it.
type ensureBridge struct{ Network Network }

func (s ensureBridge) String() string {
	n := s.Network
	str := fmt.Sprintf("host netns: RTM_NEWLINK type bridge %s mtu %d (if absent); RTM_NEWADDR %s dev %s",
		n.Bridge, n.MTU, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), n.Bridge)
	if n.IPv6Subnet.IsValid() {
		str += fmt.Sprintf("; RTM_NEWADDR %s dev %s IFA_F_NODAD", netip.PrefixFrom(n.IPv6Gateway, n.IPv6Subnet.Bits()), n.Bridge)
	}
	return str + "; IFF_UP"
}

func (s ensureBridge) apply(ctx context.Context, e *env) (func() error, error) {
	n := s.Network
	unlock, err := e.m.lockNetworks()
	if err != nil {
		return nil, err
	}
	defer unlock()
	h := e.host
	l, err := h.LinkByName(n.Bridge)
	if err != nil {
		if err := checkOverlap(h, n); err != nil {
			return nil, err
		}
	}
	// Record the network before touching the kernel, saying whether hull
	// creates the bridge: Prune deletes only bridges hull created, never
	// one it adopted (a user's br0), even after a crash right here.
	rec, rerr := e.m.readNetwork(n.Name)
	switch {
	case rerr == nil:
		if rec.Bridge != n.Bridge || rec.Subnet != n.Subnet || rec.IPv6Subnet != n.IPv6Subnet {
			return nil, fmt.Errorf("network %s exists with bridge %s, subnets %s %s; this container asks for %s, %s %s",
				n.Name, rec.Bridge, rec.Subnet, rec.IPv6Subnet, n.Bridge, n.Subnet, n.IPv6Subnet)
		}
	case errors.Is(rerr, os.ErrNotExist):
		if err := writeJSON(e.m.networkPath(n.Name), &networkRecord{Network: n, CreatedBridge: err != nil}); err != nil {
			return nil, err
		}
	default:
		return nil, rerr
	}
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge, MTU: n.MTU}}
		if err := h.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", n.Bridge, err)
		}
		if l, err = h.LinkByName(n.Bridge); err != nil {
			return nil, fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
	} else if l.Type() != "bridge" {
		return nil, fmt.Errorf("bridge %s: a link of type %s has that name", n.Bridge, l.Type())
	}
	addrs := []*netlink.Addr{{IPNet: ipnet(netip.PrefixFrom(n.Gateway, n.Subnet.Bits()))}}
	if n.IPv6Subnet.IsValid() {
		addrs = append(addrs, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(n.IPv6Gateway, n.IPv6Subnet.Bits())), Flags: unix.IFA_F_NODAD})
	}
	for _, a := range addrs {
		if err := h.AddrReplace(l, a); err != nil {
			return nil, fmt.Errorf("bridge %s: add address %s: %w", n.Bridge, a.IPNet, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("bridge %s: set up: %w", n.Bridge, err)
	}
	return nil, nil
}

// checkOverlap refuses a subnet that the host already routes elsewhere
// (another runtime's bridge, a VPN, the LAN): the bridge's connected route
// would capture that traffic, or lose to it.
func checkOverlap(h *netlink.Handle, n Network) error {
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			continue // a default route overlaps everything, harmlessly
		}
		dst, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		rp := netip.PrefixFrom(dst.Unmap(), ones)
		for _, p := range []netip.Prefix{n.Subnet, n.IPv6Subnet} {
			if p.IsValid() && rp.Overlaps(p) && !rp.Addr().IsLinkLocalUnicast() {
				dev := fmt.Sprint(r.LinkIndex)
				if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
					dev = l.Attrs().Name
				}
				return fmt.Errorf("network %s: subnet %s overlaps the host's route %s dev %s", n.Name, p, rp, dev)
			}
		}
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// sysctl writes /proc/sys/<Key> in the host namespace. /proc/sys/net shows
// the namespace of the thread that opens it, so the write happens on a
// thread inside the host namespace.
type sysctl struct{ Key, Value string }

func (s sysctl) String() string {
	return fmt.Sprintf("host netns: write /proc/sys/%s = %s", s.Key, s.Value)
}

func (s sysctl) apply(ctx context.Context, e *env) (func() error, error) {
	err := nsfs.Do(e.m.o.hostNetns, func() error {
		return os.WriteFile("/proc/sys/"+s.Key, []byte(s.Value), 0)
	})
	if err != nil {
		return nil, fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(s.Key, "/", "."), err)
	}
	return nil, nil
}

// ensureNAT creates hull's table, base chains and the network's masquerade
// rules where missing.
type ensureNAT struct{ Network Network }

func (s ensureNAT) String() string {
	var b strings.Builder
	b.WriteString("host netns: nftables (if absent): add table inet " + TableName)
	for _, c := range baseChains {
		if c.text != "" {
			fmt.Fprintf(&b, "; add chain inet %s %s { %s; policy accept }", TableName, c.name, c.text)
		} else {
			fmt.Fprintf(&b, "; add chain inet %s %s", TableName, c.name)
		}
	}
	for _, r := range append(baseRules(), networkRules(s.Network)...) {
		b.WriteString("; " + r.String())
	}
	return b.String()
}

func (s ensureNAT) apply(ctx context.Context, e *env) (func() error, error) {
	unlock, err := e.m.lockNetworks()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return nil, e.m.withNAT(func(t natTable) error { return t.ensure(s.Network) })
}

// createVeth makes the veth pair: the host end in the host namespace, the
// peer created directly inside the container's (IFLA_NET_NS_FD), so that no
// other process in the host ever sees an "eth0" appear.
type createVeth struct {
	Host, Peer, Netns string
	MTU               int
	MAC               net.HardwareAddr
}

func (s createVeth) String() string {
	return fmt.Sprintf("host netns: RTM_NEWLINK type veth %s mtu %d peer %s address %s netns %s",
		s.Host, s.MTU, s.Peer, s.MAC, s.Netns)
}

func (s createVeth) apply(ctx context.Context, e *env) (func() error, error) {
	fd, err := unix.Open(s.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: s.Netns, Err: err}
	}
	defer unix.Close(fd)
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: s.Host, MTU: s.MTU},
		PeerName:         s.Peer,
		PeerHardwareAddr: s.MAC,
		PeerNamespace:    netlink.NsFd(fd),
	}
	if err := e.host.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("create veth %s (peer %s in %s): %w", s.Host, s.Peer, s.Netns, err)
	}
	return func() error { return e.m.deleteLink(e.host, s.Host) }, nil
}

// joinBridge enslaves the host end to the bridge, turns hairpin mode on (a
// frame may leave by the port it came in, for a container reaching itself
// through a published port) and sets it up.
type joinBridge struct{ Link, Bridge string }

func (s joinBridge) String() string {
	return fmt.Sprintf("host netns: RTM_NEWLINK %s master %s; IFLA_BRPORT_MODE hairpin on; IFF_UP", s.Link, s.Bridge)
}

func (s joinBridge) apply(ctx context.Context, e *env) (func() error, error) {
	h := e.host
	l, err := h.LinkByName(s.Link)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", s.Link, err)
	}
	br, err := h.LinkByName(s.Bridge)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", s.Bridge, err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		return nil, fmt.Errorf("attach %s to %s: %w", s.Link, s.Bridge, err)
	}
	if err := h.LinkSetHairpin(l, true); err != nil {
		return nil, fmt.Errorf("hairpin on %s: %w", s.Link, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set %s up: %w", s.Link, err)
	}
	return nil, nil
}

type addrAdd struct {
	Netns, Link string
	Addr        netip.Prefix
}

func (s addrAdd) String() string {
	flags := ""
	if s.Addr.Addr().Is6() {
		flags = " IFA_F_NODAD"
	}
	return fmt.Sprintf("netns %s: RTM_NEWADDR %s dev %s%s", s.Netns, s.Addr, s.Link, flags)
}

func (s addrAdd) apply(ctx context.Context, e *env) (func() error, error) {
	h, l, err := e.link(s.Netns, s.Link)
	if err != nil {
		return nil, err
	}
	a := &netlink.Addr{IPNet: ipnet(s.Addr)}
	if s.Addr.Addr().Is6() {
		// Duplicate address detection would hold the address "tentative"
		// for a second; IPAM already guarantees it is unique.
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(l, a); err != nil {
		return nil, fmt.Errorf("netns %s: add %s to %s: %w", s.Netns, s.Addr, s.Link, err)
	}
	return nil, nil // goes with the link
}

type routeAdd struct {
	Netns, Link string
	Gateway     netip.Addr
}

func (s routeAdd) String() string {
	dst := "0.0.0.0/0"
	if s.Gateway.Is6() {
		dst = "::/0"
	}
	return fmt.Sprintf("netns %s: RTM_NEWROUTE %s via %s dev %s", s.Netns, dst, s.Gateway, s.Link)
}

func (s routeAdd) apply(ctx context.Context, e *env) (func() error, error) {
	h, l, err := e.link(s.Netns, s.Link)
	if err != nil {
		return nil, err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: s.Gateway.AsSlice()}
	if err := h.RouteAdd(r); err != nil {
		return nil, fmt.Errorf("netns %s: default route via %s: %w", s.Netns, s.Gateway, err)
	}
	return nil, nil // goes with the link
}

// publishPorts adds the container's chain, its DNAT rules and the jump to
// it in one atomic nftables batch.
type publishPorts struct {
	ID, Chain string
	Rules     []Rule
	Jump      Rule
}

func (s publishPorts) String() string {
	parts := []string{fmt.Sprintf("host netns: nftables batch: add chain inet %s %s", TableName, s.Chain)}
	for _, r := range s.Rules {
		parts = append(parts, r.String())
	}
	parts = append(parts, s.Jump.String())
	return strings.Join(parts, "; ")
}

func (s publishPorts) apply(ctx context.Context, e *env) (func() error, error) {
	err := e.m.withNAT(func(t natTable) error { return t.addContainer(s.Chain, s.Rules, s.Jump) })
	if err != nil {
		return nil, err
	}
	return func() error { return e.m.withNAT(func(t natTable) error { return t.removeContainer(s.ID) }) }, nil
}

// writeEtc writes the container's hosts, hostname and resolv.conf.
type writeEtc struct {
	Dir      string
	Hostname string
	Addrs    []netip.Addr
	Gateway  netip.Addr
	DNS      []netip.Addr
}

func (s writeEtc) String() string {
	return fmt.Sprintf("write %s/{hosts,hostname,resolv.conf} (hostname %s, resolvers from the host's minus loopback stubs)", s.Dir, s.Hostname)
}

func (s writeEtc) apply(ctx context.Context, e *env) (func() error, error) {
	f := etcfiles.Files{Hostname: s.Hostname, Addrs: s.Addrs, DNS: s.DNS}
	if s.Gateway.IsValid() {
		// Podman's name for the host as seen from a container.
		f.ExtraHosts = []etcfiles.HostEntry{{Addr: s.Gateway, Names: []string{"host.containers.internal"}}}
	}
	paths, err := etcfiles.Write(s.Dir, f, e.m.o.etcOptions...)
	if err != nil {
		os.RemoveAll(s.Dir)
		return nil, fmt.Errorf("write %s: %w", s.Dir, err)
	}
	e.att.EtcFiles = paths
	return func() error { return os.RemoveAll(s.Dir) }, nil
}
