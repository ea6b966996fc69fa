package runtime

import (
	"os"
	"testing"
)

// TestMain doubles as the container's init: the test binary is what the
// runtime re-executes (see IsInit).
func TestMain(m *testing.M) {
	if IsInit() {
		Init()
	}
	os.Exit(m.Run())
}
