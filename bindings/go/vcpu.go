package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// VCPU is a virtual CPU of a VM. Run it on one goroutine at a time.
type VCPU struct {
	vm *VM
	c  *C.vmm_vcpu_t
	id uint32

	exit *C.vmm_exit_t // C memory: the exit record libvmm fills
	last *Exit         // the exit returned by the previous Run

	// A kick from a cancelled context that landed after the run had
	// ended for another reason: libvmm keeps it pending and the next run
	// would return a KICKED exit nobody asked for; Run swallows that one.
	staleKick bool

	herrMu sync.Mutex
	herr   error // the Go error of the handler that failed this run
}

func newVCPU(vm *VM, c *C.vmm_vcpu_t) *VCPU {
	return &VCPU{vm: vm, c: c, id: uint32(C.vmm_vcpu_id(c)),
		exit: (*C.vmm_exit_t)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vmm_exit_t{}))))}
}

func (v *VCPU) free() {
	C.free(unsafe.Pointer(v.exit))
	v.exit = nil
	v.c = nil
}

// ID is the vCPU's number.
func (v *VCPU) ID() uint32 { return v.id }

// VM is the VM the vCPU belongs to.
func (v *VCPU) VM() *VM { return v.vm }

// ExitReason says why Run returned.
type ExitReason uint32

const (
	ExitNone          ExitReason = C.VMM_EXIT_NONE
	ExitHLT           ExitReason = C.VMM_EXIT_HLT
	ExitShutdown      ExitReason = C.VMM_EXIT_SHUTDOWN
	ExitIO            ExitReason = C.VMM_EXIT_IO
	ExitMMIO          ExitReason = C.VMM_EXIT_MMIO
	ExitHypercall     ExitReason = C.VMM_EXIT_HYPERCALL
	ExitDebug         ExitReason = C.VMM_EXIT_DEBUG
	ExitInternalError ExitReason = C.VMM_EXIT_INTERNAL_ERROR
	ExitKicked        ExitReason = C.VMM_EXIT_KICKED
)

var exitNames = [...]string{"none", "hlt", "shutdown", "io", "mmio",
	"hypercall", "debug", "internal-error", "kicked"}

func (r ExitReason) String() string {
	if int(r) < len(exitNames) {
		return exitNames[r]
	}
	return "unknown"
}

// IOExit is a port access no handler took. Data aliases the vCPU's
// buffer (Size*Count bytes): for a read, fill it before the next Run.
type IOExit struct {
	Port  uint16
	Size  uint8
	Write bool
	Count uint32
	Data  []byte
}

// MMIOExit is an MMIO access no handler took; Data as for IOExit.
type MMIOExit struct {
	GPA   uint64
	Size  uint32
	Write bool
	Data  []byte
}

// HypercallExit is a hypercall with no registered function. Ret is what
// the guest gets in RAX after the next Run (preset to -ENOSYS).
type HypercallExit struct {
	Nr   uint64
	Args [5]uint64
	Ret  uint64
}

// DebugExit is a single step (exception 1) or breakpoint (3).
type DebugExit struct {
	Exception     uint32
	RIP, DR6, DR7 uint64
}

// InternalExit: the backend could not go on.
type InternalExit struct {
	Kind, BackendCode uint32
	RIP               uint64
	Insn              []byte
	CPUMode, CodeBits uint8
	CPL               uint8
}

// Exit is what Run stopped at. Exactly the member matching Reason is set.
type Exit struct {
	Reason    ExitReason
	IO        *IOExit
	MMIO      *MMIOExit
	Hypercall *HypercallExit
	Debug     *DebugExit
	Internal  *InternalExit
}

func decodeExit(x *C.vmm_exit_t) *Exit {
	e := &Exit{Reason: ExitReason(x.reason)}
	switch e.Reason {
	case ExitIO:
		var io C.gvmm_io_t
		C.gvmm_exit_io(x, &io)
		e.IO = &IOExit{Port: uint16(io.port), Size: uint8(io.size), Write: io.is_write != 0,
			Count: uint32(io.count),
			Data:  unsafe.Slice((*byte)(unsafe.Pointer(io.data)), int(io.size)*int(io.count))}
	case ExitMMIO:
		var m C.gvmm_mmio_t
		C.gvmm_exit_mmio(x, &m)
		e.MMIO = &MMIOExit{GPA: uint64(m.gpa), Size: uint32(m.size), Write: m.is_write != 0,
			Data: unsafe.Slice((*byte)(unsafe.Pointer(m.data)), int(m.size))}
	case ExitHypercall:
		var h C.gvmm_hypercall_t
		C.gvmm_exit_hypercall(x, &h)
		e.Hypercall = &HypercallExit{Nr: uint64(h.nr), Ret: uint64(h.ret)}
		for i := range e.Hypercall.Args {
			e.Hypercall.Args[i] = uint64(h.args[i])
		}
	case ExitDebug:
		var d C.gvmm_debug_t
		C.gvmm_exit_debug(x, &d)
		e.Debug = &DebugExit{Exception: uint32(d.exception), RIP: uint64(d.rip),
			DR6: uint64(d.dr6), DR7: uint64(d.dr7)}
	case ExitInternalError:
		var in C.gvmm_internal_t
		C.gvmm_exit_internal(x, &in)
		insn := C.GoBytes(unsafe.Pointer(&in.insn[0]), C.int(in.insn_len))
		e.Internal = &InternalExit{Kind: uint32(in.kind), BackendCode: uint32(in.backend_code),
			RIP: uint64(in.rip), Insn: insn, CPUMode: uint8(in.cpu_mode),
			CodeBits: uint8(in.code_bits), CPL: uint8(in.cpl)}
	}
	return e
}

