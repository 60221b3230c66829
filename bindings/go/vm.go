package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// VM is a virtual machine. Create one with NewVM or NewVMFromConfig and
// release it with Close. Its methods may be called from any goroutine.
type VM struct {
	mu      sync.RWMutex
	c       *C.vmm_vm_t
	vcpus   map[*C.vmm_vcpu_t]*VCPU
	handles map[handlerKey]cgo.Handle // registered handlers
	exitH   cgo.Handle                // OnExit function, 0 if none
	closing bool
}

type handlerKey struct {
	kind int // 0 PIO, 1 MMIO, 2 hypercall
	addr uint64
}

// Option changes how NewVM creates a VM.
type Option func(*C.vmm_vm_config_t)

// WithBackend chooses the backend by name ("kvm"); the default is "auto".
func WithBackend(name string) Option {
	return func(c *C.vmm_vm_config_t) { c.backend = C.CString(name) }
}

// WithMaxVCPUs sets the highest number of vCPUs (default 64).
func WithMaxVCPUs(n uint32) Option {
	return func(c *C.vmm_vm_config_t) { c.max_vcpus = C.uint32_t(n) }
}

// WithIRQChip gives the VM the backend's interrupt controller
// (VMM_VM_F_IRQCHIP): devices can raise interrupts, HLT waits for one.
func WithIRQChip() Option {
	return func(c *C.vmm_vm_config_t) { c.flags |= C.VMM_VM_F_IRQCHIP }
}

// WithHypercallPort moves the hypercall port from 0xEC.
func WithHypercallPort(port uint16) Option {
	return func(c *C.vmm_vm_config_t) { c.hypercall_port = C.uint16_t(port) }
}

// NewVM creates an empty VM: no memory, no vCPUs.
func NewVM(opts ...Option) (*VM, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	var cfg C.vmm_vm_config_t
	cfg.size = C.size_t(unsafe.Sizeof(cfg))
	for _, o := range opts {
		o(&cfg)
	}
	var backend *C.char
	if cfg.backend == nil {
		backend = C.CString("auto")
		cfg.backend = backend
	} else {
		backend = cfg.backend
	}
	defer C.free(unsafe.Pointer(backend))
	var vm *C.vmm_vm_t
	if err := call("vmm_vm_create", func() C.int { return C.vmm_vm_create(&cfg, &vm) }); err != nil {
		return nil, err
	}
	return wrapVM(vm), nil
}

func wrapVM(c *C.vmm_vm_t) *VM {
	vm := &VM{c: c, vcpus: map[*C.vmm_vcpu_t]*VCPU{}, handles: map[handlerKey]cgo.Handle{}}
	runtime.SetFinalizer(vm, func(vm *VM) { vm.Close() })
	return vm
}

// Close destroys the VM with its vCPUs, memory and handlers. A VM started
// with Start is stopped and waited for first. Close of a closed VM is a
// no-op. It fails with EBUSY while a vCPU is inside Run.
func (vm *VM) Close() error {
	vm.mu.Lock()
	if vm.c == nil || vm.closing {
		vm.mu.Unlock()
		return nil
	}
	c := vm.c
	vm.closing = true
	vm.mu.Unlock()
	// Without the lock: destroying a started VM waits for its threads,
	// and their handlers look vCPUs up under it.
	err := call("vmm_vm_destroy", func() C.int { return C.vmm_vm_destroy(c) })
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.closing = false
	if err != nil {
		return err
	}
	vm.c = nil
	for _, h := range vm.handles {
		h.Delete()
	}
	vm.handles = nil
	if vm.exitH != 0 {
		vm.exitH.Delete()
		vm.exitH = 0
	}
	for _, v := range vm.vcpus {
		v.free()
	}
	vm.vcpus = nil
	runtime.SetFinalizer(vm, nil)
	return nil
}

// handle is the live C handle, or an EBADF error after Close.
func (vm *VM) handle(op string) (*C.vmm_vm_t, error) {
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	if vm.c == nil {
		return nil, &Error{Op: op, Code: EBADF, Message: op + ": the VM is closed"}
	}
	return vm.c, nil
}

// Pointer is the C vmm_vm_t * of the VM, for C code of the program's own
// (through cgo) that wants to call libvmm directly, e.g. to register a C
// handler. It stays valid until Close; nil after it.
func (vm *VM) Pointer() unsafe.Pointer {
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	return unsafe.Pointer(vm.c)
}

// Backend is the name of the backend the VM runs on ("kvm").
func (vm *VM) Backend() string {
	c, err := vm.handle("vmm_vm_backend")
	if err != nil {
		return ""
	}
	return C.GoString(C.vmm_vm_backend(c))
}

// NewVCPU creates vCPU id (0 .. max-1).
func (vm *VM) NewVCPU(id uint32) (*VCPU, error) {
	c, err := vm.handle("vmm_vcpu_create")
	if err != nil {
		return nil, err
	}
	var cv *C.vmm_vcpu_t
	if err := call("vmm_vcpu_create", func() C.int { return C.vmm_vcpu_create(c, C.uint32_t(id), &cv) }); err != nil {
		return nil, err
	}
	return vm.vcpuOf(cv), nil
}

