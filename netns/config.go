package netns

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Network modes, as "hull run --network" spells them.
const (
	ModeNone   = "none"   // a new namespace with only loopback
	ModeHost   = "host"   // the host's namespace, shared
	ModeBridge = "bridge" // a new namespace wired to a bridge (the default)
	// Rootless modes: a user-space network stack outside the namespace
	// (no bridge, no nftables, no privilege). Mode bridge run without root
	// picks pasta, else slirp4netns.
	ModePasta       = "pasta"
	ModeSlirp4netns = "slirp4netns"
	// "container:<id>" joins the namespace of another attached container;
	// "ns:<path>" joins the namespace file at path (OCI linux.namespaces
	// network path).
	modeContainerPrefix = "container:"
	modeNsPrefix        = "ns:"
)

// Defaults of the bridge network.
const (
	DefaultNetworkName = "hull"
	DefaultBridge      = "hull0"
	DefaultMTU         = 1500
)

// DefaultSubnet is the IPv4 subnet of the default network.
var DefaultSubnet = netip.MustParsePrefix("10.88.0.0/16")

// Network is a bridge network: one Linux bridge in the host namespace, its
// subnets, and the NAT rules that connect them to the world.
type Network struct {
	Name   string       `json:"name"`
	Bridge string       `json:"bridge"`
	Subnet netip.Prefix `json:"subnet"`
	// Gateway is the bridge's address and the containers' default route;
	// default: the first address of Subnet.
	Gateway netip.Addr `json:"gateway,omitzero"`
	// IPv6Subnet, when set, gives containers an IPv6 address too (use a
	// ULA /64 such as fd88::/64); IPv6Gateway defaults to its first address.
	IPv6Subnet  netip.Prefix `json:"ipv6Subnet,omitzero"`
	IPv6Gateway netip.Addr   `json:"ipv6Gateway,omitzero"`
	// IPv6, with IPv6Subnet unset, picks the ULA /64 ULASubnet(Name).
	IPv6 bool `json:"ipv6,omitempty"`
	MTU  int  `json:"mtu,omitempty"`
}

// ULASubnet is the unique local IPv6 /64 (RFC 4193) of the network name:
// fd, then a 40-bit global ID and a 16-bit subnet ID taken from
// SHA-256("hull network " + name), so the same name always gets the same
// subnet and different names almost surely different ones.
func ULASubnet(name string) netip.Prefix {
	h := sha256.Sum256([]byte("hull network " + name))
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:8], h[:7])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// DefaultNetwork is "hull": bridge hull0, 10.88.0.0/16, IPv4 only.
func DefaultNetwork() Network {
	return Network{Name: DefaultNetworkName, Bridge: DefaultBridge, Subnet: DefaultSubnet}.withDefaults()
}

func (n Network) withDefaults() Network {
	if n.Name == "" {
		n.Name = DefaultNetworkName
	}
	if n.Bridge == "" {
		n.Bridge = DefaultBridge
	}
	if !n.Subnet.IsValid() {
		n.Subnet = DefaultSubnet
	}
	n.Subnet = n.Subnet.Masked()
	if !n.Gateway.IsValid() {
		n.Gateway = n.Subnet.Addr().Next()
	}
	if n.IPv6 && !n.IPv6Subnet.IsValid() {
		n.IPv6Subnet = ULASubnet(n.Name)
	}
	if n.IPv6Subnet.IsValid() {
		n.IPv6 = true
		n.IPv6Subnet = n.IPv6Subnet.Masked()
		if !n.IPv6Gateway.IsValid() {
			n.IPv6Gateway = n.IPv6Subnet.Addr().Next()
		}
	}
	if n.MTU == 0 {
		n.MTU = DefaultMTU
	}
	return n
}

func (n Network) validate(path string) error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	if !validName(n.Name) {
		bad("name", "%q: want letters, digits, '-', '_' or '.', at most 64", n.Name)
	}
	if len(n.Bridge) == 0 || len(n.Bridge) >= 16 || strings.ContainsAny(n.Bridge, "/ :") {
		bad("bridge", "%q: not a valid interface name (1 to 15 characters, no '/', ':' or space)", n.Bridge)
	}
	if !n.Subnet.Addr().Is4() || n.Subnet.Bits() > 30 {
		bad("subnet", "%s: want an IPv4 prefix of /30 or wider", n.Subnet)
	} else if !n.Subnet.Contains(n.Gateway) {
		bad("gateway", "%s is outside subnet %s", n.Gateway, n.Subnet)
	}
	if n.IPv6Subnet.IsValid() {
		if !n.IPv6Subnet.Addr().Is6() || n.IPv6Subnet.Addr().Is4In6() || n.IPv6Subnet.Bits() > 126 {
			bad("ipv6Subnet", "%s: want an IPv6 prefix of /126 or wider", n.IPv6Subnet)
		} else if !n.IPv6Subnet.Contains(n.IPv6Gateway) {
			bad("ipv6Gateway", "%s is outside %s", n.IPv6Gateway, n.IPv6Subnet)
		}
	}
	if n.MTU < 68 || n.MTU > 65535 {
		bad("mtu", "%d: want 68 to 65535", n.MTU)
	}
	return errors.Join(errs...)
}

