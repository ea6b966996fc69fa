package netns

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is hull's nftables table, family inet (one table for IPv4 and
// IPv6). hull owns it whole: nothing else should add to it, and hull
// touches nothing outside it.
const TableName = "hull"

// Chains of hull's table. The base chains hook into netfilter; "ports" is
// where every container with published ports hangs its own chain.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainPorts       = "ports"
	// ContainerChainPrefix + container ID names the chain holding that
	// container's DNAT rules.
	ContainerChainPrefix = "ctr-"
)

// Tags (rule comments) say who owns a rule, so teardown and prune can find
// it again: "hull" for the table's skeleton, "network:<name>" for a
// network's masquerade rules, "container:<id>" for the jump to a
// container's chain.
const (
	tagBase            = "hull"
	tagNetworkPrefix   = "network:"
	tagContainerPrefix = "container:"
)

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// baseChain is one of the chains hooked into netfilter.
type baseChain struct {
	name string
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
	text string
}

var baseChains = []baseChain{
	{chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, "type nat hook prerouting priority dstnat"},
	{chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, "type nat hook output priority dstnat"},
	{chainPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, "type nat hook postrouting priority srcnat"},
	{chainPorts, nil, nil, ""},
}

// Rule is one rule of hull's table as data: the chain, the tag that says
// who owns it, the nft syntax for people, and the expressions for the
// kernel.
type Rule struct {
	Chain string
	Tag   string
	Text  string
	exprs []expr.Any
}

func (r Rule) String() string {
	return fmt.Sprintf("add rule inet %s %s %s comment %q", TableName, r.Chain, r.Text, r.Tag)
}

func (r Rule) nft(chain *nftables.Chain) *nftables.Rule {
	return &nftables.Rule{
		Table:    table,
		Chain:    chain,
		Exprs:    r.exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, r.Tag),
	}
}

// part is a fragment of a rule: its nft text and its expressions.
type part struct {
	text  string
	exprs []expr.Any
}

func rule(chain, tag string, parts ...part) Rule {
	r := Rule{Chain: chain, Tag: tag}
	var text []string
	for _, p := range parts {
		if p.text != "" {
			text = append(text, p.text)
		}
		r.exprs = append(r.exprs, p.exprs...)
	}
	r.Text = strings.Join(text, " ")
	return r
}

// In an inet table, an address match must first check the family: that is
// the implicit "meta nfproto" nft adds before "ip saddr".
func nfproto(a netip.Addr) []expr.Any {
	fam := byte(unix.NFPROTO_IPV4)
	if a.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
	}
}

func ipWord(a netip.Addr) string {
	if a.Is6() {
		return "ip6"
	}
	return "ip"
}

// addrOffset is where the source (or destination) address sits in the
// IPv4 or IPv6 header.
func addrOffset(a netip.Addr, dst bool) uint32 {
	switch {
	case a.Is4() && !dst:
		return 12
	case a.Is4():
		return 16
	case !dst:
		return 8
	default:
		return 24
	}
}

// addrIn matches "ip saddr 10.88.0.0/16" (dst: daddr; neg: !=).
func addrIn(p netip.Prefix, dst, neg bool) part {
	a := p.Addr()
	dir, op, cmp := "saddr", "", expr.CmpOpEq
	if dst {
		dir = "daddr"
	}
	if neg {
		op, cmp = "!= ", expr.CmpOpNeq
	}
	mask := netip.PrefixFrom(a, p.Bits())
	e := nfproto(a)
	e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOffset(a, dst), Len: uint32(a.BitLen() / 8)})
	text := p.String()
	if p.Bits() != a.BitLen() {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(a.BitLen() / 8),
			Mask: prefixMask(mask), Xor: make([]byte, a.BitLen()/8)})
	} else {
		text = a.String()
	}
	e = append(e, &expr.Cmp{Op: cmp, Register: 1, Data: p.Masked().Addr().AsSlice()})
	return part{fmt.Sprintf("%s %s %s%s", ipWord(a), dir, op, text), e}
}

func prefixMask(p netip.Prefix) []byte {
	b := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

func ifname(name string) []byte {
	b := make([]byte, IFNAMSIZ)
	copy(b, name)
	return b
}

func oifname(name string) part {
	return part{fmt.Sprintf("oifname %q", name), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}}
}

// ctDNAT matches connections whose destination was rewritten by DNAT.
func ctDNAT() part {
	return part{"ct status dnat", []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, IPS_DST_NAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}}
}

