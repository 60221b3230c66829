/* src/gdbstub/regs.h — x86-64 registers as gdb numbers them, and the
 * target description that tells gdb so. */
#ifndef VMM__GDB_REGS_H
#define VMM__GDB_REGS_H

#include <stddef.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

/* A vCPU's whole state as the stub moves it. */
struct vmm__gdb_state {
  vmm_regs_t regs;
  vmm_sregs_t sregs;
  vmm_fpu_t fpu;
};

/* Register layouts: gdb's x86-64 one, or i386 for a guest outside long
 * mode (chosen when gdb attaches: gdb reads the description once). */
#define VMM__GDB_ARCH_64 0
#define VMM__GDB_ARCH_32 1
int vmm__gdb_arch_of(const struct vmm__gdb_state *st);

/* Number of registers and bytes of the 'g' packet's (binary) image. */
size_t vmm__gdb_reg_count(int arch);
size_t vmm__gdb_regs_size(int arch);

int vmm__gdb_state_get(vmm_vcpu_t *vcpu, struct vmm__gdb_state *st);
int vmm__gdb_state_set(vmm_vcpu_t *vcpu, const struct vmm__gdb_state *st);

/* Register `n` to/from little-endian bytes; returns its size, or -1 for
 * an unknown number. set refuses (-1) changes it cannot carry out (a
 * segment selector: its descriptor would be left stale). */
int vmm__gdb_reg_get(int arch, const struct vmm__gdb_state *st, size_t n,
                     uint8_t *out);
int vmm__gdb_reg_set(int arch, struct vmm__gdb_state *st, size_t n,
                     const uint8_t *in);

/* The target description (target.xml), NUL-terminated, built once. */
const char *vmm__gdb_target_xml(int arch);

#endif
