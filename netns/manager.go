package netns

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/hullrt/hull/netns/etcfiles"
	"github.com/hullrt/hull/netns/ipam"
	"github.com/hullrt/hull/netns/nsfs"
	"github.com/hullrt/hull/netns/portproxy"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Default directories.
const (
	DefaultRunDir   = nsfs.DefaultDir     // persisted namespaces, shared with "ip netns"
	DefaultStateDir = "/run/hull/network" // attachments, networks, leases
)

// Option changes how a Manager behaves.
type Option func(*options) error

type options struct {
	hostNetns  string
	uid        int // pasta --runas: the caller's effective UID
	runDir     string
	stateDir   string
	log        *slog.Logger
	etcOptions []etcfiles.Option
	// stepHook runs before each step; tests use it to fail or stall a
	// setup halfway.
	stepHook func(i int, s Step) error
}

// WithHostNetns makes path (a namespace file) the "host" side: where the
// bridge, the host veth ends, the nftables table and the published ports
// live. Default: the namespace hull runs in.
func WithHostNetns(path string) Option {
	return func(o *options) error { o.hostNetns = path; return nil }
}

// WithRunDir sets where container namespaces are persisted. Default
// /run/netns, so that "ip netns" lists them.
func WithRunDir(dir string) Option {
	return func(o *options) error { o.runDir = dir; return nil }
}

// WithStateDir sets where attachments, networks and leases are recorded.
// Default /run/hull/network.
func WithStateDir(dir string) Option {
	return func(o *options) error { o.stateDir = dir; return nil }
}

// WithLogger sets a logger for the steps taken. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithResolvConf reads the host's resolver from path and its upstream
// servers from upstream (defaults /etc/resolv.conf and
// /run/systemd/resolve/resolv.conf).
func WithResolvConf(path, upstream string) Option {
	return func(o *options) error {
		o.etcOptions = append(o.etcOptions, etcfiles.WithResolvConf(path, upstream))
		return nil
	}
}

// Manager sets up and tears down container networks. It is safe for
// concurrent use, and separate processes using the same directories
// coordinate through file locks.
type Manager struct {
	o    options
	ipam *ipam.Store

	mu      sync.Mutex
	live    map[string]*live   // held ports and proxies of attachments made here
	helpers map[string]*helper // rootless helpers started here
}

