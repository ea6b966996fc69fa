package netns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// State directory layout:
//
//	<state>/attachments/<id>.json   one record per container (Attachment)
//	<state>/networks/<name>.json    networks whose bridge hull created
//	<state>/ipam/<name>.json        leases (package ipam)
//	<state>/etc/<id>/               hosts, hostname, resolv.conf
//	<state>/setup.lock              shared by setups, exclusive for prune
//	<state>/network.lock            serialises bridge and table changes

func (m *Manager) lock(name string, how int) (unlock func(), err error) {
	if err := os.MkdirAll(m.o.stateDir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(m.o.stateDir, name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: p, Err: err}
	}
	return func() { f.Close() }, nil
}

func (m *Manager) lockNetworks() (func(), error) { return m.lock("network.lock", unix.LOCK_EX) }

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid()) + "." + strconv.Itoa(unix.Gettid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (m *Manager) attachmentPath(id string) string {
	return filepath.Join(m.o.stateDir, "attachments", id+".json")
}

func (m *Manager) saveAttachment(a *Attachment) error {
	return writeJSON(m.attachmentPath(a.ID), a)
}

// createAttachment writes a's first record, failing with ErrExist if
// another setup of the same ID got there first: link(2) of a finished
// temporary file never replaces an existing name.
func (m *Manager) createAttachment(a *Attachment) error {
	path := m.attachmentPath(a.ID)
	tmp := path + ".new" + strconv.Itoa(os.Getpid()) + "." + strconv.Itoa(unix.Gettid())
	if err := writeJSON(tmp, a); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return ErrExist
		}
		return err
	}
	return nil
}

func (m *Manager) readAttachment(id string) (*Attachment, error) {
	if !validName(id) {
		return nil, fmt.Errorf("container id %q: %w", id, os.ErrNotExist)
	}
	a := &Attachment{}
	if err := readJSON(m.attachmentPath(id), a); err != nil {
		return nil, err
	}
	return a, nil
}

func (m *Manager) removeAttachment(id string) error {
	err := os.Remove(m.attachmentPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Attachments lists the recorded attachments, sorted by ID.
func (m *Manager) Attachments() ([]*Attachment, error) {
	paths, err := filepath.Glob(filepath.Join(m.o.stateDir, "attachments", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Attachment
	for _, p := range paths {
		a := &Attachment{}
		if err := readJSON(p, a); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // torn down meanwhile
			}
			return nil, err
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Inspect returns the record of container id.
func (m *Manager) Inspect(id string) (*Attachment, error) { return m.readAttachment(id) }

// networkRecord is a network as hull found it: whether hull created the
// bridge (and so may delete it) or adopted one that already existed.
type networkRecord struct {
	Network
	CreatedBridge bool `json:"createdBridge"`
}

func (m *Manager) networkPath(name string) string {
	return filepath.Join(m.o.stateDir, "networks", name+".json")
}

func (m *Manager) readNetwork(name string) (*networkRecord, error) {
	r := &networkRecord{}
	if err := readJSON(m.networkPath(name), r); err != nil {
		return nil, err
	}
	return r, nil
}

// Networks lists the networks hull has set up bridges for.
func (m *Manager) Networks() ([]Network, error) {
	recs, err := m.networkRecords()
	var out []Network
	for _, r := range recs {
		out = append(out, r.Network)
	}
	return out, err
}

func (m *Manager) networkRecords() ([]*networkRecord, error) {
	paths, err := filepath.Glob(filepath.Join(m.o.stateDir, "networks", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*networkRecord
	for _, p := range paths {
		r := &networkRecord{}
		if err := readJSON(p, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// self is this process as an Owner.
func self() (Owner, error) {
	pid := os.Getpid()
	st, err := startTime(pid)
	return Owner{PID: pid, StartTime: st}, err
}

// startTime reads field 22 (starttime, in clock ticks since boot) of
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': field 3 is f[0], so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Alive reports whether the process that ran a setup still runs.
func (o Owner) Alive() bool {
	st, err := startTime(o.PID)
	return err == nil && st == o.StartTime
}
