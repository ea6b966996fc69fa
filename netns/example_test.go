package netns_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/hullrt/hull/netns"
)

// A container on the default bridge with port 8080 of the host published
// to its port 80. The runtime then starts the container in
// att.NetnsPath and bind-mounts att.EtcFiles over its /etc entries.
func ExampleManager_Setup() {
	ctx := context.Background()
	m, err := netns.New() // the host's namespace, /run/netns, /run/hull/network
	if err != nil {
		log.Fatal(err)
	}
	ports, err := netns.ParsePort("8080:80")
	if err != nil {
		log.Fatal(err)
	}
	att, err := m.Setup(ctx, netns.Config{ID: "web", Ports: ports})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(att.NetnsPath, att.Addrs)
	// ... the container runs ...
	if err := m.Teardown(ctx, "web"); err != nil {
		log.Fatal(err)
	}
}

func ExampleParsePort() {
	for _, spec := range []string{"8080:80", "127.0.0.1:5353:53/udp", "[::1]:9000-9001:90-91"} {
		ms, err := netns.ParsePort(spec)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ms)
	}
	// Output:
	// [8080:80/tcp]
	// [127.0.0.1:5353:53/udp]
	// [[::1]:9000:90/tcp [::1]:9001:91/tcp]
}

// Plan makes no system call: it shows what Setup would do.
func ExampleManager_Plan() {
	m, _ := netns.New()
	mac, _ := net.ParseMAC("02:42:0a:58:00:02")
	steps, err := m.Plan(netns.Config{ID: "quiet", Mode: "none"}, netns.Addresses{MAC: mac})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(netns.FormatPlan(steps))
	// Output:
	//  1. mount(/run/netns, MS_SHARED|MS_REC) (bind onto itself first if needed, as ip netns does); unshare(CLONE_NEWNET) + mount(/proc/thread-self/ns/net, /run/netns/hull-quiet, MS_BIND)
	//  2. netns /run/netns/hull-quiet: RTM_NEWLINK lo IFF_UP
	//  3. write /run/hull/network/etc/quiet/{hosts,hostname,resolv.conf} (hostname quiet, resolvers from the host's minus loopback stubs)
}
