/* src/gdbstub/regs.c — the register file gdb sees: the x86-64 layout of
 * gdb's features org.gnu.gdb.i386.core, .sse and .segments, plus the
 * control registers in a feature of libvmm's own, all from one table
 * that also produces the target description. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "regs.h"

enum src { S_GPR, S_RIP, S_RFLAGS, S_SEL, S_ST, S_FPC, S_XMM, S_MXCSR,
           S_BASE, S_CR };

struct reg {
  const char *name;
  uint8_t size;
  uint8_t src;
  uint8_t idx;
  const char *type;
  const char *feature;
  const char *group;
};

#define CORE "org.gnu.gdb.i386.core"
#define SSE "org.gnu.gdb.i386.sse"
#define SEGS "org.gnu.gdb.i386.segments"
#define SYS "org.libvmm.x86.sys"

/* gdb's amd64 order; idx indexes the vmm_regs_t fields listed below. */
static const struct reg regs64[] = {
  {"rax", 8, S_GPR, 0, "int64", CORE, NULL},
  {"rbx", 8, S_GPR, 1, "int64", CORE, NULL},
  {"rcx", 8, S_GPR, 2, "int64", CORE, NULL},
  {"rdx", 8, S_GPR, 3, "int64", CORE, NULL},
  {"rsi", 8, S_GPR, 4, "int64", CORE, NULL},
  {"rdi", 8, S_GPR, 5, "int64", CORE, NULL},
  {"rbp", 8, S_GPR, 7, "data_ptr", CORE, NULL},
  {"rsp", 8, S_GPR, 6, "data_ptr", CORE, NULL},
  {"r8", 8, S_GPR, 8, "int64", CORE, NULL},
  {"r9", 8, S_GPR, 9, "int64", CORE, NULL},
  {"r10", 8, S_GPR, 10, "int64", CORE, NULL},
  {"r11", 8, S_GPR, 11, "int64", CORE, NULL},
  {"r12", 8, S_GPR, 12, "int64", CORE, NULL},
  {"r13", 8, S_GPR, 13, "int64", CORE, NULL},
  {"r14", 8, S_GPR, 14, "int64", CORE, NULL},
  {"r15", 8, S_GPR, 15, "int64", CORE, NULL},
  {"rip", 8, S_RIP, 0, "code_ptr", CORE, NULL},
  {"eflags", 4, S_RFLAGS, 0, "i386_eflags", CORE, NULL},
  {"cs", 4, S_SEL, 0, "int32", CORE, NULL},
  {"ss", 4, S_SEL, 5, "int32", CORE, NULL},
  {"ds", 4, S_SEL, 1, "int32", CORE, NULL},
  {"es", 4, S_SEL, 2, "int32", CORE, NULL},
  {"fs", 4, S_SEL, 3, "int32", CORE, NULL},
  {"gs", 4, S_SEL, 4, "int32", CORE, NULL},
  {"st0", 10, S_ST, 0, "i387_ext", CORE, NULL},
  {"st1", 10, S_ST, 1, "i387_ext", CORE, NULL},
  {"st2", 10, S_ST, 2, "i387_ext", CORE, NULL},
  {"st3", 10, S_ST, 3, "i387_ext", CORE, NULL},
  {"st4", 10, S_ST, 4, "i387_ext", CORE, NULL},
  {"st5", 10, S_ST, 5, "i387_ext", CORE, NULL},
  {"st6", 10, S_ST, 6, "i387_ext", CORE, NULL},
  {"st7", 10, S_ST, 7, "i387_ext", CORE, NULL},
  {"fctrl", 4, S_FPC, 0, "int", CORE, "float"},
  {"fstat", 4, S_FPC, 1, "int", CORE, "float"},
  {"ftag", 4, S_FPC, 2, "int", CORE, "float"},
  {"fiseg", 4, S_FPC, 3, "int", CORE, "float"},
  {"fioff", 4, S_FPC, 4, "int", CORE, "float"},
  {"foseg", 4, S_FPC, 5, "int", CORE, "float"},
  {"fooff", 4, S_FPC, 6, "int", CORE, "float"},
  {"fop", 4, S_FPC, 7, "int", CORE, "float"},
  {"xmm0", 16, S_XMM, 0, "vec128", SSE, NULL},
  {"xmm1", 16, S_XMM, 1, "vec128", SSE, NULL},
  {"xmm2", 16, S_XMM, 2, "vec128", SSE, NULL},
  {"xmm3", 16, S_XMM, 3, "vec128", SSE, NULL},
  {"xmm4", 16, S_XMM, 4, "vec128", SSE, NULL},
  {"xmm5", 16, S_XMM, 5, "vec128", SSE, NULL},
  {"xmm6", 16, S_XMM, 6, "vec128", SSE, NULL},
  {"xmm7", 16, S_XMM, 7, "vec128", SSE, NULL},
  {"xmm8", 16, S_XMM, 8, "vec128", SSE, NULL},
  {"xmm9", 16, S_XMM, 9, "vec128", SSE, NULL},
  {"xmm10", 16, S_XMM, 10, "vec128", SSE, NULL},
  {"xmm11", 16, S_XMM, 11, "vec128", SSE, NULL},
  {"xmm12", 16, S_XMM, 12, "vec128", SSE, NULL},
  {"xmm13", 16, S_XMM, 13, "vec128", SSE, NULL},
  {"xmm14", 16, S_XMM, 14, "vec128", SSE, NULL},
  {"xmm15", 16, S_XMM, 15, "vec128", SSE, NULL},
  {"mxcsr", 4, S_MXCSR, 0, "int", SSE, "vector"},
  {"fs_base", 8, S_BASE, 0, "int", SEGS, NULL},
  {"gs_base", 8, S_BASE, 1, "int", SEGS, NULL},
  {"cr0", 8, S_CR, 0, "int", SYS, "system"},
  {"cr2", 8, S_CR, 1, "int", SYS, "system"},
  {"cr3", 8, S_CR, 2, "int", SYS, "system"},
  {"cr4", 8, S_CR, 3, "int", SYS, "system"},
  {"cr8", 8, S_CR, 4, "int", SYS, "system"},
  {"efer", 8, S_CR, 5, "int", SYS, "system"},
};

