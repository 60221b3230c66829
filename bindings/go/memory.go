package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"os"
	"unsafe"
)

// Memory region flags.
const (
	MemReadOnly = C.VMM_MEM_READONLY  // ROM: guest writes exit as MMIO
	MemDirtyLog = C.VMM_MEM_DIRTY_LOG // track written pages
)

// PageSize is the guest page size memory regions are aligned to.
const PageSize = C.VMM_PAGE_SIZE

// MemoryRegion is guest-physical memory allocated by libvmm.
type MemoryRegion struct {
	vm *VM
	c  *C.vmm_mem_region_t
}

// MapMemory maps size bytes of zeroed memory at guest-physical gpa (both
// page aligned; EOVERLAP over an existing region).
func (vm *VM) MapMemory(gpa, size uint64, flags uint32) (*MemoryRegion, error) {
	c, err := vm.handle("vmm_mem_map")
	if err != nil {
		return nil, err
	}
	var r *C.vmm_mem_region_t
	if err := call("vmm_mem_map", func() C.int {
		return C.vmm_mem_map(c, C.uint64_t(gpa), C.uint64_t(size), nil, C.uint32_t(flags), &r)
	}); err != nil {
		return nil, err
	}
	return &MemoryRegion{vm: vm, c: r}, nil
}

// GPA is where the region starts in guest-physical memory.
func (r *MemoryRegion) GPA() uint64 { return uint64(C.vmm_mem_region_gpa(r.c)) }

// Size of the region in bytes.
func (r *MemoryRegion) Size() uint64 { return uint64(C.vmm_mem_region_size(r.c)) }

// Bytes is the region's memory as a slice (C memory, not Go's). It is
// valid until Unmap or the VM's Close; the guest may change it at any
// time while it runs.
func (r *MemoryRegion) Bytes() []byte {
	p := C.vmm_mem_region_hva(r.c)
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(r.Size()))
}

// Unmap removes the region; Bytes must not be used afterwards.
func (r *MemoryRegion) Unmap() error {
	return call("vmm_mem_unmap", func() C.int { return C.vmm_mem_unmap(r.c) })
}

// DirtyLog returns the pages written since the last ClearDirtyLog of a
// region mapped with MemDirtyLog: bit i of word i/64 for the page at
// GPA() + i*PageSize (guest writes and host WriteMemory alike).
func (r *MemoryRegion) DirtyLog() ([]uint64, error) {
	pages := (r.Size() + PageSize - 1) / PageSize
	words := make([]uint64, (pages+63)/64)
	if len(words) == 0 {
		return words, nil
	}
	err := call("vmm_mem_dirty_log_get", func() C.int {
		return C.vmm_mem_dirty_log_get(r.c, (*C.uint64_t)(unsafe.Pointer(&words[0])),
			C.size_t(len(words)*8))
	})
	if err != nil {
		return nil, err
	}
	return words, nil
}

// ClearDirtyLog forgets the pages written until now.
func (r *MemoryRegion) ClearDirtyLog() error {
	return call("vmm_mem_dirty_log_clear", func() C.int { return C.vmm_mem_dirty_log_clear(r.c) })
}

// ReadMemory copies guest memory at gpa into p (EFAULT, and nothing
// copied, when any byte lies outside guest memory).
func (vm *VM) ReadMemory(gpa uint64, p []byte) error {
	c, err := vm.handle("vmm_mem_read")
	if err != nil || len(p) == 0 {
		return err
	}
	return call("vmm_mem_read", func() C.int {
		return C.vmm_mem_read(c, C.uint64_t(gpa), unsafe.Pointer(&p[0]), C.size_t(len(p)))
	})
}

// WriteMemory copies p into guest memory at gpa (ROM included).
func (vm *VM) WriteMemory(gpa uint64, p []byte) error {
	c, err := vm.handle("vmm_mem_write")
	if err != nil || len(p) == 0 {
		return err
	}
	return call("vmm_mem_write", func() C.int {
		return C.vmm_mem_write(c, C.uint64_t(gpa), unsafe.Pointer(&p[0]), C.size_t(len(p)))
	})
}

// ELFInfo is what an ELF load produced.
type ELFInfo struct {
	Entry, Lowest, Highest uint64
	Class                  uint32 // 32 or 64
	Segments               uint32
}

// LoadELF loads a static x86 ELF32/ELF64 executable at its physical
// addresses (ENOEXEC with the reason for a bad image).
func (vm *VM) LoadELF(image []byte) (ELFInfo, error) {
	c, err := vm.handle("vmm_load_elf")
	if err != nil {
		return ELFInfo{}, err
	}
	var info C.vmm_elf_info_t
	info.size = C.size_t(unsafe.Sizeof(info))
	var p unsafe.Pointer
	if len(image) > 0 {
		p = unsafe.Pointer(&image[0])
	}
	err = call("vmm_load_elf", func() C.int { return C.vmm_load_elf(c, p, C.size_t(len(image)), &info) })
	return ELFInfo{uint64(info.entry), uint64(info.lowest), uint64(info.highest),
		uint32(info.elf_class), uint32(info.segments)}, err
}

// LoadELFFile is LoadELF of a file.
func (vm *VM) LoadELFFile(path string) (ELFInfo, error) {
	image, err := os.ReadFile(path)
	if err != nil {
		return ELFInfo{}, err
	}
	return vm.LoadELF(image)
}

// LoadFlat copies image to guest-physical gpa.
func (vm *VM) LoadFlat(image []byte, gpa uint64) error {
	c, err := vm.handle("vmm_load_flat")
	if err != nil || len(image) == 0 {
		return err
	}
	return call("vmm_load_flat", func() C.int {
		return C.vmm_load_flat(c, unsafe.Pointer(&image[0]), C.size_t(len(image)), C.uint64_t(gpa))
	})
}
