// Package vmm is the Go binding of libvmm, the embeddable virtualization
// library: virtual machines, vCPUs, guest memory, port-I/O / MMIO /
// hypercall handlers written in Go, and VMs built from JSON descriptions.
//
// It is a thin cgo layer over the C API found with pkg-config (libvmm.pc):
// every call maps to one vmm_* function, every failure is an *Error that
// carries the VMM_E* code (errors.Is(err, vmm.EINVAL)) and libvmm's
// detailed message. Handlers reach C as runtime/cgo.Handle values, never
// as Go pointers.
//
// The package refuses to build against a libvmm of another major version
// (an #error in shim.h) and CheckVersion reports a library loaded at run
// time that differs from the headers it was built with.
package vmm

/*
#cgo pkg-config: libvmm
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Version strings: the headers the package was compiled with, and the
// library loaded at run time.
const HeaderVersion = C.VMM_VERSION_STRING

// LibraryVersion is vmm_version_string() of the loaded library.
func LibraryVersion() string { return C.GoString(C.vmm_version_string()) }

// CheckVersion returns an error wrapping EVERSION when the library loaded
// at run time has another major version than the headers the package was
// compiled against (possible when LD_LIBRARY_PATH points elsewhere).
func CheckVersion() error {
	loaded := uint(C.vmm_version())
	if loaded>>16 != uint(C.VMM_VERSION_MAJOR) {
		return &Error{Op: "vmm_version", Code: EVERSION,
			Message: fmt.Sprintf("loaded libvmm %s, built against %s",
				LibraryVersion(), HeaderVersion)}
	}
	return nil
}

// Backends lists the backends compiled into the library ("kvm").
func Backends() []string {
	n := uint(C.vmm_backend_count())
	out := make([]string, 0, n)
	for i := uint(0); i < n; i++ {
		if p := C.vmm_backend_name(C.uint(i)); p != nil {
			out = append(out, C.GoString(p))
		}
	}
	return out
}

// ProbeBackend returns nil when backend name ("kvm", "auto") can create
// VMs on this host, or why not (ENODEV without /dev/kvm, EACCES, ...).
func ProbeBackend(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return call("vmm_backend_probe", func() C.int { return C.vmm_backend_probe(cname) })
}
