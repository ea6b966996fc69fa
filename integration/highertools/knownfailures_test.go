package highertools

import (
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/knownfailures"
)

// TestKnownFailuresNameFlows keeps the list honest: every entry names a
// tool and a flow that exist, so a renamed flow cannot hide a failure.
func TestKnownFailuresNameFlows(t *testing.T) {
	known, err := knownfailures.Read(knownFailures)
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, tool := range []string{"podman", "containerd"} {
		for _, f := range flows {
			exists[tool+"/"+f.name] = true
		}
	}
	for key := range known {
		if !exists[key] {
			t.Errorf("%s lists %q, which is no tool/flow (tools podman and containerd; flows %s)", knownFailures, key, flowNames())
		}
	}
}

func flowNames() string {
	var names []string
	for _, f := range flows {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}