// New returns a Manager. It touches nothing until Setup.
func New(opts ...Option) (*Manager, error) {
	o := options{runDir: DefaultRunDir, stateDir: DefaultStateDir, uid: os.Geteuid()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.hostNetns != "" {
		if ok, err := nsfs.IsNetns(o.hostNetns); err != nil || !ok {
			return nil, fmt.Errorf("host netns %s: not a network namespace (%v)", o.hostNetns, err)
		}
	}
	return &Manager{o: o, ipam: ipam.New(filepath.Join(o.stateDir, "ipam")), live: map[string]*live{}, helpers: map[string]*helper{}}, nil
}

// Attachment is a container's place on the network: what Setup built, as
// recorded on disk for Teardown, "network inspect" and prune.
type Attachment struct {
	ID   string `json:"id"`
	Mode string `json:"mode"`
	// State is "creating" while Setup runs and "ready" after.
	State string `json:"state"`
	Owner Owner  `json:"owner"`
	// NetnsPath is the namespace the container must join; empty in mode
	// host.
	NetnsPath string `json:"netnsPath,omitempty"`
	// OwnNetns: hull created NetnsPath and removes it on teardown.
	OwnNetns  bool              `json:"ownNetns,omitempty"`
	Network   *Network          `json:"network,omitempty"`
	HostVeth  string            `json:"hostVeth,omitempty"`
	Interface string            `json:"interface,omitempty"`
	MAC       string            `json:"mac,omitempty"`
	Addrs     []netip.Prefix    `json:"addrs,omitempty"`
	Gateways  []netip.Addr      `json:"gateways,omitempty"`
	Ports     []PortMapping     `json:"ports,omitempty"`
	Chain     string            `json:"chain,omitempty"`
	EtcDir    string            `json:"etcDir,omitempty"`
	EtcFiles  map[string]string `json:"etcFiles,omitempty"`
	// Helper is the pasta or slirp4netns process of a rootless mode.
	Helper     *Owner    `json:"helper,omitempty"`
	HelperFile string    `json:"helperFile,omitempty"`
	Plan       []string  `json:"plan,omitempty"`
	Created    time.Time `json:"created"`
}

// Owner identifies the process running a setup, by PID and start time
// (field 22 of /proc/PID/stat), so a recycled PID is not mistaken for it.
type Owner struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// live is what an attachment holds in this process: port reservations and
// [::1] proxies. They end with Close or Teardown.
type live struct {
	held    []*os.File
	proxies []*portproxy.Proxy
}

func (l *live) close() {
	for _, p := range l.proxies {
		p.Close()
	}
	for _, f := range l.held {
		f.Close()
	}
	l.proxies, l.held = nil, nil
}

// env is what steps act on while one setup is applied.
type env struct {
	m       *Manager
	att     *Attachment
	live    *live
	host    *netlink.Handle
	handles map[string]*netlink.Handle // per namespace path
}

// handle returns a netlink handle whose sockets live in the namespace at
// path (opened on a thread inside it; see nsfs.Do).
func (e *env) handle(path string) (*netlink.Handle, error) {
	if path == "" || path == e.m.o.hostNetns {
		return e.host, nil
	}
	if h := e.handles[path]; h != nil {
		return h, nil
	}
	h, err := handleIn(path)
	if err != nil {
		return nil, err
	}
	e.handles[path] = h
	return h, nil
}

// link finds a link by name in the namespace at path.
func (e *env) link(path, name string) (*netlink.Handle, netlink.Link, error) {
	h, err := e.handle(path)
	if err != nil {
		return nil, nil, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, nil, fmt.Errorf("netns %s: link %s: %w", path, name, err)
	}
	return h, l, nil
}

func (e *env) close() {
	for _, h := range e.handles {
		h.Close()
	}
	if e.host != nil {
		e.host.Close()
	}
}

// handleIn opens a netlink handle in the namespace at path for the given
// families; none means NETLINK_ROUTE alone. The families must be named:
// netlink.NewHandle() with none opens NETLINK_XFRM and NETLINK_NETFILTER
// too, and socket(2) fails with EPROTONOSUPPORT for a family whose module
// (xfrm_user, nfnetlink) is not loaded — as on a kernel that cannot
// autoload modules — although links and addresses need neither. A request
// of a family the handle lacks would open a socket in the calling
// thread's namespace, not in path's.
func handleIn(path string, families ...int) (*netlink.Handle, error) {
	if len(families) == 0 {
		families = []int{unix.NETLINK_ROUTE}
	}
	var h *netlink.Handle
	err := nsfs.Do(path, func() error {
		var err error
		h, err = netlink.NewHandle(families...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket in netns %q: %w", path, err)
	}
	return h, nil
}

// ErrExist is returned by Setup for an ID that is already attached.
var ErrExist = errors.New("already attached")

// Setup gives the container c.ID its network and records it. For modes
// bridge and none the steps of Plan are applied in order; if one fails,
// everything done so far is undone in reverse and the error names the
// step. The returned Attachment holds the published ports' sockets and
// proxies: keep it until the container stops, then Close it (or call
// Teardown).
func (m *Manager) Setup(ctx context.Context, c Config) (_ *Attachment, err error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c, err = resolveMode(c); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	unlock, err := m.lock("setup.lock", unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if old, err := m.readAttachment(c.ID); err == nil {
		if old.State == "ready" || old.Owner.Alive() {
			return nil, fmt.Errorf("container %s: %w", c.ID, ErrExist)
		}
		// A setup of this ID died halfway: finish its cleanup first.
		if err := m.teardown(ctx, old); err != nil {
			return nil, fmt.Errorf("container %s: cleaning up a crashed setup: %w", c.ID, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	owner, err := self()
	if err != nil {
		return nil, err
	}
	att := &Attachment{ID: c.ID, Mode: c.Mode, State: "creating", Owner: owner, Created: time.Now().UTC()}

	kind, arg := SplitMode(c.Mode)
	switch kind {
	case ModeHost:
		att.State = "ready"
		return att, m.saveAttachment(att)
	case "ns":
		if ok, err := nsfs.IsNetns(arg); err != nil || !ok {
			return nil, fmt.Errorf("mode %s: %s is not a network namespace (%v)", c.Mode, arg, err)
		}
		att.NetnsPath, att.State = arg, "ready"
		return att, m.saveAttachment(att)
	case "container":
		other, err := m.readAttachment(arg)
		if err != nil {
			return nil, fmt.Errorf("mode %s: %w", c.Mode, err)
		}
		if other.NetnsPath == "" && other.Mode != ModeHost {
			return nil, fmt.Errorf("mode %s: container %s has no network namespace", c.Mode, arg)
		}
		att.NetnsPath, att.State = other.NetnsPath, "ready"
		return att, m.saveAttachment(att)
	}

	// Modes bridge and none. Record the intent first, with every name that
	// setup may create, so that prune can clean up after a SIGKILL.
	nm := m.names(c)
	att.NetnsPath, att.OwnNetns = nm.Netns, c.NetnsPath == ""
	att.EtcDir = nm.EtcDir
	if kind == ModeBridge {
		n := c.Network
		att.Network, att.HostVeth, att.Interface = &n, nm.HostVeth, nm.Interface
		att.Ports = c.Ports
		if len(c.Ports) > 0 {
			att.Chain = nm.Chain
		}
	}
	if rootless(kind) {
		att.Interface, att.Ports = nm.Interface, c.Ports
	}
	if err := m.createAttachment(att); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	var undo []func() error
	l := &live{}
	e := &env{m: m, att: att, live: l, handles: map[string]*netlink.Handle{}}
	defer func() {
		// Runs last: the undo functions below still use e's handles.
		defer e.close()
		if err == nil {
			return
		}
		l.close()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				errs = append(errs, uerr)
			}
		}
		if kind == ModeBridge {
			errs = append(errs, m.ipam.Release(c.Network.Name, c.ID))
		}
		errs = append(errs, m.removeAttachment(c.ID))
		if rerr := errors.Join(errs...); rerr != nil {
			err = fmt.Errorf("%w (and rolling back: %v)", err, rerr)
		}
	}()

	var a Addresses
	if kind == ModePasta {
		a.MAC = c.mac()
		att.MAC = a.MAC.String()
	}
	if kind == ModeBridge {
		if a, err = m.lease(c); err != nil {
			return nil, err
		}
		att.Addrs, att.MAC = a.list(), a.MAC.String()
		att.Gateways = []netip.Addr{c.Network.Gateway}
		if a.IPv6.IsValid() {
			att.Gateways = append(att.Gateways, c.Network.IPv6Gateway)
		}
	}
	steps, err := m.Plan(c, a)
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		att.Plan = append(att.Plan, s.String())
	}
	if err := m.saveAttachment(att); err != nil {
		return nil, err
	}
	if e.host, err = handleIn(m.o.hostNetns); err != nil {
		return nil, err
	}
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if m.o.stepHook != nil {
			if err := m.o.stepHook(i, s); err != nil {
				return nil, fmt.Errorf("step %d: %w", i+1, err)
			}
		}
		m.o.log.Debug("network setup", "id", c.ID, "step", i+1, "do", s.String())
		u, err := s.apply(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("container %s: step %d (%s): %w", c.ID, i+1, stepName(s), err)
		}
		if u != nil {
			undo = append(undo, u)
		}
	}
	att.State = "ready"
	if err := m.saveAttachment(att); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.live[c.ID] = l
	m.mu.Unlock()
	return att, nil
}

func stepName(s Step) string {
	switch s.(type) {
	case reservePort:
		return "reserve port"
	case createNetns:
		return "create netns"
	case linkUp:
		return "link up"
	case ensureBridge:
		return "bridge"
	case sysctl:
		return "sysctl"
	case ensureNAT:
		return "nftables table"
	case createVeth:
		return "veth"
	case joinBridge:
		return "bridge port"
	case addrAdd:
		return "address"
	case routeAdd:
		return "route"
	case publishPorts:
		return "publish ports"
	case writeEtc:
		return "etc files"
	case startPasta:
		return "pasta"
	case startSlirp:
		return "slirp4netns"
	}
	return fmt.Sprintf("%T", s)
}

// Explain returns the plan Setup would apply for c now, with the
// addresses IPAM would give it, without leasing or any kernel change: the
// "--explain" of teaching labs.
func (m *Manager) Explain(c Config) ([]Step, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c, err := resolveMode(c)
	if err != nil {
		return nil, err
	}
	a := Addresses{MAC: c.mac()}
	if c.Mode == ModeBridge {
		if a, err = addresses(c, m.ipam.Peek); err != nil {
			return nil, err
		}
	}
	return m.Plan(c, a)
}

// lease takes the container's addresses from IPAM and picks its MAC.
func (m *Manager) lease(c Config) (Addresses, error) { return addresses(c, m.ipam.Allocate) }

// addresses asks take (ipam Allocate, or Peek for a dry run) for c's IPv4
// and, if the network has IPv6, IPv6 address, and picks its MAC.
func addresses(c Config, take func(network string, r ipam.Range, id string) (netip.Addr, error)) (Addresses, error) {
	n := c.Network
	a := Addresses{MAC: c.mac()}
	ip4, err := take(n.Name, ipam.Range{Subnet: n.Subnet, Gateway: n.Gateway}, c.ID)
	if err != nil {
		return a, fmt.Errorf("network %s: lease: %w", n.Name, err)
	}
	a.IPv4 = netip.PrefixFrom(ip4, n.Subnet.Bits())
	if n.IPv6Subnet.IsValid() {
		ip6, err := take(n.Name, ipam.Range{Subnet: n.IPv6Subnet, Gateway: n.IPv6Gateway}, c.ID)
		if err != nil {
			return a, fmt.Errorf("network %s: lease: %w", n.Name, err)
		}
		a.IPv6 = netip.PrefixFrom(ip6, n.IPv6Subnet.Bits())
	}
	return a, nil
}

// mac is c.MAC, or a random unicast, locally administered address.
func (c Config) mac() net.HardwareAddr {
	if c.MAC != "" {
		hw, _ := net.ParseMAC(c.MAC) // validated
		return hw
	}
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = hw[0]&^1 | 2
	return hw
}

// Close releases what this process holds for id: the published ports'
// reservations and the [::1] proxies. The kernel objects stay.
func (a *Attachment) close(m *Manager) {
	m.mu.Lock()
	l := m.live[a.ID]
	delete(m.live, a.ID)
	m.mu.Unlock()
	if l != nil {
		l.close()
	}
}

// Release stops what this process holds for container id (port
// reservations, [::1] proxies) and leaves the network in place, for a
// caller that hands the container over to another process.
func (m *Manager) Release(id string) {
	(&Attachment{ID: id}).close(m)
}

// Teardown removes everything Setup made for id: DNAT rules and chain,
// veth pair, addresses (with the link), leases, the persisted namespace,
// the /etc files and the record. Objects already gone are skipped, so
// Teardown also finishes a half-done setup or teardown. Shared objects
// (bridge, table, masquerade rules) stay; Prune removes them when unused.
func (m *Manager) Teardown(ctx context.Context, id string) error {
	att, err := m.readAttachment(id)
	if err != nil {
		return fmt.Errorf("teardown %s: %w", id, err)
	}
	return m.teardown(ctx, att)
}

func (m *Manager) teardown(ctx context.Context, att *Attachment) error {
	att.close(m)
	var errs []error
	if rootless(att.Mode) {
		errs = append(errs, m.stopHelper(ctx, att.ID, att.Helper))
		if att.HelperFile != "" {
			os.Remove(att.HelperFile)
		}
	}
	// Only bridge mode has DNAT rules (and a chain); the rootless modes'
	// ports live in their helper, and nftables would refuse an
	// unprivileged caller anyway.
	if att.Chain != "" {
		errs = append(errs, m.withNAT(func(t natTable) error { return t.removeContainer(att.ID) }))
	}
	if att.HostVeth != "" {
		h, err := handleIn(m.o.hostNetns)
		if err == nil {
			err = m.deleteLink(h, att.HostVeth)
			h.Close()
		}
		if err == nil {
			err = m.forgetConnections(att.Addrs)
		}
		errs = append(errs, err)
	}
	if att.OwnNetns && att.NetnsPath != "" {
		errs = append(errs, nsfs.Remove(att.NetnsPath))
	}
	if att.EtcDir != "" {
		errs = append(errs, os.RemoveAll(att.EtcDir))
	}
	if att.Network != nil {
		errs = append(errs, m.ipam.Release(att.Network.Name, att.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("teardown %s: %w", att.ID, err)
	}
	return m.removeAttachment(att.ID)
}

// forgetConnections deletes the host's conntrack entries to and from the
// container's addresses. Without this, a UDP client that keeps sending to a
// published port keeps its entry — and its DNAT to the dead container's
// address — alive forever, even after a new container publishes the port.
//
// Conntrack speaks NETLINK_NETFILTER. Without nfnetlink loaded (socket
// fails with EPROTONOSUPPORT) no hull rule ever ran, since nf_tables needs
// it too, so there is nothing of ours to forget.
func (m *Manager) forgetConnections(addrs []netip.Prefix) error {
	if len(addrs) == 0 {
		return nil
	}
	h, err := handleIn(m.o.hostNetns, unix.NETLINK_NETFILTER)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	defer h.Close()
	for _, p := range addrs {
		f := &netlink.ConntrackFilter{}
		if err := f.AddIP(netlink.ConntrackReplyAnyIP, p.Addr().AsSlice()); err != nil {
			return err
		}
		fam := netlink.InetFamily(unix.AF_INET)
		if p.Addr().Is6() {
			fam = unix.AF_INET6
		}
		if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f); err != nil &&
			!errors.Is(err, unix.EPROTONOSUPPORT) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("conntrack: forget connections of %s: %w", p.Addr(), err)
		}
	}
	return nil
}

func (m *Manager) deleteLink(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// withNAT runs fn on hull's table in the host namespace.
func (m *Manager) withNAT(fn func(natTable) error) error {
	var c *nftables.Conn
	err := nsfs.Do(m.o.hostNetns, func() error {
		var err error
		c, err = nftables.New(nftables.AsLasting())
		return err
	})
	if err != nil {
		return fmt.Errorf("nftables: netlink socket: %w", err)
	}
	defer c.CloseLasting()
	return fn(natTable{c})
}

// reserve binds a socket to a host port in the host namespace, without
// listening: enough to own the port.
func (m *Manager) reserve(proto string, a netip.AddrPort) (*os.File, error) {
	var f *os.File
	err := nsfs.Do(m.o.hostNetns, func() error {
		domain, typ := unix.AF_INET, unix.SOCK_STREAM
		if a.Addr().Is6() {
			domain = unix.AF_INET6
		}
		if proto == "udp" {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		var sa unix.Sockaddr
		if a.Addr().Is4() {
			sa = &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
		} else {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
			sa = &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind %s/%s: %w", a, proto, os.NewSyscallError("bind", err))
		}
		f = os.NewFile(uintptr(fd), fmt.Sprintf("%s:%s", proto, a))
		return nil
	})
	return f, err
}

// startProxy listens on a host address (the [::1] case) and relays to the
// container; upstream sockets are opened in the host namespace too.
func (m *Manager) startProxy(proto string, listen, target netip.AddrPort) (*portproxy.Proxy, error) {
	dial := func() (net.Conn, error) {
		var c net.Conn
		err := nsfs.Do(m.o.hostNetns, func() error {
			var err error
			c, err = net.Dial(proto, target.String())
			return err
		})
		return c, err
	}
	var p *portproxy.Proxy
	err := nsfs.Do(m.o.hostNetns, func() error {
		if proto == "udp" {
			pc, err := net.ListenPacket("udp6", listen.String())
			if err != nil {
				return err
			}
			p = portproxy.UDP(pc, dial)
			return nil
		}
		l, err := net.Listen("tcp6", listen.String())
		if err != nil {
			return err
		}
		p = portproxy.TCP(l, dial)
		return nil
	})
	return p, err
}
