package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hullrt/hull/image/bundle"
	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/rootfs"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// imageOptions locate the image store and the registry settings.
type imageOptions struct {
	store      string
	registries string
}

func (o *imageOptions) open() (*store.Store, error) { return store.Open(o.store) }

func newImageCommand(g *cli.Options) *cobra.Command {
	o := &imageOptions{}
	cmd := &cobra.Command{
		Use:   "image",
		Short: cli.EngineFamily("image").Short,
		Long: `image pulls OCI and Docker images from registries into hull's store and
turns them into root filesystems and runtime bundles.

The store (--store: /var/lib/hull for root, ~/.local/share/hull for other
users) keeps each layer once, unpacked into its own directory and named by
its chain ID, so images that share layers share them on disk and a layer
is never downloaded twice.

  hull image pull busybox            docker.io/library/busybox:latest
  hull image ls                      images in the store
  hull image inspect busybox         record, config and layers as JSON
  hull image tag busybox my/bb:v1    another name for the same image
  hull image rm my/bb:v1             remove a name (the image with its last)
  hull image prune                   free layers and blobs no image uses
  hull image unpack busybox ./bb     write an OCI bundle: config.json + rootfs/
  hull image mount busybox /mnt      overlay-mount the layers (--explain: how)

Registry settings (mirrors, plain HTTP, extra CAs) are read from
--registries; credentials from ~/.docker/config.json or containers'
auth.json, as docker and podman write them.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.store, "store", defaultImageStore(), "image store directory")
	pf.StringVar(&o.registries, "registries", pull.DefaultConfigPath, "registry settings (JSON)")
	cmd.AddCommand(
		newImagePullCommand(o),
		newImageLsCommand(o),
		newImageInspectCommand(o),
		newImageTagCommand(o),
		newImageRmCommand(o, g),
		newImagePruneCommand(o),
		newImageUnpackCommand(o),
		newImageMountCommand(o),
		newImageUmountCommand(),
	)
	return cmd
}

// defaultImageStore is /var/lib/hull for root and, as podman does for
// rootless users, $XDG_DATA_HOME/hull (~/.local/share/hull) otherwise.
func defaultImageStore() string {
	if os.Geteuid() == 0 {
		return store.DefaultRoot
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hull")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local/share/hull")
	}
	return store.DefaultRoot
}

// interruptible cancels the context on Ctrl-C, so that a pull stops
// cleanly: the store keeps only complete layers.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt)
}

func newImagePullCommand(o *imageOptions) *cobra.Command {
	var platform, format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [--platform os/arch[/variant]] [--format text|json] REF",
		Short: "pull an image from a registry into the store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			cfg, err := pull.LoadConfig(o.registries)
			if err != nil {
				return err
			}
			opts := []pull.Option{pull.WithConfig(cfg)}
			if platform != "" {
				opts = append(opts, pull.WithPlatform(platform))
			}
			if os.Geteuid() != 0 {
				opts = append(opts, pull.WithUnpackOptions(layer.Rootless()))
			}
			out := cmd.OutOrStdout()
			var pr *progressPrinter
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				opts = append(opts, pull.WithProgress(func(e pull.Event) { enc.Encode(e) }))
			case "text", "":
				if !quiet {
					pr = newProgressPrinter(out)
					opts = append(opts, pull.WithProgress(pr.event))
				}
			default:
				return fmt.Errorf("--format %q: want text or json", format)
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			im, err := pull.Pull(ctx, st, args[0], opts...)
			if pr != nil {
				pr.finish()
			}
			if err != nil {
				return err
			}
			if format != "json" {
				fmt.Fprintf(out, "%s\n", im.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "platform to pull from a multi-platform image (default: this host's)")
	f.StringVar(&format, "format", "text", "progress output: text or json (one event per line)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the digest")
	return cmd
}

func newImageLsCommand(o *imageOptions) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "ls [--format table|json] [-q]",
		Short: "list the images in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			ims, err := st.Images()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, im := range ims {
					fmt.Fprintln(out, im.Digest)
				}
				return nil
			}
			switch format {
			case "json":
				type entry struct {
					store.Image
					Names []string `json:"names"`
				}
				list := []entry{}
				for _, im := range ims {
					list = append(list, entry{im, im.Names})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			case "table", "":
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDIGEST\tPLATFORM\tLAYERS\tSIZE\tPULLED")
				for _, im := range ims {
					names := im.Names
					if len(names) == 0 {
						names = []string{"<none>"}
					}
					for _, n := range names {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", familiarName(n), shortDigest(im.Digest), im.Platform,
							len(im.Layers), humanBytes(im.Size()), im.Created.Local().Format(time.DateTime))
					}
				}
				return tw.Flush()
			}
			return fmt.Errorf("--format %q: want table or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only digests")
	return cmd
}

func newImageInspectCommand(o *imageOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect REF",
		Short: "show an image's record, config and layers as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			im, err := st.Lookup(args[0])
			if err != nil {
				return err
			}
			cfg, err := st.Blob(im.Config.Digest)
			if err != nil {
				return err
			}
			type layerView struct {
				store.Layer
				Dir          string `json:"dir"`
				UnpackedSize int64  `json:"unpackedSize"`
			}
			view := struct {
				store.Image
				Names  []string        `json:"names"`
				Size   int64           `json:"size"`
				Layers []layerView     `json:"layers"`
				Config json.RawMessage `json:"imageConfig"`
			}{Image: im, Names: im.Names, Size: im.Size(), Config: cfg}
			for _, l := range im.Layers {
				dir, _ := st.LayerDir(l.ChainID)
				info, _ := st.Layer(l.ChainID)
				view.Layers = append(view.Layers, layerView{l, dir, info.Size})
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(view)
		},
	}
}

func newImageTagCommand(o *imageOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			return st.Tag(cmd.Context(), args[0], args[1])
		},
	}
}

func newImageRmCommand(o *imageOptions, g *cli.Options) *cobra.Command {
	var prune, force bool
	cmd := &cobra.Command{
		Use:   "rm [-f] [--prune] REF...",
		Short: "remove image names (and an image with its last)",
		Long: `rm removes names; given a digest, or an image's last name, it removes the
image record too. Its layers stay on disk, shared with other images, until
"hull image prune" (or rm --prune) frees what no image uses.

An image that containers were made from is not removed while they exist
(rm says which); with -f they are removed first, running or not.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			remove := func(ref string) (store.Image, error) { return st.Remove(cmd.Context(), ref) }
			// The containers are kept beside the images, when there
			// are any.
			if _, err := os.Stat(filepath.Join(o.store, "containers")); err == nil {
				co := &containerOptions{g: g, data: o.store, registries: o.registries,
					netRunDir: netns.DefaultRunDir, netState: netns.DefaultStateDir, quietPull: true}
				e, err := co.engine()
				if err != nil {
					return err
				}
				remove = func(ref string) (store.Image, error) { return e.RemoveImage(cmd.Context(), ref, force) }
			}
			var errs []error
			for _, ref := range args {
				im, err := remove(ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "untagged %s (%s)\n", ref, shortDigest(im.Digest))
			}
			if prune && len(errs) == 0 {
				return runPrune(cmd, st)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&prune, "prune", false, "then free layers and blobs no image uses")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the containers made from the image first")
	return cmd
}

func newImagePruneCommand(o *imageOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "remove layers and blobs no image uses, and leftovers of interrupted pulls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			return runPrune(cmd, st)
		},
	}
}

