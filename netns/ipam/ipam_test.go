package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

var pool = Range{Subnet: netip.MustParsePrefix("10.88.0.0/16"), Gateway: netip.MustParseAddr("10.88.0.1")}

func TestHostRange(t *testing.T) {
	for _, tc := range []struct{ prefix, first, last string }{
		{"10.88.0.0/16", "10.88.0.1", "10.88.255.254"},
		{"192.168.7.0/24", "192.168.7.1", "192.168.7.254"},
		{"192.168.7.8/30", "192.168.7.9", "192.168.7.10"},
		{"fd00:1::/64", "fd00:1::1", "fd00:1::ffff:ffff:ffff:ffff"},
	} {
		f, l := hostRange(netip.MustParsePrefix(tc.prefix))
		if f.String() != tc.first || l.String() != tc.last {
			t.Errorf("hostRange(%q) = %v, %v, want %s, %s", tc.prefix, f, l, tc.first, tc.last)
		}
	}
}

func TestAllocateSkipsGatewayAndIsIdempotent(t *testing.T) {
	s := New(t.TempDir())
	a, err := s.Allocate("hull", pool, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != "10.88.0.2" {
		t.Errorf("first lease = %v, want 10.88.0.2 (10.88.0.1 is the gateway)", a)
	}
	again, _ := s.Allocate("hull", pool, "c1")
	if again != a {
		t.Errorf("second Allocate for the same id = %v, want %v", again, a)
	}
	b, _ := s.Allocate("hull", pool, "c2")
	if b.String() != "10.88.0.3" {
		t.Errorf("second container = %v, want 10.88.0.3", b)
	}
	if err := s.Release("hull", "c1"); err != nil {
		t.Fatal(err)
	}
	// Next-fit: the released .2 is not reused at once.
	c, _ := s.Allocate("hull", pool, "c3")
	if c.String() != "10.88.0.4" {
		t.Errorf("after release, next lease = %v, want 10.88.0.4", c)
	}
	ls, _ := s.Leases("hull")
	if len(ls) != 2 || ls[0].ID != "c2" || ls[1].ID != "c3" {
		t.Errorf("Leases = %+v, want c2 and c3", ls)
	}
}

func TestPeekLeasesNothing(t *testing.T) {
	s := New(t.TempDir())
	s.Allocate("hull", pool, "c1")
	for range 2 {
		if a, err := s.Peek("hull", pool, "c2"); err != nil || a.String() != "10.88.0.3" {
			t.Fatalf("Peek = %v, %v, want 10.88.0.3", a, err)
		}
	}
	if a, _ := s.Peek("hull", pool, "c1"); a.String() != "10.88.0.2" {
		t.Errorf("Peek for a leased id = %v, want its lease 10.88.0.2", a)
	}
	if ls, _ := s.Leases("hull"); len(ls) != 1 {
		t.Errorf("Peek leased: %+v", ls)
	}
	if a, _ := s.Allocate("hull", pool, "c2"); a.String() != "10.88.0.3" {
		t.Errorf("Allocate after Peek = %v, want what Peek said", a)
	}
}

func TestExhaustedAndWrap(t *testing.T) {
	s := New(t.TempDir())
	small := Range{Subnet: netip.MustParsePrefix("192.168.7.0/29"), Gateway: netip.MustParseAddr("192.168.7.1")}
	var got []string
	for i := 0; i < 5; i++ {
		a, err := s.Allocate("small", small, fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if fmt.Sprint(got) != "[192.168.7.2 192.168.7.3 192.168.7.4 192.168.7.5 192.168.7.6]" {
		t.Errorf("leases = %v", got)
	}
	if _, err := s.Allocate("small", small, "c5"); !errors.Is(err, ErrExhausted) {
		t.Errorf("Allocate in a full /29 = %v, want ErrExhausted", err)
	}
	s.Release("small", "c2")
	if a, err := s.Allocate("small", small, "c6"); err != nil || a.String() != "192.168.7.4" {
		t.Errorf("after release in a full pool: %v, %v, want 192.168.7.4 (wrapped around)", a, err)
	}
}

func TestConcurrentStoresNeverShare(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	addrs := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Store per goroutine: each opens its own lock file
			// description, as separate processes would.
			addrs[i], errs[i] = New(dir).Allocate("hull", pool, fmt.Sprint("c", i))
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, a := range addrs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if j, dup := seen[a]; dup {
			t.Fatalf("containers %d and %d both got %v", j, i, a)
		}
		seen[a] = i
	}
	ls, _ := New(dir).Leases("hull")
	if len(ls) != n {
		t.Errorf("%d leases on disk, want %d", len(ls), n)
	}
}

func TestRepairAndRemove(t *testing.T) {
	s := New(t.TempDir())
	s.Allocate("hull", pool, "alive")
	s.Allocate("hull", pool, "crashed")
	v6 := Range{Subnet: netip.MustParsePrefix("fd88::/64"), Gateway: netip.MustParseAddr("fd88::1")}
	if a, err := s.Allocate("hull", v6, "crashed"); err != nil || a.String() != "fd88::2" {
		t.Fatalf("v6 lease = %v, %v", a, err)
	}
	dropped, err := s.Repair("hull", func(id string) bool { return id == "alive" })
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 2 {
		t.Errorf("Repair dropped %+v, want the two leases of crashed", dropped)
	}
	if err := s.Remove("hull"); err == nil {
		t.Error("Remove with a live lease succeeded")
	}
	s.Release("hull", "alive")
	if err := s.Remove("hull"); err != nil {
		t.Fatal(err)
	}
	if nets, _ := s.Networks(); len(nets) != 0 {
		t.Errorf("Networks after Remove = %v", nets)
	}
}
