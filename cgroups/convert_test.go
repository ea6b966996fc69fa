package cgroups

import (
	"strings"
	"testing"
)

func TestCPUSharesToWeight(t *testing.T) {
	for _, tt := range []struct{ shares, want uint64 }{
		{0, 0},     // unset stays unset
		{1, 1},     // below v1's minimum of 2
		{2, 1},     // v1 minimum → v2 minimum
		{1024, 39}, // v1 default (the linear map's known oddity: not 100)
		{262144, 10000},
		{300000, 10000}, // above v1's maximum
		{512, 20},
	} {
		if got := CPUSharesToWeight(tt.shares); got != tt.want {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", tt.shares, got, tt.want)
		}
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for _, tt := range []struct {
		weight uint16
		want   uint64
	}{{0, 0}, {10, 1}, {500, 4950}, {1000, 10000}, {5, 1}} {
		if got := BlkioWeightToIOWeight(tt.weight); got != tt.want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", tt.weight, got, tt.want)
		}
	}
}

func TestSwapToV2(t *testing.T) {
	for _, tt := range []struct {
		swap, limit, want int64
		err               string
	}{
		{swap: 0, limit: 0, want: 0},
		{swap: 0, limit: -1, want: -1},       // unlimited memory lifts swap too
		{swap: -1, limit: 1 << 20, want: -1}, // unlimited swap
		{swap: 200, limit: 100, want: 100},   // memory+swap 200 = 100 of swap
		{swap: 100, limit: 100, want: 0},     // no swap at all
		{swap: 500, limit: -1, want: 500},    // unlimited memory: swap as is
		{swap: 100, limit: 0, err: "needs a memory limit"},
		{swap: 50, limit: 100, err: "below the memory limit"},
		{swap: 100, limit: -5, err: "invalid memory limit"},
	} {
		got, err := SwapToV2(tt.swap, tt.limit)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SwapToV2(%d, %d) error = %v, want %q", tt.swap, tt.limit, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SwapToV2(%d, %d) = %d, %v; want %d", tt.swap, tt.limit, got, err, tt.want)
		}
	}
}

func TestCPUMax(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	u := func(v uint64) *uint64 { return &v }
	for _, tt := range []struct {
		quota  *int64
		period *uint64
		want   string
	}{
		{i(50000), u(100000), "50000 100000"},
		{i(50000), nil, "50000 100000"},
		{i(-1), u(20000), "max 20000"},
		{nil, u(20000), "max 20000"},
		{i(0), u(0), "max 100000"},
	} {
		if got := cpuMax(tt.quota, tt.period); got != tt.want {
			t.Errorf("cpuMax(%v, %v) = %q, want %q", tt.quota, tt.period, got, tt.want)
		}
	}
}

func TestHugeName(t *testing.T) {
	for kb, want := range map[uint64]string{2048: "2MB", 1 << 20: "1GB", 64: "64KB", 32768: "32MB"} {
		if got := hugeName(kb); got != want {
			t.Errorf("hugeName(%d) = %q, want %q", kb, got, want)
		}
	}
	for s, ok := range map[string]bool{
		"2MB": true, "1GB": true, "64KB": true, "10TB": true, "1PB": true,
		"2mb": false, "0MB": false, "02MB": false, "MB": false, "2M": false, "2B": false, "2XB": false, "2 MB": false, "-2MB": false, "2MB\n": false, "": false,
	} {
		if err := hugepageSize(s); (err == nil) != ok {
			t.Errorf("hugepageSize(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}
