package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The OCI spec was written against cgroup v1, so several of its numbers
// need converting before cgroup v2 can take them. These are runc's
// conversions, kept identical so that a container gets the same limits
// whichever runtime starts it.

// CPUSharesToWeight maps cpu.shares (v1: 2..262144, default 1024) onto
// cpu.weight (v2: 1..10000, default 100) linearly, as runc did up to 1.3:
//
//	weight = 1 + (shares-2)*9999/262142
//
// 0 means unset and stays 0. (Newer runc fits a quadratic instead, which
// maps the default 1024 to exactly 100; the linear map gives 39.)
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIOWeight maps blkio.weight (v1: 10..1000) onto io.weight
// (v2: 1..10000):
//
//	io.weight = 1 + (weight-10)*9999/990
//
// The BFQ scheduler's io.bfq.weight keeps v1's range (1..1000), so
// weights go there unconverted when BFQ is in use.
func BlkioWeightToIOWeight(weight uint16) uint64 {
	if weight == 0 {
		return 0
	}
	if weight < 10 {
		weight = 10
	}
	return 1 + (uint64(weight)-10)*9999/990
}

// SwapToV2 converts the spec's memory.swap, a limit on memory plus swap
// (v1's memory.memsw.limit_in_bytes), into memory.swap.max, a limit on
// swap alone: swap − limit. -1 is "max"; 0 is "unset" and stays 0,
// except that an unlimited memory with an unset swap lifts swap too, as
// v1 would have (the memsw limit can never be below the memory limit).
func SwapToV2(swap, limit int64) (int64, error) {
	switch {
	case limit == -1 && swap == 0:
		return -1, nil
	case swap == -1 || swap == 0:
		return swap, nil
	case limit == -1:
		return swap, nil
	case limit == 0:
		return 0, errors.New("a swap limit needs a memory limit (swap is memory+swap)")
	case limit < 0:
		return 0, fmt.Errorf("invalid memory limit %d", limit)
	case swap < limit:
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

// maxValue renders a limit for a v2 "max"-style file: -1 (the spec's
// "unlimited", carried over from v1) becomes "max".
func maxValue(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// cpuMax renders cpu.max ("$QUOTA $PERIOD"): a quota of -1 or 0 with a
// period set is "max"; a missing period is the kernel default 100000.
func cpuMax(quota *int64, period *uint64) string {
	q := "max"
	if quota != nil && *quota > 0 {
		q = strconv.FormatInt(*quota, 10)
	}
	p := uint64(100000)
	if period != nil && *period != 0 {
		p = *period
	}
	return q + " " + strconv.FormatUint(p, 10)
}

// hugepageSize checks the spec's page size ("2MB", "1GB") which names
// the hugetlb.<size>.* files as the kernel spells them: [1-9][0-9]* then
// one of K, M, G, T, P, then B. (Checked by hand, not with a regexp:
// compiling one costs every hull process its start-up time.)
func hugepageSize(s string) error {
	n := len(s)
	ok := n >= 3 && s[0] != '0' && strings.IndexByte("KMGTP", s[n-2]) >= 0 && s[n-1] == 'B'
	for i := 0; ok && i < n-2; i++ {
		ok = '0' <= s[i] && s[i] <= '9'
	}
	if !ok {
		return fmt.Errorf("page size %q is not <number><K|M|G>B", s)
	}
	return nil
}
