/* src/gdbstub/break.c — the gdb stub's breakpoints and watchpoints, and
 * its guest-virtual memory access.
 *
 * Breakpoints go into the four debug registers first, for software (Z0)
 * and hardware (Z1) breakpoints alike: on this machine's KVM an INT3 in
 * ring 3 reaches the guest without any exit, and on QEMU's nested SVM
 * KVM's #BP intercept did not fire (docs/platforms.md), while debug
 * register breakpoints exit on both. Software breakpoints beyond four are
 * INT3 patches, caught as emulation failures in ring 0 here and by KVM's
 * #BP intercept where that works. */
#include <string.h>

#include "error.h"
#include "gdbstub_priv.h"
#include "vm_internal.h"

#define PAGE 4096ull

int vmm__gdb_mem(vmm_vcpu_t *vcpu, uint64_t gva, void *buf, size_t len,
                 bool write) {
  if (!vcpu) /* a VM without vCPUs: no paging to translate through */
    return vmm__error(VMM_EINVAL, "gdb: the VM has no vCPU");
  vmm_vm_t *vm = vcpu->vm;
  uint8_t *p = buf;
  while (len > 0) {
    size_t chunk = (size_t)(PAGE - (gva & (PAGE - 1)));
    if (chunk > len)
      chunk = len;
    uint64_t gpa = gva;
    bool valid = true;
    if (vm->ops->translate) {
      int rc = vm->ops->translate(vcpu->bvcpu, gva, &gpa, &valid);
      if (rc < 0)
        return rc;
    }
    if (!valid)
      return vmm__error(VMM_EFAULT, "gdb: guest-virtual 0x%llx is not "
                        "mapped", (unsigned long long)gva);
    int rc = write ? vmm_mem_write(vm, gpa, p, chunk)
                   : vmm_mem_read(vm, gpa, p, chunk);
    if (rc < 0)
      return rc;
    p += chunk;
    gva += chunk;
    len -= chunk;
  }
  return 0;
}

static vmm_vcpu_t *any_vcpu(struct vmm__gdbstub *gs) {
  return gs->vm->vcpus[gs->cur < gs->vm->max_vcpus ? gs->cur : 0]
             ? gs->vm->vcpus[gs->cur]
             : gs->vm->vcpus[vmm__gdb_first_vcpu(gs)];
}

static bool slot_used(struct vmm__gdbstub *gs, int slot) {
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++)
    if (gs->bps[i].used && gs->bps[i].slot == slot)
      return true;
  return false;
}

struct vmm__gdb_bp *vmm__gdb_bp_of_slot(struct vmm__gdbstub *gs, int slot) {
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++)
    if (gs->bps[i].used && gs->bps[i].slot == slot)
      return &gs->bps[i];
  return NULL;
}

int vmm__gdb_bp_insert(struct vmm__gdbstub *gs, int type, uint64_t addr,
                       uint64_t kind) {
  if (type < 0 || type > 4)
    return 1;
  if (type >= 2 && kind != 1 && kind != 2 && kind != 4 && kind != 8)
    return vmm__error(VMM_EINVAL, "gdb: a watchpoint of %llu bytes",
                      (unsigned long long)kind);
  if (type >= 2 && (addr & (kind - 1)))
    return vmm__error(VMM_EINVAL, "gdb: watchpoint at 0x%llx not aligned",
                      (unsigned long long)addr);
  struct vmm__gdb_bp *bp = NULL;
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++) {
    struct vmm__gdb_bp *b = &gs->bps[i];
    if (b->used && b->type == type && b->addr == addr && b->kind == kind)
      return 0; /* already there */
    if (!b->used && !bp)
      bp = b;
  }
  if (!bp)
    return vmm__error(VMM_ENOSPC, "gdb: too many breakpoints");
  int slot = -1;
  for (int s = 0; s < 4 && slot < 0; s++)
    if (!slot_used(gs, s))
      slot = s;
  uint8_t saved = 0;
  if (slot < 0) {
    if (type != 0)
      return vmm__error(VMM_ENOSPC, "gdb: the four debug registers are "
                        "taken");
    /* An INT3 patch. */
    vmm_vcpu_t *v = any_vcpu(gs);
    static const uint8_t int3 = 0xcc;
    int rc = vmm__gdb_mem(v, addr, &saved, 1, false);
    if (rc == 0)
      rc = vmm__gdb_mem(v, addr, (void *)&int3, 1, true);
    if (rc < 0)
      return rc;
  }
  pthread_mutex_lock(&gs->mu);
  *bp = (struct vmm__gdb_bp){.used = true, .type = type, .addr = addr,
                             .kind = kind, .slot = slot, .saved = saved};
  pthread_mutex_unlock(&gs->mu);
  return 0;
}

static void bp_drop(struct vmm__gdbstub *gs, struct vmm__gdb_bp *b) {
  if (b->slot < 0)
    vmm__gdb_mem(any_vcpu(gs), b->addr, &b->saved, 1, true);
  pthread_mutex_lock(&gs->mu);
  b->used = false;
  pthread_mutex_unlock(&gs->mu);
}

int vmm__gdb_bp_remove(struct vmm__gdbstub *gs, int type, uint64_t addr,
                       uint64_t kind) {
  if (type < 0 || type > 4)
    return 1;
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++) {
    struct vmm__gdb_bp *b = &gs->bps[i];
    if (b->used && b->type == type && b->addr == addr && b->kind == kind) {
      bp_drop(gs, b);
      return 0;
    }
  }
  return vmm__error(VMM_ENOENT, "gdb: no such breakpoint");
}

void vmm__gdb_bps_clear(struct vmm__gdbstub *gs) {
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++)
    if (gs->bps[i].used)
      bp_drop(gs, &gs->bps[i]);
}

bool vmm__gdb_debugregs(struct vmm__gdbstub *gs, uint64_t dr[8]) {
  memset(dr, 0, 8 * sizeof(dr[0]));
  bool any = false;
  for (size_t i = 0; i < VMM__GDB_MAX_BPS; i++) {
    const struct vmm__gdb_bp *b = &gs->bps[i];
    if (!b->used || b->slot < 0)
      continue;
    unsigned s = (unsigned)b->slot;
    /* R/W: 00 execute, 01 write, 11 read or write (x86 has no read-only:
     * gdb's read watchpoints also stop on writes). LEN: 00 1 byte,
     * 01 2, 11 4, 10 8; execute breakpoints use 00. */
    uint64_t rw = b->type == 2 ? 1 : b->type >= 3 ? 3 : 0;
    uint64_t len = 0;
    if (b->type >= 2)
      len = b->kind == 2 ? 1 : b->kind == 4 ? 3 : b->kind == 8 ? 2 : 0;
    dr[s] = b->addr;
    dr[7] |= (2ull << (2 * s)) | (rw << (16 + 4 * s)) | (len << (18 + 4 * s));
    any = true;
  }
  return any;
}
