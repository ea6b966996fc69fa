package hull_test

import (
	"os"
	"testing"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/runtime"
)

// TestMain lets the test binary be what an embedding program is: the
// container's init and its monitor, re-executed.
func TestMain(m *testing.M) {
	if runtime.IsInit() {
		runtime.Init()
	}
	if hull.IsMonitor() {
		hull.Monitor()
	}
	os.Exit(m.Run())
}
