package hull

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/hullrt/hull/cgroups"
	"github.com/hullrt/hull/runtime/probe"
	"github.com/hullrt/hull/vmm/cpuid"
	"github.com/hullrt/hull/vmm/kvm"
	"golang.org/x/sys/unix"
)

// recording is the part of a machine that is not a file: what CPUID,
// the MSRs, the probes and /dev/kvm answered. Record writes it as
// facts.json; on a live machine it is gathered fresh, so that live checks
// and fixtures go through the same code.
type recording struct {
	CPUIDAvailable bool               `json:"cpuidAvailable"`
	CPUID          cpuid.Recording    `json:"cpuid"`
	MSR            cpuid.MSRRecording `json:"msr"`
	Probe          *probe.Features    `json:"probe"`
	KVM            kvmRecording       `json:"kvm"`
}

// kvmRecording is kvm.HostReport with its error as text and errno name.
type kvmRecording struct {
	Device       string          `json:"device"`
	Present      bool            `json:"present"`
	OpenErr      string          `json:"openError,omitempty"`
	OpenErrno    string          `json:"openErrno,omitempty"`
	APIVersion   int             `json:"apiVersion"`
	Capabilities []kvm.CapReport `json:"capabilities"`
}

func recordKVM(r kvm.HostReport) kvmRecording {
	k := kvmRecording{Device: r.Device, Present: r.Present, APIVersion: r.APIVersion, Capabilities: r.Caps}
	if r.OpenErr != nil {
		k.OpenErr = r.OpenErr.Error()
		var errno syscall.Errno
		if errors.As(r.OpenErr, &errno) {
			k.OpenErrno = unix.ErrnoName(errno)
		}
	}
	return k
}

func (k kvmRecording) report() kvm.HostReport {
	r := kvm.HostReport{Device: k.Device, Present: k.Present, APIVersion: k.APIVersion, Caps: k.Capabilities}
	if k.OpenErr != "" {
		r.OpenErr = replayedError{k.OpenErr, errnoByName(k.OpenErrno)}
	}
	return r
}

// replayedError is a recorded error: its text, and its errno so that
// errors.Is(err, fs.ErrPermission) answers as it did on the machine.
type replayedError struct {
	msg   string
	errno syscall.Errno
}

func (e replayedError) Error() string { return e.msg }

func (e replayedError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func errnoByName(name string) syscall.Errno {
	for e := syscall.Errno(1); e < 4096 && name != ""; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}

// facts is everything evaluate judges.
type facts struct {
	root       string // the directory standing for "/"
	probe      *probe.Features
	cgroups    *cgroups.Host
	cgroupsErr error
	cpuidOK    bool
	cpu        cpuid.Info
	firmware   cpuid.Firmware
	ept        ept
	modules    map[string]module // "kvm", "kvm_intel", "kvm_amd"
	cpuFlags   map[string]bool   // /proc/cpuinfo "flags" and "vmx flags" of the first CPU
	kvm        kvm.HostReport
}

// ept is whether an Intel CPU offers extended page tables, and how we know.
type ept struct {
	known, ok bool
	source    string
}

// module is a kernel module as /sys/module shows it.
type module struct {
	loaded bool
	params map[string]string
}

// recordedModules and their parameters that evaluate reads.
var recordedModules = map[string][]string{
	"kvm":       {"halt_poll_ns"},
	"kvm_intel": {"nested", "ept"},
	"kvm_amd":   {"nested", "npt"},
}

func liveRecording(ctx context.Context, o *checkOptions) (*recording, error) {
	rec := &recording{CPUIDAvailable: cpuid.Available}
	o.logger.Debug("executing CPUID")
	rec.CPUID = cpuid.Record(cpuid.Native)
	o.logger.Debug("reading MSRs through /dev/cpu/0/msr")
	rec.MSR = cpuid.RecordMSRs(cpuid.ReadMSR)
	o.logger.Debug("probing kernel features")
	p, err := probe.Run(ctx, o.probeOpts...)
	if err != nil {
		return nil, err
	}
	rec.Probe = p
	o.logger.Debug("opening the KVM device", "device", o.kvmDevice)
	rec.KVM = recordKVM(kvm.ProbeHost(o.kvmDevice))
	return rec, nil
}

// factsFrom derives the facts from a recording and the files below root.
func factsFrom(root string, rec *recording) *facts {
	f := &facts{root: root, probe: rec.Probe, cpuidOK: rec.CPUIDAvailable, kvm: rec.KVM.report()}
	if f.probe == nil {
		f.probe = &probe.Features{}
	}
	f.cgroups, f.cgroupsErr = cgroups.DetectHost(root)
	f.cpu = cpuid.Decode(rec.CPUID.Func())
	msr := rec.MSR.Reader()
	f.firmware = cpuid.ReadFirmware(f.cpu, msr)
	f.modules = readModules(root)
	f.cpuFlags = readCPUFlags(filepath.Join(root, "proc/cpuinfo"))
	switch {
	case f.cpu.AMDLike() && f.cpu.SVM:
		f.ept = ept{known: true, ok: f.cpu.NPT, source: "CPUID 0x8000000a EDX bit 0 (NPT)"}
	case f.cpu.IntelLike() && f.cpu.VMX:
		if ok, err := cpuid.ReadEPT(msr); err == nil {
			f.ept = ept{known: true, ok: ok, source: "IA32_VMX_PROCBASED_CTLS2 (0x48b) allowed-1 bit 1"}
		} else if v, ok := f.modules["kvm_intel"].params["ept"]; ok {
			f.ept = ept{known: true, ok: v == "Y" || v == "1", source: "/sys/module/kvm_intel/parameters/ept = " + v}
		} else if f.cpuFlags["vmx"] {
			// The kernel lists VMX's features only when VMX is usable.
			f.ept = ept{known: true, ok: f.cpuFlags["ept"], source: "the ept flag in /proc/cpuinfo"}
		}
	}
	return f
}

func gather(ctx context.Context, o *checkOptions) (*facts, error) {
	rec, err := liveRecording(ctx, o)
	if err != nil {
		return nil, err
	}
	return factsFrom("/", rec), nil
}

func readModules(root string) map[string]module {
	out := map[string]module{}
	for name, params := range recordedModules {
		dir := filepath.Join(root, "sys/module", name)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		m := module{loaded: true, params: map[string]string{}}
		for _, p := range params {
			if b, err := os.ReadFile(filepath.Join(dir, "parameters", p)); err == nil {
				m.params[p] = strings.TrimSpace(string(b))
			}
		}
		out[name] = m
	}
	return out
}

// readCPUFlags reads the "flags" and "vmx flags" lines of the first
// processor in /proc/cpuinfo: what the kernel decided the CPU offers,
// after firmware and its own quirks had their say.
func readCPUFlags(name string) map[string]bool {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	flags := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // end of the first processor
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if k := strings.TrimSpace(key); k == "flags" || k == "vmx flags" {
			for _, fl := range strings.Fields(val) {
				flags[fl] = true
			}
		}
	}
	return flags
}

