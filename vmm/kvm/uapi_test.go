package kvm

import "testing"

// The ioctl numbers, as the C preprocessor computes them from
// <linux/kvm.h> on x86-64. A wrong struct size or direction in uapi.go
// shows up here as a different number.
func TestIoctlNumbers(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", KVM_GET_API_VERSION, 0x0000ae00},
		{"KVM_CREATE_VM", KVM_CREATE_VM, 0x0000ae01},
		{"KVM_GET_MSR_INDEX_LIST", KVM_GET_MSR_INDEX_LIST, 0xc004ae02},
		{"KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION, 0x0000ae03},
		{"KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE, 0x0000ae04},
		{"KVM_GET_SUPPORTED_CPUID", KVM_GET_SUPPORTED_CPUID, 0xc008ae05},
		{"KVM_GET_MSR_FEATURE_INDEX_LIST", KVM_GET_MSR_FEATURE_INDEX_LIST, 0xc004ae0a},
		{"KVM_CREATE_VCPU", KVM_CREATE_VCPU, 0x0000ae41},
		{"KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION, 0x4020ae46},
		{"KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR, 0x0000ae47},
		{"KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR, 0x4008ae48},
		{"KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP, 0x0000ae60},
		{"KVM_IRQ_LINE", KVM_IRQ_LINE, 0x4008ae61},
		{"KVM_SET_GSI_ROUTING", KVM_SET_GSI_ROUTING, 0x4008ae6a},
		{"KVM_IRQFD", KVM_IRQFD, 0x4020ae76},
		{"KVM_CREATE_PIT2", KVM_CREATE_PIT2, 0x4040ae77},
		{"KVM_IOEVENTFD", KVM_IOEVENTFD, 0x4040ae79},
		{"KVM_SET_CLOCK", KVM_SET_CLOCK, 0x4030ae7b},
		{"KVM_GET_CLOCK", KVM_GET_CLOCK, 0x8030ae7c},
		{"KVM_ENABLE_CAP", KVM_ENABLE_CAP, 0x4068aea3},
		{"KVM_SIGNAL_MSI", KVM_SIGNAL_MSI, 0x4020aea5},
		{"KVM_RUN", KVM_RUN, 0x0000ae80},
		{"KVM_GET_REGS", KVM_GET_REGS, 0x8090ae81},
		{"KVM_SET_REGS", KVM_SET_REGS, 0x4090ae82},
		{"KVM_GET_SREGS", KVM_GET_SREGS, 0x8138ae83},
		{"KVM_SET_SREGS", KVM_SET_SREGS, 0x4138ae84},
		{"KVM_GET_MSRS", KVM_GET_MSRS, 0xc008ae88},
		{"KVM_SET_MSRS", KVM_SET_MSRS, 0x4008ae89},
		{"KVM_GET_FPU", KVM_GET_FPU, 0x81a0ae8c},
		{"KVM_SET_FPU", KVM_SET_FPU, 0x41a0ae8d},
		{"KVM_GET_LAPIC", KVM_GET_LAPIC, 0x8400ae8e},
		{"KVM_SET_LAPIC", KVM_SET_LAPIC, 0x4400ae8f},
		{"KVM_SET_CPUID2", KVM_SET_CPUID2, 0x4008ae90},
		{"KVM_GET_CPUID2", KVM_GET_CPUID2, 0xc008ae91},
		{"KVM_GET_MP_STATE", KVM_GET_MP_STATE, 0x8004ae98},
		{"KVM_SET_MP_STATE", KVM_SET_MP_STATE, 0x4004ae99},
		{"KVM_NMI", KVM_NMI, 0x0000ae9a},
		{"KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS, 0x8040ae9f},
		{"KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS, 0x4040aea0},
		{"KVM_SET_TSC_KHZ", KVM_SET_TSC_KHZ, 0x0000aea2},
		{"KVM_GET_TSC_KHZ", KVM_GET_TSC_KHZ, 0x0000aea3},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
		if n := ioctlName(tt.got); n != tt.name {
			t.Errorf("ioctlName(%#x) = %q, want %q", tt.got, n, tt.name)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{KVM_CAP_IRQCHIP.String(), "KVM_CAP_IRQCHIP"},
		{KVM_CAP_IMMEDIATE_EXIT.String(), "KVM_CAP_IMMEDIATE_EXIT"},
		{Cap(999).String(), "KVM_CAP_999"},
		{KVM_EXIT_MMIO.String(), "KVM_EXIT_MMIO"},
		{ExitReason(77).String(), "KVM_EXIT_77"},
		{ioctlName(0x1234), "0x1234"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
