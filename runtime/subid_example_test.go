package runtime_test

import (
	"fmt"
	"strings"

	"github.com/hullrt/hull/runtime"
)

// The lines of /etc/subuid (or /etc/subgid) are owner:start:count; the
// owner is a user name or a numeric uid.
func ExampleParseSubIDs() {
	const subuid = "alice:100000:65536\n1001:165536:65536\n"
	ranges, err := runtime.ParseSubIDs(strings.NewReader(subuid))
	if err != nil {
		panic(err)
	}
	for _, r := range ranges {
		fmt.Printf("%s may map host ids %d-%d\n", r.Owner, r.Start, r.Start+r.Count-1)
	}
	// Output:
	// alice may map host ids 100000-165535
	// 1001 may map host ids 165536-231071
}
