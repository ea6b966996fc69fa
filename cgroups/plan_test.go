package cgroups

//lint:file-ignore SA1019 linux.resources.memory.kernel is deprecated, but specs still carry it: v1 maps it, v2 rejects it by name.

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func loadResources(t *testing.T, name string) *specs.LinuxResources {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var r specs.LinuxResources
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &r
}

func fixtureHost(t *testing.T, name string) *Host {
	t.Helper()
	h, err := DetectHost(filepath.Join("testdata", "hosts", name))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s (go test -update rewrites it); got:\n%s", file, got)
	}
}

var allV2 = []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}

// TestPlanGolden pins the writes for a full resources block on each kind
// of host.
func TestPlanGolden(t *testing.T) {
	huge := []string{"1GB", "2MB"}
	legacy := fixtureHost(t, "legacy")
	hybrid := fixtureHost(t, "hybrid")
	hybridRes := loadResources(t, "resources-v1.json")
	hybridRes.Network, hybridRes.Rdma = nil, nil
	hybridRes.Unified = map[string]string{"cgroup.max.depth": "3", "hugetlb.2MB.rsvd.max": "4194304"}
	for _, tt := range []struct {
		name string
		plan func() (*Plan, error)
	}{
		{"v2", func() (*Plan, error) {
			return PlanV2(loadResources(t, "resources-v2.json"), allV2, Features{Swap: true, HugetlbRsvd: true, HugePageSizes: huge})
		}},
		{"v2-bfq", func() (*Plan, error) {
			return PlanV2(loadResources(t, "resources-v2.json"), allV2, Features{Swap: true, BFQ: true, BFQDevice: true, BFQDisks: []string{"8:0"}, HugePageSizes: huge})
		}},
		{"v1-legacy", func() (*Plan, error) {
			return PlanV1(loadResources(t, "resources-v1.json"), legacy, Features{Swap: true, HugetlbRsvd: true, HugePageSizes: huge})
		}},
		{"v1-hybrid", func() (*Plan, error) {
			return PlanV1(hybridRes, hybrid, Features{Swap: true, BFQ: true, HugePageSizes: []string{"2MB"}})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.plan()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, p.String())
		})
	}
}

// TestPlanErrors: each unusable field is named by its spec path, and all
// of them are reported at once.
func TestPlanErrors(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u32 := func(v uint32) *uint32 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	yes := true
	v2Only := []string{"cpu", "memory", "pids"}
	for _, tt := range []struct {
		name string
		r    specs.LinuxResources
		v1   bool // plan for the hybrid fixture instead of v2
		want []string
	}{
		{name: "v2 kernel memory", r: specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1 << 20), KernelTCP: i64(1 << 20)}},
			want: []string{"linux.resources.memory.kernel: not supported on cgroup v2", "linux.resources.memory.kernelTCP: not supported on cgroup v2"}},
		{name: "v2 swappiness", r: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10), DisableOOMKiller: &yes}},
			want: []string{"linux.resources.memory.swappiness: not supported on cgroup v2", "linux.resources.memory.disableOOMKiller: not supported on cgroup v2"}},
		{name: "v2 swap below limit", r: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}},
			want: []string{"linux.resources.memory.swap: memory+swap limit 50 is below the memory limit 100"}},
		{name: "v2 realtime", r: specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}},
			want: []string{"linux.resources.cpu.realtimeRuntime: not supported on cgroup v2"}},
		{name: "v2 network", r: specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}},
			want: []string{"linux.resources.network: not supported on cgroup v2"}},
		{name: "v2 leaf weight", r: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(10)}},
			want: []string{"linux.resources.blockIO.leafWeight: not supported on cgroup v2"}},
		{name: "v2 controller not delegated", r: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(100)}, CPU: &specs.LinuxCPU{Cpus: "0"}},
			want: []string{"linux.resources.blockIO.weight: the io controller is not available to this cgroup (its parent offers: cpu memory pids)",
				"linux.resources.cpu.cpus: the cpuset controller is not available"}},
		{name: "v2 unified", r: specs.LinuxResources{Unified: map[string]string{"foo.bar": "1", "cgroup.procs": "1", "../x": "1", "nodot": "1"}},
			want: []string{`linux.resources.unified["foo.bar"]: the foo controller is not available`, `linux.resources.unified["cgroup.procs"]: the runtime manages this file itself`,
				`linux.resources.unified["../x"]: not a cgroup file name`, `linux.resources.unified["nodot"]: not a cgroup file name`}},
		{name: "v2 hugepage size", r: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2mb"}, {Pagesize: "16GB"}}},
			want: []string{`linux.resources.hugepageLimits[0].pageSize: page size "2mb" is not`, "linux.resources.hugepageLimits[1].pageSize: this kernel has no 16GB huge pages"}},
		{name: "devices", r: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "rwq"}, {Type: "c", Major: i64(-7)}}},
			want: []string{`linux.resources.devices[0].type: "x" is not one of a, c, b`, `linux.resources.devices[0].access: "rwq" has 'q'`, "linux.resources.devices[1].major: -7 is out of range"}},
		{name: "v1 unmounted controller", v1: true, r: specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}, Rdma: map[string]specs.LinuxRdma{"mlx4_0": {}}},
			want: []string{"linux.resources.network.classID: the net_cls controller is not mounted on this host", `linux.resources.rdma["mlx4_0"]: the rdma controller is not mounted`}},
		{name: "v1 unified", v1: true, r: specs.LinuxResources{Unified: map[string]string{"memory.high": "1", "io.max": "1"}},
			want: []string{`linux.resources.unified["memory.high"]: the memory controller is bound to cgroup v1 on this hybrid host`,
				`linux.resources.unified["io.max"]: the io controller is not available on this host's cgroup2 side (it offers: hugetlb)`}},
		{name: "v1 carve-out of a wildcard", v1: true, r: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Access: "rw"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "w"}}},
			want: []string{`linux.resources.devices: cgroup v1 cannot express this rule list, as its exceptions cannot single out a device from a wildcard: the rules allow c 1:3 "r"`}},
		{name: "v1 swappiness", v1: true, r: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}},
			want: []string{"linux.resources.memory.swappiness: 101 is above 100"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			f := Features{Swap: true, HugePageSizes: []string{"2MB"}}
			if tt.v1 {
				_, err = PlanV1(&tt.r, fixtureHost(t, "hybrid"), f)
			} else {
				_, err = PlanV2(&tt.r, v2Only, f)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
				t.Errorf("%d errors, want %d: %v", n, len(tt.want), err)
			}
		})
	}
}

