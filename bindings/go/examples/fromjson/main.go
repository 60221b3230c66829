// fromjson builds a VM from a JSON description (docs/config.md), prints
// what the guest writes to port 0xE9, runs it on libvmm's threads until it
// stops, and exits with the guest's status.
//
//	fromjson [-describe] FILE.json
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"libvmm/vmm"
)

func main() {
	describe := flag.Bool("describe", false, "print the VM's description (vmm_vm_describe_json) first")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fromjson [-describe] FILE.json")
		os.Exit(2)
	}
	status, err := run(flag.Arg(0), *describe)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fromjson:", err)
		os.Exit(1)
	}
	os.Exit(status)
}

func run(path string, describe bool) (int, error) {
	vm, err := vmm.NewVMFromFile(path)
	if err != nil {
		return 0, err
	}
	defer vm.Close()
	if describe {
		js, err := vm.DescribeJSON()
		if err != nil {
			return 0, err
		}
		fmt.Println(js)
	}
	// The debug print port, which the test guests use.
	err = vm.HandlePIO(0xe9, 1, func(_ *vmm.VCPU, _ uint64, data []byte, write bool) error {
		if write {
			_, err := os.Stdout.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := vm.Start(); err != nil {
		return 0, err
	}
	// Ctrl-C stops the VM; Wait returns once its threads have ended.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = vm.Stop(130)
	}()
	info, err := vm.Wait(context.Background())
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "fromjson: the VM stopped: %v, status %d\n", info.Reason, info.Status)
	if info.Reason == vmm.StopError {
		return 1, fmt.Errorf("%s (%v)", info.Message, info.Error)
	}
	return info.Status, nil
}
