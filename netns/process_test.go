package netns

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRealProcesses runs real programs in the namespaces, the way a
// container would: busybox httpd in one container, busybox wget in
// another container and in the outside namespace, entered with nsenter.
func TestRealProcesses(t *testing.T) {
	l := newLab(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (Debian: apt-get install busybox-static)")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("needs nsenter (Debian: util-linux)")
	}
	ports, _ := ParsePort("8080:80")
	web := l.setup(Config{ID: "httpd", Ports: ports})
	client := l.setup(Config{ID: "wget"})

	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from busybox httpd\n"), 0o644)
	httpd := exec.Command(nsenter, "--net="+web.NetnsPath, busybox, "httpd", "-f", "-p", "80", "-h", www)
	must(t, httpd.Start())
	t.Cleanup(func() { httpd.Process.Kill(); httpd.Wait() })

	wget := func(ns, url string) (string, error) {
		var out []byte
		var err error
		// httpd needs a moment to bind: poll until it answers (bounded).
		for range 100 {
			// (busybox 1.35's wget -T crashes; the context bounds a hang.)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err = exec.CommandContext(ctx, nsenter, "--net="+ns, busybox, "wget", "-q", "-O", "-", url).CombinedOutput()
			cancel()
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return string(out), err
	}
	for _, tc := range []struct{ name, ns, url string }{
		{"container to container", client.NetnsPath, "http://" + addrOf(web) + "/index.html"},
		{"third netns to published port", l.outside, "http://" + hostAddr + ":8080/index.html"},
		{"host to 127.0.0.1", l.host, "http://127.0.0.1:8080/index.html"},
	} {
		got, err := wget(tc.ns, tc.url)
		if err != nil || !strings.Contains(got, "hello from busybox httpd") {
			t.Errorf("%s: wget %s: %v\n%s", tc.name, tc.url, err, got)
		}
	}
	httpd.Process.Kill()
	httpd.Wait()
	must(t, l.m.Teardown(context.Background(), "httpd"))
	must(t, l.m.Teardown(context.Background(), "wget"))
	l.assertOnlyShared()
}
