/* src/x86/emulate.c — a few instructions the assist carries out itself
 * when a backend cannot emulate them in guest ring 0 and they have no
 * CPUID bit a template could hide from every guest: POPCNT, CRC32,
 * STAC/CLAC, LDMXCSR, STMXCSR, FNSTSW, FWAIT, EMMS, RDTSCP. Operands come
 * from the decoder; guest memory is reached through the vCPU's paging and
 * the checked guest-memory calls. */
#include <string.h>

#include "error.h"
#include "vm_internal.h"
#include "x86/emulate.h"

/* General register number (ModRM encoding) → field of vmm_regs_t. */
static uint64_t *gpr(vmm_regs_t *r, unsigned n) {
  switch (n & 15) {
  case 0: return &r->rax;
  case 1: return &r->rcx;
  case 2: return &r->rdx;
  case 3: return &r->rbx;
  case 4: return &r->rsp;
  case 5: return &r->rbp;
  case 6: return &r->rsi;
  case 7: return &r->rdi;
  case 8: return &r->r8;
  case 9: return &r->r9;
  case 10: return &r->r10;
  case 11: return &r->r11;
  case 12: return &r->r12;
  case 13: return &r->r13;
  case 14: return &r->r14;
  default: return &r->r15;
  }
}

static uint64_t size_mask(unsigned bytes) {
  return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

/* Writes a register as the CPU does: 32-bit results clear the upper half,
 * 16-bit ones keep it. */
static void set_gpr(vmm_regs_t *r, unsigned n, unsigned bytes, uint64_t v) {
  uint64_t *p = gpr(r, n);
  if (bytes == 8)
    *p = v;
  else if (bytes == 4)
    *p = v & 0xffffffffull;
  else
    *p = (*p & ~size_mask(bytes)) | (v & size_mask(bytes));
}

/* The linear address of the decoded memory operand. Segment limits are
 * not checked (flat segments are what the assist meets). */
static uint64_t linear(const struct vmm__x86_insn *d, vmm_regs_t *r,
                       const vmm_sregs_t *s) {
  uint64_t ea = (uint64_t)d->disp;
  if (d->base == VMM__X86_REG_RIP)
    ea += r->rip + d->len;
  else if (d->base >= 0)
    ea += *gpr(r, (unsigned)d->base);
  if (d->index >= 0)
    ea += *gpr(r, (unsigned)d->index) * d->scale;
  ea &= size_mask(d->addrsize);
  unsigned seg = d->seg;
  if (seg == VMM__X86_SEG_NONE)
    seg = (d->base == 4 || d->base == 5) ? VMM__X86_SEG_SS : VMM__X86_SEG_DS;
  const vmm_segment_t *sg[] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs,
                               &s->gs};
  if (d->mode == 64)
    return seg == VMM__X86_SEG_FS || seg == VMM__X86_SEG_GS
               ? ea + sg[seg]->base : ea;
  return (ea + sg[seg]->base) & 0xffffffffull;
}

/* Copies between guest linear memory and buf, page by page. */
static int access(vmm_vcpu_t *vcpu, const vmm_sregs_t *s, uint64_t lin,
                  void *buf, size_t len, bool write) {
  uint8_t *b = buf;
  while (len) {
    size_t chunk = 4096 - (lin & 4095);
    if (chunk > len)
      chunk = len;
    uint64_t gpa = lin;
    if (s->cr0 & VMM_X86_CR0_PG) {
      bool valid = false;
      if (!vcpu->vm->ops->translate)
        return VMM_ENOTSUP;
      int rc = vcpu->vm->ops->translate(vcpu->bvcpu, lin, &gpa, &valid);
      if (rc < 0)
        return rc;
      if (!valid)
        return VMM_EFAULT;
    }
    int rc = write ? vmm_mem_write(vcpu->vm, gpa, b, chunk)
                   : vmm_mem_read(vcpu->vm, gpa, b, chunk);
    if (rc < 0)
      return rc;
    lin += chunk, b += chunk, len -= chunk;
  }
  return 0;
}

