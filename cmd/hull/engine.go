package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
)

// engineCommands are the image-level families (check, container, image,
// network), which live in hull-engine (cmd/hull-engine): hull does not
// link the registry client, TLS, HTTP, nftables and the rest of what
// they need, because a Go program's start-up grows with what it links
// and hull's runtime verbs are run several times for every container
// podman or containerd starts. Each family here only executes
// hull-engine with hull's own arguments; hull-engine parses them, help
// included.
func engineCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, f := range cli.EngineFamilies {
		cmd := &cobra.Command{
			Use:                f.Name,
			Aliases:            f.Aliases,
			Short:              f.Short,
			DisableFlagParsing: true,
			RunE:               func(*cobra.Command, []string) error { return cli.ExecEngine(os.Args[1:]) },
		}
		// "hull help image" is hull-engine's "image --help". (A help
		// function returns no error: a failed exec ends hull here.)
		cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
			err := cli.ExecEngine([]string{f.Name, "--help"})
			fmt.Fprintf(c.ErrOrStderr(), "hull: %v\n", err)
			os.Exit(1)
		})
		cmds = append(cmds, cmd)
	}
	return cmds
}
