package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Event is one line of "hull events": {"type": "stats"|"oom", "id": ...,
// "data": ...}, as runc prints it.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Stats is runc's "events --stats" data (runc/types/events.go), so that
// tools that read runc's output read hull's. Fields a driver cannot know
// stay zero. Memory.Events is hull's addition: memory.events on v2, the
// oom counters of memory.oom_control on v1.
type Stats struct {
	CPU               CPU                 `json:"cpu"`
	CPUSet            CPUSet              `json:"cpuset"`
	Memory            Memory              `json:"memory"`
	Pids              Pids                `json:"pids"`
	Blkio             Blkio               `json:"blkio"`
	Hugetlb           map[string]Hugetlb  `json:"hugetlb"`
	IntelRdt          struct{}            `json:"intel_rdt"`
	NetworkInterfaces []*NetworkInterface `json:"network_interfaces"`
}

// PSIData is one line of a pressure file: the share of time some (or
// all) tasks stalled over 10, 60 and 300 seconds, and the total in µs.
type PSIData struct {
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
	Total  uint64  `json:"total"`
}

// PSIStats is a pressure file (cpu.pressure, memory.pressure,
// io.pressure; cgroup v2).
type PSIStats struct {
	Some PSIData `json:"some,omitzero"`
	Full PSIData `json:"full,omitzero"`
}

// Hugetlb is one huge page size: usage, peak (v1 only) and the number
// of allocations the limit refused.
type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// BlkioEntry is one device's counter for one operation (Read, Write, ...).
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// Blkio holds block I/O counters in v1's tables; v2's io.stat fills the
// bytes and operations tables.
type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	PSI                     *PSIStats    `json:"psi,omitempty"`
}

// Pids is the number of tasks and the limit (0: none).
type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// Throttling is the CFS bandwidth controller's record: periods, periods
// in which the quota ran out, and the time throttled (ns).
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// CPU is CPU time and throttling.
type CPU struct {
	Usage      CPUUsage   `json:"usage,omitzero"`
	Throttling Throttling `json:"throttling,omitzero"`
	PSI        *PSIStats  `json:"psi,omitempty"`
}

