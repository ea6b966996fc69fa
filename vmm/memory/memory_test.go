package memory

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLayout(t *testing.T) {
	for _, tt := range []struct {
		size uint64
		want []Range
	}{
		{512 << 20, []Range{{0, 512 << 20}}},
		{3 << 30, []Range{{0, 3 << 30}}},
		{4 << 30, []Range{{0, 3 << 30}, {4 << 30, 1 << 30}}},
	} {
		got := Layout(tt.size)
		if len(got) != len(tt.want) {
			t.Fatalf("Layout(%#x) = %v, want %v", tt.size, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Layout(%#x) = %v, want %v", tt.size, got, tt.want)
			}
		}
	}
}

func TestSliceBounds(t *testing.T) {
	g := FromRegions(Region{GPA: 0, Mem: make([]byte, 0x1000)}, Region{GPA: 0x10000, Mem: make([]byte, 0x1000)})
	for _, tt := range []struct {
		gpa, n uint64
		ok     bool
	}{
		{0, 0x1000, true},
		{0xfff, 1, true},
		{0xfff, 2, false},       // runs off the first region
		{0x1000, 1, false},      // a gap
		{0x10800, 0x800, true},  // the end of the second
		{0x10800, 0x801, false}, // one past it
		{0x10000, ^uint64(0), false},
		{^uint64(0), 2, false}, // address wrap
		{0x20000, 0, false},    // even empty ranges must start inside RAM
	} {
		b, err := g.Slice(tt.gpa, tt.n)
		if tt.ok && (err != nil || uint64(len(b)) != tt.n) {
			t.Errorf("Slice(%#x, %#x) = %d bytes, %v; want %d bytes", tt.gpa, tt.n, len(b), err, tt.n)
		}
		if !tt.ok && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Slice(%#x, %#x) error = %v, want ErrOutOfRange", tt.gpa, tt.n, err)
		}
	}
}

func TestNewMapsAndWrites(t *testing.T) {
	g, err := New(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Write(0x1234, []byte("hull")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if err := g.Read(0x1234, got); err != nil || string(got) != "hull" {
		t.Errorf("Read = %q, %v; want hull", got, err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Resident counts exactly the pages written, as mincore(2) sees them.
func TestResident(t *testing.T) {
	g, err := New(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if n, err := g.Resident(); err != nil || n != 0 {
		t.Fatalf("Resident() of fresh memory = %d, %v; want 0", n, err)
	}
	// THP could back a whole 2 MiB range for one write; ask for small pages.
	unix.Madvise(g.Regions()[0].Mem, unix.MADV_NOHUGEPAGE)
	for _, gpa := range []uint64{0, 4096, 10 << 20, 64<<20 - 1} {
		if err := g.Write(gpa, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := g.Resident(); err != nil || n != 4*4096 {
		t.Errorf("Resident() after writing 4 pages = %d, %v; want %d", n, err, 4*4096)
	}
}
