package seccomp

import "unsafe"

// Sizes of the kernel structs, for the ABI test.
func sizeofNotif() uintptr     { return unsafe.Sizeof(seccompNotif{}) }
func sizeofNotifResp() uintptr { return unsafe.Sizeof(seccompNotifResp{}) }
