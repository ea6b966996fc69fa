package pull

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
)

// DefaultConfigPath is where hull reads registry settings from.
const DefaultConfigPath = "/etc/hull/registries.json"

// Config holds per-registry settings, keyed by registry host as written in
// references ("docker.io", "127.0.0.1:5000"). Example:
//
//	{
//	  "registries": {
//	    "docker.io": {"mirrors": ["mirror.example.com"]},
//	    "registry.lab:5000": {"plainHTTP": true},
//	    "10.0.0.5": {"caFile": "/etc/hull/lab-ca.pem"}
//	  }
//	}
type Config struct {
	Registries map[string]Registry `json:"registries"`
}

// Registry is how to reach one registry.
type Registry struct {
	// PlainHTTP talks HTTP without TLS. go-containerregistry already does
	// so for loopback and RFC 1918 addresses when HTTPS fails.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Insecure accepts any TLS certificate. Prefer CAFile.
	Insecure bool `json:"insecure,omitempty"`
	// CAFile is a PEM file of extra certificate authorities to trust.
	CAFile string `json:"caFile,omitempty"`
	// Mirrors are tried in order before the registry itself; each is a
	// host (and optional port) serving the same repositories.
	Mirrors []string `json:"mirrors,omitempty"`
}

// LoadConfig reads a Config from a JSON file. A missing file is an empty
// Config; unknown fields are errors.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) registry(host string) Registry {
	if c == nil {
		return Registry{}
	}
	if r, ok := c.Registries[host]; ok {
		return r
	}
	if host == "index.docker.io" { // go-containerregistry's spelling of docker.io
		return c.Registries["docker.io"]
	}
	return Registry{}
}

// transport builds the HTTP transport for one registry.
func (r Registry) transport(base http.RoundTripper) (http.RoundTripper, error) {
	if r.CAFile == "" && !r.Insecure {
		return base, nil
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, errors.New("registry TLS settings need an *http.Transport")
	}
	ht = ht.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ht.TLSClientConfig != nil {
		cfg = ht.TLSClientConfig.Clone()
	}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry CA %s: no PEM certificate in it", r.CAFile)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = r.Insecure
	ht.TLSClientConfig = cfg
	return ht, nil
}
