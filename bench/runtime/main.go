// Command runtime prints hull's container lifecycle time as ratios of
// runc's and crun's: runtime's BenchmarkRunTrue (a busybox "true"
// container created, started, waited for and deleted through each
// runtime's command line), run on this machine or, with -vm, inside the
// test VM, where crun runs too (it refuses this host's hybrid cgroups).
//
//	go run ./bench/runtime              # here (root)
//	go run ./bench/runtime -vm          # in the test VM (root, qemu)
//
// bench/runtime.sh runs both. Each figure is a median over -n lives of
// each runtime, taken in turns.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hullrt/hull/integration/testvm"
)

func main() {
	vm := flag.Bool("vm", false, "run in the test VM (with runc and crun from this host)")
	n := flag.Int("n", 20, "lives of each runtime, each way")
	flag.Parse()
	out, err := bench(*vm, *n)
	if err != nil {
		os.Stdout.Write(out)
		fmt.Fprintf(os.Stderr, "bench/runtime: %v\n", err)
		os.Exit(1)
	}
	where := "host"
	if *vm {
		where = "test VM"
	}
	metrics, err := parse(out)
	if err != nil {
		os.Stdout.Write(out)
		fmt.Fprintf(os.Stderr, "bench/runtime: %v\n", err)
		os.Exit(1)
	}
	report(os.Stdout, where, *n, metrics)
}

// bench runs the benchmark and returns its output.
func bench(vm bool, n int) ([]byte, error) {
	args := []string{"-test.run=^$", "-test.bench=^BenchmarkRunTrue$", "-test.benchtime=" + strconv.Itoa(n) + "x"}
	if !vm {
		cmd := exec.Command("go", "test", "-count=1", "-run=^$", "-bench=^BenchmarkRunTrue$", "-benchtime="+strconv.Itoa(n)+"x", "./runtime")
		return cmd.CombinedOutput()
	}
	var buf bytes.Buffer
	results, _, err := testvm.RunPackages(context.Background(),
		testvm.Options{HostTools: []string{"runc", "crun"}, Timeout: 30 * time.Minute},
		nil, &buf, testvm.Package{Path: "./runtime", Args: args, Timeout: 25 * time.Minute})
	if err != nil {
		return buf.Bytes(), err
	}
	// A benchmark run passes no test: only the exit status counts.
	for _, r := range results {
		if !r.Reported || r.Exit != 0 {
			return buf.Bytes(), fmt.Errorf("%s: exit status %d in the test VM", r.Name, r.Exit)
		}
	}
	return buf.Bytes(), nil
}

// parse reads the metrics of the BenchmarkRunTrue line: value-unit
// pairs such as "114.6 run:hull-ms" and "0.8020 run:hull/runc".
func parse(out []byte) (map[string]float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkRunTrue") {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("metric %q: %w", f[i+1], err)
			}
			m[f[i+1]] = v
		}
		return m, nil
	}
	return nil, fmt.Errorf("no BenchmarkRunTrue line in the output")
}

// report prints one line per way: each runtime's median and hull's
// ratios.
func report(w io.Writer, where string, n int, m map[string]float64) {
	fmt.Fprintf(w, "busybox true, create+start+wait+delete, median of %d, on the %s:\n", n, where)
	for _, way := range []string{"run", "cli"} {
		var peers []string
		for k := range m {
			if p, ok := strings.CutPrefix(k, way+":hull/"); ok {
				peers = append(peers, p)
			}
		}
		sort.Strings(peers)
		fmt.Fprintf(w, "  %-3s  hull %6.1f ms", way, m[way+":hull-ms"])
		for _, p := range peers {
			fmt.Fprintf(w, "   %s %6.1f ms", p, m[way+":"+p+"-ms"])
		}
		for _, p := range peers {
			fmt.Fprintf(w, "   hull/%s %.2f", p, m[way+":hull/"+p])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, `  (run: one "run" command; cli: "create", "start", wait, "delete", as containerd's shim drives a runtime)`)
}