// Config is what one container asks of the network. It is decoded from
// JSON with unknown fields rejected, like the rest of hull's configs.
type Config struct {
	// ID names the container; it names the persisted namespace
	// (hull-<ID>), the host veth (hv<hash of ID>), the nftables chain and
	// the lease.
	ID string `json:"id"`
	// Mode is none, host, bridge (default), container:<id> or ns:<path>.
	Mode string `json:"mode,omitempty"`
	// NetnsPath, for modes bridge and none, is an existing namespace to
	// configure (/proc/<pid>/ns/net, a bind mount). Empty: a new one is
	// created and persisted in the run directory, and removed on teardown.
	NetnsPath string `json:"netnsPath,omitempty"`
	// UsernsPath is the user namespace owning NetnsPath, for the rootless
	// modes: pasta and slirp4netns join it to enter the network namespace.
	UsernsPath string `json:"usernsPath,omitempty"`
	// Network is the bridge network to join (mode bridge); zero: the default.
	Network Network `json:"network,omitzero"`
	// Ports are published host ports (mode bridge).
	Ports []PortMapping `json:"ports,omitempty"`
	// MAC of eth0; empty: a random locally administered address.
	MAC string `json:"mac,omitempty"`
	// Hostname goes to /etc/hostname and /etc/hosts; default: the first
	// 12 characters of ID.
	Hostname string `json:"hostname,omitempty"`
	// DNS replaces the nameservers taken from the host.
	DNS []netip.Addr `json:"dns,omitempty"`
}

// DecodeConfig reads a Config from JSON, rejecting unknown fields, and
// validates it (with defaults applied): every problem is reported with its
// field path.
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("network config: %w", err)
	}
	if err := c.withDefaults().Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeBridge
	}
	if c.Mode == ModeBridge {
		c.Network = c.Network.withDefaults()
	}
	if c.Hostname == "" {
		c.Hostname = c.ID
		if len(c.Hostname) > 12 {
			c.Hostname = c.Hostname[:12]
		}
	}
	return c
}

// Validate reports every problem of c (after defaults) with its field path.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if !validName(c.ID) {
		bad("id", "%q: want letters, digits, '-', '_' or '.', at most 64", c.ID)
	}
	kind, arg := SplitMode(c.Mode)
	switch kind {
	case ModeNone, ModeHost, ModeBridge, ModePasta, ModeSlirp4netns:
		if arg != "" {
			bad("mode", "%q takes no argument", kind)
		}
	case "container":
		if !validName(arg) {
			bad("mode", "%q: want container:<id>", c.Mode)
		}
	case "ns":
		if !strings.HasPrefix(arg, "/") {
			bad("mode", "%q: want ns:<absolute path>", c.Mode)
		}
	default:
		bad("mode", "unknown network mode %q (want none, host, bridge, pasta, slirp4netns, container:<id> or ns:<path>)", c.Mode)
	}
	ownsNetns := kind == ModeBridge || kind == ModeNone || rootless(kind)
	if c.NetnsPath != "" && !ownsNetns {
		bad("netnsPath", "only modes bridge, none, pasta and slirp4netns configure a given namespace; mode is %q", c.Mode)
	}
	if c.UsernsPath != "" && !rootless(kind) {
		bad("usernsPath", "only the rootless modes pasta and slirp4netns join a user namespace; mode is %q", c.Mode)
	}
	if kind == ModeBridge {
		if err := c.Network.validate("network"); err != nil {
			errs = append(errs, err)
		}
	} else if len(c.Ports) > 0 && !rootless(kind) {
		bad("ports", "publishing ports needs mode bridge, pasta or slirp4netns, not %q", c.Mode)
	}
	seen := map[string]int{}
	for i, p := range c.Ports {
		f := fmt.Sprintf("ports[%d]", i)
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			bad(f+".protocol", "%q: want tcp or udp", p.Protocol)
		}
		if p.HostPort == 0 {
			bad(f+".hostPort", "0: want 1 to 65535")
		}
		if p.ContainerPort == 0 {
			bad(f+".containerPort", "0: want 1 to 65535")
		}
		// On an IPv4-only bridge network the userland proxy serves an IPv6
		// host address; slirp4netns forwards from IPv4 addresses only.
		if p.HostIP.IsValid() && p.HostIP.Is6() && kind == ModeSlirp4netns {
			bad(f+".hostIP", "%s: slirp4netns publishes on IPv4 addresses only", p.HostIP)
		}
		key := fmt.Sprintf("%s/%d", p.Protocol, p.HostPort)
		if j, dup := seen[key]; dup {
			bad(f, "host port %s is already published by ports[%d]", key, j)
		}
		seen[key] = i
	}
	if c.MAC != "" {
		if hw, err := net.ParseMAC(c.MAC); err != nil || len(hw) != 6 {
			bad("mac", "%q: want six bytes like 02:42:0a:58:00:02", c.MAC)
		} else if hw[0]&1 != 0 {
			bad("mac", "%q is a multicast address", c.MAC)
		}
	}
	if len(c.Hostname) > 64 || strings.ContainsAny(c.Hostname, " /\t\n") {
		bad("hostname", "%q: at most 64 characters, no spaces or '/'", c.Hostname)
	}
	return errors.Join(errs...)
}

