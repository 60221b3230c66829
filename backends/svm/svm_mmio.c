/* backends/svm/svm_mmio.c — what the module leaves to user space: MMIO
 * exits (a nested page fault outside RAM, or a write to ROM) and string
 * port I/O (INS/OUTS). The module reports the guest-physical address; the
 * faulting instruction is fetched from guest memory through the guest's
 * own page tables (or taken from the CPU's decode assist), decoded with
 * src/x86/decode.c and turned into libvmm's MMIO exit, so device handlers
 * see the same accesses as on KVM. The instruction is finished (register
 * written, RIP moved on) at the next run. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "error.h"
#include "svm_internal.h"

/* ---- the guest's page tables ------------------------------------------ */

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

static int read_pte(struct svm_vcpu *v, uint64_t gpa, size_t size,
                    uint64_t *out) {
  *out = 0;
  return vmm_mem_read(v->svm->vm, gpa, out, size);
}

int vmm__svm_walk(struct svm_vcpu *v, const vmm_sregs_t *s, uint64_t gva,
                  bool write, uint64_t *gpa, bool *valid) {
  (void)write; /* only presence is checked: the CPU already ran it */
  *valid = false;
  if (!(s->cr0 & (1ull << 31))) { /* paging off */
    *gpa = (s->efer & (1ull << 10)) ? gva : gva & 0xffffffffull;
    *valid = true;
    return 0;
  }
  uint64_t e;
  if (!(s->cr4 & (1ull << 5))) { /* 32-bit paging: two levels */
    gva &= 0xffffffffull;
    if (read_pte(v, (s->cr3 & 0xfffff000ull) + ((gva >> 22) << 2), 4, &e) < 0)
      return 0;
    if (!(e & PTE_P))
      return 0;
    if ((e & PTE_PS) && (s->cr4 & (1ull << 4))) { /* 4 MiB page */
      *gpa = (e & 0xffc00000ull) | ((e >> 13) & 0xffull) << 32 |
             (gva & 0x3fffff);
      *valid = true;
      return 0;
    }
    if (read_pte(v, (e & 0xfffff000ull) + (((gva >> 12) & 1023) << 2), 4,
                 &e) < 0 || !(e & PTE_P))
      return 0;
    *gpa = (e & 0xfffff000ull) | (gva & 0xfff);
    *valid = true;
    return 0;
  }
  int levels;
  uint64_t table;
  if (s->efer & (1ull << 10)) { /* long mode: four levels */
    levels = 4;
    table = s->cr3 & ADDR_MASK;
  } else { /* PAE: the PDPTE, then two levels */
    gva &= 0xffffffffull;
    if (read_pte(v, (s->cr3 & 0xffffffe0ull) + ((gva >> 30) << 3), 8, &e) <
            0 || !(e & PTE_P))
      return 0;
    levels = 2;
    table = e & ADDR_MASK;
  }
  for (int level = levels; level >= 1; level--) {
    unsigned shift = 12 + 9 * (unsigned)(level - 1);
    if (read_pte(v, table + (((gva >> shift) & 511) << 3), 8, &e) < 0 ||
        !(e & PTE_P))
      return 0;
    if (level > 1 && level <= 3 && (e & PTE_PS)) { /* 1 GiB or 2 MiB */
      uint64_t mask = (1ull << shift) - 1;
      *gpa = (e & ADDR_MASK & ~mask) | (gva & mask);
      *valid = true;
      return 0;
    }
    table = e & ADDR_MASK;
  }
  *gpa = table | (gva & 0xfff);
  *valid = true;
  return 0;
}

/* Copies `len` bytes at linear address `la` (page by page). */
static int linear_rw(struct svm_vcpu *v, const vmm_sregs_t *s, uint64_t la,
                     void *buf, size_t len, bool write) {
  uint8_t *b = buf;
  while (len) {
    size_t chunk = 4096 - (la & 4095);
    if (chunk > len)
      chunk = len;
    uint64_t gpa;
    bool valid;
    int rc = vmm__svm_walk(v, s, la, write, &gpa, &valid);
    if (rc < 0)
      return rc;
    if (!valid)
      return vmm__error(VMM_EFAULT, "svm: vCPU %u: linear address 0x%llx "
                        "is not mapped", v->id, (unsigned long long)la);
    rc = write ? vmm_mem_write(v->svm->vm, gpa, b, chunk)
               : vmm_mem_read(v->svm->vm, gpa, b, chunk);
    if (rc < 0)
      return rc;
    la += chunk, b += chunk, len -= chunk;
  }
  return 0;
}

