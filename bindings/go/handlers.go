package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"runtime/debug"
	"unsafe"
)

// IOHandler serves port or MMIO accesses to a registered range. addr is
// the absolute port / guest-physical address; data holds the access's
// bytes in guest order (for a read, fill it; it arrives zeroed). It runs
// on the thread of the vCPU inside Run (or a Start thread): keep it short.
// A non-nil error ends the run: Run returns an *Error with that Cause, and
// its code if the error is (or wraps) an Errno / *Error, else EIO. A panic
// is turned into a *PanicError the same way.
type IOHandler func(v *VCPU, addr uint64, data []byte, write bool) error

// HypercallHandler answers hypercall nr; the result is the guest's RAX.
type HypercallHandler func(v *VCPU, nr uint64, args [5]uint64) (uint64, error)

// ExitHandler sees, on a Start thread, each exit nothing else consumed.
// Return handled = true when it dealt with the exit (for a read, fill
// the data), false for libvmm's default, or an error to stop the VM.
type ExitHandler func(v *VCPU, exit *Exit) (handled bool, err error)

type ioRecord struct {
	vm *VM
	fn IOHandler
}

type hcRecord struct {
	vm *VM
	fn HypercallHandler
}

type exitRecord struct {
	vm *VM
	fn ExitHandler
}

const (
	kindPIO = iota
	kindMMIO
	kindHypercall
)

func (vm *VM) register(op string, key handlerKey, rec interface{},
	reg func(c *C.vmm_vm_t, h C.uintptr_t) C.int) error {
	c, err := vm.handle(op)
	if err != nil {
		return err
	}
	h := cgo.NewHandle(rec)
	if err := call(op, func() C.int { return reg(c, C.uintptr_t(h)) }); err != nil {
		h.Delete()
		return err
	}
	vm.mu.Lock()
	vm.handles[key] = h
	vm.mu.Unlock()
	return nil
}

func (vm *VM) unregister(op string, key handlerKey, unreg func(c *C.vmm_vm_t) C.int) error {
	c, err := vm.handle(op)
	if err != nil {
		return err
	}
	if err := call(op, func() C.int { return unreg(c) }); err != nil {
		return err
	}
	// libvmm no longer calls the handler once unregister returned.
	vm.mu.Lock()
	if h, ok := vm.handles[key]; ok {
		h.Delete()
		delete(vm.handles, key)
	}
	vm.mu.Unlock()
	return nil
}

// HandlePIO routes port accesses to [port, port+n) to fn (EOVERLAP when
// the range meets another registration).
func (vm *VM) HandlePIO(port uint16, n uint32, fn IOHandler) error {
	return vm.register("vmm_io_register", handlerKey{kindPIO, uint64(port)}, &ioRecord{vm, fn},
		func(c *C.vmm_vm_t, h C.uintptr_t) C.int {
			return C.gvmm_io_register(c, C.VMM_IO_PIO, C.uint64_t(port), C.uint64_t(n), h)
		})
}

// HandleMMIO routes accesses to guest-physical [gpa, gpa+n), where no RAM
// is mapped, to fn.
func (vm *VM) HandleMMIO(gpa, n uint64, fn IOHandler) error {
	return vm.register("vmm_io_register", handlerKey{kindMMIO, gpa}, &ioRecord{vm, fn},
		func(c *C.vmm_vm_t, h C.uintptr_t) C.int {
			return C.gvmm_io_register(c, C.VMM_IO_MMIO, C.uint64_t(gpa), C.uint64_t(n), h)
		})
}

// UnhandlePIO removes the PIO registration starting at port.
func (vm *VM) UnhandlePIO(port uint16) error {
	return vm.unregister("vmm_io_unregister", handlerKey{kindPIO, uint64(port)},
		func(c *C.vmm_vm_t) C.int { return C.vmm_io_unregister(c, C.VMM_IO_PIO, C.uint64_t(port)) })
}

// UnhandleMMIO removes the MMIO registration starting at gpa.
func (vm *VM) UnhandleMMIO(gpa uint64) error {
	return vm.unregister("vmm_io_unregister", handlerKey{kindMMIO, gpa},
		func(c *C.vmm_vm_t) C.int { return C.vmm_io_unregister(c, C.VMM_IO_MMIO, C.uint64_t(gpa)) })
}

