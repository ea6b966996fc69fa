package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullrt/hull/image/rootfs"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/runtime"
)

// Explain says, in system-call terms, what starting a created or stopped
// container would ask of the kernel, and does none of it: the overlay mount
// of its root filesystem, the network plan (netns) and the runtime's plan
// for its init, in the order the monitor applies them. It is "hull container
// run --explain", for teaching labs.
func (e *Engine) Explain(ctx context.Context, ref string) (string, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "container %s (%s), image %s\n\n", c.Name, c.ID, c.ImageDigest)

	layers, err := e.layerDirs(c)
	if err != nil {
		return "", err
	}
	m, err := rootfs.Overlay(layers, filepath.Join(c.Dir, "upper"), filepath.Join(c.Dir, "work"))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "1. root filesystem: %d image layers under the container's upper directory\n   %s %s\n\n",
		len(layers), m, filepath.Join(c.Dir, "rootfs"))

	raw, err := os.ReadFile(filepath.Join(c.Dir, "bundle", "config.json"))
	if err != nil {
		return "", err
	}
	spec, err := runtime.ParseSpec(raw)
	if err != nil {
		return "", err
	}
	mode := c.Config.Network
	if mode == "" {
		mode = netns.ModeBridge
	}
	if mode == netns.ModeHost {
		b.WriteString("2. network: the host's namespace, shared (no step)\n\n")
	} else {
		nm, err := e.network()
		if err != nil {
			return "", err
		}
		cfg := netns.Config{ID: c.ID, Mode: mode, Ports: c.Ports, Hostname: spec.Hostname}
		steps, err := nm.Explain(cfg)
		if err != nil {
			return "", fmt.Errorf("network: %w", err)
		}
		fmt.Fprintf(&b, "2. network (%s), set up by the monitor, which holds the published ports:\n%s\n", mode, indent(netns.FormatPlan(steps)))
		// The init joins the namespace the plan persists.
		for i := range spec.Linux.Namespaces {
			if spec.Linux.Namespaces[i].Type == "network" {
				spec.Linux.Namespaces[i].Path = filepath.Join(e.netRunDir, netns.NetnsName(c.ID))
			}
		}
	}

	// The runtime plans from a bundle: a scratch one with the config.json
	// the monitor would write.
	tmp, err := os.MkdirTemp("", "hull-explain-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), out, 0o600); err != nil {
		return "", err
	}
	plan, err := e.rt.Explain(c.ID, runtime.CreateOptions{Bundle: tmp})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "3. the container's init (runtime create + start):\n%s", indent(plan.String()))
	return b.String(), nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "   " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
