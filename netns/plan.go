package netns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// Step is one kernel-facing action of a setup plan. String describes it in
// netlink, nftables and syscall terms; the plan printed by
// "hull network inspect" and checked by the golden tests is these strings.
type Step interface {
	String() string
	// apply performs the step and returns how to undo it (nil: nothing to
	// undo, because the step touches only shared objects such as the bridge
	// that later containers reuse).
	apply(ctx context.Context, e *env) (undo func() error, err error)
}

// Addresses are what IPAM gave the container, plus its MAC. They are an
// input of Plan, so that planning stays a pure function.
type Addresses struct {
	IPv4 netip.Prefix // 10.88.0.2/16
	IPv6 netip.Prefix // fd88::2/64, or invalid
	MAC  net.HardwareAddr
}

func (a Addresses) list() []netip.Prefix {
	out := []netip.Prefix{a.IPv4}
	if a.IPv6.IsValid() {
		out = append(out, a.IPv6)
	}
	return out
}

// Names are the kernel objects a container's setup creates, derived from
// its ID alone so that prune can find them after a crash.
type Names struct {
	Netns     string // persisted namespace (when hull creates it)
	HostVeth  string // host end of the veth pair
	Interface string // container end
	Chain     string // nftables chain with its DNAT rules
	EtcDir    string // hosts, hostname, resolv.conf
}

// HostVethName is "hv" and 12 hex digits of SHA-256(id): unique enough
// among a host's containers, and inside IFNAMSIZ.
func HostVethName(id string) string {
	h := sha256.Sum256([]byte(id))
	return "hv" + hex.EncodeToString(h[:6])
}

func isHostVethName(s string) bool {
	if len(s) != 14 || !strings.HasPrefix(s, "hv") {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

// NetnsName is the file name of a container's persisted namespace.
func NetnsName(id string) string { return "hull-" + id }

func (m *Manager) names(c Config) Names {
	n := Names{
		Netns:     filepath.Join(m.o.runDir, NetnsName(c.ID)),
		HostVeth:  HostVethName(c.ID),
		Interface: "eth0",
		Chain:     ContainerChainPrefix + c.ID,
		EtcDir:    filepath.Join(m.o.stateDir, "etc", c.ID),
	}
	if c.NetnsPath != "" {
		n.Netns = c.NetnsPath
	}
	return n
}

// Plan lists the steps that give c its network, for modes bridge and none,
// given its addresses. It makes no system call.
func (m *Manager) Plan(c Config, a Addresses) ([]Step, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	kind, _ := SplitMode(c.Mode)
	if kind != ModeBridge && kind != ModeNone && !rootless(kind) {
		return nil, fmt.Errorf("mode %s: nothing to plan, the namespace is shared", c.Mode)
	}
	nm := m.names(c)
	var steps []Step
	// Ports first: a port already in use must fail before any rule exists.
	if kind == ModeBridge {
		for _, p := range c.Ports {
			steps = append(steps, reservePort{Port: p, Target: a.IPv4.Addr(), Target6: a.IPv6.Addr()})
		}
	}
	if c.NetnsPath == "" {
		steps = append(steps, createNetns{Path: nm.Netns})
	}
	// pasta and slirp4netns bring lo up themselves (--config-net,
	// --configure), from inside the container's user namespace, which an
	// unprivileged hull could not enter.
	if !rootless(kind) {
		steps = append(steps, linkUp{Netns: nm.Netns, Name: "lo"})
	}
	switch kind {
	case ModePasta:
		steps = append(steps, startPasta{Binary: "pasta", Netns: nm.Netns, Userns: c.UsernsPath, Ports: c.Ports,
			PIDFile: filepath.Join(m.o.stateDir, "helpers", c.ID+".pid"), UID: m.o.uid, MAC: a.MAC})
	case ModeSlirp4netns:
		steps = append(steps, startSlirp{Binary: "slirp4netns", Netns: nm.Netns, Userns: c.UsernsPath, Ports: c.Ports,
			APISocket: filepath.Join(m.o.stateDir, "helpers", c.ID+".sock"), MTU: 65520})
	}
	if kind != ModeBridge {
		return append(steps, writeEtc{Dir: nm.EtcDir, Hostname: c.Hostname, DNS: c.DNS}), nil
	}
	n := c.Network
	if !a.IPv4.IsValid() || !n.Subnet.Contains(a.IPv4.Addr()) {
		return nil, fmt.Errorf("address %s is not in subnet %s", a.IPv4, n.Subnet)
	}
	steps = append(steps,
		ensureBridge{Network: n},
		sysctl{Key: "net/ipv4/ip_forward", Value: "1"},
		sysctl{Key: "net/ipv4/conf/" + n.Bridge + "/route_localnet", Value: "1"},
	)
	if n.IPv6Subnet.IsValid() {
		steps = append(steps, sysctl{Key: "net/ipv6/conf/all/forwarding", Value: "1"})
	}
	steps = append(steps,
		ensureNAT{Network: n},
		createVeth{Host: nm.HostVeth, Peer: nm.Interface, Netns: nm.Netns, MTU: n.MTU, MAC: a.MAC},
		joinBridge{Link: nm.HostVeth, Bridge: n.Bridge},
	)
	for _, p := range a.list() {
		steps = append(steps, addrAdd{Netns: nm.Netns, Link: nm.Interface, Addr: p})
	}
	steps = append(steps, linkUp{Netns: nm.Netns, Name: nm.Interface})
	steps = append(steps, routeAdd{Netns: nm.Netns, Link: nm.Interface, Gateway: n.Gateway})
	if a.IPv6.IsValid() {
		steps = append(steps, routeAdd{Netns: nm.Netns, Link: nm.Interface, Gateway: n.IPv6Gateway})
	}
	if len(c.Ports) > 0 {
		chain, rules, j := containerRules(c.ID, a.list(), c.Ports)
		steps = append(steps, publishPorts{ID: c.ID, Chain: chain, Rules: rules, Jump: j})
	}
	var own []netip.Addr
	for _, p := range a.list() {
		own = append(own, p.Addr())
	}
	steps = append(steps, writeEtc{Dir: nm.EtcDir, Hostname: c.Hostname, Addrs: own, Gateway: n.Gateway, DNS: c.DNS})
	return steps, nil
}

// FormatPlan renders steps one per line, numbered, for --explain.
func FormatPlan(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "%2d. %s\n", i+1, s)
	}
	return b.String()
}