// HandleHypercall registers fn for hypercall number nr (EEXIST if taken).
func (vm *VM) HandleHypercall(nr uint64, fn HypercallHandler) error {
	return vm.register("vmm_hypercall_register", handlerKey{kindHypercall, nr}, &hcRecord{vm, fn},
		func(c *C.vmm_vm_t, h C.uintptr_t) C.int {
			return C.gvmm_hypercall_register(c, C.uint64_t(nr), h)
		})
}

// UnhandleHypercall removes the function of nr: the number exits again.
func (vm *VM) UnhandleHypercall(nr uint64) error {
	return vm.unregister("vmm_hypercall_unregister", handlerKey{kindHypercall, nr},
		func(c *C.vmm_vm_t) C.int { return C.vmm_hypercall_unregister(c, C.uint64_t(nr)) })
}

// OnExit sets the function that sees unconsumed exits of a started VM
// (vmm_vm_on_exit); nil removes it. Set it before Start.
func (vm *VM) OnExit(fn ExitHandler) error {
	c, err := vm.handle("vmm_vm_on_exit")
	if err != nil {
		return err
	}
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(&exitRecord{vm, fn})
		err = call("vmm_vm_on_exit", func() C.int { return C.gvmm_vm_on_exit(c, C.uintptr_t(h)) })
	} else {
		err = call("vmm_vm_on_exit", func() C.int { return C.gvmm_vm_on_exit_clear(c) })
	}
	if err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	vm.mu.Lock()
	old := vm.exitH
	vm.exitH = h
	vm.mu.Unlock()
	if old != 0 {
		old.Delete()
	}
	return nil
}

// fail records a handler's error on the vCPU and gives libvmm its code.
func fail(v *VCPU, err error) C.int {
	v.setHandlerError(err)
	return codeOf(err)
}

func recoverInto(v *VCPU, rc *C.int) {
	if p := recover(); p != nil {
		*rc = fail(v, &PanicError{Value: p, Stack: debug.Stack()})
	}
}

//export gvmmIOCall
func gvmmIOCall(cv *C.vmm_vcpu_t, addr C.uint64_t, data *C.uint8_t, size C.uint32_t,
	isWrite C.int, h C.uintptr_t) (rc C.int) {
	rec := cgo.Handle(h).Value().(*ioRecord)
	v := rec.vm.vcpuOf(cv)
	defer recoverInto(v, &rc)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(data)), int(size))
	if err := rec.fn(v, uint64(addr), buf, isWrite != 0); err != nil {
		return fail(v, err)
	}
	return 0
}

//export gvmmHypercallCall
func gvmmHypercallCall(cv *C.vmm_vcpu_t, nr C.uint64_t, args *C.uint64_t, ret *C.uint64_t,
	h C.uintptr_t) (rc C.int) {
	rec := cgo.Handle(h).Value().(*hcRecord)
	v := rec.vm.vcpuOf(cv)
	defer recoverInto(v, &rc)
	var a [5]uint64
	for i, x := range unsafe.Slice((*C.uint64_t)(args), 5) {
		a[i] = uint64(x)
	}
	r, err := rec.fn(v, uint64(nr), a)
	if err != nil {
		return fail(v, err)
	}
	*ret = C.uint64_t(r)
	return 0
}

//export gvmmExitCall
func gvmmExitCall(cv *C.vmm_vcpu_t, exit *C.vmm_exit_t, h C.uintptr_t) (rc C.int) {
	rec := cgo.Handle(h).Value().(*exitRecord)
	v := rec.vm.vcpuOf(cv)
	defer recoverInto(v, &rc)
	e := decodeExit(exit)
	handled, err := rec.fn(v, e)
	if err != nil {
		return fail(v, err)
	}
	if e.Hypercall != nil {
		C.gvmm_exit_set_hypercall_ret(exit, C.uint64_t(e.Hypercall.Ret))
	}
	if handled {
		return 0
	}
	return 1
}
