package image_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/bundle"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/runtime"
)

// BenchmarkPullUnpack pulls and unpacks a ~200 MiB, 4-layer image from a
// loopback registry, with hull and with its peers (skopeo copy into an OCI
// layout, then umoci unpack), and reports the time of each and the ratio.
// hull-pull is what running a container needs (layers unpacked in the
// store, ready for an overlay mount); hull-bundle adds the rootfs copy
// that umoci makes, for a like-for-like comparison.
//
//	go test -run XXX -bench PullUnpack -benchtime 3x ./image
func BenchmarkPullUnpack(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s", tool)
		}
	}
	reg := registrytest.Start(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []v1.Layer
	total := 0
	for l := range 4 {
		var es []registrytest.Entry
		es = append(es, registrytest.Dir(fmt.Sprintf("layer%d/", l), 0o755))
		for f := 0; total < (l+1)*50<<20; f++ {
			// Files of 1 KiB to 1 MiB, half random, half text: roughly the
			// compressibility of a distribution's binaries and docs.
			size := 1 << (10 + rng.IntN(11))
			body := make([]byte, size)
			if f%2 == 0 {
				for i := range body {
					body[i] = byte(rng.Uint32())
				}
			} else {
				for i := range body {
					body[i] = "the quick brown fox jumps over the lazy dog\n"[i%44]
				}
			}
			es = append(es, registrytest.File(fmt.Sprintf("layer%d/f%05d", l, f), 0o644, string(body)))
			total += size
		}
		layers = append(layers, registrytest.NewLayer(b, registrytest.Gzip, true, registrytest.Tar(b, es...)))
	}
	reg.Push(b, "bench:v1", registrytest.Image(b, true, pull.HostPlatform(), v1.Config{Cmd: []string{"/bin/sh"}}, layers...))
	ref := reg.Addr + "/bench:v1"
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	var hullPull, hullBundle, hullWrite, peers time.Duration
	b.ResetTimer()
	for range b.N {
		tmp := b.TempDir()
		st, err := store.Open(filepath.Join(tmp, "store"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		im, err := pull.Pull(context.Background(), st, ref)
		if err != nil {
			b.Fatal(err)
		}
		pulled := time.Since(start)
		hullPull += pulled
		if err := bundle.Write(context.Background(), st, im, filepath.Join(tmp, "hull-bundle"), runtime.DefaultSpec(false)); err != nil {
			b.Fatal(err)
		}
		hullBundle += time.Since(start)
		hullWrite += time.Since(start) - pulled

		start = time.Now()
		run("skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(tmp, "layout")+":v1")
		run("umoci", "unpack", "--image", filepath.Join(tmp, "layout")+":v1", filepath.Join(tmp, "umoci-bundle"))
		peers += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(hullPull.Seconds()/n, "hull-pull-s")
	b.ReportMetric(hullBundle.Seconds()/n, "hull-bundle-s")
	b.ReportMetric(hullWrite.Seconds()/n, "hull-write-s")
	b.ReportMetric(peers.Seconds()/n, "skopeo+umoci-s")
	b.ReportMetric(float64(hullBundle)/float64(peers), "bundle-ratio")
	b.ReportMetric(float64(hullPull)/float64(peers), "pull-ratio")
}