/* gdb's i386 order (eax ecx edx ebx esp ebp esi edi), 32-bit values: a
 * guest in protected or real mode. */
static const struct reg regs32[] = {
  {"eax", 4, S_GPR, 0, "int32", CORE, NULL},
  {"ecx", 4, S_GPR, 2, "int32", CORE, NULL},
  {"edx", 4, S_GPR, 3, "int32", CORE, NULL},
  {"ebx", 4, S_GPR, 1, "int32", CORE, NULL},
  {"esp", 4, S_GPR, 6, "data_ptr", CORE, NULL},
  {"ebp", 4, S_GPR, 7, "data_ptr", CORE, NULL},
  {"esi", 4, S_GPR, 4, "int32", CORE, NULL},
  {"edi", 4, S_GPR, 5, "int32", CORE, NULL},
  {"eip", 4, S_RIP, 0, "code_ptr", CORE, NULL},
  {"eflags", 4, S_RFLAGS, 0, "i386_eflags", CORE, NULL},
  {"cs", 4, S_SEL, 0, "int32", CORE, NULL},
  {"ss", 4, S_SEL, 5, "int32", CORE, NULL},
  {"ds", 4, S_SEL, 1, "int32", CORE, NULL},
  {"es", 4, S_SEL, 2, "int32", CORE, NULL},
  {"fs", 4, S_SEL, 3, "int32", CORE, NULL},
  {"gs", 4, S_SEL, 4, "int32", CORE, NULL},
  {"st0", 10, S_ST, 0, "i387_ext", CORE, NULL},
  {"st1", 10, S_ST, 1, "i387_ext", CORE, NULL},
  {"st2", 10, S_ST, 2, "i387_ext", CORE, NULL},
  {"st3", 10, S_ST, 3, "i387_ext", CORE, NULL},
  {"st4", 10, S_ST, 4, "i387_ext", CORE, NULL},
  {"st5", 10, S_ST, 5, "i387_ext", CORE, NULL},
  {"st6", 10, S_ST, 6, "i387_ext", CORE, NULL},
  {"st7", 10, S_ST, 7, "i387_ext", CORE, NULL},
  {"fctrl", 4, S_FPC, 0, "int", CORE, "float"},
  {"fstat", 4, S_FPC, 1, "int", CORE, "float"},
  {"ftag", 4, S_FPC, 2, "int", CORE, "float"},
  {"fiseg", 4, S_FPC, 3, "int", CORE, "float"},
  {"fioff", 4, S_FPC, 4, "int", CORE, "float"},
  {"foseg", 4, S_FPC, 5, "int", CORE, "float"},
  {"fooff", 4, S_FPC, 6, "int", CORE, "float"},
  {"fop", 4, S_FPC, 7, "int", CORE, "float"},
  {"xmm0", 16, S_XMM, 0, "vec128", SSE, NULL},
  {"xmm1", 16, S_XMM, 1, "vec128", SSE, NULL},
  {"xmm2", 16, S_XMM, 2, "vec128", SSE, NULL},
  {"xmm3", 16, S_XMM, 3, "vec128", SSE, NULL},
  {"xmm4", 16, S_XMM, 4, "vec128", SSE, NULL},
  {"xmm5", 16, S_XMM, 5, "vec128", SSE, NULL},
  {"xmm6", 16, S_XMM, 6, "vec128", SSE, NULL},
  {"xmm7", 16, S_XMM, 7, "vec128", SSE, NULL},
  {"mxcsr", 4, S_MXCSR, 0, "int", SSE, "vector"},
  /* No fs_base/gs_base: gdb 13 failed an internal assertion on the
   * i386 segments feature. */
  {"cr0", 8, S_CR, 0, "int", SYS, "system"},
  {"cr2", 8, S_CR, 1, "int", SYS, "system"},
  {"cr3", 8, S_CR, 2, "int", SYS, "system"},
  {"cr4", 8, S_CR, 3, "int", SYS, "system"},
  {"cr8", 8, S_CR, 4, "int", SYS, "system"},
  {"efer", 8, S_CR, 5, "int", SYS, "system"},
};