/* ---- registers by number --------------------------------------------- */

static uint64_t *gpr(vmm_regs_t *r, unsigned n) {
  uint64_t *t[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp,
                     &r->rsi, &r->rdi, &r->r8,  &r->r9,  &r->r10, &r->r11,
                     &r->r12, &r->r13, &r->r14, &r->r15};
  return t[n & 15];
}

/* 8-bit registers: without REX, numbers 4-7 are AH, CH, DH, BH. */
static uint64_t reg_read(vmm_regs_t *r, unsigned n, unsigned size,
                         bool rex) {
  if (size == 1 && !rex && n >= 4 && n < 8)
    return (*gpr(r, n - 4) >> 8) & 0xff;
  uint64_t v = *gpr(r, n);
  return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static void reg_write(vmm_regs_t *r, unsigned n, unsigned size, bool rex,
                      uint64_t val) {
  if (size == 1 && !rex && n >= 4 && n < 8) {
    uint64_t *p = gpr(r, n - 4);
    *p = (*p & ~0xff00ull) | (val & 0xff) << 8;
    return;
  }
  uint64_t *p = gpr(r, n);
  if (size == 8)
    *p = val;
  else if (size == 4)
    *p = val & 0xffffffffull; /* 32-bit results clear the upper half */
  else {
    uint64_t mask = (1ull << (8 * size)) - 1;
    *p = (*p & ~mask) | (val & mask);
  }
}

static unsigned code_mode(const vmm_sregs_t *s, const vmm_regs_t *r) {
  return vmm__x86_code_mode(s->cr0 & 1, s->efer & (1ull << 10), s->cs.l,
                            s->cs.db, r->rflags & (1ull << 17));
}

/* Fetches and decodes the instruction at CS:RIP. */
static int fetch_decode(struct svm_vcpu *v, const vmm_sregs_t *s,
                        const vmm_regs_t *r, struct vmm__x86_insn *d) {
  unsigned mode = code_mode(s, r);
  uint8_t buf[VMM__X86_MAX_LEN];
  size_t n = v->run->u.mmio.insn_len;
  if (v->run->exit_reason == LVS_EXIT_MMIO && n > 0 && n <= sizeof(buf)) {
    memcpy(buf, v->run->u.mmio.insn, n); /* the CPU's decode assist */
  } else {
    uint64_t la = mode == 64 ? r->rip
                  : mode == 32 ? (s->cs.base + (r->rip & 0xffffffffull)) &
                                     0xffffffffull
                               : (s->cs.base + (r->rip & 0xffff)) &
                                     0xffffffffull;
    /* Up to 15 bytes, but not into an unmapped page after the insn. */
    n = sizeof(buf);
    if (linear_rw(v, s, la, buf, n, false) < 0) {
      n = 4096 - (la & 4095);
      if (n > sizeof(buf))
        n = sizeof(buf);
      int rc = linear_rw(v, s, la, buf, n, false);
      if (rc < 0)
        return rc;
    }
  }
  int rc = vmm__x86_decode(buf, n, mode, d);
  if (rc < 0)
    return vmm__error(VMM_EBACKEND, "svm: vCPU %u: cannot decode the "
                      "instruction at rip 0x%llx (%d)", v->id,
                      (unsigned long long)r->rip, rc);
  return 0;
}

static int put_regs(struct svm_vcpu *v, const vmm_regs_t *r) {
  struct lvs_regs k = {
      .rax = r->rax, .rbx = r->rbx, .rcx = r->rcx, .rdx = r->rdx,
      .rsi = r->rsi, .rdi = r->rdi, .rsp = r->rsp, .rbp = r->rbp,
      .r8 = r->r8, .r9 = r->r9, .r10 = r->r10, .r11 = r->r11,
      .r12 = r->r12, .r13 = r->r13, .r14 = r->r14, .r15 = r->r15,
      .rip = r->rip, .rflags = r->rflags};
  if (vmm__svm_ioctl(v->fd, LVS_SET_REGS, &k) < 0)
    return vmm__svm_ioctl_error(v, "LVS_SET_REGS");
  return 0;
}

/* ---- MMIO ------------------------------------------------------------- */

static void emulation_exit(struct svm_vcpu *v, vmm_exit_t *exit,
                           const vmm_regs_t *r, const vmm_sregs_t *s,
                           const struct vmm__x86_insn *d, const char *why) {
  memset(&exit->u.internal, 0, sizeof(exit->u.internal));
  exit->reason = VMM_EXIT_INTERNAL_ERROR;
  exit->u.internal.kind = VMM_INTERNAL_EMULATION;
  exit->u.internal.backend_code = 0x400; /* SVM's nested page fault */
  exit->u.internal.rip = r->rip;
  exit->u.internal.data[0] = v->run->u.mmio.gpa;
  exit->u.internal.cpu_mode = !(s->cr0 & 1) ? VMM_CPU_MODE_REAL
                              : (s->efer & (1ull << 10)) ? VMM_CPU_MODE_LONG
                                                         : VMM_CPU_MODE_PROTECTED;
  exit->u.internal.code_bits = (uint8_t)code_mode(s, r);
  exit->u.internal.cpl = s->ss.dpl;
  vmm__error(VMM_EBACKEND, "svm: vCPU %u: MMIO at gpa 0x%llx by an "
             "instruction libvmm does not emulate (%s; opcode %s%02x) at rip "
             "0x%llx", v->id, (unsigned long long)v->run->u.mmio.gpa, why,
             d && d->map == VMM__X86_MAP_0F ? "0f " : "", d ? d->opcode : 0,
             (unsigned long long)r->rip);
}

int vmm__svm_mmio_exit(struct svm_vcpu *v, vmm_exit_t *exit) {
  vmm_regs_t r;
  vmm_sregs_t s;
  struct vmm__x86_insn *d = &v->insn;
  int rc = vmm__svm_get_regs(v, &r);
  if (rc == 0)
    rc = vmm__svm_get_sregs(v, &s);
  if (rc < 0)
    return rc;
  if (fetch_decode(v, &s, &r, d) < 0) {
    emulation_exit(v, exit, &r, &s, NULL, vmm_last_error());
    return 0;
  }
  bool rex = d->rex != 0;
  unsigned size = d->opsize;
  bool write;
  uint64_t val = 0;
  if (d->map == VMM__X86_MAP_1B) {
    switch (d->opcode) {
    case 0x88: case 0x89: /* MOV r/m, r */
      if (!d->has_mem)
        goto unknown;
      size = d->opcode == 0x88 ? 1 : size;
      write = true;
      val = reg_read(&r, d->reg, size, rex);
      break;
    case 0x8a: case 0x8b: /* MOV r, r/m */
      if (!d->has_mem)
        goto unknown;
      size = d->opcode == 0x8a ? 1 : size;
      write = false;
      break;
    case 0xc6: case 0xc7: /* MOV r/m, imm */
      if (!d->has_mem || (d->modrm >> 3 & 7) != 0)
        goto unknown;
      size = d->opcode == 0xc6 ? 1 : size;
      write = true;
      val = d->imm;
      if (size == 8) /* imm32 sign-extended */
        val = (uint64_t)(int64_t)(int32_t)(uint32_t)val;
      break;
    case 0xa0: case 0xa1: /* MOV AL/rAX, moffs */
      size = d->opcode == 0xa0 ? 1 : size;
      write = false;
      break;
    case 0xa2: case 0xa3: /* MOV moffs, AL/rAX */
      size = d->opcode == 0xa2 ? 1 : size;
      write = true;
      val = reg_read(&r, 0, size, true);
      break;
    default:
      goto unknown;
    }
  } else if (d->map == VMM__X86_MAP_0F &&
             (d->opcode == 0xb6 || d->opcode == 0xb7 || d->opcode == 0xbe ||
              d->opcode == 0xbf) && d->has_mem) {
    /* MOVZX / MOVSX r, r/m8 or r/m16 */
    size = (d->opcode & 1) ? 2 : 1;
    write = false;
  } else {
    goto unknown;
  }
  v->insn_rip = r.rip;
  v->next_rip = r.rip + d->len;
  v->mmio_size = size;
  memset(v->mmio_data, 0, sizeof(v->mmio_data));
  exit->reason = VMM_EXIT_MMIO;
  exit->u.mmio.gpa = v->run->u.mmio.gpa;
  exit->u.mmio.size = size;
  exit->u.mmio.is_write = write;
  exit->u.mmio.data = v->mmio_data;
  if (write) {
    memcpy(v->mmio_data, &val, size);
    /* Nothing comes back: the instruction is done now. */
    r.rip = v->next_rip;
    v->pending = SVM_PEND_NONE;
    return put_regs(v, &r);
  }
  v->pending = SVM_PEND_MMIO_READ;
  return 0;
unknown:
  emulation_exit(v, exit, &r, &s, d, "not a MOV to or from memory");
  return 0;
}

static int complete_mmio_read(struct svm_vcpu *v) {
  vmm_regs_t r;
  int rc = vmm__svm_get_regs(v, &r);
  if (rc < 0)
    return rc;
  const struct vmm__x86_insn *d = &v->insn;
  uint64_t val = 0;
  memcpy(&val, v->mmio_data, v->mmio_size);
  bool rex = d->rex != 0;
  if (d->map == VMM__X86_MAP_0F) {
    if (d->opcode == 0xbe)
      val = (uint64_t)(int64_t)(int8_t)val;
    else if (d->opcode == 0xbf)
      val = (uint64_t)(int64_t)(int16_t)val;
    reg_write(&r, d->reg, d->opsize, rex, val);
  } else if (d->opcode == 0xa0 || d->opcode == 0xa1) {
    reg_write(&r, 0, v->mmio_size, true, val);
  } else {
    reg_write(&r, d->reg, v->mmio_size, rex, val);
  }
  r.rip = v->next_rip;
  return put_regs(v, &r);
}

/* ---- MOV to CR4 -------------------------------------------------------- */

int vmm__svm_cr4_exit(struct svm_vcpu *v, vmm_exit_t *exit) {
  vmm_regs_t r;
  vmm_sregs_t s;
  struct vmm__x86_insn d;
  int rc = vmm__svm_get_regs(v, &r);
  if (rc == 0)
    rc = vmm__svm_get_sregs(v, &s);
  if (rc == 0)
    rc = fetch_decode(v, &s, &r, &d);
  if (rc < 0)
    return rc;
  if (d.map != VMM__X86_MAP_0F || d.opcode != 0x22 || d.reg != 4 ||
      d.mod != 3)
    return vmm__error(VMM_EBACKEND, "svm: vCPU %u: CR4 write exit at rip "
                      "0x%llx is not MOV CR4, reg", v->id,
                      (unsigned long long)r.rip);
  uint64_t val = *gpr(&r, d.rm);
  if (code_mode(&s, &r) != 64)
    val &= 0xffffffffull;
  s.cr4 = val;
  rc = vmm__svm_set_sregs(v, &s);
  if (rc == VMM_EINVAL) {
    /* A bit the CPU or the module does not support: #GP(0), as a CPU
     * without it would raise. */
    rc = vmm__svm_inject_event(v, 13, VMM__EVENT_EXCEPTION, 1, 0);
  } else if (rc == 0) {
    r.rip += d.len;
    rc = put_regs(v, &r);
  }
  return rc < 0 ? rc : vmm__svm_vcpu_run(v, exit);
}

/* ---- string port I/O -------------------------------------------------- */

#define IOIO_IN (1ull << 0)
#define IOIO_REP (1ull << 3)

static uint64_t addr_mask(unsigned bytes) {
  return bytes == 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

/* The segment base of the memory operand: ES for INS, DS or the
 * override for OUTS (FS/GS bases count in 64-bit mode, others are 0). */
static uint64_t str_seg_base(const vmm_sregs_t *s, const struct vmm__x86_insn *d,
                             bool in, unsigned mode) {
  unsigned seg = in ? VMM__X86_SEG_ES
                 : d->seg != VMM__X86_SEG_NONE ? d->seg : VMM__X86_SEG_DS;
  const vmm_segment_t *t[] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};
  if (mode == 64 && seg != VMM__X86_SEG_FS && seg != VMM__X86_SEG_GS)
    return 0;
  return t[seg]->base;
}

int vmm__svm_strio_exit(struct svm_vcpu *v, vmm_exit_t *exit) {
  uint64_t info = v->run->u.hw.info1;
  vmm_regs_t r;
  vmm_sregs_t s;
  struct vmm__x86_insn *d = &v->insn;
  int rc = vmm__svm_get_regs(v, &r);
  if (rc == 0)
    rc = vmm__svm_get_sregs(v, &s);
  if (rc == 0)
    rc = fetch_decode(v, &s, &r, d);
  if (rc < 0)
    return rc;
  bool in = info & IOIO_IN, rep = info & IOIO_REP;
  unsigned size = (info >> 4) & 7, mode = code_mode(&s, &r);
  uint64_t am = addr_mask(d->addrsize);
  uint64_t count = rep ? r.rcx & am : 1;
  v->insn_rip = r.rip;
  v->next_rip = v->run->u.hw.info2;
  if (count == 0) { /* REP with rCX 0: nothing happens; go on */
    r.rip = v->next_rip;
    rc = put_regs(v, &r);
    return rc < 0 ? rc : vmm__svm_vcpu_run(v, exit);
  }
  if (count > SVM_STRIO_MAX / size)
    count = SVM_STRIO_MAX / size;
  v->str_count = (uint32_t)count;
  v->str_size = size;
  v->str_addr_size = d->addrsize;
  if (!in) {
    /* OUTS: the elements, read now, in the order the CPU would. */
    bool down = r.rflags & (1ull << 10);
    uint64_t base = str_seg_base(&s, d, false, mode);
    for (uint64_t i = 0; i < count; i++) {
      uint64_t off = (r.rsi + (down ? -(i * size) : i * size)) & am;
      rc = linear_rw(v, &s, base + off, v->io_buf + i * size, size, false);
      if (rc < 0)
        return rc;
    }
  }
  exit->reason = VMM_EXIT_IO;
  exit->u.io.port = (uint16_t)(info >> 16);
  exit->u.io.size = (uint8_t)size;
  exit->u.io.is_write = !in;
  exit->u.io.count = (uint32_t)count;
  exit->u.io.data = v->io_buf;
  v->pending = in ? SVM_PEND_STR_IN : SVM_PEND_STR_OUT;
  return 0;
}

static int complete_strio(struct svm_vcpu *v, bool in) {
  vmm_regs_t r;
  vmm_sregs_t s;
  int rc = vmm__svm_get_regs(v, &r);
  if (rc == 0 && in)
    rc = vmm__svm_get_sregs(v, &s);
  if (rc < 0)
    return rc;
  const struct vmm__x86_insn *d = &v->insn;
  bool down = r.rflags & (1ull << 10);
  uint64_t am = addr_mask(v->str_addr_size);
  uint64_t bytes = (uint64_t)v->str_count * v->str_size;
  uint64_t *idx = in ? &r.rdi : &r.rsi;
  if (in) {
    uint64_t base = str_seg_base(&s, d, true, code_mode(&s, &r));
    for (uint32_t i = 0; i < v->str_count; i++) {
      uint64_t off = (*idx + (down ? -(i * v->str_size)
                                   : i * v->str_size)) & am;
      rc = linear_rw(v, &s, base + off, v->io_buf + i * v->str_size,
                     v->str_size, true);
      if (rc < 0)
        return rc;
    }
  }
  uint64_t moved = (*idx + (down ? -bytes : bytes)) & am;
  *idx = (*idx & ~am) | moved;
  bool rep = d->prefixes & (VMM__X86_P_REP | VMM__X86_P_REPNE);
  if (rep) {
    uint64_t left = ((r.rcx & am) - v->str_count) & am;
    r.rcx = (r.rcx & ~am) | left;
    if (left == 0)
      r.rip = v->next_rip; /* else the CPU runs the rest of the REP */
  } else {
    r.rip = v->next_rip;
  }
  return put_regs(v, &r);
}

int vmm__svm_complete(struct svm_vcpu *v) {
  enum svm_pending p = v->pending;
  v->pending = SVM_PEND_NONE;
  switch (p) {
  case SVM_PEND_MMIO_READ:
    return complete_mmio_read(v);
  case SVM_PEND_STR_IN:
    return complete_strio(v, true);
  case SVM_PEND_STR_OUT:
    return complete_strio(v, false);
  default:
    return 0;
  }
}
