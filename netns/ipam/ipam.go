// Package ipam hands out container addresses from a subnet and remembers
// them on disk, so that concurrent "hull run" processes never share an
// address and a crashed one can be repaired later.
//
// One JSON file per network holds every lease of that network (IPv4 and
// IPv6). Each change is read-modify-write under flock(LOCK_EX) on a
// separate lock file, and the new contents are written to a temporary file
// and renamed over the old one, so a reader or a crash never sees half a
// file. Addresses are handed out next-fit, after the last one given, the
// way CNI's host-local plugin does: a released address is not reused at
// once, which keeps stale ARP and conntrack entries of a dead container
// from hitting the next one.
//
// Kernel interfaces: flock(2), rename(2).
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// ErrExhausted is returned when a subnet has no free address left.
var ErrExhausted = errors.New("no free address")

// Lease is one address given to one container.
type Lease struct {
	IP   netip.Addr `json:"ip"`
	ID   string     `json:"id"`
	Time time.Time  `json:"time"`
}

// Store keeps leases under a directory: <dir>/<network>.json, locked through
// <dir>/<network>.lock.
type Store struct {
	dir string
}

// New returns a store rooted at dir. Nothing is created until the first
// allocation.
func New(dir string) *Store { return &Store{dir: dir} }

// Dir is where the store keeps its files.
func (s *Store) Dir() string { return s.dir }

// Range is the pool of a subnet: every host address except the network
// address, the IPv4 broadcast address and the gateway.
type Range struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
}

type file struct {
	// Last is the last address handed out per subnet, for next-fit.
	Last   map[string]netip.Addr `json:"last,omitempty"`
	Leases []Lease               `json:"leases"`
}

// Peek returns the address Allocate would give id now, without leasing it
// (for plans printed ahead of time).
func (s *Store) Peek(network string, r Range, id string) (netip.Addr, error) {
	var got netip.Addr
	err := s.locked(network, unix.LOCK_SH, func() error {
		f, err := s.read(network)
		if err != nil {
			return err
		}
		got, err = pick(f, r, id)
		return err
	})
	return got, err
}

// pick chooses id's address in f: its existing lease, else the next free
// one after the last handed out.
func pick(f *file, r Range, id string) (netip.Addr, error) {
	for _, l := range f.Leases {
		if l.ID == id && r.Subnet.Contains(l.IP) {
			return l.IP, nil
		}
	}
	used := make(map[netip.Addr]bool, len(f.Leases))
	for _, l := range f.Leases {
		used[l.IP] = true
	}
	first, last := hostRange(r.Subnet)
	start := first
	if prev, ok := f.Last[r.Subnet.String()]; ok && r.Subnet.Contains(prev) {
		start = prev.Next()
	}
	a := start
	for {
		if !a.IsValid() || !r.Subnet.Contains(a) || last.Less(a) {
			a = first
		}
		if !used[a] && a != r.Gateway {
			return a, nil
		}
		a = a.Next()
		if a == start {
			return netip.Addr{}, fmt.Errorf("subnet %s: %w", r.Subnet, ErrExhausted)
		}
	}
}

// Allocate gives id an address from r. If id already holds one in r.Subnet
// (a retried setup), that address is returned again.
func (s *Store) Allocate(network string, r Range, id string) (netip.Addr, error) {
	var got netip.Addr
	err := s.update(network, func(f *file) error {
		for _, l := range f.Leases {
			if l.ID == id && r.Subnet.Contains(l.IP) {
				got = l.IP
				return nil
			}
		}
		var err error
		if got, err = pick(f, r, id); err != nil {
			return err
		}
		f.Leases = append(f.Leases, Lease{IP: got, ID: id, Time: time.Now().UTC()})
		if f.Last == nil {
			f.Last = map[string]netip.Addr{}
		}
		f.Last[r.Subnet.String()] = got
		return nil
	})
	return got, err
}

// Release drops every lease of id in network. Releasing what is not leased
// is not an error.
func (s *Store) Release(network, id string) error {
	return s.update(network, func(f *file) error {
		kept := f.Leases[:0]
		for _, l := range f.Leases {
			if l.ID != id {
				kept = append(kept, l)
			}
		}
		f.Leases = kept
		return nil
	})
}

// Repair releases the leases whose owner alive reports as gone (a container
// whose setup crashed before it could record itself), and returns them.
func (s *Store) Repair(network string, alive func(id string) bool) ([]Lease, error) {
	var dropped []Lease
	err := s.update(network, func(f *file) error {
		kept := f.Leases[:0]
		for _, l := range f.Leases {
			if alive(l.ID) {
				kept = append(kept, l)
			} else {
				dropped = append(dropped, l)
			}
		}
		f.Leases = kept
		return nil
	})
	return dropped, err
}

// Leases lists the leases of network, sorted by address.
func (s *Store) Leases(network string) ([]Lease, error) {
	var out []Lease
	err := s.locked(network, unix.LOCK_SH, func() error {
		f, err := s.read(network)
		out = f.Leases
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out, err
}

// Networks lists the networks that have a lease file.
func (s *Store) Networks() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		out = append(out, filepath.Base(p[:len(p)-len(".json")]))
	}
	return out, nil
}

// Remove deletes network's files once it holds no lease.
func (s *Store) Remove(network string) error {
	return s.locked(network, unix.LOCK_EX, func() error {
		f, err := s.read(network)
		if err != nil {
			return err
		}
		if len(f.Leases) > 0 {
			return fmt.Errorf("network %s: %d addresses still leased", network, len(f.Leases))
		}
		if err := os.Remove(s.path(network, ".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// The lock file stays: unlinking a file that another process may be
		// about to lock would let two processes hold "the" lock at once.
		return nil
	})
}

func (s *Store) path(network, ext string) string {
	return filepath.Join(s.dir, network+ext)
}

func (s *Store) locked(network string, how int, fn func() error) error {
	if network == "" || filepath.Base(network) != network {
		return fmt.Errorf("ipam: bad network name %q", network)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	lockPath := s.path(network, ".lock")
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	for {
		err = unix.Flock(int(lf.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "flock", Path: lockPath, Err: err}
	}
	return fn() // closing lf drops the lock
}

func (s *Store) read(network string) (*file, error) {
	f := &file{}
	b, err := os.ReadFile(s.path(network, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("ipam: %s: %w", s.path(network, ".json"), err)
	}
	return f, nil
}

func (s *Store) update(network string, fn func(*file) error) error {
	return s.locked(network, unix.LOCK_EX, func() error {
		f, err := s.read(network)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(s.dir, network+".*.tmp")
		if err != nil {
			return err
		}
		_, err = tmp.Write(append(b, '\n'))
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), s.path(network, ".json"))
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
		return err
	})
}

// hostRange is the first and last assignable address of p: for IPv4 the
// network and broadcast addresses are skipped (except in a /31 or /32), for
// IPv6 the subnet-router anycast address (all zeros) is.
func hostRange(p netip.Prefix) (first, last netip.Addr) {
	p = p.Masked()
	first = p.Addr()
	bits := first.BitLen()
	host := bits - p.Bits()
	n := new(big.Int).SetBytes(first.AsSlice())
	span := new(big.Int).Lsh(big.NewInt(1), uint(host))
	top := new(big.Int).Add(n, span)
	top.Sub(top, big.NewInt(1))
	buf := make([]byte, bits/8)
	top.FillBytes(buf)
	last, _ = netip.AddrFromSlice(buf)
	if host >= 2 || first.Is6() && host >= 1 {
		first = first.Next()
		if first.Is4() {
			last = last.Prev()
		}
	}
	return first, last
}
