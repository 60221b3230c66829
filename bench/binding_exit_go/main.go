// binding_exit_go — the Go third of the binding exit benchmark: the
// pio_loop guest (bench/guests/pio_loop.c) makes N port-I/O exits, each
// served by a Go handler registered through the Go binding (C trampoline,
// cgo callback, cgo.Handle lookup); with -c, also by a C handler
// registered on the same kind of VM (VM.Pointer) in alternate rounds of
// the same process. Prints the median wall and vCPU-thread CPU ns per
// exit; bench/binding_exit.sh (which times its C and Python handlers
// itself) reads the `go_ns=` and `go_cpu_ns=` lines.
//
//	binding_exit_go [-guest bench/pio_loop.elf] [-n 100000] [-rounds 5] [-c]
//	binding_exit_go -cgo      (bare C-to-Go calls, hot / after busy / after sleep)
//
// Exit status 77 (skip) without a usable /dev/kvm.
package main

/*
#cgo pkg-config: libvmm
#include "cside.h"
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"libvmm/vmm"
)

const (
	port     = 0x500   // any port without a device
	paramGPA = 0x90000 // tests/guests/lib/layout.h: GUEST_PARAM_GPA
)

func main() {
	guest := flag.String("guest", "", "the pio_loop guest (default: $LIBVMM_BENCH_GUEST)")
	n := flag.Uint64("n", 100000, "exits per round")
	rounds := flag.Int("rounds", 5, "rounds per handler (the median is printed)")
	withC := flag.Bool("c", false, "also time a C handler, in alternate rounds")
	cgoOnly := flag.Bool("cgo", false, "time bare C-to-Go calls instead (no VM)")
	flag.Parse()
	if *cgoOnly {
		cgoCalls()
		return
	}
	if *guest == "" {
		*guest = os.Getenv("LIBVMM_BENCH_GUEST")
	}
	if *guest == "" || *n == 0 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: binding_exit_go -guest PIO_LOOP.elf [-n EXITS] [-rounds R]")
		os.Exit(2)
	}
	if err := vmm.ProbeBackend("auto"); err != nil {
		fmt.Println("binding_exit_go: SKIP:", err)
		os.Exit(77)
	}
	var perC, perGo []float64
	var cpuC, cpuGo []float64
	for r := 0; r < *rounds; r++ {
		for _, inGo := range []bool{false, true} {
			if !inGo && !*withC {
				continue
			}
			ns, cpu, err := round(*guest, *n, inGo)
			if err != nil {
				fmt.Fprintln(os.Stderr, "binding_exit_go:", err)
				os.Exit(1)
			}
			if inGo {
				perGo, cpuGo = append(perGo, ns), append(cpuGo, cpu)
			} else {
				perC, cpuC = append(perC, ns), append(cpuC, cpu)
			}
		}
		if *withC {
			fmt.Printf("round %2d: C handler %8.1f ns/exit   Go handler %8.1f ns/exit\n",
				r+1, perC[r], perGo[r])
		}
	}
	g := median(perGo)
	if *withC {
		c := median(perC)
		fmt.Printf("binding_exit_go: %d exits x %d rounds; median ns per exit: C handler %.1f, Go handler %.1f (+%.1f, ratio %.3f)\n",
			*n, *rounds, c, g, g-c, g/c)
		fmt.Printf("binding_exit_go: median CPU ns per exit of the vCPU thread: C handler %.1f, Go handler %.1f (+%.1f, ratio %.3f)\n",
			median(cpuC), median(cpuGo), median(cpuGo)-median(cpuC), median(cpuGo)/median(cpuC))
		fmt.Printf("go_c_ns=%.1f\n", c)
		fmt.Printf("go_c_cpu_ns=%.1f\n", median(cpuC))
	} else {
		fmt.Printf("binding_exit_go: %d exits x %d rounds; median ns per exit: Go handler %.1f\n",
			*n, *rounds, g)
	}
	fmt.Printf("go_cpu_ns=%.1f\n", median(cpuGo))
	fmt.Printf("go_ns=%.1f\n", g)
}

var nops uint64

//export goNop
func goNop(i C.uint64_t) C.int {
	nops += uint64(i)
	return 0
}

// cgoCalls prints what a C-to-Go call costs by itself, hot and after the
// thread was busy or off the CPU for 30 us.
func cgoCalls() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fmt.Printf("cgo call: tight loop %.1f ns, after 30 us busy in C %.1f ns, after 30 us asleep %.1f ns\n",
		float64(C.cgo_call_ns(200000, 0)), float64(C.cgo_call_ns(5000, 1)),
		float64(C.cgo_call_ns(5000, 2)))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// round runs the guest once with the Go or the C handler and returns the
// wall time of Run per exit, and the CPU time the thread spent per exit
// (guest, KVM and handler; less sensitive to other load than wall time).
func round(guest string, n uint64, inGo bool) (wall, cpu float64, err error) {
	// Run locks the thread too; this keeps the clock reads on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	vm, err := vmm.NewVM()
	if err != nil {
		return 0, 0, err
	}
	defer vm.Close()
	if _, err := vm.MapMemory(0, 4<<20, 0); err != nil {
		return 0, 0, err
	}
	vcpu, err := vm.NewVCPU(0)
	if err != nil {
		return 0, 0, err
	}
	var seen uint64
	if inGo {
		err = vm.HandlePIO(port, 1, func(_ *vmm.VCPU, _ uint64, data []byte, write bool) error {
			// The guest writes its loop counter: check every exit arrives.
			if !write || data[0] != uint8(seen) {
				return fmt.Errorf("exit %d: unexpected access %v %v", seen, write, data)
			}
			seen++
			return nil
		})
	} else if rc := C.c_register(vm.Pointer(), port); rc < 0 {
		err = vmm.Errno(rc)
	}
	if err != nil {
		return 0, 0, err
	}
	elf, err := vm.LoadELFFile(guest)
	if err != nil {
		return 0, 0, err
	}
	var params [16]byte
	binary.LittleEndian.PutUint64(params[0:], n)
	binary.LittleEndian.PutUint64(params[8:], port)
	if err := vm.WriteMemory(paramGPA, params[:]); err != nil {
		return 0, 0, err
	}
	if err := vcpu.SetupLongMode(elf.Entry, 0x80000, 0x1000); err != nil {
		return 0, 0, err
	}
	c0 := C.thread_cpu_ns()
	start := time.Now()
	exit, err := vcpu.Run(context.Background())
	took := time.Since(start)
	c1 := C.thread_cpu_ns()
	if err != nil {
		return 0, 0, err
	}
	if exit.Reason != vmm.ExitHLT {
		return 0, 0, errors.New("the guest stopped with exit " + exit.Reason.String())
	}
	if !inGo {
		seen = uint64(C.c_count_seen())
	}
	if seen != n {
		return 0, 0, fmt.Errorf("the handler saw %d exits, expected %d", seen, n)
	}
	return float64(took.Nanoseconds()) / float64(n), float64(c1-c0) / float64(n), nil
}
