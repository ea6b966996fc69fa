package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/netns"
	"github.com/spf13/cobra"
)

// networkOptions locate hull's network state; the defaults are those of
// the runtime: state under --root, namespaces in /run/netns, the host's
// own network namespace.
type networkOptions struct {
	runDir    string
	hostNetns string
}

func (o *networkOptions) manager(g *cli.Options) (*netns.Manager, error) {
	return netns.New(
		netns.WithStateDir(filepath.Join(g.Root, "network")),
		netns.WithRunDir(o.runDir),
		netns.WithHostNetns(o.hostNetns),
	)
}

func newNetworkCommand(g *cli.Options) *cobra.Command {
	o := &networkOptions{}
	cmd := &cobra.Command{
		Use:   "network",
		Short: cli.EngineFamily("network").Short,
		Long: `network shows what hull built for container networking and removes what
a crashed run left behind.

For each container on a bridge network hull made, in the host's network
namespace: a bridge (hull0 by default, 10.88.0.0/16), a veth pair whose
host end hv<hash> sits on the bridge and whose other end is eth0 in the
container's namespace (persisted as /run/netns/hull-<id>), an address
leased from the network's pool, and, for published ports, a chain
ctr-<id> of DNAT rules in the nftables table "inet hull".

  hull network ls            networks and the containers attached to them
  hull network inspect ID    one attachment (or network) as JSON, with the
                             netlink and nftables steps that built it
  hull network prune         remove half-made attachments, orphaned links,
                             chains, leases and namespaces, and networks no
                             container uses
  hull network plan ID       the steps hull would take to attach container
                             ID, without taking them`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.runDir, "netns-dir", netns.DefaultRunDir, "directory of persisted network namespaces")
	pf.StringVar(&o.hostNetns, "host-netns", "", "network namespace `PATH` playing the host (default: hull's own)")
	pf.MarkHidden("host-netns")
	cmd.AddCommand(newNetworkLsCommand(g, o), newNetworkInspectCommand(g, o), newNetworkPruneCommand(g, o), newNetworkPlanCommand(g, o))
	return cmd
}

func newNetworkLsCommand(g *cli.Options, o *networkOptions) *cobra.Command {
	var format string
	var all bool
	cmd := &cobra.Command{
		Use:   "ls [--format table|json] [--all]",
		Short: "list networks and attached containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := o.manager(g)
			if err != nil {
				return err
			}
			nets, err := m.Networks()
			if err != nil {
				return err
			}
			atts, err := m.Attachments()
			if err != nil {
				return err
			}
			var left *netns.Leftovers
			if all {
				lo, err := m.Scan()
				if err != nil {
					return err
				}
				left = &lo
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Networks    []netns.Network     `json:"networks"`
					Attachments []*netns.Attachment `json:"attachments"`
					Objects     *netns.Leftovers    `json:"objects,omitempty"`
				}{nets, atts, left})
			case "table", "":
				writeNetworkTable(out, nets, atts, left)
				return nil
			}
			return fmt.Errorf("--format %q: want table or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVar(&all, "all", false, "also list every kernel object and file hull owns (links, chains, leases, namespaces)")
	return cmd
}

func writeNetworkTable(out io.Writer, nets []netns.Network, atts []*netns.Attachment, left *netns.Leftovers) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tBRIDGE\tSUBNET\tIPV6 SUBNET\tCONTAINERS")
	for _, n := range nets {
		count := 0
		for _, a := range atts {
			if a.Network != nil && a.Network.Name == n.Name {
				count++
			}
		}
		v6 := "-"
		if n.IPv6Subnet.IsValid() {
			v6 = n.IPv6Subnet.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", n.Name, n.Bridge, n.Subnet, v6, count)
	}
	tw.Flush()
	if len(atts) > 0 {
		fmt.Fprintln(out)
		fmt.Fprintln(tw, "CONTAINER\tMODE\tSTATE\tADDRESSES\tPORTS\tNETNS")
		for _, a := range atts {
			var addrs, ports []string
			for _, p := range a.Addrs {
				addrs = append(addrs, p.String())
			}
			for _, p := range a.Ports {
				ports = append(ports, p.String())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Mode, a.State, dash(strings.Join(addrs, ",")),
				dash(strings.Join(ports, ",")), dash(a.NetnsPath))
		}
		tw.Flush()
	}
	if left != nil {
		fmt.Fprintln(out)
		for _, row := range []struct {
			what string
			list []string
		}{{"links", left.Links}, {"nftables chains", left.Chains}, {"leases", left.Leases}, {"namespaces", left.Netns}, {"mounts", left.Mounts}} {
			fmt.Fprintf(out, "%s: %s\n", row.what, dash(strings.Join(row.list, " ")))
		}
		fmt.Fprintf(out, "nftables table inet %s: %v\n", netns.TableName, left.Table)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newNetworkInspectCommand(g *cli.Options, o *networkOptions) *cobra.Command {
	var plan bool
	cmd := &cobra.Command{
		Use:   "inspect [--plan] ID|NETWORK",
		Short: "print a container's network attachment, or a network, as JSON",
		Long: `inspect prints what hull recorded about a container's network as JSON.

With --plan it prints only the steps that built it, one per line, in
netlink, nftables and syscall terms: a lab sheet of what the kernel was
asked to do.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := o.manager(g)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			a, err := m.Inspect(args[0])
			if err == nil && plan {
				for i, step := range a.Plan {
					fmt.Fprintf(cmd.OutOrStdout(), "%2d. %s\n", i+1, step)
				}
				return nil
			}
			if err == nil {
				return enc.Encode(a)
			}
			if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			nets, nerr := m.Networks()
			if nerr != nil {
				return nerr
			}
			for _, n := range nets {
				if n.Name == args[0] {
					return enc.Encode(n)
				}
			}
			return fmt.Errorf("no container or network named %q", args[0])
		},
	}
	cmd.Flags().BoolVar(&plan, "plan", false, "print the steps that built the attachment, one per line")
	return cmd
}

func newNetworkPruneCommand(g *cli.Options, o *networkOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "remove what crashed setups left and networks no container uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := o.manager(g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			removed, err := m.Prune(ctx)
			for _, r := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", r)
			}
			return err
		},
	}
}

func newNetworkPlanCommand(g *cli.Options, o *networkOptions) *cobra.Command {
	var publish []string
	var mode string
	var ipv6 bool
	cmd := &cobra.Command{
		Use:   "plan [-p [hostIP:]hostPort:containerPort[/proto]]... [--mode MODE] [--ipv6] ID",
		Short: "print the steps that would give container ID its network, without taking them",
		Long: `plan prints, one per line, what hull would ask of the kernel to attach a
container: namespace, bridge, sysctls, nftables table and rules, veth,
addresses, routes, published ports, /etc files. Nothing is changed; the
addresses are the ones the network's pool would hand out now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := o.manager(g)
			if err != nil {
				return err
			}
			c := netns.Config{ID: args[0], Mode: mode, Network: netns.Network{IPv6: ipv6}}
			for _, spec := range publish {
				ports, err := netns.ParsePort(spec)
				if err != nil {
					return err
				}
				c.Ports = append(c.Ports, ports...)
			}
			steps, err := m.Explain(c)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), netns.FormatPlan(steps))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&publish, "publish", "p", nil, "publish a container's port to the host (repeatable)")
	f.StringVar(&mode, "mode", "bridge", "network mode: bridge, none, pasta or slirp4netns")
	f.BoolVar(&ipv6, "ipv6", false, "give the container an IPv6 address too (a ULA /64)")
	return cmd
}
