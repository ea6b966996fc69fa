package acpi

import (
	"encoding/binary"
	"fmt"
)

// A small AML encoder (ACPI 6.5, chapter 20): just the terms the DSDT of
// a micro-VM needs. Each function returns the encoded bytes of one term.

// AML opcodes.
const (
	amlZeroOp         = 0x00
	amlOneOp          = 0x01
	amlNameOp         = 0x08
	amlBytePrefix     = 0x0a
	amlWordPrefix     = 0x0b
	amlDWordPrefix    = 0x0c
	amlStringPrefix   = 0x0d
	amlQWordPrefix    = 0x0e
	amlScopeOp        = 0x10
	amlBufferOp       = 0x11
	amlPackageOp      = 0x12
	amlExtOpPrefix    = 0x5b
	amlDeviceOp       = 0x82 // after amlExtOpPrefix
	amlRootChar       = '\\'
	amlDualNamePrefix = 0x2e
	amlMethodOp       = 0x14
	amlArg0Op         = 0x68
	amlNotifyOp       = 0x86
	amlLEqualOp       = 0x93
	amlIfOp           = 0xa0
)

// pkgLength encodes PkgLength for n bytes of content that follow it; the
// encoded length counts the PkgLength bytes themselves (20.2.4).
func pkgLength(n int) []byte {
	switch {
	case n+1 < 1<<6:
		return []byte{byte(n + 1)}
	case n+2 < 1<<12:
		t := n + 2
		return []byte{0x40 | byte(t&0xf), byte(t >> 4)}
	case n+3 < 1<<20:
		t := n + 3
		return []byte{0x80 | byte(t&0xf), byte(t >> 4), byte(t >> 12)}
	default:
		t := n + 4
		return []byte{0xc0 | byte(t&0xf), byte(t >> 4), byte(t >> 12), byte(t >> 20)}
	}
}

// nameSeg checks a four-character name segment: a lead character A-Z or
// '_', then A-Z, 0-9 or '_'.
func nameSeg(s string) []byte {
	if len(s) != 4 {
		panic(fmt.Sprintf("acpi: name segment %q is not 4 characters", s))
	}
	for i, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			panic(fmt.Sprintf("acpi: name segment %q has %q", s, c))
		}
	}
	return []byte(s)
}

func amlInteger(v uint64) []byte {
	switch {
	case v == 0:
		return []byte{amlZeroOp}
	case v == 1:
		return []byte{amlOneOp}
	case v <= 0xff:
		return []byte{amlBytePrefix, byte(v)}
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16([]byte{amlWordPrefix}, uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32([]byte{amlDWordPrefix}, uint32(v))
	default:
		return binary.LittleEndian.AppendUint64([]byte{amlQWordPrefix}, v)
	}
}

func amlString(s string) []byte {
	return append(append([]byte{amlStringPrefix}, s...), 0)
}

// amlName is Name(seg, value).
func amlName(seg string, value []byte) []byte {
	return append(append([]byte{amlNameOp}, nameSeg(seg)...), value...)
}

// amlScope is Scope(\seg) { body }, for a scope under the root.
func amlScope(seg string, body ...[]byte) []byte {
	content := append([]byte{amlRootChar}, nameSeg(seg)...)
	for _, b := range body {
		content = append(content, b...)
	}
	return append(append([]byte{amlScopeOp}, pkgLength(len(content))...), content...)
}

// amlDevice is Device(seg) { body }.
func amlDevice(seg string, body ...[]byte) []byte {
	content := nameSeg(seg)
	for _, b := range body {
		content = append(content, b...)
	}
	return append(append([]byte{amlExtOpPrefix, amlDeviceOp}, pkgLength(len(content))...), content...)
}

// amlBuffer is Buffer() { bytes }.
func amlBuffer(data []byte) []byte {
	content := append(amlInteger(uint64(len(data))), data...)
	return append(append([]byte{amlBufferOp}, pkgLength(len(content))...), content...)
}

// amlPackage is Package() { integers }.
func amlPackage(values ...uint64) []byte {
	content := []byte{byte(len(values))}
	for _, v := range values {
		content = append(content, amlInteger(v)...)
	}
	return append(append([]byte{amlPackageOp}, pkgLength(len(content))...), content...)
}

// Resource descriptors (6.4), the contents of a ResourceTemplate.

// memory32Fixed is Memory32Fixed(ReadWrite, base, length).
func memory32Fixed(base, length uint32) []byte {
	b := []byte{0x86, 9, 0, 1} // large item 0x06, 9 bytes follow, read/write
	b = binary.LittleEndian.AppendUint32(b, base)
	return binary.LittleEndian.AppendUint32(b, length)
}

// extendedInterrupt is Interrupt(ResourceConsumer, Edge, ActiveHigh,
// Exclusive) { gsi }.
func extendedInterrupt(gsi uint32) []byte {
	const consumer, edge = 1 << 0, 1 << 1
	b := []byte{0x89, 6, 0, consumer | edge, 1}
	return binary.LittleEndian.AppendUint32(b, gsi)
}

// ioPort is IO(Decode16, port, port, 1, length).
func ioPort(port uint16, length uint8) []byte {
	b := []byte{0x47, 1}
	b = binary.LittleEndian.AppendUint16(b, port)
	b = binary.LittleEndian.AppendUint16(b, port)
	return append(b, 1, length)
}

// resourceTemplate is ResourceTemplate() { descriptors } with its end tag.
func resourceTemplate(descs ...[]byte) []byte {
	var b []byte
	for _, d := range descs {
		b = append(b, d...)
	}
	b = append(b, 0x79, 0) // end tag, checksum 0 ("treat as correct")
	return amlBuffer(b)
}

// eisaID compresses a PNP ID such as "PNP0501" into the 32-bit EISA ID
// that ASL's EISAID() produces: three letters of five bits each and four
// hex digits, stored byte-swapped.
func eisaID(id string) uint32 {
	if len(id) != 7 {
		panic("acpi: EISA ID " + id + " is not 7 characters")
	}
	v := uint32(id[0]-0x40)<<26 | uint32(id[1]-0x40)<<21 | uint32(id[2]-0x40)<<16
	var digits uint32
	for _, c := range id[3:] {
		digits <<= 4
		switch {
		case c >= '0' && c <= '9':
			digits |= uint32(c - '0')
		case c >= 'A' && c <= 'F':
			digits |= uint32(c-'A') + 10
		}
	}
	v |= digits
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

// amlMethod is Method(seg, args) { body }, not serialized.
func amlMethod(seg string, args byte, body ...[]byte) []byte {
	content := append(nameSeg(seg), args&7)
	for _, b := range body {
		content = append(content, b...)
	}
	return append(append([]byte{amlMethodOp}, pkgLength(len(content))...), content...)
}

// amlIf is If (predicate) { body }.
func amlIf(predicate []byte, body ...[]byte) []byte {
	content := append([]byte(nil), predicate...)
	for _, b := range body {
		content = append(content, b...)
	}
	return append(append([]byte{amlIfOp}, pkgLength(len(content))...), content...)
}

// amlLEqualArg0 is LEqual(Arg0, v).
func amlLEqualArg0(v uint64) []byte {
	return append([]byte{amlLEqualOp, amlArg0Op}, amlInteger(v)...)
}

// amlNotify is Notify(\scope.dev, value) for a device one level below
// the root scope.
func amlNotify(scope, dev string, value uint64) []byte {
	b := []byte{amlNotifyOp, amlRootChar, amlDualNamePrefix}
	b = append(b, nameSeg(scope)...)
	b = append(b, nameSeg(dev)...)
	return append(b, amlInteger(value)...)
}