// Record writes this machine into dir, as WithFixture reads it: the files
// Check reads below dir/root, and facts.json with what is not a file. It
// gathers exactly what Check would, so a user can send the directory along
// with a bug report and hull's tests can replay the machine. Nothing in dir
// is overwritten: it must not exist yet; when recording fails, dir is
// removed again.
func Record(ctx context.Context, dir string, opts ...CheckOption) (err error) {
	o, err := makeCheckOptions(opts)
	if err != nil {
		return err
	}
	if o.fixture != "" {
		return errors.New("hull.Record: cannot record a fixture (WithFixture)")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil { // a half-written machine would replay as a wrong one
			os.RemoveAll(dir)
		}
	}()
	rec, err := liveRecording(ctx, o)
	if err != nil {
		return err
	}
	root := filepath.Join(dir, "root")
	var errs []error
	cp := func(rel string, filter func([]byte) []byte) {
		b, err := os.ReadFile(filepath.Join("/", rel))
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err == nil && filter != nil {
			b = filter(b)
		}
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(root, rel), b, 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recording /%s: %w", rel, err))
		}
	}
	cp("proc/self/mountinfo", cgroupMounts)
	cp("proc/self/cgroup", nil)
	cp("proc/cpuinfo", firstProcessor)
	if h, err := cgroups.DetectHost("/"); err == nil && h.Unified != "" {
		for _, d := range []string{h.Unified, h.SelfDir("")} {
			for _, f := range []string{"cgroup.controllers", "cgroup.subtree_control"} {
				cp(strings.TrimPrefix(filepath.Join(d, f), "/"), nil)
			}
		}
	}
	names := make([]string, 0, len(recordedModules))
	for name := range recordedModules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := os.Stat("/sys/module/" + name); err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Join(root, "sys/module", name, "parameters"), 0o755); err != nil {
			errs = append(errs, err)
		}
		for _, p := range recordedModules[name] {
			cp("sys/module/"+name+"/parameters/"+p, nil)
		}
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "facts.json"), append(b, '\n'), 0o644)
	}
	return errors.Join(append(errs, err)...)
}

// cgroupMounts keeps the cgroup and cgroup2 lines of a mountinfo file:
// all cgroups.DetectHost reads, without the rest of the machine's mounts.
func cgroupMounts(b []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.Contains(line, []byte(" - cgroup ")) || bytes.Contains(line, []byte(" - cgroup2 ")) {
			out = append(out, line...)
		}
	}
	return out
}

// firstProcessor keeps the first processor's block of /proc/cpuinfo.
func firstProcessor(b []byte) []byte {
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[:i+2]
	}
	return b
}

// loadFixture reads a machine recorded by Record.
func loadFixture(dir string) (*facts, error) {
	b, err := os.ReadFile(filepath.Join(dir, "facts.json"))
	if err != nil {
		return nil, fmt.Errorf("reading fixture: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rec recording
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("fixture %s: facts.json: %w", dir, err)
	}
	return factsFrom(filepath.Join(dir, "root"), &rec), nil
}