func rootless(kind string) bool { return kind == ModePasta || kind == ModeSlirp4netns }

// SplitMode splits "container:abc" into "container", "abc"; other modes
// come back whole with an empty argument.
func SplitMode(mode string) (kind, arg string) {
	for _, p := range []string{modeContainerPrefix, modeNsPrefix} {
		if strings.HasPrefix(mode, p) {
			return strings.TrimSuffix(p, ":"), mode[len(p):]
		}
	}
	return mode, ""
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// PortMapping publishes one host port: traffic to HostIP:HostPort (any
// local address when HostIP is unset) goes to the container's
// ContainerPort.
type PortMapping struct {
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"`
	ContainerPort uint16     `json:"containerPort"`
	Protocol      string     `json:"protocol"` // tcp or udp
}

func (p PortMapping) String() string {
	host := strconv.Itoa(int(p.HostPort))
	if p.HostIP.IsValid() {
		host = netip.AddrPortFrom(p.HostIP, p.HostPort).String()
	}
	return fmt.Sprintf("%s:%d/%s", host, p.ContainerPort, p.Protocol)
}

// ParsePort parses a -p/--publish value:
//
//	[hostIP:]hostPort:containerPort[/tcp|/udp]
//	[hostIP:]first-last:first-last[/tcp|/udp]   (ranges of equal length)
//
// An IPv6 host address goes in brackets: [::1]:8080:80. A range comes back
// as one mapping per port.
func ParsePort(spec string) ([]PortMapping, error) {
	fail := func(format string, a ...any) ([]PortMapping, error) {
		return nil, fmt.Errorf("publish %q: %s", spec, fmt.Sprintf(format, a...))
	}
	rest, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return fail("protocol %q: want tcp or udp", proto)
	}
	var hostIP netip.Addr
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return fail("unclosed '[' around the host address")
		}
		a, err := netip.ParseAddr(rest[1:end])
		if err != nil || !a.Is6() {
			return fail("host address %q: want an IPv6 address in brackets", rest[1:end])
		}
		hostIP, rest = a, rest[end+2:]
	}
	parts := strings.Split(rest, ":")
	switch {
	case len(parts) == 3 && !hostIP.IsValid():
		a, err := netip.ParseAddr(parts[0])
		if err != nil || !a.Is4() {
			return fail("host address %q: want an IPv4 address, or IPv6 in brackets", parts[0])
		}
		hostIP, parts = a, parts[1:]
	case len(parts) == 2:
	default:
		return fail("want [hostIP:]hostPort:containerPort[/tcp|/udp]")
	}
	hFirst, hLast, err := parsePortRange(parts[0])
	if err != nil {
		return fail("host port: %v", err)
	}
	cFirst, cLast, err := parsePortRange(parts[1])
	if err != nil {
		return fail("container port: %v", err)
	}
	if hLast-hFirst != cLast-cFirst {
		return fail("host range %s has %d ports, container range %s has %d", parts[0], hLast-hFirst+1, parts[1], cLast-cFirst+1)
	}
	var out []PortMapping
	for i := 0; i <= int(hLast-hFirst); i++ {
		out = append(out, PortMapping{HostIP: hostIP, HostPort: hFirst + uint16(i), ContainerPort: cFirst + uint16(i), Protocol: proto})
	}
	return out, nil
}

func parsePortRange(s string) (first, last uint16, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	f, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return f, f, nil
	}
	l, err := parsePort(hi)
	if err != nil {
		return 0, 0, err
	}
	if l < f {
		return 0, 0, fmt.Errorf("range %s runs backwards", s)
	}
	return f, l, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port (1 to 65535)", s)
	}
	return uint16(n), nil
}
