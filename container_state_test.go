package hull_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullrt/hull"
)

// The subtests of TestContainerCLI about what outlives a container or a
// boot: volumes, images in use, records from before a reboot.

func cliVolume(t *testing.T, c *cli) {
	c.t = t
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	c.ok("run", "--rm", "--network", "none", "-v", host+":/data", "-v", ro+":/ro:ro", c.image,
		"sh", "-c", "cat /data/in.txt > /data/out.txt; echo and back >> /data/out.txt; touch /ro/x 2>/dev/null && echo ro writable; true")
	b, err := os.ReadFile(filepath.Join(host, "out.txt"))
	if err != nil || string(b) != "from the host\nand back\n" {
		t.Errorf("out.txt on the host = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Errorf("a read-only volume was written")
	}
	// A named volume outlives its container and serves the next.
	c.ok("run", "--rm", "--network", "none", "-v", "notes:/notes", c.image, "sh", "-c", "echo kept > /notes/n")
	if got := c.ok("run", "--rm", "--network", "none", "-v", "notes:/n2:ro", c.image, "cat", "/n2/n"); got != "kept\n" {
		t.Errorf("named volume in a second container: %q", got)
	}
	// A new volume starts with the image's files at its mount
	// point; later containers see what earlier ones left.
	if got := c.ok("run", "--rm", "--network", "none", "-v", "site:/www", c.image, "sh", "-c", "cat /www/index.html; echo changed > /www/index.html"); got != "hello from hull\n" {
		t.Errorf("a new volume at /www holds %q, want the image's index.html", got)
	}
	if got := c.ok("run", "--rm", "--network", "none", "-v", "site:/www", c.image, "cat", "/www/index.html"); got != "changed\n" {
		t.Errorf("the volume's second use: %q", got)
	}
	if got := c.ok("run", "--rm", "--network", "none", "-v", "bare:/www:nocopy", c.image, "busybox", "ls", "-A", "/www"); got != "" {
		t.Errorf("a nocopy volume holds %q", got)
	}
	// An anonymous volume is the container's: listed with it,
	// kept from volume rm while it exists, removed by rm -v.
	id := strings.TrimSpace(c.ok("run", "-d", "--name", "anon", "--network", "none", "-v", "/www", c.image, "sleep", "1000"))
	vols := c.inspect(id).Volumes
	if len(vols) != 1 || len(vols[0]) != 64 {
		t.Fatalf("inspect: volumes %q", vols)
	}
	if ls := c.ok("volume", "ls"); !strings.Contains(ls, vols[0]+"   ") || !strings.Contains(ls, "anon") || !strings.Contains(ls, "site") {
		t.Errorf("volume ls:\n%s", ls)
	}
	if _, err := c.try("volume", "rm", vols[0]); err == nil || !strings.Contains(err.Error(), "used by container anon") {
		t.Errorf("volume rm of a volume in use: %v", err)
	}
	c.ok("rm", "-f", "-v", "anon")
	if _, err := os.Stat(filepath.Join(c.data, "volumes", vols[0])); err == nil {
		t.Errorf("rm -v left the anonymous volume")
	}
	// The image's VOLUME /www: an anonymous volume seeded from the
	// image, unless a -v mounts /www already.
	id2 := strings.TrimSpace(c.ok("run", "-d", "--name", "imgvol", "--network", "none", c.volImage, "sh", "-c", "echo mine > /www/new; sleep 1000"))
	vols = c.inspect(id2).Volumes
	if len(vols) != 1 || len(vols[0]) != 64 {
		t.Fatalf("a container of an image with VOLUME /www: volumes %q, want one anonymous", vols)
	}
	data := filepath.Join(c.data, "volumes", vols[0], "_data")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(data, "new")); string(b) == "mine\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("what the container wrote to /www never reached its volume %s", data)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "index.html")); err != nil || string(b) != "hello from hull\n" {
		t.Errorf("the image's VOLUME was not seeded from the image: index.html = %q, %v", b, err)
	}
	c.ok("rm", "-f", "-v", "imgvol")
	if _, err := os.Stat(filepath.Join(c.data, "volumes", vols[0])); err == nil {
		t.Errorf("rm -v left the image VOLUME's anonymous volume")
	}
	if got := c.ok("run", "--rm", "--network", "none", "-v", "site:/www", c.volImage, "cat", "/www/index.html"); got != "changed\n" {
		t.Errorf("-v site:/www over the image's VOLUME /www: %q, want the named volume's file", got)
	}
	c.ok("volume", "rm", "notes")
	if got := strings.Fields(c.ok("volume", "prune")); strings.Join(got, " ") != "bare site" {
		t.Errorf("volume prune removed %q, want bare and site", got)
	}
	if ls := c.ok("volume", "ls", "--format", "json"); strings.TrimSpace(ls) != "[]" {
		t.Errorf("volumes left: %s", ls)
	}
	c.assertClean(id)
}