/* Reads the r/m operand of `bytes` bytes (register or memory). */
static int read_rm(vmm_vcpu_t *vcpu, const struct vmm__x86_insn *d,
                   vmm_regs_t *r, const vmm_sregs_t *s, unsigned bytes,
                   uint64_t *v) {
  if (!d->has_mem) {
    *v = *gpr(r, d->rm) & size_mask(bytes);
    return 0;
  }
  uint64_t x = 0;
  int rc = access(vcpu, s, linear(d, r, s), &x, bytes, false);
  *v = x & size_mask(bytes);
  return rc;
}

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78) over `bytes` bytes
 * of v, least significant first: what the SSE4.2 CRC32 instruction does. */
static uint32_t crc32c(uint32_t crc, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < 8 * bytes; i++) {
    uint32_t bit = (crc ^ (uint32_t)(v >> i)) & 1;
    crc = (crc >> 1) ^ (bit ? 0x82f63b78u : 0);
  }
  return crc;
}

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_PF (1ull << 2)
#define RFLAGS_AF (1ull << 4)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_SF (1ull << 7)
#define RFLAGS_OF (1ull << 11)
#define RFLAGS_AC (1ull << 18)
#define MSR_TSC 0x10u
#define MSR_TSC_AUX 0xc0000103u
#define FSW_ES (1u << 7)

