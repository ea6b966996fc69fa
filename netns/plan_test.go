package netns

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestPlanGolden(t *testing.T) {
	m, err := New(WithRunDir("/run/netns"), WithStateDir("/run/hull/network"))
	if err != nil {
		t.Fatal(err)
	}
	m.o.uid = 1000 // pasta --runas: the golden files are the same for root and users
	mac, _ := net.ParseMAC("02:42:0a:58:00:02")
	for _, tc := range []struct {
		name string
		c    Config
		a    Addresses
	}{
		{"bridge", Config{ID: "web", Ports: []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		}}, Addresses{IPv4: netip.MustParsePrefix("10.88.0.2/16"), MAC: mac}},
		{"dualstack", Config{ID: "v6", Network: Network{IPv6Subnet: netip.MustParsePrefix("fd88::/64")},
			Ports: []PortMapping{{HostPort: 443, ContainerPort: 8443, Protocol: "tcp"}}},
			Addresses{IPv4: netip.MustParsePrefix("10.88.0.3/16"), IPv6: netip.MustParsePrefix("fd88::3/64"), MAC: mac}},
		{"none", Config{ID: "quiet", Mode: "none"}, Addresses{}},
		{"pasta", Config{ID: "rl", Mode: "pasta", NetnsPath: "/proc/4242/ns/net", UsernsPath: "/proc/4242/ns/user", Ports: []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		}}, Addresses{MAC: mac}},
		{"slirp4netns", Config{ID: "rl", Mode: "slirp4netns", Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}, Addresses{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := m.Plan(tc.c, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			got := FormatPlan(steps)
			golden := filepath.Join("testdata", "plan-"+tc.name+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Plan(%s) =\n%s\nwant (%s):\n%s", tc.name, got, golden, want)
			}
		})
	}
}

func TestPlanRejectsAddressOutsideSubnet(t *testing.T) {
	m, _ := New()
	_, err := m.Plan(Config{ID: "x"}, Addresses{IPv4: netip.MustParsePrefix("192.168.1.2/24")})
	if err == nil {
		t.Error("Plan accepted an address outside the subnet")
	}
}
