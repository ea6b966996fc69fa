package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hullrt/hull/netns/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Prune removes what crashed or abandoned setups left, and networks no
// container uses:
//
//   - attachments still "creating" (their setup died: Prune holds the setup
//     lock exclusively, so no live setup is running) and attachments whose
//     namespace is gone are torn down;
//   - kernel objects and files named like hull's but with no record: host
//     veths (hv…) on hull's bridges, namespaces hull-… in the run
//     directory, container chains and jumps in hull's table, leases and
//     /etc directories;
//   - networks without attachments: their bridge, masquerade rules and
//     lease file (the table itself with the last network).
//
// It returns one line per object removed.
func (m *Manager) Prune(ctx context.Context) ([]string, error) {
	unlock, err := m.lock("setup.lock", unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var removed []string
	var errs []error
	note := func(format string, a ...any) { removed = append(removed, fmt.Sprintf(format, a...)) }

	atts, err := m.Attachments()
	if err != nil {
		return nil, err
	}
	keep := map[string]*Attachment{}
	for _, a := range atts {
		if why := m.stale(a); why != "" {
			if err := m.teardown(ctx, a); err != nil {
				errs = append(errs, err)
				keep[a.ID] = a
				continue
			}
			note("attachment %s (%s)", a.ID, why)
			continue
		}
		keep[a.ID] = a
	}
	alive := func(id string) bool { return keep[id] != nil }

	// nftables: chains and jumps of unknown containers.
	errs = append(errs, m.scanNAT(func(t natTable) error {
		st, err := t.state()
		if err != nil {
			return err
		}
		for id := range st.Containers {
			if !alive(id) {
				if err := t.removeContainer(id); err != nil {
					return err
				}
				note("nftables chain %s%s", ContainerChainPrefix, id)
			}
		}
		return nil
	}))

	// Host veths on hull's bridges with no attachment.
	nets, err := m.networkRecords()
	errs = append(errs, err)
	h, err := handleIn(m.o.hostNetns)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	defer h.Close()
	ours := map[string]bool{}
	for _, a := range keep {
		ours[a.HostVeth] = true
	}
	bridges := map[int]bool{}
	for _, n := range nets {
		if l, err := h.LinkByName(n.Bridge); err == nil {
			bridges[l.Attrs().Index] = true
		}
	}
	links, err := h.LinkList()
	errs = append(errs, err)
	for _, l := range links {
		name := l.Attrs().Name
		// A veth named like hull's host ends, on one of hull's bridges or
		// on none (a setup that died between creating and attaching it).
		master := l.Attrs().MasterIndex
		if l.Type() == "veth" && isHostVethName(name) && (master == 0 || bridges[master]) && !ours[name] {
			if err := h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete link %s: %w", name, err))
				continue
			}
			note("link %s", name)
		}
	}

	// Persisted namespaces and /etc directories with no attachment.
	nsFiles, _ := filepath.Glob(filepath.Join(m.o.runDir, NetnsName("*")))
	for _, p := range nsFiles {
		id := strings.TrimPrefix(filepath.Base(p), NetnsName(""))
		if a := keep[id]; a == nil || a.NetnsPath != p {
			if err := nsfs.Remove(p); err != nil {
				errs = append(errs, err)
				continue
			}
			note("netns %s", p)
		}
	}
	etcDirs, _ := filepath.Glob(filepath.Join(m.o.stateDir, "etc", "*"))
	for _, d := range etcDirs {
		if !alive(filepath.Base(d)) {
			errs = append(errs, os.RemoveAll(d))
			note("files %s", d)
		}
	}

	// Leases of unknown containers, then networks nobody uses.
	leaseNets, err := m.ipam.Networks()
	errs = append(errs, err)
	for _, n := range leaseNets {
		dropped, err := m.ipam.Repair(n, alive)
		errs = append(errs, err)
		for _, l := range dropped {
			note("lease %s of %s in network %s", l.IP, l.ID, n)
		}
	}
	used := map[string]bool{}
	for _, a := range keep {
		if a.Network != nil {
			used[a.Network.Name] = true
		}
	}
	unlockNet, err := m.lockNetworks()
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	defer unlockNet()
	remaining := len(nets)
	for _, n := range nets {
		if used[n.Name] {
			continue
		}
		remaining--
		if err := m.removeNetwork(h, n, remaining == 0); err != nil {
			errs = append(errs, err)
			continue
		}
		note("network %s (bridge %s)", n.Name, n.Bridge)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// stale says why an attachment is dead, or "" if it is not.
func (m *Manager) stale(a *Attachment) string {
	if a.State != "ready" {
		return "setup did not finish"
	}
	if a.NetnsPath != "" {
		if ok, _ := nsfs.IsNetns(a.NetnsPath); !ok {
			return "namespace " + a.NetnsPath + " is gone"
		}
	}
	return ""
}

func (m *Manager) removeNetwork(h *netlink.Handle, n *networkRecord, last bool) error {
	if n.CreatedBridge {
		if err := m.deleteLink(h, n.Bridge); err != nil {
			return err
		}
	}
	if err := m.withNAT(func(t natTable) error { return t.removeNetwork(n.Name, last) }); err != nil {
		return err
	}
	if err := m.ipam.Remove(n.Name); err != nil {
		return err
	}
	err := os.Remove(m.networkPath(n.Name))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

// Leftovers lists every object hull would own in the host namespace and
// directories: links on hull's bridges, chains and rules in hull's table,
// leases, persisted namespaces, mounts. "network ls --all" prints it; tests
// assert it is empty after teardown.
type Leftovers struct {
	Links       []string // host veths named hv… and bridges of recorded networks
	Chains      []string // container chains in hull's table
	Table       bool     // hull's table exists
	Leases      []string // "network ip id"
	Netns       []string // persisted namespace files
	Mounts      []string // mount points under the run directory
	Attachments []string
	Networks    []string
}

// Empty reports whether nothing is left.
func (l Leftovers) Empty() bool {
	return len(l.Links)+len(l.Chains)+len(l.Leases)+len(l.Netns)+len(l.Mounts)+len(l.Attachments)+len(l.Networks) == 0 && !l.Table
}

// scanNAT is withNAT for Prune and Scan. A caller that nftables refuses
// (EPERM: no CAP_NET_ADMIN over the host namespace, as for hull run by a
// user) can have made no rule there, so there is nothing of its own to
// find; its rootless helpers publish ports without nftables.
func (m *Manager) scanNAT(fn func(natTable) error) error {
	if err := m.withNAT(fn); !errors.Is(err, unix.EPERM) {
		return err
	}
	return nil
}

// Scan lists what exists now.
func (m *Manager) Scan() (Leftovers, error) {
	var lo Leftovers
	var errs []error
	h, err := handleIn(m.o.hostNetns)
	if err != nil {
		return lo, err
	}
	defer h.Close()
	links, err := h.LinkList()
	errs = append(errs, err)
	nets, err := m.networkRecords()
	errs = append(errs, err)
	bridges := map[string]bool{}
	for _, n := range nets {
		bridges[n.Bridge] = n.CreatedBridge
		lo.Networks = append(lo.Networks, n.Name)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if (l.Type() == "veth" && isHostVethName(name)) || bridges[name] {
			lo.Links = append(lo.Links, name)
		}
	}
	errs = append(errs, m.scanNAT(func(t natTable) error {
		st, err := t.state()
		lo.Table = st.Present
		for id := range st.Containers {
			lo.Chains = append(lo.Chains, ContainerChainPrefix+id)
		}
		return err
	}))
	leaseNets, err := m.ipam.Networks()
	errs = append(errs, err)
	for _, n := range leaseNets {
		ls, err := m.ipam.Leases(n)
		errs = append(errs, err)
		for _, l := range ls {
			lo.Leases = append(lo.Leases, fmt.Sprintf("%s %s %s", n, l.IP, l.ID))
		}
	}
	lo.Netns, _ = filepath.Glob(filepath.Join(m.o.runDir, NetnsName("*")))
	mounts, err := nsfs.MountsUnder(m.o.runDir)
	errs = append(errs, err)
	for _, mp := range mounts {
		if strings.HasPrefix(filepath.Base(mp), NetnsName("")) {
			lo.Mounts = append(lo.Mounts, mp)
		}
	}
	atts, err := m.Attachments()
	errs = append(errs, err)
	for _, a := range atts {
		lo.Attachments = append(lo.Attachments, a.ID)
	}
	sort.Strings(lo.Chains)
	return lo, errors.Join(errs...)
}
