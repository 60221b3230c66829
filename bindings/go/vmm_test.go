package vmm_test

// The suite runs the test guests libvmm's meson build makes
// (tests/guests): LIBVMM_GUEST_DIR names the directory that holds hello.elf,
// pio.elf, ... (scripts/test-bindings.sh sets it). Tests that run a guest
// skip without /dev/kvm.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"libvmm/vmm"
)

// From tests/guests/lib/layout.h and ucall.h (cgo cannot be used in tests).
const (
	ramSize       = 0x400000
	setupGPA      = 0x1000
	stackTop      = 0x80000
	paramGPA      = 0x90000
	statusGPA     = 0x90100
	printPort     = 0xe9
	ucallPort     = 0x1000
	ucallMagic    = 0x4c4c4355
	ucallSync     = 1
	ucallDone     = 2
	ucallAbort    = 3
	ucallPrint    = 4
	ucallSize     = 8 + 8*6 + 256
	pioHandled    = 0x500
	pioHandledLen = 8
	pioRep        = 0x510
	pioExit       = 0x600
	pioError      = 0x520
	mmioHandled   = 0xd0000000
	mmioHandledN  = 0x1000
	mmioExit      = 0xd0100000
	mmioStraddle  = 0xd0200000
	hcAdd         = 1
	hcEchoExit    = 2
	hcUnanswered  = 3
	hcFail        = 4
	hcEchoRet     = 0xfeedface12345678
)

func ioReadValue(addr uint64, size uint32) uint64 {
	v := (addr + uint64(size)) * 0x9e3779b97f4a7c15
	v ^= v >> 29
	if size >= 8 {
		return v
	}
	return v & (1<<(size*8) - 1)
}

func needKVM(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm: this test runs a guest")
	}
	if err := vmm.ProbeBackend("auto"); err != nil {
		t.Skipf("no usable backend: %v", err)
	}
}

func guestPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("LIBVMM_GUEST_DIR")
	if dir == "" {
		t.Skip("LIBVMM_GUEST_DIR is not set (the build's tests/guests directory)")
	}
	p := filepath.Join(dir, name+".elf")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("guest %s: %v", name, err)
	}
	return p
}

type testVM struct {
	t    *testing.T
	vm   *vmm.VM
	cpu  *vmm.VCPU
	exit *vmm.Exit
}

// newTestVM makes the VM every test guest expects: 4 MiB of RAM at 0, the
// ELF loaded at 1 MiB, vCPU 0 in long mode, parameters at paramGPA.
func newTestVM(t *testing.T, guest string, params ...uint64) *testVM {
	t.Helper()
	needKVM(t)
	path := guestPath(t, guest)
	vm, err := vmm.NewVM()
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := vm.MapMemory(0, ramSize, 0); err != nil {
		t.Fatalf("MapMemory: %v", err)
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		t.Fatalf("NewVCPU: %v", err)
	}
	info, err := vm.LoadELFFile(path)
	if err != nil {
		t.Fatalf("LoadELFFile: %v", err)
	}
	if err := cpu.SetupLongMode(info.Entry, stackTop, setupGPA); err != nil {
		t.Fatalf("SetupLongMode: %v", err)
	}
	for i, p := range params {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], p)
		if err := vm.WriteMemory(paramGPA+8*uint64(i), b[:]); err != nil {
			t.Fatalf("param %d: %v", i, err)
		}
	}
	return &testVM{t: t, vm: vm, cpu: cpu}
}

func (tv *testVM) run() (*vmm.Exit, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := tv.cpu.Run(ctx)
	tv.exit = e
	return e, err
}

type ucall struct {
	cmd  uint32
	args [6]uint64
	text string
}

