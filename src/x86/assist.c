/* src/x86/assist.c — the emulation-failure assist: when the backend could
 * not emulate a guest instruction, decode it and do what the CPU would
 * have done where that is safe (deliver #BP, #DB, #UD or INT n), so the
 * guest goes on; otherwise describe the instruction precisely. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "vm_internal.h"
#include "x86/decode.h"
#include "x86/emulate.h"

int vmm_vcpu_set_assist(vmm_vcpu_t *vcpu, uint32_t flags) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "vmm_vcpu_set_assist: not a live vCPU "
                      "handle");
  if (flags & ~VMM_ASSIST_ALL)
    return vmm__error(VMM_EINVAL, "vmm_vcpu_set_assist: unknown flags 0x%x",
                      flags & ~VMM_ASSIST_ALL);
  __atomic_store_n(&vcpu->assist_flags, flags, __ATOMIC_RELAXED);
  return 0;
}

int vmm_vcpu_get_stats(vmm_vcpu_t *vcpu, vmm_vcpu_stats_t *stats) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "vmm_vcpu_get_stats: not a live vCPU "
                      "handle");
  if (!stats || stats->size < sizeof(stats->size) + sizeof(uint64_t))
    return vmm__error(VMM_EINVAL, "vmm_vcpu_get_stats: stats is NULL or "
                      "its size is too small");
  vmm_vcpu_stats_t copy;
  memset(&copy, 0, sizeof(copy));
#define LOAD(f) copy.f = __atomic_load_n(&vcpu->stats.f, __ATOMIC_RELAXED)
  LOAD(assists);
  LOAD(assist_int3);
  LOAD(assist_ud);
  LOAD(assist_soft_int);
  LOAD(assist_hidden_ud);
  LOAD(emulation_failures);
  LOAD(assist_emulated);
  LOAD(exits);
  LOAD(exits_io);
  LOAD(exits_mmio);
  LOAD(exits_hlt);
  LOAD(exits_shutdown);
  LOAD(exits_debug);
  LOAD(exits_internal_error);
  LOAD(exits_other);
  LOAD(exits_interrupted);
#undef LOAD
  size_t n = stats->size < sizeof(copy) ? stats->size : sizeof(copy);
  copy.size = n;
  memcpy(stats, &copy, n);
  return 0;
}

static void count(uint64_t *counter) {
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

#define RFLAGS_VM (1ull << 17)

/* Where the vCPU is: mode, code size, CPL. */
static void cpu_mode(const vmm_sregs_t *s, uint64_t rflags, uint8_t *mode,
                     uint8_t *bits, uint8_t *cpl) {
  bool pe = s->cr0 & VMM_X86_CR0_PE, lma = s->efer & VMM_X86_EFER_LMA;
  bool vm86 = pe && !lma && (rflags & RFLAGS_VM);
  *mode = !pe ? VMM_CPU_MODE_REAL : lma ? VMM_CPU_MODE_LONG
                                        : VMM_CPU_MODE_PROTECTED;
  *bits = (uint8_t)vmm__x86_code_mode(pe, lma, s->cs.l, s->cs.db, vm86);
  *cpl = !pe ? 0 : vm86 ? 3 : (uint8_t)(s->cs.selector & 3);
}

static const char *mode_name(uint8_t mode) {
  switch (mode) {
  case VMM_CPU_MODE_REAL: return "real mode";
  case VMM_CPU_MODE_PROTECTED: return "protected mode";
  case VMM_CPU_MODE_LONG: return "long mode";
  default: return "unknown mode";
  }
}

/*
 * Reads the instruction at CS:RIP when the backend did not report its
 * bytes: linear address through the vCPU's paging (backend translate),
 * page by page, every byte through the checked guest-memory reads. Stops
 * at the first byte it cannot reach; the decoder then says "truncated".
 */
