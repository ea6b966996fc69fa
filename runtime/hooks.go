package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHook runs one OCI hook: path with args and env, the container's state
// as JSON on stdin, killed after its timeout. A hook that fails or times
// out fails the lifecycle step that ran it (except poststop, whose
// errors the caller only reports).
func runHook(kind string, h specs.Hook, st *specs.State) error {
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s hook %s: timed out after %ds", kind, h.Path, *h.Timeout)
	}
	if err != nil {
		return fmt.Errorf("%s hook %s: %w, output: %q", kind, h.Path, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// runHooks runs every hook of a kind in order, stopping at the first
// failure.
func runHooks(hooks *specs.Hooks, kind string, st *specs.State) error {
	for _, h := range hookList(hooks, kind) {
		if err := runHook(kind, h, st); err != nil {
			return err
		}
	}
	return nil
}
