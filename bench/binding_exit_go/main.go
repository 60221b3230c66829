// binding_exit_go — the Go third of the binding exit benchmark: the
// pio_loop guest (bench/guests/pio_loop.c) makes N port-I/O exits, each
// served by a Go handler registered through the Go binding (C trampoline,
// cgo callback, cgo.Handle lookup). Prints the median ns per exit over R
// rounds; bench/binding_exit.sh reads the `go_ns=` line.
//
//	binding_exit_go [-guest bench/pio_loop.elf] [-n 100000] [-rounds 5]
//
// Exit status 77 (skip) without a usable /dev/kvm.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
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
	rounds := flag.Int("rounds", 5, "rounds (the median is printed)")
	flag.Parse()
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
	var per []float64
	for r := 0; r < *rounds; r++ {
		ns, err := round(*guest, *n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "binding_exit_go:", err)
			os.Exit(1)
		}
		per = append(per, ns)
	}
	sort.Float64s(per)
	fmt.Printf("binding_exit_go: %d exits x %d rounds, ns per exit min %.0f median %.0f max %.0f\n",
		*n, *rounds, per[0], per[len(per)/2], per[len(per)-1])
	fmt.Printf("go_ns=%.1f\n", per[len(per)/2])
}

// round runs the guest once and returns the wall time of Run per exit.
func round(guest string, n uint64) (float64, error) {
	vm, err := vmm.NewVM()
	if err != nil {
		return 0, err
	}
	defer vm.Close()
	if _, err := vm.MapMemory(0, 4<<20, 0); err != nil {
		return 0, err
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		return 0, err
	}
	var seen uint64
	err = vm.HandlePIO(port, 1, func(_ *vmm.VCPU, _ uint64, data []byte, write bool) error {
		// The guest writes its loop counter: check every exit arrives.
		if !write || data[0] != uint8(seen) {
			return fmt.Errorf("exit %d: unexpected access %v %v", seen, write, data)
		}
		seen++
		return nil
	})
	if err != nil {
		return 0, err
	}
	elf, err := vm.LoadELFFile(guest)
	if err != nil {
		return 0, err
	}
	var params [16]byte
	binary.LittleEndian.PutUint64(params[0:], n)
	binary.LittleEndian.PutUint64(params[8:], port)
	if err := vm.WriteMemory(paramGPA, params[:]); err != nil {
		return 0, err
	}
	if err := cpu.SetupLongMode(elf.Entry, 0x80000, 0x1000); err != nil {
		return 0, err
	}
	start := time.Now()
	exit, err := cpu.Run(context.Background())
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if exit.Reason != vmm.ExitHLT {
		return 0, errors.New("the guest stopped with exit " + exit.Reason.String())
	}
	if seen != n {
		return 0, fmt.Errorf("the handler saw %d exits, expected %d", seen, n)
	}
	return float64(took.Nanoseconds()) / float64(n), nil
}
