package vmm

import (
	"crypto/sha256"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/hullrt/hull/vmm/virtio"
)

// openNet opens the tap for net device i: the named tap, or a new tap
// "hull<pid>n<i>" attached to the bridge.
func (m *VM) openNet(i int, c NetConfig) (*virtio.Net, error) {
	mac, err := guestMAC(m.cfg.Name, i, c.MAC)
	if err != nil {
		return nil, err
	}
	name := c.Tap
	if c.Bridge != "" {
		br, err := netlink.LinkByName(c.Bridge)
		if err != nil {
			return nil, fmt.Errorf("net[%d].bridge %q: %w", i, c.Bridge, err)
		}
		name = fmt.Sprintf("hull%dn%d", pid(), i)
		dev, err := virtio.OpenTap(name, mac)
		if err != nil {
			return nil, fmt.Errorf("net[%d]: %w", i, err)
		}
		tap, err := netlink.LinkByName(name)
		if err == nil {
			err = netlink.LinkSetMaster(tap, br)
		}
		if err == nil {
			err = netlink.LinkSetUp(tap)
		}
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("net[%d]: attaching %s to bridge %s: %w", i, name, c.Bridge, err)
		}
		return dev, nil
	}
	dev, err := virtio.OpenTap(name, mac)
	if err != nil {
		return nil, fmt.Errorf("net[%d]: %w", i, err)
	}
	if tap, err := netlink.LinkByName(name); err == nil {
		netlink.LinkSetUp(tap) // a tap hull just created starts down
	}
	return dev, nil
}

// guestMAC is the configured address, or a locally administered unicast
// address (02:48:55 is "HU") derived from the VM's name and the device
// index, stable across runs of the same VM.
func guestMAC(name string, i int, configured string) ([6]byte, error) {
	var mac [6]byte
	if configured != "" {
		hw, err := net.ParseMAC(configured)
		if err != nil {
			return mac, err
		}
		copy(mac[:], hw)
		return mac, nil
	}
	if name == "" {
		name = fmt.Sprintf("pid%d", pid())
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", name, i)))
	mac = [6]byte{0x02, 0x48, 0x55, sum[0], sum[1], sum[2]}
	return mac, nil
}
