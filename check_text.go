package hull

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report as "hull check" prints it: a header naming
// the kernel, CPU and hypervisor, then one section after another with each
// item's status, name and what was checked, the remedy under every item
// that is not ok, and the two verdicts.
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	head := "Linux " + r.Kernel
	if r.CPU != "" {
		head += ", " + r.CPU
	}
	if r.Hypervisor != "" {
		head += ", in a VM of " + r.Hypervisor
	}
	fmt.Fprintln(b, head)
	if r.EUID != 0 {
		fmt.Fprintf(b, "checked as uid %d: what a rootless hull can do; run as root for the whole machine\n", r.EUID)
	}
	width := 0
	for _, it := range r.Items {
		width = max(width, len(it.Name))
	}
	width = min(width, 30)
	section := ""
	for _, it := range r.Items {
		if it.Section != section {
			section = it.Section
			fmt.Fprintf(b, "\n%s\n", strings.ToUpper(section))
		}
		fmt.Fprintf(b, "  %-9s %-*s %s\n", it.Status, width, it.Name, it.Detail)
		if it.Remedy != "" {
			fmt.Fprintf(b, "  %-9s %-*s remedy: %s\n", "", width, "", it.Remedy)
		}
	}
	fmt.Fprintln(b)
	fmt.Fprintln(b, r.Containers.text("containers can run:"))
	fmt.Fprintln(b, r.VMs.text("micro-VMs can run: "))
	return b.Flush()
}

func (v Verdict) text(what string) string {
	if v.OK {
		return what + " yes"
	}
	return what + " no (" + strings.Join(v.Blockers, ", ") + ")"
}
