// Command hull-engine carries hull's image-level families: check,
// container, image and network. hull executes it, with hull's own
// arguments, for those verbs; it is installed next to hull and is not
// meant to be run by hand, though it works so.
//
// It is a program of its own so that hull, which podman, containerd and
// CRI-O run several times for every container, does not link what only
// these families need (the registry client, TLS and HTTP, nftables,
// compression): a Go program initialises every package it links before
// main, and its start-up grows with its size (package internal/cli says
// more).
package main

import (
	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

func newRootCommand() *cobra.Command {
	g := &cli.Options{}
	root := &cobra.Command{
		Use:           "hull",
		Short:         "hull's image-level families, executed by hull",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newCheckCommand(g),
		newContainerCommand(g),
		newImageCommand(g),
		newNetworkCommand(g),
	)
	return root
}

func main() {
	cli.Exit(newRootCommand().Execute())
}