// vcpuOf is the Go object of a C vCPU of this VM, made on first sight (a
// VM built from a JSON description has vCPUs Go never created).
func (vm *VM) vcpuOf(cv *C.vmm_vcpu_t) *VCPU {
	vm.mu.RLock()
	v := vm.vcpus[cv]
	vm.mu.RUnlock()
	if v != nil {
		return v
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if v = vm.vcpus[cv]; v == nil {
		v = newVCPU(vm, cv)
		if vm.vcpus != nil {
			vm.vcpus[cv] = v
		}
	}
	return v
}

// State of a VM run by Start.
type State uint32

const (
	StateCreated State = C.VMM_VM_CREATED
	StateRunning State = C.VMM_VM_RUNNING
	StatePaused  State = C.VMM_VM_PAUSED
	StateStopped State = C.VMM_VM_STOPPED
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// State is the VM's current lifecycle state.
func (vm *VM) State() State {
	c, err := vm.handle("vmm_vm_state")
	if err != nil {
		return StateStopped
	}
	return State(C.vmm_vm_state(c))
}

// Start runs every vCPU on a thread of libvmm's (and the device loop if
// the VM needs one). Handlers then run on those threads. Wait for the end
// with Wait.
func (vm *VM) Start() error {
	c, err := vm.handle("vmm_vm_start")
	if err != nil {
		return err
	}
	return call("vmm_vm_start", func() C.int { return C.vmm_vm_start(c) })
}

// Pause stops every vCPU at a safe point; Resume lets them go on.
func (vm *VM) Pause() error {
	c, err := vm.handle("vmm_vm_pause")
	if err != nil {
		return err
	}
	return call("vmm_vm_pause", func() C.int { return C.vmm_vm_pause(c) })
}

// Resume undoes Pause.
func (vm *VM) Resume() error {
	c, err := vm.handle("vmm_vm_resume")
	if err != nil {
		return err
	}
	return call("vmm_vm_resume", func() C.int { return C.vmm_vm_resume(c) })
}

// Stop asks a started VM to stop with status; it returns at once (use Wait).
// Handlers may call it.
func (vm *VM) Stop(status int) error {
	c, err := vm.handle("vmm_vm_stop")
	if err != nil {
		return err
	}
	return call("vmm_vm_stop", func() C.int { return C.vmm_vm_stop(c, C.int(status)) })
}

// StopReason says why a started VM stopped.
type StopReason uint32

const (
	StopNone      StopReason = C.VMM_STOP_NONE
	StopRequested StopReason = C.VMM_STOP_REQUESTED
	StopGuestExit StopReason = C.VMM_STOP_GUEST_EXIT
	StopReset     StopReason = C.VMM_STOP_RESET
	StopHalt      StopReason = C.VMM_STOP_HALT
	StopShutdown  StopReason = C.VMM_STOP_SHUTDOWN
	StopDebug     StopReason = C.VMM_STOP_DEBUG
	StopError     StopReason = C.VMM_STOP_ERROR
)

var stopNames = map[StopReason]string{StopNone: "none", StopRequested: "requested",
	StopGuestExit: "guest-exit", StopReset: "reset", StopHalt: "halt",
	StopShutdown: "shutdown", StopDebug: "debug", StopError: "error"}

func (r StopReason) String() string {
	if s, ok := stopNames[r]; ok {
		return s
	}
	return "unknown"
}

// StopInfo is how a started VM ended (vmm_vm_stop_info_t).
type StopInfo struct {
	Reason  StopReason
	Status  int    // the guest's exit status, or Stop's
	VCPU    uint32 // the vCPU that stopped it (^uint32(0): none)
	Error   error  // StopError: the code, as an Errno (nil otherwise)
	Message string
}

// Wait waits until a started VM has stopped and its threads have ended.
// When ctx ends first, Wait returns ctx.Err() and the VM keeps running.
func (vm *VM) Wait(ctx context.Context) (*StopInfo, error) {
	c, err := vm.handle("vmm_vm_wait")
	if err != nil {
		return nil, err
	}
	var info C.vmm_vm_stop_info_t
	info.size = C.size_t(unsafe.Sizeof(info))
	// Waits in slices so that ctx is honoured: libvmm's wait cannot be
	// interrupted from outside.
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := call("vmm_vm_wait", func() C.int { return C.vmm_vm_wait(c, 50, &info) })
		if errors.Is(err, ETIMEDOUT) {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	si := &StopInfo{Reason: StopReason(info.reason), Status: int(info.status),
		VCPU: uint32(info.vcpu), Message: C.GoString(&info.message[0])}
	if info.error < 0 {
		si.Error = Errno(info.error)
	}
	return si, nil
}

// WaitTimeout is Wait with a time limit instead of a context.
func (vm *VM) WaitTimeout(d time.Duration) (*StopInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return vm.Wait(ctx)
}
