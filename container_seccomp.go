package hull

import (
	"bytes"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/seccomp"
)

// A seccomp profile, as "docker run --security-opt seccomp=PATH" reads it,
// is the OCI linux.seccomp section with three additions that select rules
// for the machine and the container at hand:
//
//	archMap    [{architecture, subArchitectures}]: the entry of the native
//	           architecture becomes "architectures"
//	includes   {caps, arches, minKernel} on a rule: the rule applies only
//	           when the container has every cap, runs on one of arches,
//	           and the kernel is at least minKernel
//	excludes   {caps, arches}: the rule does not apply when the container
//	           has one of caps or runs on one of arches
//
// (plus "name" for a rule of one call, and "comment" anywhere). An OCI
// section is a profile without them. ParseSeccompProfile reads either;
// resolveSeccomp applies the selections once the container's capabilities
// are known.

// SeccompProfile is a docker-format seccomp profile.
type SeccompProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []SeccompArchMap         `json:"archMap,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Syscalls         []SeccompRule            `json:"syscalls,omitempty"`
	Comment          string                   `json:"comment,omitempty"`
}

// SeccompArchMap is an architecture and those that run on it (x86 and x32
// on x86_64).
type SeccompArchMap struct {
	Architecture     specs.Arch   `json:"architecture"`
	SubArchitectures []specs.Arch `json:"subArchitectures,omitempty"`
}

// SeccompRule is a rule of a docker-format profile.
type SeccompRule struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Comment  string                   `json:"comment,omitempty"`
	Includes *SeccompFilter           `json:"includes,omitempty"`
	Excludes *SeccompFilter           `json:"excludes,omitempty"`
}

// SeccompFilter selects where a rule applies.
type SeccompFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"` // GOARCH names: amd64, arm64, …
	MinKernel string   `json:"minKernel,omitempty"`
}

// ParseSeccompProfile reads a docker-format or OCI seccomp profile,
// rejecting unknown fields, and checks that it compiles.
func ParseSeccompProfile(b []byte) (*SeccompProfile, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p SeccompProfile
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("seccomp profile: defaultAction: missing")
	}
	for i, r := range p.Syscalls {
		if r.Name == "" && len(r.Names) == 0 {
			return nil, fmt.Errorf("seccomp profile: syscalls[%d]: neither name nor names", i)
		}
	}
	// Every rule, selected or not, must compile.
	all, err := p.resolve(nil, "")
	if err == nil {
		_, err = seccomp.Compile(all)
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return &p, nil
}

func (r SeccompRule) names() []string {
	if r.Name != "" {
		return append([]string{r.Name}, r.Names...)
	}
	return r.Names
}

// resolve turns p into the OCI section for a container with caps, on a
// kernel of the given release ("": every rule applies, for checking).
func (p *SeccompProfile) resolve(caps []string, kernel string) (*specs.LinuxSeccomp, error) {
	s := &specs.LinuxSeccomp{
		DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet,
		Architectures: slices.Clone(p.Architectures), Flags: p.Flags,
		ListenerPath: p.ListenerPath, ListenerMetadata: p.ListenerMetadata,
	}
	native := seccomp.NativeArch()
	for _, m := range p.ArchMap {
		if m.Architecture == native {
			s.Architectures = append(append(s.Architectures, m.Architecture), m.SubArchitectures...)
		}
	}
	check := kernel == ""
	for i, r := range p.Syscalls {
		if !check && !r.applies(caps, kernel) {
			continue
		}
		if inc := r.Includes; inc != nil && inc.MinKernel != "" {
			if _, err := kernelVersion(inc.MinKernel); err != nil {
				return nil, fmt.Errorf("syscalls[%d].includes.minKernel: %w", i, err)
			}
		}
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: r.names(), Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args})
	}
	return s, nil
}

// applies reports whether r is selected for a container with caps on
// this machine, whose kernel is release.
func (r SeccompRule) applies(caps []string, release string) bool {
	hasCap := func(c string) bool {
		c = strings.ToUpper(c)
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		return slices.Contains(caps, c)
	}
	if in := r.Includes; in != nil {
		for _, c := range in.Caps {
			if !hasCap(c) {
				return false
			}
		}
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, goruntime.GOARCH) {
			return false
		}
		if in.MinKernel != "" {
			want, err1 := kernelVersion(in.MinKernel)
			have, err2 := kernelVersion(release)
			if err1 != nil || err2 != nil || have[0] < want[0] || have[0] == want[0] && have[1] < want[1] {
				return false
			}
		}
	}
	if ex := r.Excludes; ex != nil {
		if slices.ContainsFunc(ex.Caps, hasCap) || slices.Contains(ex.Arches, goruntime.GOARCH) {
			return false
		}
	}
	return true
}

// kernelVersion reads "6.1" or "6.1.0-18-amd64" as {6, 1}.
func kernelVersion(s string) ([2]int, error) {
	maj, rest, _ := strings.Cut(s, ".")
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		rest = rest[:end]
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(rest)
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("%q is not a kernel version like 5.8", s)
	}
	return [2]int{a, b}, nil
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "0.0"
	}
	return unix.ByteSliceToString(u.Release[:])
}
