package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/runtime"
)

func newSpecCommand(g *cli.Options) *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec",
		Short: "create a new specification file (config.json)",
		Long: `The spec command writes runc's default config.json into the bundle: sh
from a read-only rootfs/ with a terminal. Put a root filesystem (busybox
will do) in rootfs/ and run it with "hull run <id>".

With --rootless the config runs as is for the unprivileged user who
writes it, in a user namespace whose root is that user. When
/etc/subuid and /etc/subgid give the user ranges of subordinate ids
(by name or by uid) and newuidmap and newgidmap (Debian package uidmap)
are installed, container ids 1, 2, ... map to those ranges, as podman
maps them, so that files may belong to other users in the container;
otherwise only root is mapped, as runc writes it.`,
		Args: cli.ExactArgs(0, "none"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			file := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(file); err == nil {
				//lint:ignore ST1005 runc's very message, which scripts match
				return errors.New("File config.json exists. Remove it first")
			}
			spec := runtime.DefaultSpec(false)
			if rootless {
				spec = runtime.RootlessSpec()
			}
			b, err := json.MarshalIndent(spec, "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(file, b, 0o666)
		}),
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", "", "path to the root of the bundle directory")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "generate a configuration for a rootless container (with the user's subordinate ids when it has some)")
	return cmd
}

func newFeaturesCommand(g *cli.Options) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "show the enabled features (the runtime spec's features.json)",
		Args:  cli.ExactArgs(0, "none"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			if err := enc.Encode(runtime.Features()); err != nil {
				return fmt.Errorf("features: %w", err)
			}
			return nil
		}),
	}
}
