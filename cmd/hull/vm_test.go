package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hullrt/hull/internal/cli"
)

func TestParseMiB(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"512M", 512, true}, {"512", 512, true}, {"2G", 2048, true}, {"2GB", 2048, true},
		{"1024K", 1, true}, {"1T", 1 << 20, true}, {"1000K", 0, false}, {"0", 0, false},
		{"lots", 0, false}, {"-1G", 0, false},
	} {
		got, err := parseMiB(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestVMRunFlags(t *testing.T) {
	f := &vmRunFlags{kernel: "/k", cpus: 2, memory: "1G", disks: []string{"a.img", "b.img,ro"}, append: "console=ttyS0"}
	cfg, err := f.vmConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CPUs != 2 || cfg.MemoryMiB != 1024 || len(cfg.Disks) != 2 || cfg.Disks[0].ReadOnly || !cfg.Disks[1].ReadOnly || cfg.Cmdline != "console=ttyS0" {
		t.Errorf("vmConfig() = %+v", cfg)
	}
	f = &vmRunFlags{kernel: "/k", nets: []string{"tap=tap0", "bridge=br0,mac=02:00:00:00:00:01"}}
	cfg, err = f.vmConfig()
	if err != nil || len(cfg.Net) != 2 || cfg.Net[0].Tap != "tap0" || cfg.Net[1].Bridge != "br0" || cfg.Net[1].MAC != "02:00:00:00:00:01" {
		t.Errorf("--net: %+v, %v", cfg.Net, err)
	}
	f = &vmRunFlags{kernel: "/k", nets: []string{"tap=a,bridge=b"}}
	if _, err := f.vmConfig(); err == nil || !strings.Contains(err.Error(), "exactly one of tap and bridge") {
		t.Errorf("--net with both: %v", err)
	}
	f = &vmRunFlags{disks: []string{"a.img,rx"}}
	if _, err := f.vmConfig(); err == nil || !strings.Contains(err.Error(), `unknown option "rx"`) {
		t.Errorf("bad disk option: %v", err)
	}
	f = &vmRunFlags{cpus: 500}
	if _, err := f.vmConfig(); err == nil || !strings.Contains(err.Error(), "kernel: required") || !strings.Contains(err.Error(), "cpus: 500") {
		t.Errorf("invalid flags: %v", err)
	}
}

// tinyELF is an x86-64 ELF executable with one PT_LOAD of code at 16 MiB.
func tinyELF(code []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 64+56)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)         // ET_EXEC
	le.PutUint16(b[18:], 62)        // EM_X86_64
	le.PutUint32(b[20:], 1)         // EV_CURRENT
	le.PutUint64(b[24:], 0x1000000) // e_entry
	le.PutUint64(b[32:], 64)        // e_phoff
	le.PutUint16(b[52:], 64)        // e_ehsize
	le.PutUint16(b[54:], 56)        // e_phentsize
	le.PutUint16(b[56:], 1)         // e_phnum
	ph := b[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[8:], 120) // p_offset
	le.PutUint64(ph[16:], 0x1000000)
	le.PutUint64(ph[24:], 0x1000000)
	le.PutUint64(ph[32:], uint64(len(code)))
	le.PutUint64(ph[40:], uint64(len(code)))
	return append(b, code...)
}

func TestVMRunExplain(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "k.elf")
	if err := os.WriteFile(kernel, tinyELF([]byte{0xf4}), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newVMRunCommand(&cli.Options{Root: t.TempDir()})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--kernel", kernel, "--cpus", "2", "--memory", "128M", "--disk", "root.img", "--explain"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 vCPU(s), 128 MiB", "entry     0x1000000 (64-bit)", "virtio    0xd0000000-0xd0000fff GSI 5  block root.img"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--explain output lacks %q:\n%s", want, out.String())
		}
	}
}

// A detached VM whose process died without cleaning up (here, a state
// directory naming a process that has exited, its socket file left with
// nobody listening): ls shows it dead, inspect says so, and stop and kill
// remove the directory and say so instead of failing.
func TestVMStaleState(t *testing.T) {
	root := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ghost1", "ghost2"} {
		dir := filepath.Join(root, "vm", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "pid"), fmt.Appendf(nil, "%d 12345\n", gone.Process.Pid), 0o600)
		ln, err := net.Listen("unix", filepath.Join(dir, "control.sock"))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
	hull := func(args ...string) (string, error) {
		cmd := newVMCommand(&cli.Options{Root: root})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := hull("ls")
	if err != nil || !regexp.MustCompile(fmt.Sprintf(`(?m)^ghost1\s+dead\s+%d\s`, gone.Process.Pid)).MatchString(out) || strings.Contains(out, "running") {
		t.Errorf("vm ls = %q, %v; want ghost1 dead with its PID, nothing running", out, err)
	}
	if _, err := hull("inspect", "ghost1"); err == nil || !strings.Contains(err.Error(), `vm "ghost1" is dead`) {
		t.Errorf("vm inspect of a dead VM: %v", err)
	}
	for _, op := range []string{"kill ghost1", "stop ghost2"} {
		args := strings.Fields(op)
		out, err := hull(args...)
		if err != nil || !strings.Contains(out, "was not running") || !strings.Contains(out, "removed its stale state") {
			t.Errorf("vm %s = %q, %v; want it to say it removed the stale state", op, out, err)
		}
		if _, err := os.Stat(filepath.Join(root, "vm", args[1])); !os.IsNotExist(err) {
			t.Errorf("vm %s left the state directory: %v", op, err)
		}
	}
	if out, err := hull("ls"); err != nil || strings.Contains(out, "ghost") {
		t.Errorf("vm ls after cleaning = %q, %v", out, err)
	}
	if _, err := hull("kill", "nosuch"); err == nil || !strings.Contains(err.Error(), "no such VM") {
		t.Errorf("vm kill of a VM that never existed: %v", err)
	}
}
