package kvm

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

func TestProbeHostMissingDevice(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "kvm")
	r := ProbeHost(dev)
	if r.Present || r.OpenErr == nil {
		t.Fatalf("ProbeHost(%q) = Present %v, OpenErr %v; want absent with an error", dev, r.Present, r.OpenErr)
	}
	if !errors.Is(r.OpenErr, fs.ErrNotExist) {
		t.Errorf("OpenErr = %v, want ENOENT", r.OpenErr)
	}
	if len(r.Caps) != len(neededCaps) {
		t.Errorf("Caps has %d rows, want %d", len(r.Caps), len(neededCaps))
	}
	err := r.Err()
	if !errors.Is(err, ErrNoKVM) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Err() = %v, want ErrNoKVM saying the node does not exist", err)
	}
}

// A device that opens but is not KVM: the first ioctl fails with ENOTTY.
func TestProbeHostNotKVM(t *testing.T) {
	r := ProbeHost("/dev/null")
	if !r.Present {
		t.Fatal("Present = false for /dev/null")
	}
	if !errors.Is(r.OpenErr, unix.ENOTTY) || !strings.Contains(r.OpenErr.Error(), "KVM_GET_API_VERSION") {
		t.Errorf("OpenErr = %v, want ioctl(KVM_GET_API_VERSION) failing with ENOTTY", r.OpenErr)
	}
	if !errors.Is(r.Err(), unix.ENOTTY) {
		t.Errorf("Err() = %v, want it to wrap ENOTTY", r.Err())
	}
}

func TestHostReportErrNamesMissingCaps(t *testing.T) {
	r := HostReport{Device: "/dev/kvm", Present: true, APIVersion: 12}
	for _, c := range neededCaps {
		v := 1
		if c.cap == KVM_CAP_IRQFD || c.cap == KVM_CAP_NR_VCPUS {
			v = 0
		}
		r.Caps = append(r.Caps, CapReport{Name: c.cap.String(), Value: v, Required: c.required, Why: c.why})
	}
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "KVM_CAP_IRQFD is missing") {
		t.Fatalf("Err() = %v, want it to name KVM_CAP_IRQFD", err)
	}
	if strings.Contains(err.Error(), "KVM_CAP_NR_VCPUS") {
		t.Errorf("Err() = %v names an optional capability", err)
	}
	r.APIVersion = 11
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "KVM_GET_API_VERSION is 11") {
		t.Errorf("Err() = %v, want the API version named", err)
	}
}

func TestProbeHostKVM(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	r := ProbeHost(DefaultDevice)
	if err := r.Err(); err != nil {
		t.Fatalf("ProbeHost(%s).Err() = %v", DefaultDevice, err)
	}
	if r.APIVersion != KVM_API_VERSION {
		t.Errorf("APIVersion = %d", r.APIVersion)
	}
	if c, ok := r.Cap("KVM_CAP_MAX_VCPUS"); !ok || c.Value < 2 {
		t.Errorf("KVM_CAP_MAX_VCPUS = %+v, want at least 2", c)
	}
}
