package cgroups

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// exoticDeviceLists are rule lists whose meaning the v1 devices
// controller would get wrong if they were written in order.
var exoticDeviceLists = []struct {
	name  string
	rules []specs.LinuxDeviceCgroup
	// v1 is false for lists that v1 exceptions cannot express.
	v1 bool
}{
	{"usual: deny all, allow null", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 3, "rw")}, true},
	{"take write back from one device (no deny-all)", []specs.LinuxDeviceCgroup{
		devRule(true, "c", 1, -1, "rw"), devRule(false, "c", 1, 3, "w")}, true},
	{"access split across rules", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 3, "r"), devRule(true, "c", 1, -1, "w")}, true},
	{"partial access for all devices", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "a", -1, -1, "r")}, true},
	{"read-only except zero", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "a", -1, -1, "r"), devRule(false, "c", 1, 5, "r")}, true},
	{"mknod for all, a block device read-only", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", -1, -1, "m"), devRule(true, "b", -1, -1, "m"),
		devRule(true, "c", 1, 3, "rwm"), devRule(true, "b", 240, 0, "r")}, true},
	{"mknod for all but one device", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", -1, -1, "m"), devRule(true, "c", 1, 3, "rw"), devRule(false, "c", 1, 3, "m")}, false},
	{"deny all then allow all", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 5, "r"), devRule(true, "a", -1, -1, "rwm")}, true},
	{"carve one device out of an allowed wildcard", []specs.LinuxDeviceCgroup{
		devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, -1, "rw"), devRule(false, "c", 1, 3, "w")}, false},
	{"allow one device inside a denied wildcard (no deny-all)", []specs.LinuxDeviceCgroup{
		devRule(false, "c", 1, -1, "w"), devRule(true, "c", 1, 3, "w")}, false},
}

// checkV1State holds a v1 state to the v2 semantics (and so to the
// compiled eBPF program, which TestDeviceFilterMatchesSemantics holds to
// the same) for every access combination of every device class, and of
// the numbers 0..3 of both types.
func checkV1State(t *testing.T, rules []deviceRule, s *v1DeviceState) {
	t.Helper()
	prog := compileDeviceFilter(rules)
	reqs := []devRequest{}
	for _, c := range deviceClasses(rules) {
		reqs = append(reqs, devRequest{c.typ, c.major, c.minor, 0})
	}
	for _, typ := range []byte{'c', 'b'} {
		for major := int64(0); major < 4; major++ {
			for minor := int64(0); minor < 4; minor++ {
				reqs = append(reqs, devRequest{typ, major, minor, 0})
			}
		}
	}
	for _, q := range reqs {
		for q.access = 1; q.access <= accessAll; q.access++ {
			a, maj, min := q.ctx()
			verdict, err := runFilter(prog.Insns, a, maj, min)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.allows(q.typ, q.major, q.minor, q.access); got != (verdict == 1) {
				t.Fatalf("rules:\n%s\nrequest %c %d:%d %q: v1 state %+v says %v, the eBPF program %d",
					prog.Rules, q.typ, q.major, q.minor, deviceRule{typ: 'a', access: q.access}.accessString(), s, got, verdict)
			}
		}
	}
}

