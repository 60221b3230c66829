// hypercall runs the hypercall test guest (tests/guests/hypercall.c): a
// hypercall served by a Go function, others answered at the exit they
// cause, the same from ring 3, and the guest's checkpoints ("ucalls",
// port 0x1000) read from guest memory.
//
//	hypercall [GUEST.elf]   (default: $LIBVMM_GUEST_DIR/hypercall.elf)
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"libvmm/vmm"
)

// Numbers from tests/guests/lib/layout.h and ucall.h.
const (
	hcAdd      = 1 // served by add() below
	hcEchoExit = 2 // exits; answered with hcEchoRet
	hcEchoRet  = 0xfeedface12345678
	ucallPort  = 0x1000
	ucallSync  = 1
	ucallDone  = 2
	ucallAbort = 3
)

func main() {
	path := filepath.Join(os.Getenv("LIBVMM_GUEST_DIR"), "hypercall.elf")
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := run(path); err != nil {
		fmt.Fprintln(os.Stderr, "hypercall:", err)
		os.Exit(1)
	}
}

func add(v *vmm.VCPU, nr uint64, a [5]uint64) (uint64, error) {
	sum := 0x100 + a[0] + a[1] + a[2] + a[3] + a[4]
	fmt.Printf("vcpu %d: hypercall %d%v served in Go -> %#x\n", v.ID(), nr, a, sum)
	return sum, nil
}

func run(path string) error {
	vm, err := vmm.NewVM()
	if err != nil {
		return err
	}
	defer vm.Close()
	if _, err := vm.MapMemory(0, 4<<20, 0); err != nil {
		return err
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		return err
	}
	if err := vm.HandleHypercall(hcAdd, add); err != nil {
		return err
	}
	elf, err := vm.LoadELFFile(path)
	if err != nil {
		return err
	}
	if err := cpu.SetupLongMode(elf.Entry, 0x80000, 0x1000); err != nil {
		return err
	}
	for {
		exit, err := cpu.Run(context.Background())
		if err != nil {
			return err
		}
		switch {
		case exit.Reason == vmm.ExitHypercall:
			hc := exit.Hypercall
			if hc.Nr == hcEchoExit || hc.Nr == hcAdd {
				hc.Ret = hcEchoRet // the guest gets this in RAX
			} // anything else: left at -ENOSYS
			fmt.Printf("hypercall %d%v exited -> %#x\n", hc.Nr, hc.Args, hc.Ret)
		case exit.Reason == vmm.ExitIO && exit.IO.Port == ucallPort:
			cmd, arg, text, err := readUcall(vm, exit.IO.Data)
			if err != nil {
				return err
			}
			switch cmd {
			case ucallSync:
				fmt.Printf("guest checkpoint %d\n", arg)
				if arg == 3 {
					// The guest now expects hcAdd to exit instead.
					if err := vm.UnhandleHypercall(hcAdd); err != nil {
						return err
					}
				}
			case ucallDone:
				fmt.Println("guest done")
				return nil
			case ucallAbort:
				return errors.New("guest assertion: " + text)
			}
		default:
			return fmt.Errorf("unexpected exit %v", exit.Reason)
		}
	}
}

// readUcall reads the struct ucall whose address the guest wrote.
func readUcall(vm *vmm.VM, data []byte) (cmd uint32, arg0 uint64, text string, err error) {
	buf := make([]byte, 8+8*6+256)
	if err = vm.ReadMemory(uint64(binary.LittleEndian.Uint32(data)), buf); err != nil {
		return
	}
	text = strings.TrimRight(string(buf[56:]), "\x00")
	return binary.LittleEndian.Uint32(buf[4:]), binary.LittleEndian.Uint64(buf[8:]), text, nil
}
