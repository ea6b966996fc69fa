package pull

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/layer"
)

// EventKind says what an Event reports.
type EventKind string

const (
	Resolved    EventKind = "resolved"    // Ref resolved to the manifest Digest
	Exists      EventKind = "exists"      // layer Digest is already stored
	Waiting     EventKind = "waiting"     // layer Digest is queued
	Downloading EventKind = "downloading" // Current of Total bytes of layer Digest received
	Resumed     EventKind = "resumed"     // the download of Digest resumes at Current after Err
	Unpacked    EventKind = "unpacked"    // layer Digest is verified and stored
	Done        EventKind = "done"        // the image Digest is stored
)

// Event reports pull progress. Events come from several goroutines, one
// per layer download, but never concurrently: the callback needs no lock.
type Event struct {
	Kind    EventKind `json:"kind"`
	Ref     string    `json:"ref"`
	Digest  string    `json:"digest,omitempty"`
	Current int64     `json:"current,omitempty"`
	Total   int64     `json:"total,omitempty"`
	Err     string    `json:"error,omitempty"`
	Time    time.Time `json:"time"`
}

// Option changes how Pull behaves.
type Option func(*options) error

type options struct {
	platform  v1.Platform
	config    *Config
	keychain  authn.Keychain
	transport http.RoundTripper
	jobs      int
	retries   int
	backoff   time.Duration
	progress  func(Event)
	logger    *slog.Logger
	unpack    []layer.Option
}

// HostPlatform is the platform of this machine, as an image index names it.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	switch goruntime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

// WithPlatform chooses the image of a manifest list or OCI index, as
// "os/arch[/variant]". Default: the host's, from HostPlatform.
func WithPlatform(platform string) Option {
	return func(o *options) error {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			return fmt.Errorf("platform %q: %w", platform, err)
		}
		if p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("platform %q: want os/arch[/variant]", platform)
		}
		o.platform = *p
		return nil
	}
}

// WithConfig sets per-registry settings. Default: none.
func WithConfig(c *Config) Option {
	return func(o *options) error { o.config = c; return nil }
}

// WithKeychain sets where credentials come from. Default:
// authn.DefaultKeychain, which reads $DOCKER_CONFIG/config.json or
// ~/.docker/config.json (with their credential helpers), and containers'
// auth.json ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error { o.keychain = k; return nil }
}

// WithTransport sets the base HTTP transport. Default:
// http.DefaultTransport.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error { o.transport = t; return nil }
}

// WithJobs sets how many layers download at once. Default: 3.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("jobs must be at least 1")
		}
		o.jobs = n
		return nil
	}
}

// WithRetries sets how often a blob download is retried (resumed) after a
// transient error without progress, and the first pause between tries,
// which doubles each time. Default: 5 tries from 500ms.
func WithRetries(n int, backoff time.Duration) Option {
	return func(o *options) error { o.retries, o.backoff = n, backoff; return nil }
}

// WithProgress sets a callback for progress events. Default: none.
func WithProgress(f func(Event)) Option {
	return func(o *options) error { o.progress = f; return nil }
}

// WithLogger sets a logger for debugging. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithUnpackOptions passes options to the layer unpacker, e.g.
// layer.WithoutOwnership() for a rootless store. Default: none.
func WithUnpackOptions(opts ...layer.Option) Option {
	return func(o *options) error { o.unpack = append(o.unpack, opts...); return nil }
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		platform:  HostPlatform(),
		keychain:  authn.DefaultKeychain,
		transport: http.DefaultTransport,
		jobs:      3,
		retries:   5,
		backoff:   500 * time.Millisecond,
		logger:    slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}
