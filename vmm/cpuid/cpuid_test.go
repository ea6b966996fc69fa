package cpuid

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
)

// machine builds the leaves of a processor from its documented values:
// vendor, leaf 1 signature and ECX, leaf 0x80000001 ECX, leaf 0x8000000a
// EDX, hypervisor signature and brand string.
type machine struct {
	vendor  string
	sig     uint32 // leaf 1 EAX
	ecx1    uint32 // leaf 1 ECX
	extECX  uint32 // leaf 0x80000001 ECX
	svmEDX  uint32 // leaf 0x8000000a EDX
	hv      string // leaf 0x40000000 signature, when ecx1 has bit 31
	brand   string
	maxLeaf uint32
}

func words(s string, n int) []uint32 {
	b := make([]byte, 4*n)
	copy(b, s)
	w := make([]uint32, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func (m machine) recording() Recording {
	v := words(m.vendor, 3)
	max := m.maxLeaf
	if max == 0 {
		max = 0xd
	}
	r := Recording{
		{Leaf: 0, Regs: Regs{max, v[0], v[2], v[1]}},
		{Leaf: 1, Regs: Regs{EAX: m.sig, ECX: m.ecx1, EDX: 0x178bfbff}},
		{Leaf: 0x80000000, Regs: Regs{EAX: 0x80000021}},
		{Leaf: 0x80000001, Regs: Regs{EAX: m.sig, ECX: m.extECX}},
		{Leaf: 0x8000000a, Regs: Regs{EAX: 1, EBX: 0x8000, EDX: m.svmEDX}},
	}
	if m.hv != "" {
		h := words(m.hv, 3)
		r = append(r, Leaf{Leaf: 0x40000000, Regs: Regs{0x40000001, h[0], h[1], h[2]}})
	}
	b := words(m.brand, 12)
	for i := range 3 {
		r = append(r, Leaf{Leaf: 0x80000002 + uint32(i), Regs: Regs{b[4*i], b[4*i+1], b[4*i+2], b[4*i+3]}})
	}
	return r
}

var (
	intelVTx = machine{vendor: VendorIntel, sig: 0x000906ea, ecx1: 0x7ffafbbf, extECX: 0x121,
		brand: "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz"}
	amdSVM = machine{vendor: VendorAMD, sig: 0x00a00f11, ecx1: 0x7ef8320b, extECX: 0x75c237ff, svmEDX: 0x1ebfbcff,
		brand: "AMD EPYC 7763 64-Core Processor"}
	kvmNestedIntel = machine{vendor: VendorIntel, sig: 0x000906ea, ecx1: 0xfffa3223, extECX: 0x121,
		hv: "KVMKVMKVM", brand: "Intel Core Processor (Skylake, IBRS)"}
	qemuTCGMax = machine{vendor: VendorAMD, sig: 0x00000f61, ecx1: 0x80f82201, extECX: 0x00000004 | 1, svmEDX: 0x1,
		hv: "TCGTCGTCGTCG", brand: "QEMU TCG CPU version 2.5+"}
	hypervNoNested = machine{vendor: VendorIntel, sig: 0x00050654, ecx1: 0xfeda3203, extECX: 0x121,
		hv: "Microsoft Hv", brand: "Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz"}
)

func TestDecode(t *testing.T) {
	host := recorded(t, "testdata/oxide-bhyve-epyc.json")
	for _, tc := range []struct {
		name string
		f    Func
		want Info
		ext  string
		hv   string
	}{
		{"intel-vtx", intelVTx.recording().Func(), Info{Vendor: VendorIntel, Brand: intelVTx.brand,
			Family: 6, Model: 158, Stepping: 10, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021, VMX: true}, "VT-x (VMX)", ""},
		{"amd-svm", amdSVM.recording().Func(), Info{Vendor: VendorAMD, Brand: amdSVM.brand,
			Family: 0x19, Model: 1, Stepping: 1, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021, SVM: true, NPT: true}, "AMD-V (SVM)", ""},
		{"kvm-guest-nested-vmx", kvmNestedIntel.recording().Func(), Info{Vendor: VendorIntel, Brand: kvmNestedIntel.brand,
			Family: 6, Model: 158, Stepping: 10, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021, VMX: true,
			Hypervisor: true, HypervisorSignature: "KVMKVMKVM", MaxHypervisorLeaf: 0x40000001}, "VT-x (VMX)", "KVM"},
		{"qemu-tcg-cpu-max", qemuTCGMax.recording().Func(), Info{Vendor: VendorAMD, Brand: qemuTCGMax.brand,
			Family: 0xf, Model: 6, Stepping: 1, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021, SVM: true, NPT: true,
			Hypervisor: true, HypervisorSignature: "TCGTCGTCGTCG", MaxHypervisorLeaf: 0x40000001}, "AMD-V (SVM)", "QEMU (TCG software emulation)"},
		{"hyperv-guest-no-nested", hypervNoNested.recording().Func(), Info{Vendor: VendorIntel, Brand: hypervNoNested.brand,
			Family: 6, Model: 0x55, Stepping: 4, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021,
			Hypervisor: true, HypervisorSignature: "Microsoft Hv", MaxHypervisorLeaf: 0x40000001}, "VT-x (VMX)", "Microsoft Hyper-V"},
		// Recorded on the development host: an EPYC guest of Oxide's bhyve
		// that hides SVM from its guests.
		{"recorded-bhyve-guest", host.Func(), Info{Vendor: VendorAMD, Brand: "Oxide Virtual Turin-like Processor",
			Family: 0x1a, Model: 2, Stepping: 1, MaxLeaf: 0xd, MaxExtLeaf: 0x80000021,
			Hypervisor: true, HypervisorSignature: "bhyve bhyve ", MaxHypervisorLeaf: 0x40000000}, "AMD-V (SVM)", "bhyve"},
		{"no-cpuid", func(uint32, uint32) Regs { return Regs{} }, Info{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decode(tc.f)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode() = %+v\nwant        %+v", got, tc.want)
			}
			if e := got.Extension(); e != tc.ext {
				t.Errorf("Extension() = %q, want %q", e, tc.ext)
			}
			if h := got.HypervisorName(); h != tc.hv {
				t.Errorf("HypervisorName() = %q, want %q", h, tc.hv)
			}
		})
	}
}

func recorded(t *testing.T, name string) Recording {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var r Recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func TestRecordingRoundTrip(t *testing.T) {
	want := amdSVM.recording()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"leaf":"0x8000000a"`) {
		t.Errorf("Marshal() = %s, want leaves in hex", b)
	}
	var got Recording
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if Decode(got.Func()) != Decode(want.Func()) {
		t.Errorf("round trip changed the decoded CPU: %+v, want %+v", Decode(got.Func()), Decode(want.Func()))
	}
}

// TestNative runs the real instruction: whatever this CPU is, leaf 0 names
// a vendor of 12 printable bytes, and recording then decoding it gives
// what decoding it directly gives.
func TestNative(t *testing.T) {
	if !Available {
		t.Skip("no CPUID on this architecture")
	}
	in := Decode(Native)
	if len(in.Vendor) != 12 || in.MaxLeaf == 0 {
		t.Fatalf("Decode(Native) = %+v: want a 12-byte vendor and a maximum leaf", in)
	}
	if got := Decode(Record(Native).Func()); got != in {
		t.Errorf("Decode(Record(Native)) = %+v, want %+v", got, in)
	}
}

func TestReadFirmware(t *testing.T) {
	intel := Decode(intelVTx.recording().Func())
	amd := Decode(amdSVM.recording().Func())
	noVirt := Decode(hypervNoNested.recording().Func())
	msrs := func(v map[string]uint64) MSRReader { return MSRRecording{Values: v}.Reader() }
	for _, tc := range []struct {
		name   string
		in     Info
		read   MSRReader
		want   FirmwareState
		detail string
	}{
		{"intel locked on", intel, msrs(map[string]uint64{"0x3a": 0x5}), FirmwareEnabled, "lock set, VMX outside SMX set"},
		{"intel disabled in firmware", intel, msrs(map[string]uint64{"0x3a": 0x1}), FirmwareDisabled, "lock set, VMX outside SMX clear"},
		{"intel unlocked", intel, msrs(map[string]uint64{"0x3a": 0x0}), FirmwareUnlocked, "lock clear"},
		{"amd enabled", amd, msrs(map[string]uint64{"0xc0010114": 0x0}), FirmwareEnabled, "SVMDIS clear"},
		{"amd disabled in firmware", amd, msrs(map[string]uint64{"0xc0010114": 0x18}), FirmwareDisabled, "SVMDIS set, LOCK set"},
		{"no msr driver", amd, MSRRecording{Err: "open /dev/cpu/0/msr: no such file or directory", Errno: "ENOENT"}.Reader(), FirmwareUnknown, "rdmsr VM_CR (0xc0010114)"},
		{"nothing to gate", noVirt, msrs(nil), FirmwareUnknown, "no VMX or SVM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := ReadFirmware(tc.in, tc.read)
			if fw.State == FirmwareUnknown && fw.Err != nil && MSRRemedy(fw.Err) == "" {
				t.Errorf("MSRRemedy(%v) = \"\", want a remedy for a replayed ENOENT", fw.Err)
			}
			if fw.State != tc.want || !strings.Contains(fw.Detail, tc.detail) {
				t.Errorf("ReadFirmware() = %v %q, want %v and a detail containing %q", fw.State, fw.Detail, tc.want, tc.detail)
			}
		})
	}
}

func TestReadEPT(t *testing.T) {
	for _, tc := range []struct {
		ctls, ctls2 uint64
		want        bool
	}{
		{0xfff9fffe_0401e172, 0x0053ffff_00000000, true},  // a Skylake: secondary controls, EPT allowed
		{0x7ff9fffe_0401e172, 0x0053ffff_00000000, false}, // no secondary controls
		{0xfff9fffe_0401e172, 0x0053fffd_00000000, false}, // secondary controls without EPT
	} {
		read := MSRRecording{Values: map[string]uint64{"0x482": tc.ctls, "0x48b": tc.ctls2}}.Reader()
		if got, err := ReadEPT(read); got != tc.want || err != nil {
			t.Errorf("ReadEPT(%#x, %#x) = %v, %v, want %v", tc.ctls, tc.ctls2, got, err, tc.want)
		}
	}
}

func TestReadMSRLive(t *testing.T) {
	_, err := ReadMSR(0, MSR_IA32_FEAT_CTL)
	if err == nil {
		return // the msr driver is loaded and we are root: nothing more to say
	}
	// Otherwise the error must be one MSRRemedy explains, or the CPU's EIO.
	if MSRRemedy(err) == "" && !strings.Contains(err.Error(), "rdmsr") {
		t.Errorf("ReadMSR(0, 0x3a) = %v: neither a remedy nor an rdmsr failure", err)
	}
	if errors.Is(err, fs.ErrNotExist) && !strings.Contains(MSRRemedy(err), "modprobe msr") {
		t.Errorf("MSRRemedy(%v) = %q, want modprobe msr", err, MSRRemedy(err))
	}
}