// fibLocal matches packets addressed to one of this namespace's own
// addresses, whichever interface holds it, 127.0.0.1 included.
func fibLocal() part {
	return part{"fib daddr type local", []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
	}}
}

func dport(proto string, port uint16) part {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return part{fmt.Sprintf("%s dport %d", proto, port), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}}
}

func masquerade() part { return part{"masquerade", []expr.Any{&expr.Masq{}}} }

func jump(chain string) part {
	return part{"jump " + chain, []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}
}

func ret() part { return part{"return", []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}} }

func dnat(to netip.AddrPort) part {
	fam := uint32(unix.NFPROTO_IPV4)
	if to.Addr().Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return part{fmt.Sprintf("dnat %s to %s", ipWord(to.Addr()), to), []expr.Any{
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, to.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}}
}

// baseRules are the table's skeleton: every packet to a local address, from
// outside (prerouting) or from the host itself (output), visits "ports".
// Output skips ::1: the kernel will not route a packet from ::1 out of lo
// (IPv6 has no route_localnet), so [::1] is served by the userland proxy.
func baseRules() []Rule {
	loop6 := netip.PrefixFrom(netip.IPv6Loopback(), 128)
	return []Rule{
		rule(chainPrerouting, tagBase, fibLocal(), jump(chainPorts)),
		rule(chainOutput, tagBase, addrIn(loop6, true, false), ret()),
		rule(chainOutput, tagBase, fibLocal(), jump(chainPorts)),
	}
}

// networkRules masquerade what leaves a network's subnet, and the two
// cases where a DNATed reply would otherwise bypass the host:
//   - localhost: 127.0.0.1:PORT DNATed to the container keeps source
//     127.0.0.1, which the container cannot answer; it is rewritten to the
//     bridge address (the bridge also needs route_localnet=1).
//   - hairpin: a container reaching a published port (its own or a
//     neighbour's) would get the reply straight over the bridge, from an
//     address it never talked to; masquerading makes the host the peer.
func networkRules(n Network) []Rule {
	tag := tagNetworkPrefix + n.Name
	loop4 := netip.MustParsePrefix("127.0.0.0/8")
	rs := []Rule{
		rule(chainPostrouting, tag, addrIn(n.Subnet, false, false), addrIn(n.Subnet, true, true), masquerade()),
		rule(chainPostrouting, tag, oifname(n.Bridge), addrIn(loop4, false, false), masquerade()),
		rule(chainPostrouting, tag, oifname(n.Bridge), ctDNAT(), addrIn(n.Subnet, false, false), masquerade()),
	}
	if n.IPv6Subnet.IsValid() {
		rs = append(rs,
			rule(chainPostrouting, tag, addrIn(n.IPv6Subnet, false, false), addrIn(n.IPv6Subnet, true, true), masquerade()),
			rule(chainPostrouting, tag, oifname(n.Bridge), ctDNAT(), addrIn(n.IPv6Subnet, false, false), masquerade()),
		)
	}
	return rs
}

// containerRules are a container's DNAT rules, in its own chain, and the
// tagged jump to that chain from "ports".
func containerRules(id string, addrs []netip.Prefix, ports []PortMapping) (chain string, rules []Rule, jumpRule Rule) {
	chain = ContainerChainPrefix + id
	tag := tagContainerPrefix + id
	for _, p := range ports {
		for _, a := range addrs {
			ca := a.Addr()
			switch {
			case p.HostIP.IsValid() && p.HostIP.IsLoopback() && p.HostIP.Is6():
				continue // [::1]: the userland proxy
			case p.HostIP.IsValid() && p.HostIP.Is4() != ca.Is4():
				continue // the kernel does not translate between families
			}
			parts := []part{}
			if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
				parts = append(parts, addrIn(netip.PrefixFrom(p.HostIP, p.HostIP.BitLen()), true, false))
			} else { // no address, 0.0.0.0 or [::]: every local address of the family
				parts = append(parts, part{"meta nfproto " + map[bool]string{true: "ipv4", false: "ipv6"}[ca.Is4()], nfproto(ca)})
			}
			parts = append(parts, dport(p.Protocol, p.HostPort), dnat(netip.AddrPortFrom(ca, p.ContainerPort)))
			rules = append(rules, rule(chain, tag, parts...))
		}
	}
	return chain, rules, rule(chainPorts, tag, jump(chain))
}

func ruleTag(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}
