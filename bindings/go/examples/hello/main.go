// hello runs the hello test guest: it prints a greeting on port 0xE9,
// which a Go handler copies to stdout, and halts.
//
//	hello [GUEST.elf]   (default: $LIBVMM_GUEST_DIR/hello.elf)
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"libvmm/vmm"
)

func main() {
	path := filepath.Join(os.Getenv("LIBVMM_GUEST_DIR"), "hello.elf")
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := run(path); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	vm, err := vmm.NewVM()
	if err != nil {
		return err
	}
	defer vm.Close()
	// 4 MiB of RAM at 0; the ELF is linked at 1 MiB; long mode's tables
	// go at 4 KiB and the stack grows down from 512 KiB.
	if _, err := vm.MapMemory(0, 4<<20, 0); err != nil {
		return err
	}
	cpu, err := vm.NewVCPU(0)
	if err != nil {
		return err
	}
	err = vm.HandlePIO(0xe9, 1, func(_ *vmm.VCPU, _ uint64, data []byte, write bool) error {
		if write {
			_, err := os.Stdout.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	elf, err := vm.LoadELFFile(path)
	if err != nil {
		return err
	}
	if err := cpu.SetupLongMode(elf.Entry, 0x80000, 0x1000); err != nil {
		return err
	}
	exit, err := cpu.Run(context.Background())
	if err != nil {
		return err
	}
	if exit.Reason != vmm.ExitHLT {
		return fmt.Errorf("the guest stopped with exit %v, not hlt", exit.Reason)
	}
	return nil
}