struct table {
  const struct reg *regs;
  size_t n;
  const char *arch;
};

static const struct table tables[2] = {
  {regs64, sizeof(regs64) / sizeof(regs64[0]), "i386:x86-64"},
  {regs32, sizeof(regs32) / sizeof(regs32[0]), "i386"},
};

size_t vmm__gdb_reg_count(int arch) { return tables[arch != 0].n; }

size_t vmm__gdb_regs_size(int arch) {
  size_t n = 0;
  for (size_t i = 0; i < tables[arch != 0].n; i++)
    n += tables[arch != 0].regs[i].size;
  return n;
}

int vmm__gdb_arch_of(const struct vmm__gdb_state *st) {
  return (st->sregs.efer & (1u << 10)) ? VMM__GDB_ARCH_64 : VMM__GDB_ARCH_32;
}

int vmm__gdb_state_get(vmm_vcpu_t *vcpu, struct vmm__gdb_state *st) {
  int rc = vmm_vcpu_get_regs(vcpu, &st->regs);
  if (rc == 0)
    rc = vmm_vcpu_get_sregs(vcpu, &st->sregs);
  if (rc == 0)
    rc = vmm_vcpu_get_fpu(vcpu, &st->fpu);
  return rc;
}

int vmm__gdb_state_set(vmm_vcpu_t *vcpu, const struct vmm__gdb_state *st) {
  int rc = vmm_vcpu_set_regs(vcpu, &st->regs);
  if (rc == 0)
    rc = vmm_vcpu_set_sregs(vcpu, &st->sregs);
  if (rc == 0)
    rc = vmm_vcpu_set_fpu(vcpu, &st->fpu);
  return rc;
}

static uint64_t *gpr(vmm_regs_t *r, unsigned i) {
  uint64_t *f[16] = {&r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi,
                     &r->rsp, &r->rbp, &r->r8, &r->r9, &r->r10, &r->r11,
                     &r->r12, &r->r13, &r->r14, &r->r15};
  return f[i];
}

static vmm_segment_t *seg(vmm_sregs_t *s, unsigned i) {
  vmm_segment_t *f[6] = {&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss};
  return f[i];
}