func runPrune(cmd *cobra.Command, st *store.Store) error {
	rep, err := st.Prune(cmd.Context())
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "removed %d layers, %d blobs, %d leftovers\n", len(rep.Layers), len(rep.Blobs), rep.Temp)
	return nil
}

func newImageUnpackCommand(o *imageOptions) *cobra.Command {
	var rootless bool
	cmd := &cobra.Command{
		Use:   "unpack [--rootless] REF DIR",
		Short: "write an OCI runtime bundle (config.json and rootfs/) of an image",
		Long: `unpack writes DIR/rootfs, the image's layers merged (a copy, as
"umoci unpack" makes), and DIR/config.json: "runc spec"'s defaults with the
image's command, environment, working directory and user. The image must
be in the store ("hull image pull" it first). "hull run" runs the result.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			im, err := st.Lookup(args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w (pull it first: hull image pull %s)", err, args[0])
			}
			if err != nil {
				return err
			}
			var opts []layer.Option
			if rootless || os.Geteuid() != 0 {
				rootless = true
				opts = append(opts, layer.Rootless())
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			return bundle.Write(ctx, st, im, args[1], runtime.DefaultSpec(rootless), opts...)
		},
	}
	cmd.Flags().BoolVar(&rootless, "rootless", false, "unpack for an unprivileged user: files owned by the caller, a rootless config.json")
	return cmd
}

// familiarName spells Docker Hub names as docker does: "busybox:latest"
// for index.docker.io/library/busybox:latest.
func familiarName(n string) string {
	if rest, ok := strings.CutPrefix(n, "index.docker.io/"); ok {
		return strings.TrimPrefix(rest, "library/")
	}
	return n
}

func newImageMountCommand(o *imageOptions) *cobra.Command {
	var upper, work string
	var explain bool
	cmd := &cobra.Command{
		Use:   "mount [--upper DIR --work DIR] [--explain] REF TARGET",
		Short: "mount an image's layers with overlayfs",
		Long: `mount stacks the image's layer directories with overlayfs at TARGET:
read-only, or writable with --upper (where writes go) and --work
(overlayfs's scratch directory, on the same filesystem as --upper).
--explain prints the mount(8) command instead of mounting. Undo with
"hull image umount TARGET"; do not remove or prune the image meanwhile.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open()
			if err != nil {
				return err
			}
			// The shared lock keeps a concurrent prune from deleting
			// the layers between the lookup and the mount.
			release, err := st.Hold(cmd.Context())
			if err != nil {
				return err
			}
			defer release()
			im, err := st.Lookup(args[0])
			if err != nil {
				return err
			}
			dirs, err := st.LayerDirs(im)
			if err != nil {
				return err
			}
			m, err := rootfs.Overlay(dirs, upper, work)
			if err != nil {
				return err
			}
			if explain {
				fmt.Fprintln(cmd.OutOrStdout(), strings.Replace(m.String(), "TARGET", args[1], 1))
				return nil
			}
			return m.Mount(args[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&upper, "upper", "", "directory receiving writes (default: mount read-only)")
	f.StringVar(&work, "work", "", "overlayfs work directory, on the filesystem of --upper")
	f.BoolVar(&explain, "explain", false, "print the mount command instead of mounting")
	return cmd
}

func newImageUmountCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "umount TARGET",
		Short: "unmount what hull image mount mounted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rootfs.Unmount(args[0])
		},
	}
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressPrinter shows a pull: on a terminal one live line per layer
// (bar, bytes, rate, time left), redrawn in place; otherwise plain lines,
// one per change of state.
type progressPrinter struct {
	out    io.Writer
	tty    bool
	now    func() time.Time
	order  []string
	layers map[string]*layerProgress
	drawn  int // lines drawn last time (tty)
	last   time.Time
}

type layerProgress struct {
	state          string
	current, total int64
	// start is when the first byte arrived (the first downloading or
	// resumed event), so that rate and time left leave out the wait for
	// a download slot; from is how many bytes the layer had then (a
	// resumed download starts with some).
	start time.Time
	from  int64
}

func newProgressPrinter(out io.Writer) *progressPrinter {
	p := &progressPrinter{out: out, now: time.Now, layers: map[string]*layerProgress{}}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progressPrinter) event(e pull.Event) {
	if e.Kind == pull.Resolved || e.Kind == pull.Done {
		if !p.tty {
			fmt.Fprintf(p.out, "%s: %s %s\n", e.Ref, e.Kind, e.Digest)
		}
		return
	}
	l, ok := p.layers[e.Digest]
	if !ok {
		l = &layerProgress{}
		p.layers[e.Digest] = l
		p.order = append(p.order, e.Digest)
	}
	changed := l.state != string(e.Kind)
	l.state, l.current, l.total = string(e.Kind), e.Current, e.Total
	if (e.Kind == pull.Downloading || e.Kind == pull.Resumed) && l.start.IsZero() {
		l.start, l.from = e.Time, e.Current
	}
	if !p.tty {
		switch e.Kind {
		case pull.Exists:
			fmt.Fprintf(p.out, "%s: already exists\n", shortDigest(e.Digest))
		case pull.Resumed:
			fmt.Fprintf(p.out, "%s: connection lost at %s (%s), resuming\n", shortDigest(e.Digest), humanBytes(e.Current), e.Err)
		case pull.Unpacked:
			if l.start.IsZero() { // no byte event: a tiny layer
				l.start = e.Time
			}
			fmt.Fprintf(p.out, "%s: pulled %s in %s\n", shortDigest(e.Digest), humanBytes(e.Total), e.Time.Sub(l.start).Round(time.Millisecond))
		case pull.Downloading:
			if changed {
				fmt.Fprintf(p.out, "%s: downloading %s\n", shortDigest(e.Digest), humanBytes(e.Total))
			}
		}
		return
	}
	if changed || p.now().Sub(p.last) > 100*time.Millisecond {
		p.draw()
	}
}

func (p *progressPrinter) draw() {
	p.last = p.now()
	if p.drawn > 0 {
		fmt.Fprintf(p.out, "\x1b[%dA", p.drawn) // back to the first line
	}
	for _, d := range p.order {
		l := p.layers[d]
		line := shortDigest(d) + ": "
		switch l.state {
		case string(pull.Exists):
			line += "already exists"
		case string(pull.Waiting):
			line += "waiting"
		case string(pull.Unpacked):
			line += "pull complete " + humanBytes(l.total)
		default:
			const width = 30
			frac := 0.0
			if l.total > 0 {
				frac = float64(l.current) / float64(l.total)
			}
			bar := strings.Repeat("=", int(frac*width))
			if len(bar) < width {
				bar += ">" + strings.Repeat(" ", width-len(bar)-1)
			}
			line += fmt.Sprintf("[%s] %s/%s", bar, humanBytes(l.current), humanBytes(l.total))
			if el := p.last.Sub(l.start).Seconds(); !l.start.IsZero() && el > 0.2 && l.current > l.from {
				rate := float64(l.current-l.from) / el
				eta := time.Duration(float64(l.total-l.current)/rate) * time.Second
				line += fmt.Sprintf("  %s/s  %s left", humanBytes(int64(rate)), eta.Round(time.Second))
			}
			if l.state == string(pull.Resumed) {
				line += "  (resuming)"
			}
		}
		fmt.Fprintf(p.out, "\x1b[2K%s\n", line)
	}
	p.drawn = len(p.order)
}

func (p *progressPrinter) finish() {
	if p.tty && len(p.order) > 0 {
		p.draw()
	}
}