func cliRebooted(t *testing.T, c *cli) {
	c.t = t
	// A reboot, as hull sees it afterwards: the monitor and the
	// container are gone, and the record is from another boot.
	id := strings.TrimSpace(c.ok("run", "-d", "--name", "before", "--network", "none", c.image, "sleep", "1000"))
	ins := c.inspect(id)
	if ins.State.BootID == "" {
		t.Fatalf("no boot ID recorded: %+v", ins.State)
	}
	syscall.Kill(ins.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(ins.State.Pid, syscall.SIGKILL)
	for range 100 {
		if !alive(ins.State.Pid) && c.inspect(id).State.Status != hull.ContainerRunning {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec := filepath.Join(ins.Dir, "container.json")
	b, _ := os.ReadFile(rec)
	os.WriteFile(rec, bytes.Replace(b, []byte(ins.State.BootID), []byte("00000000-1111-2222-3333-444444444444"), 1), 0o600)
	st := c.inspect(id).State
	if st.Status != hull.ContainerExited || st.ExitCode != 255 || !strings.Contains(st.Error, "rebooted") {
		t.Errorf("after a reboot: %+v, want exited 255, the reboot the reason", st)
	}
	if ps := c.ok("ps", "-a"); !strings.Contains(ps, "Exited (255)") {
		t.Errorf("ps -a:\n%s", ps)
	}
	// It starts again, what the old boot left (here: its mount and
	// cgroup) cleaned up first.
	c.ok("start", "before")
	if st := c.inspect(id).State; st.Status != hull.ContainerRunning {
		t.Errorf("start after the reboot: %+v", st)
	}
	c.ok("stop", "-t", "0", "before")
	if got := strings.TrimSpace(c.ok("prune")); got != id {
		t.Errorf("prune removed %q", got)
	}
	c.assertClean(id)
}

func cliImageRmInUse(t *testing.T, c *cli) {
	c.t = t
	image := func(args ...string) (string, error) {
		cmd := exec.Command(c.bin, append([]string{"--root", c.run, "image", "--store", c.data}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := image("pull", "-q", c.image); err != nil {
		t.Fatalf("image pull: %v: %s", err, out)
	}
	if out, err := image("tag", c.image, "local/other:v1"); err != nil {
		t.Fatalf("image tag: %v: %s", err, out)
	}
	id := strings.TrimSpace(c.ok("create", "--name", "user", "--network", "none", "local/other:v1", "echo"))
	// One name of two goes: the image stays, and the container.
	if out, err := image("rm", "local/other:v1"); err != nil {
		t.Errorf("image rm of one name of two: %v: %s", err, out)
	}
	// The last name would take the image: refused, naming the container.
	if out, err := image("rm", c.image); err == nil || !strings.Contains(out, "used by container user ("+id[:12]+", created)") {
		t.Errorf("image rm of an image in use: %v: %s", err, out)
	}
	c.ok("start", "user")
	c.ok("wait", "user")
	if out, err := image("rm", "-f", c.image); err != nil {
		t.Errorf("image rm -f: %v: %s", err, out)
	}
	if _, err := c.try("inspect", "user"); err == nil {
		t.Errorf("image rm -f left the container")
	}
	// Back for the other tests.
	if out, err := image("pull", "-q", c.image); err != nil {
		t.Fatalf("image pull: %v: %s", err, out)
	}
	c.assertClean(id)
}
