// Package boot loads a Linux x86-64 kernel into guest memory the way a
// boot loader would, following the kernel's boot protocol
// (Documentation/arch/x86/boot.rst), and prepares the boot vCPU to enter
// it in 64-bit mode.
//
// A bzImage is two programs: real-mode setup code, whose header tells the
// loader what the kernel needs (protocol version, where it prefers to be
// loaded and how it may be relocated, how much memory it needs to
// decompress itself, how high an initrd may go), and the protected-mode
// kernel with its compressed payload. hull skips the real-mode part: it
// copies the setup header into the "zero page" (struct boot_params), adds
// the command line, initrd and e820 memory map, builds page tables that
// identity-map the first 4 GiB and a GDT with the selectors the protocol
// names, and starts the vCPU in long mode at the protected-mode kernel's
// 64-bit entry (load address + 0x200) with RSI pointing at the zero page.
// The kernel then decompresses itself, whatever its compression.
//
// An uncompressed ELF vmlinux is loaded segment by segment at its physical
// addresses. If it carries Xen's PVH entry note (CONFIG_PVH), it is
// entered there in 32-bit protected mode with paging off and EBX pointing
// at a struct hvm_start_info (pvh.go draws it); otherwise at e_entry, in
// 64-bit mode, with a minimal setup header synthesised in the zero page.
//
// Everything here is pure: MakePlan decides the addresses, ZeroPage,
// PageTables and GDT build bytes, and Load writes them into a
// memory.Guest. Golden tests pin each of them.
package boot
