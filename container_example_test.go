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
