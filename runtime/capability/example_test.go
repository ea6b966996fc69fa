package capability_test

import (
	"fmt"
	"log"
	goruntime "runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/capability"
)

func ExampleParse() {
	s, err := capability.Parse([]string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_KILL"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)
	fmt.Printf("%#x\n", uint64(s))
	_, err = capability.Parse([]string{"CAP_CHOWN", "CAP_SYS_PONY"})
	fmt.Println(err)
	// Output:
	// CAP_CHOWN|CAP_KILL|CAP_NET_BIND_SERVICE
	// 0x421
	// [1]: unknown capability "CAP_SYS_PONY"
}

func ExampleSet_String() {
	fmt.Println(capability.Of(unix.CAP_SYS_ADMIN, unix.CAP_BPF))
	fmt.Println(capability.Set(1<<unix.CAP_CHOWN | 1<<62))
	fmt.Println(capability.Set(0))
	// Output:
	// CAP_SYS_ADMIN|CAP_BPF
	// CAP_CHOWN|0x4000000000000000
	// 0
}

func ExampleFromSpec() {
	st, err := capability.FromSpec(&specs.LinuxCapabilities{
		Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective:   []string{"CAP_NET_BIND_SERVICE"},
		Permitted:   []string{"CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st)
	// Output:
	// bounding: CAP_KILL|CAP_NET_BIND_SERVICE
	// effective: CAP_NET_BIND_SERVICE
	// permitted: CAP_NET_BIND_SERVICE
	// inheritable: CAP_NET_BIND_SERVICE
	// ambient: CAP_NET_BIND_SERVICE
}

// A container's init switching to the container's user: the capability
// steps wrap the user switch, on the thread that then execs.
func ExampleState_ApplyAsUser() {
	st, err := capability.FromSpec(&specs.LinuxCapabilities{
		Bounding: []string{"CAP_NET_BIND_SERVICE"}, Effective: []string{"CAP_NET_BIND_SERVICE"},
		Permitted: []string{"CAP_NET_BIND_SERVICE"}, Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient: []string{"CAP_NET_BIND_SERVICE"},
	})
	if err != nil {
		log.Fatal(err)
	}
	goruntime.LockOSThread() // capabilities belong to this thread
	err = st.ApplyAsUser(func() error {
		if err := unix.Setgroups(nil); err != nil {
			return err
		}
		if err := unix.Setresgid(1000, 1000, 1000); err != nil {
			return err
		}
		return unix.Setresuid(1000, 1000, 1000)
	})
	if err != nil {
		log.Fatal(err)
	}
	// uid 1000's program keeps CAP_NET_BIND_SERVICE across execve.
	_ = unix.Exec("/usr/sbin/nginx", []string{"nginx"}, nil)
}

func ExampleReadStatus() {
	st, err := capability.ReadStatus("self")
	if err != nil {
		log.Fatal(err)
	}
	// The kernel never reports a capability it does not know, and the
	// effective set is always within the permitted one.
	fmt.Println(st.Bounding&^capability.All() == 0, st.Effective&^st.Permitted == 0)
	// Output: true true
}

func ExampleLast() {
	fmt.Println(capability.Last() >= unix.CAP_AUDIT_READ)
	// Output: true
}