static uint64_t *cr(vmm_sregs_t *s, unsigned i) {
  uint64_t *f[6] = {&s->cr0, &s->cr2, &s->cr3, &s->cr4, &s->cr8, &s->efer};
  return f[i];
}

/* The FXSAVE image keeps an abridged tag (1 = valid); gdb wants the full
 * x87 tag word (2 bits per register, 11 = empty). Valid registers are
 * reported as 00 (valid), which is what gdb uses to show them. */
static uint32_t full_tag(uint8_t abridged) {
  uint32_t t = 0;
  for (int i = 0; i < 8; i++)
    if (!(abridged & (1u << i)))
      t |= 3u << (2 * i);
  return t;
}

static uint8_t abridged_tag(uint32_t full) {
  uint8_t t = 0;
  for (int i = 0; i < 8; i++)
    if (((full >> (2 * i)) & 3) != 3)
      t |= (uint8_t)(1u << i);
  return t;
}

static void put(uint8_t *out, uint64_t v, unsigned size) {
  for (unsigned i = 0; i < size; i++)
    out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *in, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++)
    v |= (uint64_t)in[i] << (8 * i);
  return v;
}

int vmm__gdb_reg_get(int arch, const struct vmm__gdb_state *cst, size_t n,
                     uint8_t *out) {
  if (n >= tables[arch != 0].n)
    return -1;
  struct vmm__gdb_state *st = (struct vmm__gdb_state *)cst; /* read only */
  const struct reg *r = &tables[arch != 0].regs[n];
  uint64_t v = 0;
  switch (r->src) {
  case S_GPR: v = *gpr(&st->regs, r->idx); break;
  case S_RIP: v = st->regs.rip; break;
  case S_RFLAGS: v = st->regs.rflags; break;
  case S_SEL: v = seg(&st->sregs, r->idx)->selector; break;
  case S_ST:
    memcpy(out, st->fpu.fpr[r->idx], 10);
    return r->size;
  case S_XMM:
    memcpy(out, st->fpu.xmm[r->idx], 16);
    return r->size;
  case S_FPC: {
    const vmm_fpu_t *f = &st->fpu;
    uint64_t vals[8] = {f->fcw, f->fsw, full_tag(f->ftwx), 0,
                        (uint32_t)f->last_ip, 0, (uint32_t)f->last_dp,
                        f->last_opcode};
    v = vals[r->idx];
    break;
  }
  case S_MXCSR: v = st->fpu.mxcsr; break;
  case S_BASE: v = r->idx ? st->sregs.gs.base : st->sregs.fs.base; break;
  case S_CR: v = *cr(&st->sregs, r->idx); break;
  }
  put(out, v, r->size);
  return r->size;
}

int vmm__gdb_reg_set(int arch, struct vmm__gdb_state *st, size_t n,
                     const uint8_t *in) {
  if (n >= tables[arch != 0].n)
    return -1;
  const struct reg *r = &tables[arch != 0].regs[n];
  uint64_t v = r->size <= 8 ? get(in, r->size) : 0;
  switch (r->src) {
  case S_GPR: *gpr(&st->regs, r->idx) = v; break;
  case S_RIP: st->regs.rip = v; break;
  case S_RFLAGS: st->regs.rflags = (st->regs.rflags & ~0xffffffffull) | v;
    break;
  case S_SEL:
    /* Loading a selector means loading its descriptor from the GDT,
     * which the stub does not do: only the current value is accepted. */
    if (v != seg(&st->sregs, r->idx)->selector)
      return -1;
    break;
  case S_ST: memcpy(st->fpu.fpr[r->idx], in, 10); break;
  case S_XMM: memcpy(st->fpu.xmm[r->idx], in, 16); break;
  case S_FPC: {
    vmm_fpu_t *f = &st->fpu;
    switch (r->idx) {
    case 0: f->fcw = (uint16_t)v; break;
    case 1: f->fsw = (uint16_t)v; break;
    case 2: f->ftwx = abridged_tag((uint32_t)v); break;
    case 4: f->last_ip = (f->last_ip & ~0xffffffffull) | v; break;
    case 6: f->last_dp = (f->last_dp & ~0xffffffffull) | v; break;
    case 7: f->last_opcode = (uint16_t)v; break;
    default: break; /* fiseg, foseg: not in the 64-bit FXSAVE image */
    }
    break;
  }
  case S_MXCSR: st->fpu.mxcsr = (uint32_t)v; break;
  case S_BASE:
    if (r->idx)
      st->sregs.gs.base = v;
    else
      st->sregs.fs.base = v;
    break;
  case S_CR: *cr(&st->sregs, r->idx) = v; break;
  }
  return r->size;
}

