package cpuid

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Regs are the four registers CPUID fills in.
type Regs struct {
	EAX, EBX, ECX, EDX uint32
}

// Func executes CPUID for a leaf (EAX) and subleaf (ECX). Native is the
// real instruction; Recording.Func replays recorded leaves.
type Func func(leaf, subleaf uint32) Regs

// Native executes the CPUID instruction on the calling CPU. On
// architectures without CPUID (Available is false) it returns zeros.
func Native(leaf, subleaf uint32) Regs {
	a, b, c, d := native(leaf, subleaf)
	return Regs{a, b, c, d}
}

// Leaf is one recorded CPUID answer.
type Leaf struct {
	Leaf, Subleaf uint32
	Regs
}

// A Recording is the set of leaves Decode reads, captured from one machine
// by Record and replayed by Func. It marshals to JSON with every number in
// hex, the way the vendors' manuals print them.
type Recording []Leaf

// recordedLeaves are the (leaf, subleaf) pairs Decode asks for. Leaves
// above the processor's maximum are recorded too: the recording then shows
// what the CPU answers out of range, and Decode never trusts them anyway.
var recordedLeaves = []uint32{
	0x0, 0x1,
	leafHypervisor, leafHypervisor + 1,
	0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x8000000a,
}

// Record runs f on every leaf Decode reads.
func Record(f Func) Recording {
	r := make(Recording, 0, len(recordedLeaves))
	for _, l := range recordedLeaves {
		r = append(r, Leaf{Leaf: l, Regs: f(l, 0)})
	}
	return r
}

// Func replays the recording. A leaf that was not recorded reads as zeros,
// which is what a processor reports for an unimplemented leaf on AMD.
func (r Recording) Func() Func {
	m := make(map[[2]uint32]Regs, len(r))
	for _, l := range r {
		m[[2]uint32{l.Leaf, l.Subleaf}] = l.Regs
	}
	return func(leaf, subleaf uint32) Regs { return m[[2]uint32{leaf, subleaf}] }
}

type hex32 uint32

func (h hex32) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%#08x", uint32(h)), nil }

func (h *hex32) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 0, 32)
	if err != nil {
		return fmt.Errorf("cpuid register %q: %w", b, err)
	}
	*h = hex32(v)
	return nil
}

type jsonLeaf struct {
	Leaf    hex32 `json:"leaf"`
	Subleaf hex32 `json:"subleaf"`
	EAX     hex32 `json:"eax"`
	EBX     hex32 `json:"ebx"`
	ECX     hex32 `json:"ecx"`
	EDX     hex32 `json:"edx"`
}

// MarshalJSON writes the leaves sorted, every value as a hex string.
func (r Recording) MarshalJSON() ([]byte, error) {
	out := make([]jsonLeaf, 0, len(r))
	for _, l := range r {
		out = append(out, jsonLeaf{hex32(l.Leaf), hex32(l.Subleaf), hex32(l.EAX), hex32(l.EBX), hex32(l.ECX), hex32(l.EDX)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Leaf != out[j].Leaf {
			return out[i].Leaf < out[j].Leaf
		}
		return out[i].Subleaf < out[j].Subleaf
	})
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Recording) UnmarshalJSON(b []byte) error {
	var in []jsonLeaf
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*r = (*r)[:0]
	for _, l := range in {
		*r = append(*r, Leaf{uint32(l.Leaf), uint32(l.Subleaf), Regs{uint32(l.EAX), uint32(l.EBX), uint32(l.ECX), uint32(l.EDX)}})
	}
	return nil
}
