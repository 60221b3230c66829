package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// Errno is one of libvmm's VMM_E* error codes (a negative number). The
// constants below take their values from <libvmm/common.h> at build time.
// An Errno is an error itself, and it is what errors.Is matches against:
//
//	if errors.Is(err, vmm.EOVERLAP) { ... }
type Errno int

const (
	EPERM     Errno = C.VMM_EPERM
	ENOENT    Errno = C.VMM_ENOENT
	EINTR     Errno = C.VMM_EINTR
	EIO       Errno = C.VMM_EIO
	E2BIG     Errno = C.VMM_E2BIG
	ENOEXEC   Errno = C.VMM_ENOEXEC
	EBADF     Errno = C.VMM_EBADF
	EAGAIN    Errno = C.VMM_EAGAIN
	ENOMEM    Errno = C.VMM_ENOMEM
	EACCES    Errno = C.VMM_EACCES
	EFAULT    Errno = C.VMM_EFAULT
	EBUSY     Errno = C.VMM_EBUSY
	EEXIST    Errno = C.VMM_EEXIST
	ENODEV    Errno = C.VMM_ENODEV
	EINVAL    Errno = C.VMM_EINVAL
	ENOSPC    Errno = C.VMM_ENOSPC
	ERANGE    Errno = C.VMM_ERANGE
	ENOSYS    Errno = C.VMM_ENOSYS
	ENOTSUP   Errno = C.VMM_ENOTSUP
	ETIMEDOUT Errno = C.VMM_ETIMEDOUT
	EOVERLAP  Errno = C.VMM_EOVERLAP
	EBACKEND  Errno = C.VMM_EBACKEND
	ESTATE    Errno = C.VMM_ESTATE
	EVERSION  Errno = C.VMM_EVERSION
)

// Name is the symbolic name, "VMM_EINVAL".
func (e Errno) Name() string { return C.GoString(C.vmm_err_name(C.int(e))) }

// Error is the short description, "invalid argument".
func (e Errno) Error() string { return C.GoString(C.vmm_strerror(C.int(e))) }

// Is lets an Errno that is a negated Linux errno match the syscall.Errno
// of the same value: errors.Is(err, syscall.EINVAL) holds for vmm.EINVAL.
func (e Errno) Is(target error) bool {
	if s, ok := target.(syscall.Errno); ok {
		return e < 0 && e > -4000 && syscall.Errno(-e) == s
	}
	return false
}

// Error is what a failed libvmm call returns: the operation, the code and
// libvmm's detailed message (vmm_last_error() read on the thread that
// made the call). A failure that started in a Go handler carries that
// handler's error as Cause.
type Error struct {
	Op      string // the C function, "vmm_mem_map"
	Code    Errno
	Message string // vmm_last_error(); may be empty
	Cause   error  // the Go error behind Code, if any
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Code.Name()
	switch {
	case e.Cause != nil:
		s += ": " + e.Cause.Error()
	case e.Message != "":
		s += ": " + e.Message
	default:
		s += ": " + e.Code.Error()
	}
	return s
}

// Is matches the code: errors.Is(err, vmm.EINVAL).
func (e *Error) Is(target error) bool {
	if c, ok := target.(Errno); ok {
		return c == e.Code
	}
	return e.Code.Is(target)
}

// Unwrap gives the handler's error, so errors.Is / errors.As reach it.
func (e *Error) Unwrap() error { return e.Cause }

// call runs one libvmm call on a locked thread, so that vmm_last_error()
// is read on the thread that failed (it is per thread in libvmm).
func call(op string, f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc := f()
	if rc >= 0 {
		return nil
	}
	return lastError(op, rc)
}

// lastError builds the error of a failed call; the caller's thread must
// still be the one that made it.
func lastError(op string, rc C.int) error {
	return &Error{Op: op, Code: Errno(rc), Message: C.GoString(C.vmm_last_error())}
}

// codeOf is the code a Go handler's error is reported to libvmm with.
func codeOf(err error) C.int {
	var e *Error
	if errors.As(err, &e) && e.Code < 0 {
		return C.int(e.Code)
	}
	var c Errno
	if errors.As(err, &c) && c < 0 {
		return C.int(c)
	}
	return C.VMM_EIO
}

// PanicError is the error a handler's panic becomes: libvmm sees VMM_EIO
// and the run stops; the panic value and stack are kept here.
type PanicError struct {
	Value interface{}
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.Value) }
