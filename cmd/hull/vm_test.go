package main

import (
	"strings"
	"testing"
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
