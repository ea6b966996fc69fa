package netns

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // mappings joined by " ", or "error: <substring>"
	}{
		{"8080:80", "8080:80/tcp"},
		{"8080:80/udp", "8080:80/udp"},
		{"127.0.0.1:8080:80", "127.0.0.1:8080:80/tcp"},
		{"[::1]:8080:80/TCP", "[::1]:8080:80/tcp"},
		{"9000-9002:90-92/udp", "9000:90/udp 9001:91/udp 9002:92/udp"},
		{"80", "error: want [hostIP:]hostPort:containerPort"},
		{"8080:80/sctp", "error: protocol \"sctp\""},
		{"0:80", "error: host port"},
		{"8080:70000", "error: container port"},
		{"9000-9001:90-92", "error: host range 9000-9001 has 2 ports, container range 90-92 has 3"},
		{"9002-9000:90-92", "error: runs backwards"},
		{"::1:8080:80", "error: want [hostIP:]hostPort"},
		{"300.1.1.1:8080:80", "error: host address"},
		{"[::1:8080:80", "error: unclosed"},
	} {
		ms, err := ParsePort(tc.spec)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var s []string
			for _, m := range ms {
				s = append(s, m.String())
			}
			got = strings.Join(s, " ")
		}
		if strings.HasPrefix(tc.want, "error: ") {
			if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) {
				t.Errorf("ParsePort(%q) = %q, want an error containing %q", tc.spec, got, strings.TrimPrefix(tc.want, "error: "))
			}
			continue
		}
		if got != tc.want {
			t.Errorf("ParsePort(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	c := Config{
		ID:   "bad id",
		Mode: "bridge",
		Network: Network{Name: "n", Bridge: "a-very-long-bridge-name", Subnet: netip.MustParsePrefix("10.1.0.0/16"),
			Gateway: netip.MustParseAddr("10.2.0.1"), MTU: 10},
		Ports: []PortMapping{
			{HostPort: 80, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 80, ContainerPort: 81, Protocol: "tcp"},
			{HostPort: 81, ContainerPort: 0, Protocol: "icmp"},
		},
		MAC: "01:00:5e:00:00:01",
	}.withDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		`id: "bad id"`,
		"network.bridge:",
		"network.gateway: 10.2.0.1 is outside subnet 10.1.0.0/16",
		"network.mtu: 10",
		"ports[1]: host port tcp/80 is already published by ports[0]",
		`ports[2].protocol: "icmp"`,
		"ports[2].containerPort: 0",
		"mac: \"01:00:5e:00:00:01\" is a multicast address",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestValidateModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ok   bool
	}{
		{"", true}, {"none", true}, {"host", true}, {"bridge", true},
		{"container:abc", true}, {"ns:/run/netns/x", true},
		{"container:", false}, {"ns:relative", false}, {"slirp", false}, {"host:x", false},
	} {
		err := Config{ID: "c1", Mode: tc.mode}.withDefaults().Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(mode %q) = %v, want ok=%v", tc.mode, err, tc.ok)
		}
	}
	err := Config{ID: "c1", Mode: "host", Ports: []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}}.withDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "ports: publishing ports needs mode bridge") {
		t.Errorf("ports in host mode: %v", err)
	}
	// An IPv6 host address: the bridge's proxy serves it even on an
	// IPv4-only network; slirp4netns cannot.
	v6 := []PortMapping{{HostIP: netip.MustParseAddr("2001:db8::1"), HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}
	if err := (Config{ID: "c1", Ports: v6}).withDefaults().Validate(); err != nil {
		t.Errorf("IPv6 host address on an IPv4-only bridge network: %v", err)
	}
	err = Config{ID: "c1", Mode: ModeSlirp4netns, Ports: v6}.withDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "ports[0].hostIP: 2001:db8::1: slirp4netns publishes on IPv4 addresses only") {
		t.Errorf("IPv6 host address with slirp4netns: %v", err)
	}
}

func TestDecodeConfig(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader(`{"id": "web", "ports": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
		"network": {"name": "lab", "bridge": "lab0", "subnet": "10.77.0.0/24", "ipv6": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.Subnet.String() != "10.77.0.0/24" || !c.Network.IPv6 || c.Ports[0].HostPort != 8080 {
		t.Errorf("DecodeConfig = %+v", c)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"id": "web", "prots": []}`, `unknown field "prots"`},
		{`{"id": "web", "network": {"subnet": "10.77.0.0/33"}}`, "network config"},
		{`{"id": "web", "mode": "weird"}`, `mode: unknown network mode "weird"`},
	} {
		if _, err := DecodeConfig(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeConfig(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestULASubnet(t *testing.T) {
	a, b := ULASubnet("hull"), ULASubnet("other")
	if a.Bits() != 64 || !netip.MustParsePrefix("fd00::/8").Contains(a.Addr()) || a == b || a != ULASubnet("hull") {
		t.Errorf("ULASubnet(hull) = %v, ULASubnet(other) = %v: want distinct, stable fdXX /64s", a, b)
	}
	n := Network{IPv6: true}.withDefaults()
	if n.IPv6Subnet != a || n.IPv6Gateway != a.Addr().Next() {
		t.Errorf("Network{IPv6: true}: subnet %v gateway %v, want %v and its first address", n.IPv6Subnet, n.IPv6Gateway, a)
	}
}

func TestHostVethName(t *testing.T) {
	for _, id := range []string{"a", strings.Repeat("x", 64)} {
		n := HostVethName(id)
		if len(n) >= IFNAMSIZ || !strings.HasPrefix(n, "hv") {
			t.Errorf("HostVethName(%q) = %q: want hv… shorter than IFNAMSIZ", id, n)
		}
	}
	if HostVethName("a") == HostVethName("b") {
		t.Error("two IDs share a veth name")
	}
	_ = fmt.Sprint()
}
