package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
)

// BenchmarkRunTrue measures create+start+wait+delete of a busybox "true"
// container through each runtime's command line, as containerd's shim
// drives it, and reports hull's time as a ratio of runc's (and crun's,
// where crun runs: it refuses hybrid cgroup hosts).
//
//	go test -run '^$' -bench RunTrue -benchtime 20x ./runtime
func BenchmarkRunTrue(b *testing.B) {
	testvm.Require(b, testvm.Root)
	hull := testvm.Hull(b)
	dir := b.TempDir()
	os.Chmod(dir, 0o755)
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(&testing.T{}, filepath.Join(bundle, "rootfs"))
	s := DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = []string{"true"}
	s.Root.Path = "rootfs"
	s.Linux.CgroupsPath = fmt.Sprintf("hull-bench-%d", os.Getpid())
	buf, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	runtimes := []string{hull}
	for _, peer := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(peer); err == nil {
			// crun refuses hybrid hosts: keep only peers that run here.
			if exec.Command(p, "--root", filepath.Join(dir, "probe-"+peer), "run", "--bundle", bundle, "probe").Run() == nil {
				runtimes = append(runtimes, p)
			}
		}
	}
	total := make([]time.Duration, len(runtimes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r, bin := range runtimes {
			id := fmt.Sprintf("bench-%d", i)
			cmd := exec.CommandContext(context.Background(), bin, "--root", filepath.Join(dir, "root"+fmt.Sprint(r)), "run", "--bundle", bundle, id)
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s run: %v: %s", bin, err, out)
			}
			total[r] += time.Since(start)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total[0].Milliseconds())/float64(b.N), "hull-ms/op")
	for r, bin := range runtimes[1:] {
		name := filepath.Base(bin)
		b.ReportMetric(float64(total[r+1].Milliseconds())/float64(b.N), name+"-ms/op")
		b.ReportMetric(float64(total[0])/float64(total[r+1]), "hull/"+name)
	}
}