// ucallOf decodes a ucall exit (nil when the exit is not one).
func (tv *testVM) ucallOf(e *vmm.Exit) *ucall {
	if e == nil || e.Reason != vmm.ExitIO || e.IO.Port != ucallPort || !e.IO.Write || e.IO.Size != 4 {
		return nil
	}
	gpa := binary.LittleEndian.Uint32(e.IO.Data)
	buf := make([]byte, ucallSize)
	if err := tv.vm.ReadMemory(uint64(gpa), buf); err != nil {
		tv.t.Fatalf("reading the ucall: %v", err)
	}
	if binary.LittleEndian.Uint32(buf) != ucallMagic {
		tv.t.Fatalf("ucall at 0x%x has a bad magic", gpa)
	}
	u := &ucall{cmd: binary.LittleEndian.Uint32(buf[4:])}
	for i := range u.args {
		u.args[i] = binary.LittleEndian.Uint64(buf[8+8*i:])
	}
	text := buf[56:]
	if i := strings.IndexByte(string(text), 0); i >= 0 {
		text = text[:i]
	}
	u.text = string(text)
	return u
}

// runUcall runs until the next ucall other than PRINT and checks its kind.
func (tv *testVM) runUcall(cmd uint32) *ucall {
	tv.t.Helper()
	for {
		e, err := tv.run()
		if err != nil {
			tv.t.Fatalf("Run: %v", err)
		}
		u := tv.ucallOf(e)
		if u == nil {
			tv.t.Fatalf("expected a ucall, got exit %v %+v", e.Reason, e.IO)
		}
		if u.cmd == ucallPrint {
			tv.t.Logf("guest: %s", u.text)
			continue
		}
		if u.cmd == ucallAbort {
			tv.t.Fatalf("guest assertion: %s", u.text)
		}
		if u.cmd != cmd {
			tv.t.Fatalf("ucall %d, expected %d", u.cmd, cmd)
		}
		return u
	}
}

func TestVersion(t *testing.T) {
	if err := vmm.CheckVersion(); err != nil {
		t.Fatal(err)
	}
	if vmm.LibraryVersion() != vmm.HeaderVersion {
		t.Logf("library %s, headers %s", vmm.LibraryVersion(), vmm.HeaderVersion)
	}
	if len(vmm.Backends()) == 0 {
		t.Fatal("no backend compiled in")
	}
}

func TestErrors(t *testing.T) {
	err := vmm.ProbeBackend("no-such-backend")
	if !errors.Is(err, vmm.ENODEV) {
		t.Fatalf("ProbeBackend(no-such-backend) = %v, want ENODEV", err)
	}
	var e *vmm.Error
	if !errors.As(err, &e) || e.Op != "vmm_backend_probe" || e.Message == "" {
		t.Fatalf("no detailed *Error: %#v", err)
	}
	if !errors.Is(err, syscall.ENODEV) || errors.Is(err, vmm.EINVAL) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
	if vmm.EOVERLAP.Name() != "VMM_EOVERLAP" || int(vmm.EINVAL) != -22 {
		t.Fatalf("codes: %s %d", vmm.EOVERLAP.Name(), vmm.EINVAL)
	}
	// A JSON error names the field.
	_, err = vmm.ParseConfig([]byte(`{"memory": "4M", "vcpus": 1000}`))
	if !errors.As(err, &e) || !strings.HasPrefix(e.Message, "vcpus") {
		t.Fatalf("ParseConfig: %v", err)
	}
	_, err = vmm.ParseConfig([]byte(`{"memory": `))
	if !errors.Is(err, vmm.EINVAL) {
		t.Fatalf("ParseConfig(truncated): %v", err)
	}
}

