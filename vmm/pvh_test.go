package vmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/boot"
)

// asm32 assembles a few bytes of 32-bit x86 with forward and backward
// short jumps to named labels.
type asm32 struct {
	b      []byte
	labels map[string]int
	fixups map[int]string // offset of a rel8 → its label
}

func newAsm32() *asm32 { return &asm32{labels: map[string]int{}, fixups: map[int]string{}} }

func (a *asm32) op(b ...byte) *asm32 { a.b = append(a.b, b...); return a }

func (a *asm32) label(name string) *asm32 { a.labels[name] = len(a.b); return a }

// jump emits a short jump (0xeb) or conditional jump (0x7X) to label.
func (a *asm32) jump(opcode byte, label string) *asm32 {
	a.b = append(a.b, opcode, 0)
	a.fixups[len(a.b)-1] = label
	return a
}

// puts emits a loop writing the NUL-terminated string at ESI to the UART
// at DX: mov al,[esi]; test al,al; jz done; out dx,al; inc esi; jmp loop.
// In 64-bit mode 0x46 would be a REX prefix, not inc esi: the loop works
// only in 32-bit mode.
func (a *asm32) puts(name string) *asm32 {
	return a.label(name).op(0x8a, 0x06, 0x84, 0xc0).jump(0x74, name+".done").
		op(0xee, 0x46).jump(0xeb, name).label(name + ".done")
}

func (a *asm32) bytes(t *testing.T) []byte {
	t.Helper()
	for off, l := range a.fixups {
		to, ok := a.labels[l]
		rel := to - (off + 1)
		if !ok || rel < -128 || rel > 127 {
			t.Fatalf("asm32: jump to %q (%d) out of reach", l, rel)
		}
		a.b[off] = byte(int8(rel))
	}
	return a.b
}

// pvhGuest is a 32-bit guest entered the PVH way. It checks what the PVH
// ABI promises — EBX at an hvm_start_info with the magic, paging off, a
// memory map, one module — then prints the command line and the module
// (the initrd), each NUL-terminated, and powers off. Any broken promise
// prints "B" and powers off.
func pvhGuest(t *testing.T) []byte {
	a := newAsm32()
	a.op(0x66, 0xba, 0xf8, 0x03)                                                        // mov dx, 0x3f8
	a.op(0x81, 0x3b).op(le32bytes(boot.XEN_HVM_START_MAGIC_VALUE)...).jump(0x75, "bad") // cmp dword [ebx], magic; jne bad
	a.op(0x0f, 0x20, 0xc0, 0xa9, 0, 0, 0, 0x80).jump(0x75, "bad")                       // mov eax, cr0; test eax, CR0.PG; jnz bad
	a.op(0x83, 0x7b, 48, 0).jump(0x74, "bad")                                           // cmp dword [ebx+48], 0 (memmap_entries); je bad
	a.op(0x83, 0x7b, 12, 1).jump(0x75, "bad")                                           // cmp dword [ebx+12], 1 (nr_modules); jne bad
	a.op(0x8b, 0x73, 24).puts("cmdline")                                                // mov esi, [ebx+24] (cmdline_paddr)
	a.op(0xb0, ' ', 0xee)
	a.op(0x8b, 0x7b, 16, 0x8b, 0x37).puts("module") // mov edi, [ebx+16] (modlist_paddr); mov esi, [edi] (paddr)
	a.op(0xb0, '\n', 0xee).jump(0xeb, "off")
	a.label("bad").op(0xb0, 'B', 0xee, 0xb0, '\n', 0xee)
	a.label("off").op(0x66, 0xba, 0x00, 0x06, 0xb0, 5<<2|1<<5, 0xee) // ACPI S5
	a.op(halt...)
	return a.bytes(t)
}

func le32bytes(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// pvhKernel wraps 32-bit code in an ELF64 vmlinux with one PT_LOAD at
// 16 MiB and a PT_NOTE whose XEN_ELFNOTE_PHYS32_ENTRY points at the
// code's first byte (e_entry too: a loader that took the 64-bit entry
// would run the same bytes in long mode with EBX zero, and fail).
func pvhKernel(code []byte) []byte {
	const entry, phoff, phnum = 0x1000000, 64, 2
	var note bytes.Buffer
	binary.Write(&note, binary.LittleEndian, []uint32{4, 4, boot.XEN_ELFNOTE_PHYS32_ENTRY})
	note.WriteString("Xen\x00")
	binary.Write(&note, binary.LittleEndian, uint32(entry))
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("\x7fELF\x02\x01\x01\x00")
	b.Write(make([]byte, 8))
	w(uint16(2))  // ET_EXEC
	w(uint16(62)) // EM_X86_64
	w(uint32(1))
	w(uint64(entry))
	w(uint64(phoff))
	w(uint64(0))
	w(uint32(0))
	w(uint16(64))
	w(uint16(56))
	w(uint16(phnum))
	w(uint16(64))
	w(uint16(0))
	w(uint16(0))
	codeOff := uint64(phoff + phnum*56)
	w(uint32(1)) // PT_LOAD
	w(uint32(5)) // R+X
	w(codeOff)
	w(uint64(entry))
	w(uint64(entry))
	w(uint64(len(code)))
	w(uint64(len(code)))
	w(uint64(0x1000))
	w(uint32(4)) // PT_NOTE
	w(uint32(4))
	w(codeOff + uint64(len(code)))
	w(uint64(0))
	w(uint64(0))
	w(uint64(note.Len()))
	w(uint64(note.Len()))
	w(uint64(4))
	b.Write(code)
	b.Write(note.Bytes())
	return b.Bytes()
}

// TestBootPVH boots a hand-assembled guest through its PVH note: it must
// find itself in 32-bit protected mode with paging off and EBX at an
// hvm_start_info whose command line and module hull filled in.
func TestBootPVH(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "pvh.elf"), filepath.Join(dir, "initrd")
	os.WriteFile(kernel, pvhKernel(pvhGuest(t)), 0o644)
	os.WriteFile(initrd, []byte("the initrd\x00"), 0o644)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vm, err := Start(ctx, Config{Kernel: kernel, Initrd: initrd, Cmdline: "pvh-cmdline", MemoryMiB: 64}, WithConsole(&out))
	if err != nil {
		t.Fatal(err)
	}
	res := vm.Wait()
	if want := "pvh-cmdline the initrd\n"; out.String() != want || res.Reason != PowerOff {
		t.Errorf("PVH guest: console %q, run ended %v (%s); want %q and a power-off", out.String(), res.Reason, res.Detail, want)
	}
}

// The same guest entered the 64-bit way (its note removed) must fail its
// checks: the test above cannot pass by accident.
func TestBootPVHGuestWithoutNote(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	kernel := filepath.Join(t.TempDir(), "no-note.elf")
	os.WriteFile(kernel, elfKernel(pvhGuest(t)), 0o644)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vm, err := Start(ctx, Config{Kernel: kernel, Cmdline: "pvh-cmdline", MemoryMiB: 64}, WithConsole(&out))
	if err != nil {
		t.Fatal(err)
	}
	res := vm.Wait()
	if out.String() != "B\n" {
		t.Errorf("the PVH guest entered in 64-bit mode printed %q (%v), want B", out.String(), fmt.Sprint(res.Reason))
	}
}
