package runtime

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
)

// The container's init runs from this package's init function, once the
// packages it imports are initialised, and after every package that sorts
// before one of those and was ready first (see init in init_linux.go).
// TestInitImports runs hull as an init with a closed sync socket, which
// fails at its first read, and reads the packages the Go runtime
// initialised until then: none of those that importing net or
// runtime/debug would put first, which cost every container about 3 ms.
func TestInitImports(t *testing.T) {
	hull := testvm.Hull(t)
	cmd := exec.Command(hull, "init")
	cmd.Env = []string{initEnv + "=99", "GOMAXPROCS=1", "GOGC=off", "GODEBUG=inittrace=1"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hull init: ") {
		t.Fatalf("hull init with no sync socket: %v, want a failed read:\n%s", err, out)
	}
	var inits []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			inits = append(inits, f[1])
		}
	}
	if len(inits) == 0 {
		t.Fatalf("no inittrace lines in:\n%s", out)
	}
	for _, late := range []string{"net", "regexp", "github.com/opencontainers/go-digest", "crypto/x509", "net/http"} {
		for _, p := range inits {
			if p == late {
				t.Errorf("the init initialised %s before it ran (%d packages: %s)", late, len(inits), strings.Join(inits, " "))
			}
		}
	}
}
