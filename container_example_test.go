package hull_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/runtime"
)

// A program that embeds the engine is re-executed as each container's
// init and as each container's monitor, so its main starts by handing over
// when it is one of them. Then it runs containers as "docker run -d" does:
// the container outlives the program, and any later Engine (in this
// program or another) finds it on disk.
func ExampleEngine() {
	if runtime.IsInit() {
		runtime.Init() // never returns
	}
	if hull.IsMonitor() {
		hull.Monitor() // never returns
	}
	ctx := context.Background()
	e, err := hull.NewEngine(hull.WithDataDir("/var/lib/myprogram"), hull.WithRunDir("/run/myprogram"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := e.Run(ctx, hull.ContainerConfig{
		Image:   "busybox",
		Name:    "hello",
		Cmd:     []string{"sh", "-c", "echo hello from $(hostname); sleep 600"},
		Network: "none",
	}, hull.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	code, err := e.Exec(ctx, c.Name, hull.ExecConfig{Cmd: []string{"cat", "/etc/hostname"}, Stdout: os.Stdout}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exec exited", code)
	if err := e.Stop(ctx, c.Name, 5*time.Second); err != nil {
		log.Fatal(err)
	}
	if err := e.Logs(ctx, c.Name, os.Stdout, hull.LogsOptions{}); err != nil {
		log.Fatal(err)
	}
	if err := e.Remove(ctx, c.Name, false); err != nil {
		log.Fatal(err)
	}
}

// A seccomp profile in docker's format: the rule with includes applies
// only to containers that have CAP_SYS_ADMIN. The profile is checked (it
// compiles) when read, and resolved for each container when it is made.
func ExampleParseSeccompProfile() {
	p, err := hull.ParseSeccompProfile([]byte(`{
		"defaultAction": "SCMP_ACT_ERRNO",
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
		"syscalls": [
			{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
		]
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.DefaultAction, len(p.Syscalls), "rules")
	_, err = hull.ParseSeccompProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}`))
	fmt.Println(err)
	// Output:
	// SCMP_ACT_ERRNO 2 rules
	// seccomp profile: json: unknown field "sycalls"
}

// Volumes lists named and anonymous volumes with the containers that use
// them; PruneVolumes removes the unused ones.
func ExampleEngine_Volumes() {
	ctx := context.Background()
	e, err := hull.NewEngine()
	if err != nil {
		log.Fatal(err)
	}
	vols, err := e.Volumes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range vols {
		fmt.Println(v.Name, v.Dir, v.UsedBy)
	}
	removed, err := e.PruneVolumes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pruned", removed)
}