int vmm__x86_emulate(vmm_vcpu_t *vcpu, const struct vmm__x86_insn *d,
                     vmm_regs_t *r, const vmm_sregs_t *s, unsigned cpl,
                     bool *done, int *fault) {
  const struct vmm__backend_ops *ops = vcpu->vm->ops;
  int mp = (d->prefixes & VMM__X86_P_REP) ? 0xf3
           : (d->prefixes & VMM__X86_P_REPNE) ? 0xf2
           : (d->prefixes & VMM__X86_P_OPSIZE) ? 0x66 : 0;
  unsigned reg3 = (d->modrm >> 3) & 7;
  bool vex = d->prefixes & (VMM__X86_P_VEX | VMM__X86_P_EVEX);
  int rc = 0;
  vmm_fpu_t f;
  *done = false;
  *fault = -1;
  if (vex || (d->prefixes & VMM__X86_P_LOCK))
    return 0;

  if (d->map == VMM__X86_MAP_0F && d->opcode == 0xb8 && mp == 0xf3) {
    /* POPCNT r, r/m: ZF when the source is 0, the other flags clear. */
    uint64_t v;
    unsigned bytes = d->opsize;
    if ((rc = read_rm(vcpu, d, r, s, bytes, &v)) < 0)
      return rc;
    set_gpr(r, d->reg, bytes, (uint64_t)__builtin_popcountll(v));
    r->rflags &= ~(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF |
                   RFLAGS_SF | RFLAGS_OF);
    if (v == 0)
      r->rflags |= RFLAGS_ZF;
  } else if (d->map == VMM__X86_MAP_0F38 &&
             (d->opcode == 0xf0 || d->opcode == 0xf1) &&
             (d->prefixes & VMM__X86_P_REPNE)) {
    /* CRC32 r32/r64, r/m8/16/32/64: the source size is 1 for F0, else
     * the operand size; the destination is 32 bits (64 with REX.W, upper
     * half zero). */
    unsigned bytes = d->opcode == 0xf0 ? 1 : d->opsize;
    uint64_t v;
    if (d->opcode == 0xf0 && !d->has_mem && !d->rex && (d->rm & 4) &&
        d->rm < 8)
      v = (*gpr(r, d->rm & 3) >> 8) & 0xff; /* AH, CH, DH, BH */
    else if ((rc = read_rm(vcpu, d, r, s, bytes, &v)) < 0)
      return rc;
    uint32_t crc = crc32c((uint32_t)*gpr(r, d->reg), v, bytes);
    set_gpr(r, d->reg, 8, crc);
  } else if (d->map == VMM__X86_MAP_0F && d->opcode == 0x01 &&
             (d->modrm == 0xca || d->modrm == 0xcb) && mp == 0) {
    /* CLAC / STAC: ring 0 only (#UD elsewhere: left to the caller). */
    if (cpl != 0)
      return 0;
    if (d->modrm == 0xcb)
      r->rflags |= RFLAGS_AC;
    else
      r->rflags &= ~RFLAGS_AC;
  } else if (d->map == VMM__X86_MAP_0F && d->opcode == 0x01 &&
             d->modrm == 0xf9 && mp == 0) {
    /* RDTSCP: EDX:EAX = TSC, ECX = TSC_AUX. */
    vmm_msr_entry_t m[2] = {{.index = MSR_TSC}, {.index = MSR_TSC_AUX}};
    if ((rc = ops->get_msrs(vcpu->bvcpu, m, 2)) < 0)
      return rc;
    r->rax = m[0].value & 0xffffffffull;
    r->rdx = m[0].value >> 32;
    r->rcx = m[1].value & 0xffffffffull;
  } else if (d->map == VMM__X86_MAP_0F && d->opcode == 0xae && d->has_mem &&
             mp == 0 && (reg3 == 2 || reg3 == 3)) {
    /* LDMXCSR m32 / STMXCSR m32, through the vCPU's FPU state. */
    if ((rc = ops->get_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
    uint64_t lin = linear(d, r, s);
    if (reg3 == 3)
      return (rc = access(vcpu, s, lin, &f.mxcsr, 4, true)) < 0
                 ? rc
                 : vmm__x86_emulate_finish(vcpu, d, r, done);
    uint32_t v;
    if ((rc = access(vcpu, s, lin, &v, 4, false)) < 0)
      return rc;
    if (v & 0xffff0000u) {
      *fault = 13; /* reserved bits: #GP(0) */
      return 0;
    }
    f.mxcsr = v;
    if ((rc = ops->set_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
  } else if (d->map == VMM__X86_MAP_1B &&
             ((d->opcode == 0xdf && d->modrm == 0xe0) ||
              (d->opcode == 0xdd && d->has_mem && reg3 == 7))) {
    /* FNSTSW AX / FNSTSW m16. */
    if ((rc = ops->get_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
    if (d->opcode == 0xdf)
      set_gpr(r, 0, 2, f.fsw);
    else if ((rc = access(vcpu, s, linear(d, r, s), &f.fsw, 2, true)) < 0)
      return rc;
  } else if (d->map == VMM__X86_MAP_1B && d->opcode == 0x9b) {
    /* FWAIT: nothing to do unless an unmasked x87 exception is pending
     * (#MF) or CR0.TS and CR0.MP are set (#NM): those go to the caller. */
    if ((rc = ops->get_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
    if ((f.fsw & FSW_ES) ||
        ((s->cr0 & (1ull << 3)) && (s->cr0 & VMM_X86_CR0_MP)))
      return 0;
  } else if (d->map == VMM__X86_MAP_0F && d->opcode == 0x77 && mp == 0) {
    /* EMMS: every x87 register empty (abridged tag word 0). */
    if (s->cr0 & (1ull << 3))
      return 0; /* CR0.TS: #NM */
    if ((rc = ops->get_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
    f.ftwx = 0;
    if ((rc = ops->set_fpu(vcpu->bvcpu, &f)) < 0)
      return rc;
  } else {
    return 0;
  }
  return vmm__x86_emulate_finish(vcpu, d, r, done);
}

int vmm__x86_emulate_finish(vmm_vcpu_t *vcpu, const struct vmm__x86_insn *d,
                            vmm_regs_t *r, bool *done) {
  r->rip += d->len;
  int rc = vcpu->vm->ops->set_regs(vcpu->bvcpu, r);
  if (rc == 0)
    *done = true;
  return rc;
}