static uint8_t fetch(vmm_vcpu_t *vcpu, const vmm_sregs_t *s, uint64_t rip,
                     unsigned bits, uint8_t *buf) {
  uint64_t lin = bits == 64 ? rip : (s->cs.base + rip) & 0xffffffffull;
  bool paging = (s->cr0 & VMM_X86_CR0_PG) != 0;
  uint8_t n = 0;
  while (n < VMM__X86_MAX_LEN) {
    uint64_t va = lin + n, gpa = va;
    size_t chunk = 4096 - (va & 4095);
    if (chunk > (size_t)(VMM__X86_MAX_LEN - n))
      chunk = VMM__X86_MAX_LEN - n;
    if (paging) {
      bool valid = false;
      if (!vcpu->vm->ops->translate ||
          vcpu->vm->ops->translate(vcpu->bvcpu, va, &gpa, &valid) < 0 ||
          !valid)
        break;
    }
    if (vmm_mem_read(vcpu->vm, gpa, buf + n, chunk) < 0)
      break;
    n = (uint8_t)(n + chunk);
  }
  return n;
}

/* The mandatory prefix of a legacy-encoded SSE-style opcode. */
static int mandatory(const struct vmm__x86_insn *d) {
  if (d->prefixes & (VMM__X86_P_VEX | VMM__X86_P_EVEX))
    return d->vex_pp == 1 ? 0x66 : d->vex_pp == 2 ? 0xf3
                                  : d->vex_pp == 3 ? 0xf2 : 0;
  if (d->prefixes & VMM__X86_P_REPNE)
    return 0xf2;
  if (d->prefixes & VMM__X86_P_REP)
    return 0xf3;
  return d->prefixes & VMM__X86_P_OPSIZE ? 0x66 : 0;
}

/*
 * The CPUID feature (Linux name) without which the instruction raises #UD,
 * for the instructions a CPU template is expected to hide; NULL for the
 * rest. VEX means AVX, EVEX AVX-512.
 */
static const char *feature_of(const struct vmm__x86_insn *d) {
  if (d->prefixes & VMM__X86_P_EVEX)
    return "avx512f";
  if (d->prefixes & VMM__X86_P_VEX)
    return "avx";
  unsigned op = d->opcode, reg = (d->modrm >> 3) & 7;
  bool mem = d->has_modrm && d->mod != 3;
  int mp = mandatory(d);
  switch (d->map) {
  case VMM__X86_MAP_0F:
    switch (op) {
    case 0x01:
      if (d->modrm == 0xd0 || d->modrm == 0xd1)
        return "xsave"; /* XGETBV, XSETBV */
      if (d->modrm == 0xf9)
        return "rdtscp";
      if (d->modrm == 0xca || d->modrm == 0xcb)
        return "smap"; /* CLAC, STAC */
      if (d->modrm == 0xc8 || d->modrm == 0xc9)
        return "monitor";
      return NULL;
    case 0xae:
      if (mem && mp == 0 && (reg == 4 || reg == 5))
        return "xsave";
      if (mem && mp == 0 && reg == 6)
        return "xsaveopt";
      if (mem && mp == 0x66 && reg == 6)
        return "clwb";
      if (mem && mp == 0x66 && reg == 7)
        return "clflushopt";
      if (!mem && mp == 0xf3 && reg <= 3)
        return "fsgsbase";
      return NULL;
    case 0xc7:
      if (mem && reg == 1 && d->opsize == 8)
        return "cx16";
      if (mem && reg == 4)
        return "xsavec";
      if (mem && (reg == 3 || reg == 5))
        return "xsaves";
      if (!mem && reg == 6)
        return "rdrand";
      if (!mem && reg == 7)
        return mp == 0xf3 ? "rdpid" : "rdseed";
      return NULL;
    case 0xb8:
      return mp == 0xf3 ? "popcnt" : NULL;
    case 0x12: case 0x16:
      return mp == 0xf3 || (op == 0x12 && mp == 0xf2) ? "pni" : NULL;
    case 0x7c: case 0x7d: case 0xd0:
      return mp == 0x66 || mp == 0xf2 ? "pni" : NULL;
    case 0xf0:
      return mp == 0xf2 ? "pni" : NULL; /* LDDQU */
    default:
      return NULL;
    }
  case VMM__X86_MAP_0F38:
    if (op == 0xf0 || op == 0xf1)
      return mp == 0xf2 ? "sse4_2" : mp == 0x66 && op == 0xf1 ? "movbe"
             : mp == 0 ? "movbe" : NULL;
    if (op == 0xf6)
      return mp == 0x66 || mp == 0xf3 ? "adx" : NULL;
    if (op == 0x82 && mp == 0x66)
      return "invpcid";
    if (op >= 0xc8 && op <= 0xcd && mp == 0)
      return "sha_ni";
    if (op >= 0xdb && op <= 0xdf && mp == 0x66)
      return "aes";
    if (op == 0xcf && mp == 0x66)
      return "gfni";
    if (op <= 0x0b || (op >= 0x1c && op <= 0x1e))
      return "ssse3"; /* with or without 66: MMX and XMM forms */
    if (mp == 0x66 && (op == 0x37 || (op >= 0x10 && op <= 0x40)))
      return op == 0x37 ? "sse4_2" : "sse4_1";
    return NULL;
  case VMM__X86_MAP_0F3A:
    if (op == 0x0f)
      return "ssse3"; /* PALIGNR */
    if (op == 0x44 && mp == 0x66)
      return "pclmulqdq";
    if (op == 0xdf && mp == 0x66)
      return "aes";
    if (op == 0xcc && mp == 0)
      return "sha_ni";
    if (op >= 0x60 && op <= 0x63 && mp == 0x66)
      return "sse4_2";
    if (mp == 0x66 && ((op >= 0x08 && op <= 0x0e) ||
                       (op >= 0x14 && op <= 0x22) ||
                       (op >= 0x40 && op <= 0x42)))
      return "sse4_1";
    return NULL;
  default:
    return NULL;
  }
}