func TestMemory(t *testing.T) {
	needKVM(t)
	vm, err := vmm.NewVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	r, err := vm.MapMemory(0x10000, 2*vmm.PageSize, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.GPA() != 0x10000 || r.Size() != 2*vmm.PageSize || len(r.Bytes()) != 2*vmm.PageSize {
		t.Fatalf("region %#x+%#x", r.GPA(), r.Size())
	}
	if _, err := vm.MapMemory(0x11000, vmm.PageSize, 0); !errors.Is(err, vmm.EOVERLAP) {
		t.Fatalf("overlapping map: %v", err)
	}
	if _, err := vm.MapMemory(0x20001, vmm.PageSize, 0); !errors.Is(err, vmm.EINVAL) {
		t.Fatalf("misaligned map: %v", err)
	}
	if err := vm.WriteMemory(0x10ffe, []byte("abcd")); err != nil {
		t.Fatal(err)
	}
	if got := string(r.Bytes()[0xffe:0x1002]); got != "abcd" {
		t.Fatalf("Bytes() sees %q", got)
	}
	buf := make([]byte, 4)
	if err := vm.ReadMemory(0x10ffe, buf); err != nil || string(buf) != "abcd" {
		t.Fatalf("ReadMemory: %q %v", buf, err)
	}
	// One byte past the end fails the whole access.
	if err := vm.ReadMemory(0x11ffe, buf); !errors.Is(err, vmm.EFAULT) {
		t.Fatalf("read past the end: %v", err)
	}
	if err := r.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := vm.ReadMemory(0x10000, buf); !errors.Is(err, vmm.EFAULT) {
		t.Fatalf("read after unmap: %v", err)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.NewVCPU(0); !errors.Is(err, vmm.EBADF) {
		t.Fatalf("NewVCPU after Close: %v", err)
	}
}

func TestHello(t *testing.T) {
	tv := newTestVM(t, "hello")
	var out strings.Builder
	if err := tv.vm.HandlePIO(printPort, 1, func(v *vmm.VCPU, port uint64, data []byte, write bool) error {
		if write {
			out.Write(data)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e, err := tv.run()
	if err != nil {
		t.Fatal(err)
	}
	if e.Reason != vmm.ExitHLT {
		t.Fatalf("exit %v, want hlt", e.Reason)
	}
	if out.String() != "Hello from the guest\n" {
		t.Fatalf("guest printed %q", out.String())
	}
}

type ioRec struct {
	addr  uint64
	size  int
	write bool
	value uint64
}

func TestPIO(t *testing.T) {
	tv := newTestVM(t, "pio")
	var log []ioRec
	badVCPU, stringReads := 0, uint64(0)
	logIO := func(v *vmm.VCPU, addr uint64, data []byte, write bool) error {
		if v != tv.cpu {
			badVCPU++
		}
		var b [8]byte
		r := ioRec{addr: addr, size: len(data), write: write}
		if write {
			copy(b[:], data)
			r.value = binary.LittleEndian.Uint64(b[:])
		} else {
			v := ioReadValue(addr, uint32(len(data)))
			if addr == pioRep { // REP INSB: each element one more
				v = uint64(uint8(v + stringReads))
				stringReads++
			}
			binary.LittleEndian.PutUint64(b[:], v)
			copy(data, b[:])
		}
		log = append(log, r)
		return nil
	}
	errGuest := errors.New("the guest wrote the error port")
	for _, reg := range []struct {
		port uint16
		n    uint32
		fn   vmm.IOHandler
	}{
		{pioHandled, pioHandledLen, logIO},
		{pioRep, 1, logIO},
		{pioError, 1, func(*vmm.VCPU, uint64, []byte, bool) error { return errGuest }},
	} {
		if err := tv.vm.HandlePIO(reg.port, reg.n, reg.fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := tv.vm.HandlePIO(pioHandled+4, 1, logIO); !errors.Is(err, vmm.EOVERLAP) {
		t.Fatalf("overlapping handler: %v", err)
	}
	expectIO := func(port uint16, size uint8, write bool, value uint64) {
		t.Helper()
		e, err := tv.run()
		if err != nil {
			t.Fatal(err)
		}
		if e.Reason != vmm.ExitIO || e.IO.Port != port || e.IO.Size != size ||
			e.IO.Write != write || e.IO.Count != 1 {
			t.Fatalf("exit %v %+v, want port %#x size %d write %v", e.Reason, e.IO, port, size, write)
		}
		var b [8]byte
		if write {
			copy(b[:], e.IO.Data)
			if v := binary.LittleEndian.Uint64(b[:]); v != value {
				t.Fatalf("port %#x: guest wrote %#x, want %#x", port, v, value)
			}
		} else {
			binary.LittleEndian.PutUint64(b[:], ioReadValue(uint64(port), uint32(size)))
			copy(e.IO.Data, b[:])
		}
	}
	p := uint64(pioHandled)
	for _, ring := range []uint64{0, 3} {
		log = nil
		expectIO(pioExit, 2, true, 0xbeef)
		expectIO(pioExit+4, 4, false, 0)
		if u := tv.runUcall(ucallSync); u.args[0] != ring {
			t.Fatalf("SYNC %d, want %d", u.args[0], ring)
		}
		want := []ioRec{{p, 1, true, 0x11}, {p + 2, 2, true, 0x2222},
			{p + 4, 4, true, 0x44444444 + ring}, {p + 1, 1, false, 0},
			{p + 2, 2, false, 0}, {p + 4, 4, false, 0}, {p + 7, 4, true, 0x77777777}}
		if fmt.Sprint(log) != fmt.Sprint(want) {
			t.Fatalf("ring %d: handler saw\n%v\nwant\n%v", ring, log, want)
		}
	}
	log = nil
	if u := tv.runUcall(ucallSync); u.args[0] != 4 {
		t.Fatalf("SYNC %d, want 4", u.args[0])
	}
	if len(log) != 9 {
		t.Fatalf("string I/O: %d accesses, want 9: %v", len(log), log)
	}
	for i, r := range log {
		if i < 5 && (r != ioRec{pioRep, 1, true, uint64('a' + i)}) ||
			i >= 5 && (r != ioRec{pioRep, 1, false, 0}) {
			t.Fatalf("string I/O access %d: %+v", i, r)
		}
	}
	// Removed while stopped: the port exits now.
	if err := tv.vm.UnhandlePIO(pioHandled); err != nil {
		t.Fatal(err)
	}
	log = nil
	expectIO(pioHandled, 1, true, 0x55)
	if u := tv.runUcall(ucallSync); u.args[0] != 5 || len(log) != 0 {
		t.Fatalf("SYNC %d after unregister, %d handler calls", u.args[0], len(log))
	}
	// The handler's error is what Run returns, matchable both ways.
	_, err := tv.run()
	if !errors.Is(err, errGuest) || !errors.Is(err, vmm.EIO) {
		t.Fatalf("Run after the failing handler: %v", err)
	}
	if badVCPU != 0 {
		t.Fatalf("%d handler calls with the wrong *VCPU", badVCPU)
	}
}

func TestHypercall(t *testing.T) {
	tv := newTestVM(t, "hypercall")
	var calls int
	add := func(v *vmm.VCPU, nr uint64, a [5]uint64) (uint64, error) {
		calls++
		return 0x100 + a[0] + a[1] + a[2] + a[3] + a[4], nil
	}
	if err := tv.vm.HandleHypercall(hcAdd, add); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.HandleHypercall(hcAdd, add); !errors.Is(err, vmm.EEXIST) {
		t.Fatalf("second registration: %v", err)
	}
	if err := tv.vm.HandleHypercall(hcFail, func(*vmm.VCPU, uint64, [5]uint64) (uint64, error) {
		return 0, vmm.ERANGE
	}); err != nil {
		t.Fatal(err)
	}
	expectHC := func(nr uint64, args [5]uint64) *vmm.HypercallExit {
		t.Helper()
		e, err := tv.run()
		if err != nil {
			t.Fatal(err)
		}
		if e.Reason != vmm.ExitHypercall || e.Hypercall.Nr != nr || e.Hypercall.Args != args {
			t.Fatalf("exit %v %+v, want hypercall %d %v", e.Reason, e.Hypercall, nr, args)
		}
		return e.Hypercall
	}
	for _, ring := range []uint64{0, 3} {
		expectHC(hcEchoExit, [5]uint64{10, 20, 30, 40, 50 + ring}).Ret = hcEchoRet
		expectHC(hcUnanswered, [5]uint64{0, 0, 0, 0, ring}) // left at -ENOSYS
		if u := tv.runUcall(ucallSync); u.args[0] != ring {
			t.Fatalf("SYNC %d, want %d", u.args[0], ring)
		}
	}
	if calls != 2 {
		t.Fatalf("HC_ADD function called %d times, want 2", calls)
	}
	if err := tv.vm.UnhandleHypercall(hcAdd); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.UnhandleHypercall(hcAdd); err == nil {
		t.Fatal("second unregister succeeded")
	}
	expectHC(hcAdd, [5]uint64{7}).Ret = hcEchoRet
	if u := tv.runUcall(ucallSync); u.args[0] != 4 {
		t.Fatalf("SYNC %d, want 4", u.args[0])
	}
	// The function's code reaches Run's caller.
	if _, err := tv.run(); !errors.Is(err, vmm.ERANGE) {
		t.Fatalf("Run after the failing function: %v", err)
	}
}

func TestHandlerPanic(t *testing.T) {
	tv := newTestVM(t, "hello")
	if err := tv.vm.HandlePIO(printPort, 1, func(*vmm.VCPU, uint64, []byte, bool) error {
		panic("boom")
	}); err != nil {
		t.Fatal(err)
	}
	_, err := tv.run()
	var p *vmm.PanicError
	if !errors.As(err, &p) || p.Value != "boom" || !errors.Is(err, vmm.EIO) {
		t.Fatalf("Run: %v", err)
	}
}

// Cancelling the context kicks a guest spinning in ring 3 (where only the
// kick signal gets it out on this machine's KVM) or ring 0.
func TestRunCancel(t *testing.T) {
	for _, ring := range []uint64{0, 1} {
		t.Run(fmt.Sprint("ring", ring*3), func(t *testing.T) {
			tv := newTestVM(t, "spin", ring)
			if u := tv.runUcall(ucallSync); u.args[0] != ring {
				t.Fatalf("SYNC %d", u.args[0])
			}
			for i := 0; i < 3; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				start := time.Now()
				e, err := tv.cpu.Run(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) || e == nil || e.Reason != vmm.ExitKicked {
					t.Fatalf("Run: %v %v", e, err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Fatalf("the kick took %v", d)
				}
			}
			var b [8]byte
			if err := tv.vm.ReadMemory(statusGPA, b[:]); err != nil || binary.LittleEndian.Uint64(b[:]) == 0 {
				t.Fatalf("the guest did not count: %v", err)
			}
			// An explicit Kick before Run: the run returns at once.
			if err := tv.cpu.Kick(); err != nil {
				t.Fatal(err)
			}
			if e, err := tv.cpu.Run(context.Background()); err != nil || e.Reason != vmm.ExitKicked {
				t.Fatalf("Run after Kick: %v %v", e, err)
			}
			// A context cancelled before Run: no run at all.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := tv.cpu.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run with a cancelled context: %v", err)
			}
		})
	}
}

// Start runs the vCPU on libvmm's thread; the Go handler runs there.
func TestStart(t *testing.T) {
	tv := newTestVM(t, "hello")
	var n atomic.Int32
	if err := tv.vm.HandlePIO(printPort, 1, func(v *vmm.VCPU, _ uint64, _ []byte, _ bool) error {
		n.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := tv.vm.WaitTimeout(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.Reason != vmm.StopHalt || n.Load() != int32(len("Hello from the guest\n")) {
		t.Fatalf("stopped: %+v after %d bytes", info, n.Load())
	}
	if tv.vm.State() != vmm.StateStopped {
		t.Fatalf("state %v", tv.vm.State())
	}
}

// A started VM whose handler fails stops with StopError and the code.
func TestStartHandlerError(t *testing.T) {
	tv := newTestVM(t, "hello")
	if err := tv.vm.HandlePIO(printPort, 1, func(*vmm.VCPU, uint64, []byte, bool) error {
		return vmm.EACCES
	}); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := tv.vm.WaitTimeout(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.Reason != vmm.StopError || !errors.Is(info.Error, vmm.EACCES) {
		t.Fatalf("stopped: %+v", info)
	}
}

func TestConfig(t *testing.T) {
	needKVM(t)
	desc := fmt.Sprintf(`{"memory": "4M", "irqchip": false, "vcpus": 1,
		"payload": {"type": "elf", "path": %q}}`, guestPath(t, "hello"))
	cfg, err := vmm.ParseConfig([]byte(desc))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VCPUs() != 1 {
		t.Fatalf("VCPUs %d", cfg.VCPUs())
	}
	vm, err := vmm.NewVMFromConfig(cfg)
	cfg.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	var out strings.Builder
	if err := vm.HandlePIO(printPort, 1, func(v *vmm.VCPU, _ uint64, data []byte, write bool) error {
		out.Write(data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	js, err := vm.DescribeJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js, `"memory"`) || !strings.Contains(js, `"payload"`) {
		t.Fatalf("describe: %s", js)
	}
	// What describe says parses again.
	cfg2, err := vmm.ParseConfig([]byte(js))
	if err != nil {
		t.Fatalf("re-parse of %s: %v", js, err)
	}
	cfg2.Close()
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := vm.WaitTimeout(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.Reason != vmm.StopHalt || out.String() != "Hello from the guest\n" {
		t.Fatalf("stopped %+v, printed %q", info, out.String())
	}
}

func TestMMIO(t *testing.T) {
	tv := newTestVM(t, "mmio")
	var log []ioRec
	logIO := func(v *vmm.VCPU, addr uint64, data []byte, write bool) error {
		var b [8]byte
		r := ioRec{addr: addr, size: len(data), write: write}
		if write {
			copy(b[:], data)
			r.value = binary.LittleEndian.Uint64(b[:])
		} else {
			binary.LittleEndian.PutUint64(b[:], ioReadValue(addr, uint32(len(data))))
			copy(data, b[:])
		}
		log = append(log, r)
		return nil
	}
	if err := tv.vm.HandleMMIO(mmioHandled, mmioHandledN, logIO); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.HandleMMIO(mmioStraddle, 4, logIO); err != nil {
		t.Fatal(err)
	}
	expectMMIO := func(gpa uint64, size uint32, write bool, value uint64) {
		t.Helper()
		e, err := tv.run()
		if err != nil {
			t.Fatal(err)
		}
		if e.Reason != vmm.ExitMMIO || e.MMIO.GPA != gpa || e.MMIO.Size != size || e.MMIO.Write != write {
			t.Fatalf("exit %v %+v, want MMIO %#x size %d write %v", e.Reason, e.MMIO, gpa, size, write)
		}
		var b [8]byte
		if write {
			copy(b[:], e.MMIO.Data)
			if v := binary.LittleEndian.Uint64(b[:]); v != value {
				t.Fatalf("MMIO %#x: guest wrote %#x, want %#x", gpa, v, value)
			}
		} else {
			binary.LittleEndian.PutUint64(b[:], ioReadValue(gpa, size))
			copy(e.MMIO.Data, b[:])
		}
	}
	h := uint64(mmioHandled)
	for _, ring := range []uint64{0, 3} {
		log = nil
		expectMMIO(mmioExit+4, 4, true, 0xdeadbeef)
		expectMMIO(mmioExit+8, 8, false, 0)
		expectMMIO(mmioExit+2, 2, false, 0)
		if u := tv.runUcall(ucallSync); u.args[0] != ring {
			t.Fatalf("SYNC %d, want %d", u.args[0], ring)
		}
		want := []ioRec{{h + 0x10, 1, true, 0x11}, {h + 0x20, 2, true, 0x2222},
			{h + 0x40, 4, true, 0x44444444}, {h + 0x80, 8, true, 0x8888888888888888 + ring},
			{h + 0x11, 1, false, 0}, {h + 0x22, 2, false, 0}, {h + 0x44, 4, false, 0},
			{h + 0x88, 8, false, 0}, {mmioStraddle, 8, true, 0x0102030405060708},
			{mmioStraddle, 8, false, 0}}
		if fmt.Sprint(log) != fmt.Sprint(want) {
			t.Fatalf("ring %d: handler saw\n%v\nwant\n%v", ring, log, want)
		}
	}
	tv.runUcall(ucallDone)
	if err := tv.vm.UnhandleMMIO(mmioStraddle); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.UnhandleMMIO(mmioStraddle); err == nil {
		t.Fatal("second UnhandleMMIO succeeded")
	}
}

// OnExit sees a started VM's unconsumed exits on libvmm's thread: here
// the print port (no handler) and the final HLT, left to the default.
func TestOnExit(t *testing.T) {
	tv := newTestVM(t, "hello")
	var out strings.Builder
	var hlt atomic.Bool
	err := tv.vm.OnExit(func(v *vmm.VCPU, e *vmm.Exit) (bool, error) {
		switch {
		case e.Reason == vmm.ExitIO && e.IO.Port == printPort && e.IO.Write:
			out.Write(e.IO.Data)
			return true, nil
		case e.Reason == vmm.ExitHLT:
			hlt.Store(true)
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := tv.vm.WaitTimeout(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if info.Reason != vmm.StopHalt || !hlt.Load() || out.String() != "Hello from the guest\n" {
		t.Fatalf("stopped %+v, HLT seen %v, printed %q", info, hlt.Load(), out.String())
	}
}

// A context cancelled inside a handler: the kick lands while the vCPU
// thread runs Go code (the handler), the run ends with ExitKicked before
// the guest's next instruction, and the next Run carries on from there.
func TestCancelInHandler(t *testing.T) {
	tv := newTestVM(t, "hello")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out strings.Builder
	if err := tv.vm.HandlePIO(printPort, 1, func(_ *vmm.VCPU, _ uint64, data []byte, _ bool) error {
		out.Write(data)
		if out.Len() == 1 {
			cancel()
			time.Sleep(200 * time.Millisecond) // the kick signal arrives here
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e, err := tv.cpu.Run(ctx)
	if !errors.Is(err, context.Canceled) || e == nil || e.Reason != vmm.ExitKicked || out.String() != "H" {
		t.Fatalf("Run: %v %v after %q", e, err, out.String())
	}
	if e, err = tv.run(); err != nil || e.Reason != vmm.ExitHLT {
		t.Fatalf("Run after the kick: %v %v", e, err)
	}
	if out.String() != "Hello from the guest\n" {
		t.Fatalf("printed %q", out.String())
	}
}

func TestDirtyLog(t *testing.T) {
	needKVM(t)
	vm, err := vmm.NewVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	r, err := vm.MapMemory(0x100000, 70*vmm.PageSize, vmm.MemDirtyLog)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := vm.MapMemory(0x200000, vmm.PageSize, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.DirtyLog(); err == nil {
		t.Fatal("DirtyLog of a region without MemDirtyLog succeeded")
	}
	if err := r.ClearDirtyLog(); err != nil {
		t.Fatal(err)
	}
	// Host writes are logged: pages 3 and 66 (the second word).
	for _, page := range []uint64{3, 66} {
		if err := vm.WriteMemory(r.GPA()+page*vmm.PageSize+8, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := r.DirtyLog()
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0] != 1<<3 || log[1] != 1<<2 {
		t.Fatalf("dirty log %#x, want [0x8 0x4]", log)
	}
	if err := r.ClearDirtyLog(); err != nil {
		t.Fatal(err)
	}
	if log, err = r.DirtyLog(); err != nil || log[0] != 0 || log[1] != 0 {
		t.Fatalf("after clear: %#x %v", log, err)
	}
}

// The fleet guest reads 64 bytes from a virtio-rng made with AddVirtioRNG
// (MMIO), then computes; ucalls reach a Go handler on libvmm's threads.
func TestVirtioRNG(t *testing.T) {
	tv := newTestVM(t, "fleet")
	rng, err := tv.vm.AddVirtioRNG(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng.Type() != "virtio-rng" || rng.MMIOBase() < 0xd0000000 || rng.Err() != "" {
		t.Fatalf("device %q at 0x%x (%q)", rng.Type(), rng.MMIOBase(), rng.Err())
	}
	if err := rng.SetID("rng0"); err != nil {
		t.Fatal(err)
	}
	if d, err := tv.vm.FindDevice("rng0"); err != nil || d.ID() != "rng0" {
		t.Fatalf("FindDevice: %v", err)
	}
	if _, err := tv.vm.FindDevice("nothing"); err == nil {
		t.Fatal("FindDevice found an unknown id")
	}
	for i, p := range []uint64{7, 1000, rng.MMIOBase(), 64} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], p)
		if err := tv.vm.WriteMemory(paramGPA+8*uint64(i), b[:]); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []*ucall
	if err := tv.vm.HandlePIO(ucallPort, 4, func(v *vmm.VCPU, _ uint64, data []byte, write bool) error {
		u := tv.ucallOf(&vmm.Exit{Reason: vmm.ExitIO, IO: &vmm.IOExit{Port: ucallPort, Size: 4, Write: write, Data: data}})
		mu.Lock()
		got = append(got, u)
		mu.Unlock()
		if u != nil && u.cmd == ucallDone {
			return tv.vm.Stop(0)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := tv.vm.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := tv.vm.WaitTimeout(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if info.Reason != vmm.StopRequested || len(got) < 2 {
		t.Fatalf("stopped: %+v after %d ucalls", info, len(got))
	}
	s := got[len(got)-2]
	if s == nil || s.cmd != ucallSync || s.args[1] != 64 || s.args[2] == 0 {
		t.Fatalf("sync ucall %+v", s)
	}
}

// Character back-ends and the emulated devices: a buffer console's
// bytes come back through Read; bad arguments are refused.
func TestDevices(t *testing.T) {
	needKVM(t)
	vm, err := vmm.NewVM(vmm.WithIRQChip())
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	buf, err := vm.BufferChardev(4096)
	if err != nil {
		t.Fatal(err)
	}
	uart, err := vm.AddUART(vmm.UARTOptions{Chardev: buf})
	if err != nil || uart.Type() != "uart16550" {
		t.Fatalf("AddUART: %v", err)
	}
	if _, err := vm.AddUART(vmm.UARTOptions{}); err == nil {
		t.Fatal("a second UART on the same port was accepted")
	}
	if d, err := vm.AddDebugExit(0); err != nil || d.Type() == "" {
		t.Fatalf("AddDebugExit: %v", err)
	}
	if _, err := vm.AddRTC(); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.AddI8042(); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.AddVirtioBlk(nil, vmm.BlkOptions{Path: "/nonexistent/disk.img"}); err == nil {
		t.Fatal("a missing disk image was accepted")
	}
	if _, err := vm.AddVirtioBlk(nil, vmm.BlkOptions{Path: "x", Serial: strings.Repeat("s", 21)}); !errors.Is(err, vmm.EINVAL) {
		t.Fatalf("a 21-byte serial: %v", err)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	blk, err := vm.AddVirtioBlk(&vmm.VirtioOptions{Transport: vmm.PCI}, vmm.BlkOptions{Path: img, ReadOnly: true})
	if err != nil || blk.Type() != "virtio-blk" {
		t.Fatalf("AddVirtioBlk: %v", err)
	}
	con, err := vm.AddVirtioConsole(nil, nil)
	if err != nil || con.Type() != "virtio-console" {
		t.Fatalf("AddVirtioConsole: %v", err)
	}
	if n, err := buf.Read(make([]byte, 16)); n != 0 || err != nil {
		t.Fatalf("empty buffer: %d, %v", n, err)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if uart.Type() != "" {
		t.Fatal("a device of a closed VM still answers")
	}
	if _, err := buf.Read(make([]byte, 1)); !errors.Is(err, vmm.EBADF) {
		t.Fatalf("Read after Close: %v", err)
	}
}
