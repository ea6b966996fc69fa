package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hullrt/hull/internal/cli"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func newUpdateCommand(g *cli.Options) *cobra.Command {
	var resources string
	var (
		memory, memSwap, memReservation, cpuQuota, cpuRtRuntime, pidsLimit int64
		cpuShares, cpuPeriod, cpuRtPeriod                                  uint64
		blkioWeight                                                        uint16
		cpusetCpus, cpusetMems                                             string
	)
	cmd := &cobra.Command{
		Use:   "update [flags] <container-id>",
		Short: "update a container's resource constraints",
		Long: `The update command changes a running container's cgroup limits, from a
linux.resources JSON document (--resources FILE, or - for stdin) or from
the single-value flags, which override the document's fields.`,
		Args: cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			r := &specs.LinuxResources{}
			if resources != "" {
				var in io.Reader = os.Stdin
				if resources != "-" {
					f, err := os.Open(resources)
					if err != nil {
						return err
					}
					defer f.Close()
					in = f
				}
				if err := json.NewDecoder(in).Decode(r); err != nil {
					return fmt.Errorf("decode resources: %w", err)
				}
			}
			fl := cmd.Flags()
			mem := func() *specs.LinuxMemory {
				if r.Memory == nil {
					r.Memory = &specs.LinuxMemory{}
				}
				return r.Memory
			}
			cpu := func() *specs.LinuxCPU {
				if r.CPU == nil {
					r.CPU = &specs.LinuxCPU{}
				}
				return r.CPU
			}
			if fl.Changed("memory") {
				mem().Limit = &memory
			}
			if fl.Changed("memory-swap") {
				mem().Swap = &memSwap
			}
			if fl.Changed("memory-reservation") {
				mem().Reservation = &memReservation
			}
			if fl.Changed("cpu-shares") {
				cpu().Shares = &cpuShares
			}
			if fl.Changed("cpu-quota") {
				cpu().Quota = &cpuQuota
			}
			if fl.Changed("cpu-period") {
				cpu().Period = &cpuPeriod
			}
			if fl.Changed("cpu-rt-period") {
				cpu().RealtimePeriod = &cpuRtPeriod
			}
			if fl.Changed("cpu-rt-runtime") {
				cpu().RealtimeRuntime = &cpuRtRuntime
			}
			if fl.Changed("cpuset-cpus") {
				cpu().Cpus = cpusetCpus
			}
			if fl.Changed("cpuset-mems") {
				cpu().Mems = cpusetMems
			}
			if fl.Changed("pids-limit") {
				r.Pids = &specs.LinuxPids{Limit: &pidsLimit}
			}
			if fl.Changed("blkio-weight") {
				r.BlockIO = &specs.LinuxBlockIO{Weight: &blkioWeight}
			}
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			return rt.Update(ctx, args[0], r)
		}),
	}
	fl := cmd.Flags()
	fl.StringVarP(&resources, "resources", "r", "", "path to a file containing the resources to update, or - to read from stdin")
	fl.Int64Var(&memory, "memory", 0, "memory limit (in bytes)")
	fl.Int64Var(&memSwap, "memory-swap", 0, "total memory usage (memory + swap); set -1 to enable unlimited swap")
	fl.Int64Var(&memReservation, "memory-reservation", 0, "memory reservation or soft limit (in bytes)")
	fl.Uint64Var(&cpuShares, "cpu-shares", 0, "CPU shares (relative weight vs. other containers)")
	fl.Int64Var(&cpuQuota, "cpu-quota", 0, "CPU CFS hardcap limit (in usecs), allowed cpu time in a given period")
	fl.Uint64Var(&cpuPeriod, "cpu-period", 0, "CPU CFS period to be used for hardcapping (in usecs)")
	fl.Uint64Var(&cpuRtPeriod, "cpu-rt-period", 0, "CPU realtime period to be used for hardcapping (in usecs)")
	fl.Int64Var(&cpuRtRuntime, "cpu-rt-runtime", 0, "CPU realtime hardcap limit (in usecs)")
	fl.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPU(s) to use")
	fl.StringVar(&cpusetMems, "cpuset-mems", "", "memory node(s) to use")
	fl.Int64Var(&pidsLimit, "pids-limit", 0, "maximum number of pids allowed in the container")
	fl.Uint16Var(&blkioWeight, "blkio-weight", 0, "specifies per cgroup weight, range is from 10 to 1000")
	return cmd
}

func newEventsCommand(g *cli.Options) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [flags] <container-id>",
		Short: "display container events such as OOM notifications and cpu, memory and IO usage statistics",
		Args:  cli.ExactArgs(1, "container id"),
		RunE: g.RunE(func(ctx context.Context, cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("duration interval must be greater than 0")
			}
			rt, err := g.OpenRuntime()
			if err != nil {
				return err
			}
			id := args[0]
			enc := json.NewEncoder(os.Stdout)
			emit := func() error {
				s, err := rt.Stats(ctx, id)
				if err != nil {
					return err
				}
				return enc.Encode(map[string]any{"type": "stats", "id": id, "data": s})
			}
			if stats {
				return emit()
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			oom, err := rt.OOM(ctx, id)
			if err != nil {
				return err
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case _, ok := <-oom:
					if !ok {
						return nil
					}
					_ = enc.Encode(map[string]any{"type": "oom", "id": id})
				case <-tick.C:
					if err := emit(); err != nil {
						return err
					}
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "display the container's stats then exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "set the stats collection interval")
	_ = strconv.Itoa
	return cmd
}