/* What the assist does with one instruction. */
enum action { NONE, TRAP, FAULT_UD };

static int deliver(vmm_vcpu_t *vcpu, vmm_regs_t *regs, enum action a,
                   uint8_t vector, uint8_t len) {
  const struct vmm__backend_ops *ops = vcpu->vm->ops;
  if (a == TRAP) {
    /* The frame must point after the instruction, as after INT n. */
    regs->rip += len;
    int rc = ops->set_regs(vcpu->bvcpu, regs);
    if (rc < 0)
      return rc;
    rc = ops->inject_event(vcpu->bvcpu, vector, VMM__EVENT_INTERRUPT, 0, 0);
    if (rc < 0) {
      regs->rip -= len;
      ops->set_regs(vcpu->bvcpu, regs);
    }
    return rc;
  }
  return ops->inject_event(vcpu->bvcpu, 6, VMM__EVENT_EXCEPTION, 0, 0);
}

int vmm__assist_emulation_failure(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                                  bool *resume) {
  const struct vmm__backend_ops *ops = vcpu->vm->ops;
  *resume = false;
  count(&vcpu->stats.emulation_failures);
  vmm_regs_t regs;
  vmm_sregs_t s;
  int rc = ops->get_regs(vcpu->bvcpu, &regs);
  if (rc == 0)
    rc = ops->get_sregs(vcpu->bvcpu, &s);
  if (rc < 0)
    return 0; /* leave the exit as the backend described it */
  uint8_t mode, bits, cpl;
  cpu_mode(&s, regs.rflags, &mode, &bits, &cpl);
  exit->u.internal.cpu_mode = mode;
  exit->u.internal.code_bits = bits;
  exit->u.internal.cpl = cpl;
  exit->u.internal.rip = regs.rip;
  if (exit->u.internal.insn_len == 0)
    exit->u.internal.insn_len = fetch(vcpu, &s, regs.rip, bits,
                                      exit->u.internal.insn);

  struct vmm__x86_insn d;
  int drc = vmm__x86_decode(exit->u.internal.insn, exit->u.internal.insn_len,
                            bits, &d);
  uint32_t flags = __atomic_load_n(&vcpu->assist_flags, __ATOMIC_RELAXED);
  enum action a = NONE;
  uint8_t vector = 0;
  uint64_t *counter = NULL;
  const char *feature = NULL;
  if (drc == 0 && d.map == VMM__X86_MAP_1B && cpl == 0 &&
      (d.opcode == 0xcc || d.opcode == 0xf1) && (flags & VMM_ASSIST_INT3)) {
    a = TRAP, vector = d.opcode == 0xcc ? 3 : 1;
    counter = &vcpu->stats.assist_int3;
  } else if (drc == 0 && d.map == VMM__X86_MAP_1B && d.opcode == 0xcd &&
             cpl == 0 && (flags & VMM_ASSIST_SOFT_INT)) {
    a = TRAP, vector = (uint8_t)d.imm;
    counter = &vcpu->stats.assist_soft_int;
  } else if (drc == 0 && d.map == VMM__X86_MAP_0F &&
             (d.opcode == 0x0b || d.opcode == 0xb9 || d.opcode == 0xff) &&
             (flags & VMM_ASSIST_UD)) {
    a = FAULT_UD, counter = &vcpu->stats.assist_ud;
  } else if (drc == VMM__X86_DECODE_INVALID &&
             !(d.prefixes & (VMM__X86_P_VEX | VMM__X86_P_EVEX)) &&
             (flags & VMM_ASSIST_UD)) {
    a = FAULT_UD, counter = &vcpu->stats.assist_ud; /* no such insn: #UD */
  } else if (drc == 0 && (feature = feature_of(&d)) &&
             (flags & VMM_ASSIST_HIDDEN_UD) &&
             vmm__cpu_feature_hidden(vcpu, feature)) {
    a = FAULT_UD, counter = &vcpu->stats.assist_hidden_ud;
  }
  if (a == NONE && drc == 0 && (flags & VMM_ASSIST_EMULATE)) {
    bool done = false;
    int fault = -1;
    if (vmm__x86_emulate(vcpu, &d, &regs, &s, cpl, &done, &fault) == 0 &&
        fault >= 0 && ops->inject_event &&
        ops->inject_event(vcpu->bvcpu, (uint8_t)fault, VMM__EVENT_EXCEPTION,
                          1, 0) == 0)
      done = true; /* the CPU would have raised it: delivered */
    if (done) {
      count(&vcpu->stats.assist_emulated);
      count(&vcpu->stats.assists);
      *resume = true;
      return 0;
    }
    /* get_regs again: a failed emulation may have changed our copy */
    ops->get_regs(vcpu->bvcpu, &regs);
  }
  if (a != NONE && ops->inject_event) {
    rc = deliver(vcpu, &regs, a, vector, d.len);
    if (rc == 0) {
      count(counter);
      count(&vcpu->stats.assists);
      *resume = true;
      return 0;
    }
  }

  /* Not handled: say precisely what and where. */
  char hex[3 * VMM__X86_MAX_LEN + 1] = "";
  size_t hn = 0;
  for (unsigned i = 0; i < exit->u.internal.insn_len && hn + 3 < sizeof(hex);
       i++)
    hn += (size_t)snprintf(hex + hn, sizeof(hex) - hn, "%s%02x",
                           i ? " " : "", exit->u.internal.insn[i]);
  char hint[128];
  if (drc == VMM__X86_DECODE_TRUNCATED)
    snprintf(hint, sizeof(hint), "the bytes could not be read whole");
  else if (a != NONE)
    snprintf(hint, sizeof(hint), "the assist could not deliver the event");
  else if (feature)
    snprintf(hint, sizeof(hint), "it needs CPU feature %s; a CPU template "
             "can hide it ('-%s')", feature, feature);
  else
    snprintf(hint, sizeof(hint), "not an instruction the assist handles");
  /* No "vCPU n:" here: run.c's stop message adds it. */
  vmm__error(VMM_EBACKEND, "instruction emulation failed at rip "
             "0x%llx (%s, %u-bit code, CPL %u), bytes %s: %s",
             (unsigned long long)regs.rip, mode_name(mode), bits, cpl,
             hex[0] ? hex : "(none)", hint);
  return 0;
}