// TestPlanSwapWithoutAccounting: without swap accounting, "no limit" and
// "no swap" need no file; a real swap limit is an error.
func TestPlanSwapWithoutAccounting(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	for _, tt := range []struct {
		limit, swap int64
		writes      string
		err         bool
	}{
		{limit: 100, swap: -1, writes: `echo "100" > memory.max`},
		{limit: 100, swap: 100, writes: `echo "100" > memory.max`},
		{limit: -1, swap: 0, writes: `echo "max" > memory.max`},
		{limit: 100, swap: 200, err: true},
	} {
		p, err := PlanV2(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(tt.limit), Swap: i64(tt.swap)}}, allV2, Features{})
		if tt.err {
			if err == nil {
				t.Errorf("limit %d swap %d: no error", tt.limit, tt.swap)
			}
			continue
		}
		if err != nil {
			t.Errorf("limit %d swap %d: %v", tt.limit, tt.swap, err)
			continue
		}
		var got []string
		for _, w := range p.Writes {
			got = append(got, w.String())
		}
		if strings.Join(got, "\n") != tt.writes {
			t.Errorf("limit %d swap %d: writes %q, want %q", tt.limit, tt.swap, got, tt.writes)
		}
	}
}

func BenchmarkPlanV2(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "resources-v2.json"))
	if err != nil {
		b.Fatal(err)
	}
	var r specs.LinuxResources
	if err := json.Unmarshal(data, &r); err != nil {
		b.Fatal(err)
	}
	f := Features{Swap: true, HugetlbRsvd: true, HugePageSizes: []string{"1GB", "2MB"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PlanV2(&r, allV2, f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlanWeightDeviceScheduler: with BFQ in the kernel, a per-device
// weight goes to io.bfq.weight only for a disk that BFQ schedules; the
// default weight goes to both files where blk-iocost is there too.
func TestPlanWeightDeviceScheduler(t *testing.T) {
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500)), WeightDevice: []specs.LinuxWeightDevice{
		{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr(uint16(300))},
		{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 0}, Weight: ptr(uint16(300))},
	}}}
	p, err := PlanV2(r, allV2, Features{BFQ: true, BFQDevice: true, IOCost: true, BFQDisks: []string{"8:0"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`echo "500" > io.bfq.weight`, `echo "4950" > io.weight`, `echo "8:0 300" > io.bfq.weight`, `echo "254:0 2930" > io.weight`}
	for i, w := range p.Writes {
		if i >= len(want) || w.String() != want[i] {
			t.Errorf("write %d = %s, want %q", i, w, want)
		}
	}
	if len(p.Writes) != len(want) {
		t.Errorf("%d writes, want %d", len(p.Writes), len(want))
	}
}

// probe looks only at what the resources use: device rules alone need no
// feature, a memory limit needs swap accounting and no disk's scheduler,
// and nil resources get every feature.
func TestProbeOnlyWhatResourcesUse(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"memory.swap.max", "io.weight"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths := map[string]string{"": dir}
	for _, tc := range []struct {
		name string
		r    *specs.LinuxResources
		want Features
	}{
		{"devices", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, Features{}},
		{"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{}}, Features{Swap: true}},
		{"blockIO", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{}}, Features{IOCost: true}},
		{"nil", nil, Features{Swap: true, IOCost: true, HugePageSizes: hugePageSizes()}},
	} {
		if f := probe(paths, tc.r); !reflect.DeepEqual(f, tc.want) {
			t.Errorf("probe(%s) = %+v, want %+v", tc.name, f, tc.want)
		}
	}
}
