// Package netns gives containers their network: namespaces, a bridge, veth
// pairs, addresses, routes, NAT and published ports, built with netlink and
// nftables directly — no ip or iptables binary, no daemon.
//
// # The picture
//
//	 host network namespace                         container namespace
//	┌────────────────────────────────────────────┐ ┌──────────────────────┐
//	│ up0 198.51.100.1 ◄── clients, the world    │ │                      │
//	│                                            │ │  eth0 10.88.0.2/16   │
//	│ hull0 (bridge) 10.88.0.1/16                │ │  default via         │
//	│   └── hv4b5e57f6eb2f (veth, hairpin) ◄─────┼─┼─►   10.88.0.1        │
//	│                                            │ │  lo up               │
//	│ table inet hull                            │ └──────────────────────┘
//	│   prerouting/output: fib daddr type local  │   persisted as
//	│     → ports → ctr-<id>: dnat to 10.88.0.2  │   /run/netns/hull-<id>
//	│   postrouting: masquerade                  │
//	│ [::]:PORT userland proxy (for ::1)         │
//	└────────────────────────────────────────────┘
//
// A Manager works on one "host" namespace (WithHostNetns; by default the
// one hull runs in). Setup follows hull's one-way flow: validate the
// Config, lease addresses (package ipam), Plan — a pure list of typed
// steps, each printable in netlink/nftables terms — then apply the steps
// in order, pushing an undo for each onto a stack that unwinds if a later
// step fails. Teardown removes what Setup made; Prune removes what a
// crashed process left. Printing a plan:
//
//	steps, _ := m.Plan(cfg, addrs)
//	fmt.Print(netns.FormatPlan(steps))
//
// # Published ports
//
// -p 8080:80 becomes a DNAT rule in the container's own chain ctr-<id>,
// reached from "prerouting" (packets from other machines and from
// containers) and from "output" (packets the host sends itself), both only
// for packets addressed to a local address ("fib daddr type local"). So
// the port answers on every host address and on 127.0.0.1. Three details
// make the hard cases work:
//
//   - 127.0.0.1: a packet keeping source 127.0.0.1 may leave lo only if
//     the outgoing device has route_localnet=1 (set on the bridge), and is
//     then masqueraded to the bridge address so the container can answer.
//   - hairpin: a container reaching a published port (its own or a
//     neighbour's) is masqueraded too ("ct status dnat"), or the reply would
//     go straight over the bridge from an address the client never called.
//   - [::1]: IPv6 has no route_localnet; output skips ::1 and a userland
//     proxy (package portproxy) listening on [::]:PORT relays instead.
//
// As with docker, -p 8080:80 publishes on both families: 0.0.0.0:8080 is
// bound, and [::]:8080 (IPV6_V6ONLY) listens. With an IPv6 address in the
// container, DNAT takes every IPv6 packet except those to ::1, which reach
// that listener; on an IPv4-only network every IPv6 client does, and the
// proxy relays to the IPv4 address. [::]:8080:80 and 0.0.0.0:8080:80
// publish on one family only.
//
// The host port is bound first (and held by the Attachment), so a port
// already in use, on either family, fails with EADDRINUSE before any rule
// exists.
//
// # For the runtime
//
//	m, _ := netns.New()                        // once per process
//	att, err := m.Setup(ctx, netns.Config{ID: id, Ports: ports})
//	// spec.Linux.Namespaces: {Type: "network", Path: att.NetnsPath}
//	// spec.Mounts: bind att.EtcFiles["/etc/resolv.conf"] etc. read-only
//	...
//	m.Teardown(ctx, id)                        // on "hull delete"
//
// The Manager that ran Setup holds the published ports' reservations and
// the [::1] proxies: the process that keeps the container (its monitor)
// should make that call and live as long as the container. If another
// process tears down, it still removes every kernel object; the holder's
// sockets close when it exits.
//
// # Rootless
//
// Without root there is no bridge and no nftables table: mode bridge turns
// into mode pasta (Debian package passt) or, failing that, slirp4netns; with
// neither installed Setup fails with ErrNoRootlessNetwork. The helper runs
// as a child of the caller in the host namespace, holds a tap device eth0
// in the container's namespace (joining UsernsPath when given) and
// publishes the ports itself; its PID and start time are recorded so that
// Teardown and Prune can stop it.
//
// Debian 12's pasta (passt 0.0~git20230309) has one known flaw: an inbound
// connection from another machine to a published TCP port completes only
// once the client sends data, since that pasta never acknowledges the
// container's SYN-ACK by itself. Clients that speak first (HTTP) work;
// ones that wait for the server (SSH, SMTP) hang. Later passt releases,
// and slirp4netns, do not have it; loopback clients never do.
//
// # Names, state and locks
//
// Every kernel object of a container is named from its ID alone (netns
// hull-<id>, veth hv<sha256(id)[:12]>, chain ctr-<id>, rule comments
// container:<id>), and the record <state>/attachments/<id>.json is written,
// state "creating", before the first system call. A SIGKILL at any point
// therefore leaves a record or names that Prune recognises.
// Setups hold <state>/setup.lock shared; Prune holds it exclusively, so a
// record still "creating" under Prune belongs to a dead setup. Bridge and
// table changes are serialised by <state>/network.lock; leases by the ipam
// lock. flock locks die with their process, so a crash never wedges them.
//
// # Threads and namespaces
//
// Sockets (netlink, nftables, the port reservations and proxies) are
// opened on a thread that joined the target namespace (nsfs.Do) and keep
// working there from any goroutine. Such threads are never unlocked.
//
// Kernel interfaces: rtnetlink (RTM_NEWLINK bridge/veth, IFLA_NET_NS_FD,
// IFLA_BRPORT_MODE, RTM_NEWADDR, RTM_NEWROUTE), nf_tables (inet table,
// nat chains, fib, ct, nat and masq expressions), /proc/sys/net
// (ip_forward, route_localnet, IPv6 forwarding), setns/unshare, flock.
package netns