/* ---- target description ----------------------------------------------- */

static const char xml_head[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n";

/* Types the core and sse features use; gdb knows int*, i387_ext, ... */
static const char xml_core_types[] =
    "<flags id=\"i386_eflags\" size=\"4\">"
    "<field name=\"CF\" start=\"0\" end=\"0\"/>"
    "<field name=\"\" start=\"1\" end=\"1\"/>"
    "<field name=\"PF\" start=\"2\" end=\"2\"/>"
    "<field name=\"AF\" start=\"4\" end=\"4\"/>"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/>"
    "<field name=\"SF\" start=\"7\" end=\"7\"/>"
    "<field name=\"TF\" start=\"8\" end=\"8\"/>"
    "<field name=\"IF\" start=\"9\" end=\"9\"/>"
    "<field name=\"DF\" start=\"10\" end=\"10\"/>"
    "<field name=\"OF\" start=\"11\" end=\"11\"/>"
    "<field name=\"NT\" start=\"14\" end=\"14\"/>"
    "<field name=\"RF\" start=\"16\" end=\"16\"/>"
    "<field name=\"VM\" start=\"17\" end=\"17\"/>"
    "<field name=\"AC\" start=\"18\" end=\"18\"/>"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/>"
    "<field name=\"VIP\" start=\"20\" end=\"20\"/>"
    "<field name=\"ID\" start=\"21\" end=\"21\"/>"
    "</flags>\n";

static const char xml_sse_types[] =
    "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
    "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
    "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
    "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
    "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
    "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
    "<union id=\"vec128\">"
    "<field name=\"v4_float\" type=\"v4f\"/>"
    "<field name=\"v2_double\" type=\"v2d\"/>"
    "<field name=\"v16_int8\" type=\"v16i8\"/>"
    "<field name=\"v8_int16\" type=\"v8i16\"/>"
    "<field name=\"v4_int32\" type=\"v4i32\"/>"
    "<field name=\"v2_int64\" type=\"v2i64\"/>"
    "<field name=\"uint128\" type=\"uint128\"/>"
    "</union>\n";

static char xmls[2][12288];
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void build_one(char *xml, size_t cap, const struct table *t) {
  const struct reg *regs = t->regs;
  size_t o = 0;
#define ADD(...)                                                              \
  do {                                                                        \
    int n_ = snprintf(xml + o, cap - o, __VA_ARGS__);                         \
    if (n_ > 0 && (size_t)n_ < cap - o)                                       \
      o += (size_t)n_;                                                        \
  } while (0)
  ADD("%s<architecture>%s</architecture>\n", xml_head, t->arch);
  const char *feature = NULL;
  for (size_t i = 0; i < t->n; i++) {
    if (!feature || strcmp(feature, regs[i].feature) != 0) {
      if (feature)
        ADD("</feature>\n");
      feature = regs[i].feature;
      ADD("<feature name=\"%s\">\n", feature);
      if (strcmp(feature, CORE) == 0)
        ADD("%s", xml_core_types);
      else if (strcmp(feature, SSE) == 0)
        ADD("%s", xml_sse_types);
    }
    ADD("<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%zu\"%s%s%s/>\n",
        regs[i].name, regs[i].size * 8u, regs[i].type, i,
        regs[i].group ? " group=\"" : "", regs[i].group ? regs[i].group : "",
        regs[i].group ? "\"" : "");
  }
  ADD("</feature>\n</target>\n");
#undef ADD
}

static void build_xml(void) {
  for (int i = 0; i < 2; i++)
    build_one(xmls[i], sizeof(xmls[i]), &tables[i]);
}

const char *vmm__gdb_target_xml(int arch) {
  pthread_once(&xml_once, build_xml);
  return xmls[arch != 0];
}