// CPUSet is the cpuset the cgroup runs on (effective CPUs and memory
// nodes on v2) and, on v1, its flags.
type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// MemoryEntry is one memory counter: limit, usage, peak and how often
// the limit was hit.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Memory is memory use. Swap is memory+swap, as on v1, on both versions.
type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitzero"`
	Swap      MemoryEntry       `json:"swap,omitzero"`
	Kernel    MemoryEntry       `json:"kernel,omitzero"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitzero"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
	PSI       *PSIStats         `json:"psi,omitempty"`
	Events    map[string]uint64 `json:"events,omitempty"`
}

// NetworkInterface is filled by the runtime, which knows the container's
// interfaces; the cgroups package leaves NetworkInterfaces nil.
type NetworkInterface struct {
	Name      string
	RxBytes   uint64
	RxPackets uint64
	RxErrors  uint64
	RxDropped uint64
	TxBytes   uint64
	TxPackets uint64
	TxErrors  uint64
	TxDropped uint64
}

// statReader reads cgroup files and keeps the first real error: a file
// that does not exist (a controller that is off) is simply absent.
type statReader struct {
	dir string
	err error
}

func (s *statReader) note(file string, err error) {
	if err != nil && !errors.Is(err, fs.ErrNotExist) && s.err == nil {
		s.err = fmt.Errorf("read %s: %w", filepath.Join(s.dir, file), err)
	}
}

// uint reads a one-number file; "max" is MaxUint64.
func (s *statReader) uint(file string) uint64 {
	b, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		s.note(file, err)
		return 0
	}
	v, err := parseUint(strings.TrimSpace(string(b)))
	s.note(file, err)
	return v
}

func parseUint(v string) (uint64, error) {
	if v == "max" {
		return math.MaxUint64, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		// v1 writes -1 back as a huge number, but a few files print
		// negative values: clamp them to 0.
		if i, err2 := strconv.ParseInt(v, 10, 64); err2 == nil && i < 0 {
			return 0, nil
		}
	}
	return n, err
}

// keyed reads a flat keyed file ("key value" lines: memory.stat,
// cpu.stat, memory.events).
func (s *statReader) keyed(file string) map[string]uint64 {
	f, err := os.Open(filepath.Join(s.dir, file))
	if err != nil {
		s.note(file, err)
		return nil
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := parseUint(strings.TrimSpace(v))
		if err != nil {
			s.note(file, fmt.Errorf("line %q: %w", sc.Text(), err))
			continue
		}
		out[k] = n
	}
	s.note(file, sc.Err())
	return out
}

// psi reads a pressure file (Documentation/accounting/psi.rst):
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func (s *statReader) psi(file string) *PSIStats {
	b, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) {
			s.note(file, err)
		}
		return nil
	}
	var st PSIStats
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var d *PSIData
		switch fields[0] {
		case "some":
			d = &st.Some
		case "full":
			d = &st.Full
		default:
			continue
		}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				d.Avg10, _ = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, _ = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, _ = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	return &st
}

// list parses a cpuset list ("0-3,7").
func (s *statReader) list(file string) []uint16 {
	b, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		s.note(file, err)
		return nil
	}
	var out []uint16
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if r == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || z < a {
			s.note(file, fmt.Errorf("bad cpuset list %q", b))
			return nil
		}
		for i := a; i <= z; i++ {
			out = append(out, uint16(i))
		}
	}
	return out
}

// statsV2 reads a cgroup2 directory.
func statsV2(dir string, hugeSizes []string) (*Stats, error) {
	s := &statReader{dir: dir}
	st := &Stats{Hugetlb: map[string]Hugetlb{}}

	if cpu := s.keyed("cpu.stat"); cpu != nil {
		st.CPU.Usage.Total = cpu["usage_usec"] * 1000
		st.CPU.Usage.User = cpu["user_usec"] * 1000
		st.CPU.Usage.Kernel = cpu["system_usec"] * 1000
		st.CPU.Throttling.Periods = cpu["nr_periods"]
		st.CPU.Throttling.ThrottledPeriods = cpu["nr_throttled"]
		st.CPU.Throttling.ThrottledTime = cpu["throttled_usec"] * 1000
	}
	st.CPU.PSI = s.psi("cpu.pressure")

	st.CPUSet.CPUs = s.list("cpuset.cpus.effective")
	st.CPUSet.Mems = s.list("cpuset.mems.effective")

	if raw := s.keyed("memory.stat"); raw != nil {
		st.Memory.Raw = raw
		st.Memory.Cache = raw["file"]
		st.Memory.Events = s.keyed("memory.events")
		st.Memory.Usage = MemoryEntry{
			Usage:   s.uint("memory.current"),
			Limit:   s.uint("memory.max"),
			Max:     s.uint("memory.peak"),
			Failcnt: st.Memory.Events["max"],
		}
		// v1 reported swap as memory+swap: keep that meaning.
		if _, err := os.Stat(filepath.Join(dir, "memory.swap.current")); err == nil {
			swap := MemoryEntry{Usage: s.uint("memory.swap.current") + st.Memory.Usage.Usage, Limit: s.uint("memory.swap.max")}
			if swap.Limit != math.MaxUint64 && st.Memory.Usage.Limit != math.MaxUint64 {
				swap.Limit += st.Memory.Usage.Limit
			} else {
				swap.Limit = math.MaxUint64
			}
			st.Memory.Swap = swap
		}
	}
	st.Memory.PSI = s.psi("memory.pressure")

	st.Pids.Current = s.uint("pids.current")
	st.Pids.Limit = s.uint("pids.max")
	if st.Pids.Limit == math.MaxUint64 {
		st.Pids.Limit = 0 // runc reports "max" as 0
	}

	st.Blkio = s.ioStat()
	st.Blkio.PSI = s.psi("io.pressure")

	for _, size := range hugeSizes {
		if _, err := os.Stat(filepath.Join(dir, "hugetlb."+size+".current")); err != nil {
			continue
		}
		ev := s.keyed("hugetlb." + size + ".events")
		// v2 keeps no peak (v1's max_usage_in_bytes): Max stays 0.
		st.Hugetlb[size] = Hugetlb{Usage: s.uint("hugetlb." + size + ".current"), Failcnt: ev["max"]}
	}
	return st, s.err
}

// ioStat maps io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") onto
// v1's tables, as runc does.
func (s *statReader) ioStat() Blkio {
	var b Blkio
	data, err := os.ReadFile(filepath.Join(s.dir, "io.stat"))
	if err != nil {
		s.note("io.stat", err)
		return b
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		var major, minor uint64
		if _, err := fmt.Sscanf(fields[0], "%d:%d", &major, &minor); err != nil {
			continue
		}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			}
		}
	}
	return b
}

// clockTicks is USER_HZ, the unit of cpuacct.stat: 100 on every Linux
// architecture hull runs on.
const clockTicks = 100

// statsV1 reads each hierarchy's directory (paths as Manager.Paths).
func statsV1(paths map[string]string, hugeSizes []string) (*Stats, error) {
	st := &Stats{Hugetlb: map[string]Hugetlb{}}
	var errs []error
	at := func(controller string) *statReader {
		dir, ok := paths[controller]
		if !ok {
			return nil
		}
		return &statReader{dir: dir}
	}
	done := func(s *statReader) {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if s := at("cpuacct"); s != nil {
		st.CPU.Usage.Total = s.uint("cpuacct.usage")
		if b, err := os.ReadFile(filepath.Join(s.dir, "cpuacct.usage_percpu")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				n, _ := strconv.ParseUint(f, 10, 64)
				st.CPU.Usage.Percpu = append(st.CPU.Usage.Percpu, n)
			}
		}
		// cpuacct.usage_all: "cpu user system" then one line per CPU, in ns.
		if b, err := os.ReadFile(filepath.Join(s.dir, "cpuacct.usage_all")); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
				var cpu int
				var user, sys uint64
				if _, err := fmt.Sscanf(line, "%d %d %d", &cpu, &user, &sys); err == nil {
					st.CPU.Usage.PercpuUser = append(st.CPU.Usage.PercpuUser, user)
					st.CPU.Usage.PercpuKernel = append(st.CPU.Usage.PercpuKernel, sys)
				}
			}
		}
		ticks := s.keyed("cpuacct.stat")
		st.CPU.Usage.User = ticks["user"] * (1e9 / clockTicks)
		st.CPU.Usage.Kernel = ticks["system"] * (1e9 / clockTicks)
		done(s)
	}
	if s := at("cpu"); s != nil {
		c := s.keyed("cpu.stat")
		st.CPU.Throttling = Throttling{Periods: c["nr_periods"], ThrottledPeriods: c["nr_throttled"], ThrottledTime: c["throttled_time"]}
		done(s)
	}
	if s := at("cpuset"); s != nil {
		st.CPUSet.CPUs = s.list("cpuset.cpus")
		st.CPUSet.Mems = s.list("cpuset.mems")
		st.CPUSet.CPUExclusive = s.uint("cpuset.cpu_exclusive")
		st.CPUSet.MemExclusive = s.uint("cpuset.mem_exclusive")
		st.CPUSet.MemHardwall = s.uint("cpuset.mem_hardwall")
		st.CPUSet.MemoryMigrate = s.uint("cpuset.memory_migrate")
		st.CPUSet.MemorySpreadPage = s.uint("cpuset.memory_spread_page")
		st.CPUSet.MemorySpreadSlab = s.uint("cpuset.memory_spread_slab")
		st.CPUSet.MemoryPressure = s.uint("cpuset.memory_pressure")
		st.CPUSet.SchedLoadBalance = s.uint("cpuset.sched_load_balance")
		done(s)
	}
	if s := at("memory"); s != nil {
		entry := func(prefix string) MemoryEntry {
			if _, err := os.Stat(filepath.Join(s.dir, prefix+"usage_in_bytes")); err != nil {
				return MemoryEntry{}
			}
			return MemoryEntry{
				Usage:   s.uint(prefix + "usage_in_bytes"),
				Limit:   s.uint(prefix + "limit_in_bytes"),
				Max:     s.uint(prefix + "max_usage_in_bytes"),
				Failcnt: s.uint(prefix + "failcnt"),
			}
		}
		st.Memory.Raw = s.keyed("memory.stat")
		st.Memory.Cache = st.Memory.Raw["total_cache"]
		st.Memory.Usage = entry("memory.")
		st.Memory.Swap = entry("memory.memsw.")
		st.Memory.Kernel = entry("memory.kmem.")
		st.Memory.KernelTCP = entry("memory.kmem.tcp.")
		oc := s.keyed("memory.oom_control")
		st.Memory.Events = map[string]uint64{"oom_kill": oc["oom_kill"], "under_oom": oc["under_oom"]}
		done(s)
	}
	if s := at("pids"); s != nil {
		st.Pids.Current = s.uint("pids.current")
		st.Pids.Limit = s.uint("pids.max")
		if st.Pids.Limit == math.MaxUint64 {
			st.Pids.Limit = 0
		}
		done(s)
	}
	if s := at("blkio"); s != nil {
		st.Blkio.IoServiceBytesRecursive = s.blkioTable("blkio.throttle.io_service_bytes_recursive")
		st.Blkio.IoServicedRecursive = s.blkioTable("blkio.throttle.io_serviced_recursive")
		done(s)
	}
	if s := at("hugetlb"); s != nil {
		for _, size := range hugeSizes {
			st.Hugetlb[size] = Hugetlb{
				Usage:   s.uint("hugetlb." + size + ".usage_in_bytes"),
				Max:     s.uint("hugetlb." + size + ".max_usage_in_bytes"),
				Failcnt: s.uint("hugetlb." + size + ".failcnt"),
			}
		}
		done(s)
	} else if dir, ok := paths[""]; ok {
		// Hybrid host with hugetlb on the cgroup2 side.
		v2, err := statsV2(dir, hugeSizes)
		if err != nil {
			errs = append(errs, err)
		} else {
			st.Hugetlb = v2.Hugetlb
		}
	}
	return st, errors.Join(errs...)
}

// blkioTable parses v1's "8:0 Read 4096" lines, skipping the "Total" ones.
func (s *statReader) blkioTable(file string) []BlkioEntry {
	data, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		s.note(file, err)
		return nil
	}
	var out []BlkioEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var e BlkioEntry
		if _, err := fmt.Sscanf(f[0], "%d:%d", &e.Major, &e.Minor); err != nil {
			continue
		}
		e.Op = f[1]
		e.Value, _ = strconv.ParseUint(f[2], 10, 64)
		out = append(out, e)
	}
	return out
}
