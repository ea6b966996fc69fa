package netns

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSetupTeardown measures one container's whole network life on
// the bridge with a published port: netns, veth, addresses, routes, DNAT
// chain, /etc files, lease, then teardown.
func BenchmarkSetupTeardown(b *testing.B) {
	l := newLab(b)
	ports, _ := ParsePort("8080:80")
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("b%d", i)
		if _, err := l.m.Setup(ctx, Config{ID: id, Ports: ports}); err != nil {
			b.Fatal(err)
		}
		if err := l.m.Teardown(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
