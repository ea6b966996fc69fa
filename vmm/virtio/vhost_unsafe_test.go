package virtio

import (
	"testing"
	"unsafe"
)

func TestVhostStructSizes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		{"vhost_vring_state", unsafe.Sizeof(vhostVringState{}), sizeofVhostVringState},
		{"vhost_vring_addr", unsafe.Sizeof(vhostVringAddr{}), sizeofVhostVringAddr},
		{"vhost_vring_file", unsafe.Sizeof(vhostVringFile{}), sizeofVhostVringFile},
	} {
		if tt.got != tt.want {
			t.Errorf("%s is %d bytes, want %d", tt.name, tt.got, tt.want)
		}
	}
}
