package cgroups

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func devRule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major != -1 {
		r.Major = &major
	}
	if minor != -1 {
		r.Minor = &minor
	}
	return r
}

type devRequest struct {
	typ          byte
	major, minor int64
	access       uint32
}

func (q devRequest) ctx() (accessType, major, minor uint32) {
	t := uint32(unix.BPF_DEVCG_DEV_CHAR)
	if q.typ == 'b' {
		t = unix.BPF_DEVCG_DEV_BLOCK
	}
	return t | q.access<<16, uint32(q.major), uint32(q.minor)
}

// TestDeviceSemantics pins the meaning of rule lists (evalDeviceRules),
// the reference the compiled program is held to.
func TestDeviceSemantics(t *testing.T) {
	const r, w, m = unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE, unix.BPF_DEVCG_ACC_MKNOD
	null := devRequest{'c', 1, 3, r | w}
	zero := devRequest{'c', 1, 5, r}
	disk := devRequest{'b', 8, 0, r}
	for _, tt := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		req   devRequest
		want  bool
	}{
		{"no rules allow all", nil, zero, true},
		{"deny all", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm")}, null, false},
		{"deny all then allow one", []specs.LinuxDeviceCgroup{devRule(false, "", -1, -1, ""), devRule(true, "c", 1, 3, "rwm")}, null, true},
		{"the others stay denied", []specs.LinuxDeviceCgroup{devRule(false, "", -1, -1, ""), devRule(true, "c", 1, 3, "rwm")}, zero, false},
		{"wildcard minor", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, -1, "rw")}, zero, true},
		{"type must match", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 8, 0, "r")}, disk, false},
		{"read-only rule does not allow write", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 3, "r")}, null, false},
		{"per access: r and w from two rules", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 3, "r"), devRule(true, "c", 1, 3, "w")}, null, true},
		{"last match wins: later deny", []specs.LinuxDeviceCgroup{devRule(true, "c", 1, -1, "rwm"), devRule(false, "c", 1, 3, "w")}, null, false},
		{"later deny of another access", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", 1, 3, "rwm"), devRule(false, "c", 1, 3, "m")}, null, true},
		{"later allow-all resets", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "a", -1, -1, "rwm")}, disk, true},
		{"mknod only", []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", -1, -1, "m")}, devRequest{'c', 10, 200, m}, true},
	} {
		rules, err := parseDeviceRules(tt.rules)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := evalDeviceRules(rules, tt.req.typ, tt.req.major, tt.req.minor, tt.req.access); got != tt.want {
			t.Errorf("%s: eval(%+v) = %v, want %v", tt.name, tt.req, got, tt.want)
		}
		prog := compileDeviceFilter(rules)
		a, maj, min := tt.req.ctx()
		got, err := runFilter(prog.Insns, a, maj, min)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (got == 1) != tt.want {
			t.Errorf("%s: program(%+v) = %d, want allow=%v\n%s", tt.name, tt.req, got, tt.want, prog)
		}
	}
}

// TestDeviceFilterMatchesSemantics runs compiled programs for random rule
// lists over every request in a small device space.
func TestDeviceFilterMatchesSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		rules := randomDeviceRules(t, rng)
		prog := compileDeviceFilter(rules)
		for _, typ := range []byte{'c', 'b'} {
			for major := int64(0); major < 3; major++ {
				for minor := int64(0); minor < 3; minor++ {
					for access := uint32(1); access < 8; access++ {
						q := devRequest{typ, major, minor, access}
						want := evalDeviceRules(rules, typ, major, minor, access)
						a, maj, min := q.ctx()
						got, err := runFilter(prog.Insns, a, maj, min)
						if err != nil {
							t.Fatal(err)
						}
						if (got == 1) != want {
							t.Fatalf("rules:\n%s\nrequest %+v: program says %d, semantics say %v\n%s", prog.Rules, q, got, want, Disassemble(prog.Insns))
						}
					}
				}
			}
		}
	}
}

// randomDeviceRules makes a list of 1 to 6 rules over a small device
// space (numbers any, 0, 1, 2), often starting with the usual deny-all.
func randomDeviceRules(t *testing.T, rng *rand.Rand) []deviceRule {
	t.Helper()
	types := []string{"a", "c", "b"}
	accesses := []string{"r", "w", "m", "rw", "rm", "wm", "rwm"}
	num := func() int64 { return int64(rng.IntN(4)) - 1 } // -1 (any), 0, 1, 2
	var spec []specs.LinuxDeviceCgroup
	if rng.IntN(2) == 0 {
		spec = append(spec, devRule(false, "a", -1, -1, "rwm"))
	}
	for i := rng.IntN(6); i >= 0; i-- {
		spec = append(spec, devRule(rng.IntN(2) == 0, types[rng.IntN(3)], num(), num(), accesses[rng.IntN(len(accesses))]))
	}
	rules, err := parseDeviceRules(spec)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestEncodeInsns(t *testing.T) {
	// r2 = *(u32 *)(r1 + 4): code 0x61, regs dst 2 | src 1<<4, off 4, imm 0.
	got := encodeInsns([]Insn{ldxw(R2, R1, 4), jneImm(R4, -1)})
	want := []byte{0x61, 0x12, 4, 0, 0, 0, 0, 0, 0x55, 0x04, 0, 0, 0xff, 0xff, 0xff, 0xff}
	if string(got) != string(want) {
		t.Errorf("encodeInsns = % x, want % x", got, want)
	}
}

func TestDeviceRuleString(t *testing.T) {
	rules, err := parseDeviceRules([]specs.LinuxDeviceCgroup{
		devRule(false, "", -1, -1, ""), devRule(true, "c", 1, 3, "rw"), devRule(true, "b", 8, -1, "m"), devRule(true, "a", 5, 5, "r"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"a *:* rwm", "c 1:3 rw", "b 8:* m", "a *:* r"} {
		if got := rules[i].String(); got != want {
			t.Errorf("rule %d: String() = %q, want %q", i, got, want)
		}
	}
}

// TestLoadDeviceFilterVerifierLog: a program the verifier refuses comes
// back with the verifier's explanation.
func TestLoadDeviceFilterVerifierLog(t *testing.T) {
	testvm.Require(t, testvm.Root)
	// R0 is never set: "R0 !read_ok".
	_, err := loadDeviceFilter([]Insn{exit()})
	if err == nil || !strings.Contains(err.Error(), "verifier log") || !strings.Contains(err.Error(), "R0") {
		t.Fatalf("loading a program that returns an unset R0: %v", err)
	}
	t.Log(err)
	prog, err := loadDeviceFilter(compileDeviceFilter(nil).Insns)
	if err != nil {
		t.Fatalf("loading the allow-all program: %v", err)
	}
	if err := prog.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCompileDeviceFilter compiles runc's usual list: deny all, then
// the dozen devices every container gets.
func BenchmarkCompileDeviceFilter(b *testing.B) {
	spec := []specs.LinuxDeviceCgroup{devRule(false, "a", -1, -1, "rwm"), devRule(true, "c", -1, -1, "m"), devRule(true, "b", -1, -1, "m")}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1}, {10, 200}} {
		spec = append(spec, devRule(true, "c", d[0], d[1], "rwm"))
	}
	rules, err := parseDeviceRules(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		compileDeviceFilter(rules)
	}
	b.ReportMetric(float64(len(compileDeviceFilter(rules).Insns)), "insns")
}
