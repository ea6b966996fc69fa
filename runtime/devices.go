package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

func i64(v int64) *int64 { return &v }

// defaultDeviceRules are the device cgroup rules every container gets
// after its own linux.resources.devices, as in runc: the nodes hull makes
// in /dev (and the ptys of its devpts) must work even under a
// "deny everything" rule, and mknod of any node is allowed because
// making a node grants nothing: opening it is what the rules decide.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // /dev/null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // /dev/zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // /dev/full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // /dev/random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // /dev/urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // /dev/tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},    // /dev/console
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // /dev/pts/ptmx
	{Allow: true, Type: "c", Major: i64(136), Minor: nil, Access: "rwm"},     // /dev/pts/*
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // /dev/net/tun
}

// withDeviceRules returns the resources to apply at create time: the
// spec's, with the default rules and one allow rule per linux.devices
// node appended when the spec restricts devices at all. (A spec without
// device rules gets none: on cgroup v2 any rule makes an allowlist.)
func withDeviceRules(s *specs.Spec) *specs.LinuxResources {
	res := s.Linux.Resources
	if res == nil || len(res.Devices) == 0 {
		return res
	}
	out := *res
	out.Devices = append(append([]specs.LinuxDeviceCgroup(nil), res.Devices...), defaultDeviceRules...)
	for _, d := range s.Linux.Devices {
		typ := d.Type
		switch typ {
		case "p":
			continue // a fifo is no device: the cgroup has no rule for it
		case "u":
			typ = "c" // unbuffered character device
		}
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	return &out
}
