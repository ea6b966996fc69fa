package netns

// Kernel constants this package needs that golang.org/x/sys/unix does not
// name, spelled as in the kernel headers.

// include/uapi/linux/netfilter/nf_conntrack_common.h: enum ip_conntrack_status.
const (
	IPS_SRC_NAT = 1 << 4 // IPS_SRC_NAT_BIT: the connection was source-NATed
	IPS_DST_NAT = 1 << 5 // IPS_DST_NAT_BIT: the connection was destination-NATed
)

// include/uapi/linux/if.h
const IFNAMSIZ = 16