func TestV1DeviceEmulator(t *testing.T) {
	for _, tt := range exoticDeviceLists {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := parseDeviceRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			s, err := v1TargetState(rules)
			if !tt.v1 {
				if err == nil || !strings.Contains(err.Error(), "cannot express") {
					t.Fatalf("v1TargetState = %+v, %v; want an error", s, err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkV1State(t, rules, s)
			// From a cgroup whose list is unknown, the writes (as the
			// kernel applies them) reach that state.
			got := &v1DeviceState{defaultAllow: true, unknown: true}
			var writes []string
			for _, r := range got.transition(s) {
				got.write(r)
				writes = append(writes, verdict(r.allow)+" "+r.String())
			}
			t.Logf("writes: %q", writes)
			checkV1State(t, rules, got)
		})
	}
}

// TestV1DeviceEmulatorRandom: every random list that v1 can express gets
// a state that agrees with the eBPF program, and from the state of any
// other list (as devices.list shows it) the transition reaches it.
func TestV1DeviceEmulatorRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var prev *v1DeviceState
	expressible := 0
	for n := 0; n < 400; n++ {
		rules := randomDeviceRules(t, rng)
		s, err := v1TargetState(rules)
		if err != nil {
			continue
		}
		expressible++
		checkV1State(t, rules, s)
		if prev != nil {
			// What the kernel shows of prev: a default-allow cgroup
			// lists only "a *:* rwm".
			var list []string
			if prev.defaultAllow {
				list = []string{"a *:* rwm"}
			} else {
				for _, r := range prev.rules(true) {
					list = append(list, r.String())
				}
			}
			from, err := parseDevicesList(strings.Join(list, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			cur := *prev
			cur.exceptions = map[v1DevKey]uint32{}
			for k, v := range prev.exceptions {
				cur.exceptions[k] = v
			}
			for _, r := range from.transition(s) {
				if r.typ == 'a' && r.access != accessAll {
					t.Fatalf("transition writes %q", r)
				}
				cur.write(r)
			}
			checkV1State(t, rules, &cur)
		}
		prev = s
	}
	if expressible < 100 {
		t.Errorf("only %d of 400 random lists expressible on v1", expressible)
	}
}

func TestParseDevicesList(t *testing.T) {
	for _, tt := range []struct {
		list string
		want string // "allow" or the exceptions
	}{
		{"a *:* rwm\n", "allow"},
		{"", ""},
		{"c 1:3 rwm\nc 136:* rw\nb 8:0 r\nc 1:3 m", "b 8:0 r,c 1:3 rwm,c 136:* rw"},
	} {
		s, err := parseDevicesList(tt.list)
		if err != nil {
			t.Fatal(err)
		}
		got := "allow"
		if !s.defaultAllow {
			var rs []string
			for _, r := range s.rules(true) {
				rs = append(rs, r.String())
			}
			got = strings.Join(rs, ",")
		}
		if got != tt.want || s.defaultAllow != s.unknown {
			t.Errorf("parseDevicesList(%q) = %q (unknown %v), want %q", tt.list, got, s.unknown, tt.want)
		}
	}
	for _, bad := range []string{"x 1:3 r", "c 1 r", "c 1:3 q", "c -1:3 r"} {
		if _, err := parseDevicesList(bad); err == nil {
			t.Errorf("parseDevicesList(%q): no error", bad)
		}
	}
}

// deviceProbe is one open or mknod that a test's shell tries in a cgroup.
type deviceProbe struct {
	name   string
	script string // %[1]s is the test's device directory
	req    devRequest
}

var deviceProbes = func() []deviceProbe {
	const r, w, m = unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE, unix.BPF_DEVCG_ACC_MKNOD
	var out []deviceProbe
	for _, n := range []struct {
		name         string
		typ          byte
		major, minor int64
	}{{"null", 'c', 1, 3}, {"zero", 'c', 1, 5}, {"blk", 'b', 240, 0}} {
		out = append(out,
			deviceProbe{n.name + "-r", "true < %[1]s/" + n.name, devRequest{n.typ, n.major, n.minor, r}},
			deviceProbe{n.name + "-w", "true > %[1]s/" + n.name, devRequest{n.typ, n.major, n.minor, w}},
			deviceProbe{n.name + "-rw", "true <> %[1]s/" + n.name, devRequest{n.typ, n.major, n.minor, r | w}},
			deviceProbe{n.name + "-mknod", fmt.Sprintf("mknod %%[1]s/new-%s %c %d %d && rm %%[1]s/new-%s", n.name, n.typ, n.major, n.minor, n.name),
				devRequest{n.typ, n.major, n.minor, m}})
	}
	return out
}()

// deviceNodes makes null, zero and blk on a tmpfs of the test's own
// (/tmp may be nodev, and /dev is not ours). blk is b 240:0, a major for
// local use that no driver here has: an open that the cgroup allows
// fails with ENXIO and creates nothing (b 7:N would make loopN appear),
// one it denies fails with EPERM.
func deviceNodes(t *testing.T) string {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	for _, p := range deviceProbes {
		if !strings.HasSuffix(p.name, "-r") {
			continue
		}
		mode := uint32(unix.S_IFCHR)
		if p.req.typ == 'b' {
			mode = unix.S_IFBLK
		}
		name := filepath.Join(dir, strings.TrimSuffix(p.name, "-r"))
		if err := unix.Mknod(name, mode|0o666, int(unix.Mkdev(uint32(p.req.major), uint32(p.req.minor)))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// observeDevices runs every probe in the cgroup and says which the
// kernel allowed.
func observeDevices(t *testing.T, m Manager, v2 bool, dir string) map[string]bool {
	t.Helper()
	script := `p() { if r=$( { eval "$2"; } 2>&1 ); then echo "$1 ok"; else echo "$1 $r"; fi; }` + "\n"
	for _, p := range deviceProbes {
		script += fmt.Sprintf("p %s '%s'\n", p.name, fmt.Sprintf(p.script, dir))
	}
	proc := start(t, m, v2, script)
	if err := proc.wait(t); err != nil {
		t.Fatalf("%v: %s", err, proc.output())
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(proc.output()), "\n") {
		name, result, _ := strings.Cut(line, " ")
		switch {
		case result == "ok", strings.Contains(result, "No such device"):
			got[name] = true
		case strings.Contains(result, "not permitted"):
			got[name] = false
		default:
			t.Fatalf("probe %s: %q", name, result)
		}
	}
	return got
}

// testDeviceLists applies each exotic list in turn to one cgroup and
// checks every open and mknod against the v2 semantics: on v2 through
// the eBPF program, on v1 through the emulated exceptions, reached from
// the previous list by the transition writes. A list v1 cannot express
// is refused and leaves the previous one in force.
func testDeviceLists(t *testing.T, h *Host, v2 bool) {
	dir := deviceNodes(t)
	m := newManager(t, h)
	var inForce []deviceRule
	for _, tt := range exoticDeviceLists {
		rules, err := parseDeviceRules(tt.rules)
		if err != nil {
			t.Fatal(err)
		}
		r := &specs.LinuxResources{Devices: tt.rules}
		err = m.Set(r)
		switch {
		case !v2 && !tt.v1:
			if err == nil || !strings.Contains(err.Error(), "cannot express") {
				t.Fatalf("%s: Set = %v, want a refusal", tt.name, err)
			}
		case err != nil:
			t.Fatalf("%s: %v", tt.name, err)
		default:
			inForce = rules
		}
		if !v2 && err == nil {
			if s, _ := v1TargetState(rules); !s.defaultAllow {
				// devices.list now shows the target: nothing left to write.
				if p, err := m.Plan(r); err != nil || len(p.Writes) > 0 {
					t.Errorf("%s: planning the same list again: %v, %v", tt.name, err, p)
				}
			}
		}
		got := observeDevices(t, m, v2, dir)
		for _, p := range deviceProbes {
			want := evalDeviceRules(inForce, p.req.typ, p.req.major, p.req.minor, p.req.access)
			if got[p.name] != want {
				t.Errorf("%s: %s allowed = %v, want %v", tt.name, p.name, got[p.name], want)
			}
		}
	}
}

func TestV1DeviceLists(t *testing.T)     { testDeviceLists(t, hostV1(t), false) }
func TestV2CoreDeviceLists(t *testing.T) { testDeviceLists(t, hostV2Core(t), true) }
func TestV2DeviceLists(t *testing.T)     { testDeviceLists(t, hostV2(t), true) }

// BenchmarkV1DeviceWrites emulates runc's usual list (deny all, mknod for
// all, a dozen devices) plus 32 GPU-like nodes, from a known devices.list.
func BenchmarkV1DeviceWrites(b *testing.B) {
	spec := []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", -1, -1, "m"), devRule(true, "b", -1, -1, "m")}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}, {10, 200}} {
		spec = append(spec, devRule(true, "c", d[0], d[1], "rwm"))
	}
	for i := int64(0); i < 32; i++ {
		spec = append(spec, devRule(true, "c", 195, i, "rw"))
	}
	rules, err := parseDeviceRules(spec)
	if err != nil {
		b.Fatal(err)
	}
	current := "c 1:3 rwm\n"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v1DeviceWrites(rules, &current); err != nil {
			b.Fatal(err)
		}
	}
}
