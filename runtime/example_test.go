package runtime_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/runtime"
)

// A program that embeds the runtime re-executes itself as each
// container's init, so its main starts by handing over to Init when it is
// one. Then it drives the lifecycle as runc's verbs do.
func Example() {
	if runtime.IsInit() {
		runtime.Init() // never returns
	}
	ctx := context.Background()
	rt, err := runtime.New("/run/myprogram")
	if err != nil {
		log.Fatal(err)
	}
	// bundle/config.json, e.g. from runtime.DefaultSpec(false), and
	// bundle/rootfs.
	err = rt.Create(ctx, "demo", runtime.CreateOptions{Bundle: "bundle", Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Delete(ctx, "demo", true)
	if err := rt.Start(ctx, "demo"); err != nil {
		log.Fatal(err)
	}
	st, err := rt.State(ctx, "demo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, st.Pid)
}

// NewPlan shows what hull will ask of the kernel, without running
// anything: the plan that "hull create --explain" prints.
func ExampleNewPlan() {
	spec := runtime.DefaultSpec(false)
	plan, err := runtime.NewPlan(spec, runtime.PlanOptions{ID: "demo", Bundle: "/bundle"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan.Clone)
	for _, s := range plan.Steps {
		if line := s.String(); strings.HasPrefix(line, "chdir(\"/bundle/rootfs\"); pivot_root") || strings.HasPrefix(line, "sethostname") {
			fmt.Println(line)
		}
	}
	// Output:
	// CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET
	// chdir("/bundle/rootfs"); pivot_root(".", "."); mount(NULL, ".", NULL, MS_SLAVE|MS_REC, NULL); umount2(".", MNT_DETACH); chdir("/")
	// sethostname("hull")
}

// Validate reports every problem of a spec at once, each with its field.
func ExampleValidate() {
	spec := runtime.DefaultSpec(false)
	spec.Process.Cwd = "relative"
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, runtimeNamespace("bogus"))
	fmt.Println(runtime.Validate(spec))
	// Output:
	// process.cwd: "relative" is not an absolute path
	// linux.namespaces[5].type: unknown namespace "bogus"
}

func runtimeNamespace(t string) specs.LinuxNamespace {
	return specs.LinuxNamespace{Type: specs.LinuxNamespaceType(t)}
}