// Run runs the vCPU on the calling goroutine (locked to its thread for the
// call) until an exit no handler consumed. Handlers registered on the VM
// run inside Run, on this goroutine's thread.
//
// When ctx is cancelled while the guest runs, the vCPU is kicked out
// (vmm_vcpu_kick) and Run returns an ExitKicked exit with ctx.Err(). A
// handler's error ends the run with an *Error whose Cause is that error.
func (v *VCPU) Run(ctx context.Context) (*Exit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v.c == nil {
		return nil, &Error{Op: "vmm_vcpu_run", Code: EBADF, Message: "vmm_vcpu_run: the VM is closed"}
	}
	// A hypercall answer given to the previous exit goes back to the guest.
	if v.last != nil && v.last.Hypercall != nil {
		C.gvmm_exit_set_hypercall_ret(v.exit, C.uint64_t(v.last.Hypercall.Ret))
	}
	v.last = nil

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var kicked atomic.Bool
	var stop, done chan struct{}
	if ctx.Done() != nil {
		stop, done = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-ctx.Done():
				kicked.Store(true)
				C.vmm_vcpu_kick(v.c)
			case <-stop:
			}
		}()
	}
	var rc C.int
	for {
		rc = C.vmm_vcpu_run(v.c, v.exit)
		if rc == 0 && v.staleKick && ExitReason(v.exit.reason) == ExitKicked {
			v.staleKick = false
			continue
		}
		break
	}
	var err error
	if rc < 0 {
		err = lastError("vmm_vcpu_run", rc)
		v.herrMu.Lock()
		if v.herr != nil {
			err.(*Error).Cause = v.herr
			v.herr = nil
		}
		v.herrMu.Unlock()
	}
	if stop != nil {
		close(stop)
		<-done
	}
	if err != nil {
		if kicked.Load() {
			v.staleKick = true
		}
		return nil, err
	}
	exit := decodeExit(v.exit)
	v.last = exit
	if kicked.Load() {
		if exit.Reason == ExitKicked {
			return exit, ctx.Err()
		}
		v.staleKick = true
	}
	return exit, nil
}

// Kick makes the current Run return ExitKicked soon (or the next one at
// once). Any goroutine.
func (v *VCPU) Kick() error {
	return call("vmm_vcpu_kick", func() C.int { return C.vmm_vcpu_kick(v.c) })
}

func (v *VCPU) setHandlerError(err error) {
	v.herrMu.Lock()
	v.herr = err
	v.herrMu.Unlock()
}

// SetupLongMode writes page tables, GDT and TSS at setupGPA
// (LongModeSetupSize bytes) and enters 64-bit ring 0 at entry with RSP = stack.
func (v *VCPU) SetupLongMode(entry, stack, setupGPA uint64) error {
	return call("vmm_vcpu_setup_long_mode", func() C.int {
		return C.vmm_vcpu_setup_long_mode(v.c, C.uint64_t(entry), C.uint64_t(stack), C.uint64_t(setupGPA))
	})
}

// LongModeSetupSize is the guest RAM SetupLongMode uses.
const LongModeSetupSize = C.VMM_LONG_MODE_SETUP_SIZE

// SetupProtectedMode: flat 32-bit segments, paging off, EIP = entry.
func (v *VCPU) SetupProtectedMode(entry, stack uint32) error {
	return call("vmm_vcpu_setup_protected_mode", func() C.int {
		return C.vmm_vcpu_setup_protected_mode(v.c, C.uint32_t(entry), C.uint32_t(stack))
	})
}

// SetupRealMode: CS:IP = cs:ip, SS:SP = 0:sp.
func (v *VCPU) SetupRealMode(cs, ip, sp uint16) error {
	return call("vmm_vcpu_setup_real_mode", func() C.int {
		return C.vmm_vcpu_setup_real_mode(v.c, C.uint16_t(cs), C.uint16_t(ip), C.uint16_t(sp))
	})
}

// Regs are the general registers.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Regs reads the general registers (not while running: EBUSY).
func (v *VCPU) Regs() (Regs, error) {
	var r C.vmm_regs_t
	err := call("vmm_vcpu_get_regs", func() C.int { return C.vmm_vcpu_get_regs(v.c, &r) })
	return Regs{uint64(r.rax), uint64(r.rbx), uint64(r.rcx), uint64(r.rdx),
		uint64(r.rsi), uint64(r.rdi), uint64(r.rsp), uint64(r.rbp),
		uint64(r.r8), uint64(r.r9), uint64(r.r10), uint64(r.r11),
		uint64(r.r12), uint64(r.r13), uint64(r.r14), uint64(r.r15),
		uint64(r.rip), uint64(r.rflags)}, err
}

// SetRegs writes the general registers.
func (v *VCPU) SetRegs(g Regs) error {
	r := C.vmm_regs_t{C.uint64_t(g.RAX), C.uint64_t(g.RBX), C.uint64_t(g.RCX), C.uint64_t(g.RDX),
		C.uint64_t(g.RSI), C.uint64_t(g.RDI), C.uint64_t(g.RSP), C.uint64_t(g.RBP),
		C.uint64_t(g.R8), C.uint64_t(g.R9), C.uint64_t(g.R10), C.uint64_t(g.R11),
		C.uint64_t(g.R12), C.uint64_t(g.R13), C.uint64_t(g.R14), C.uint64_t(g.R15),
		C.uint64_t(g.RIP), C.uint64_t(g.RFLAGS)}
	return call("vmm_vcpu_set_regs", func() C.int { return C.vmm_vcpu_set_regs(v.c, &r) })
}
