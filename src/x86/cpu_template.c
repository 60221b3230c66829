/* src/x86/cpu_template.c — CPU templates: the CPUID table a vCPU gets from
 * a template name and feature edits ("host,-cx16", "baseline,+x2apic"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vm_internal.h"

enum { EAX, EBX, ECX, EDX };
#define NO_LEAF 0xffffffffu

/*
 * One feature bit: where it lives (and, for the AMD copies of leaf-1 EDX
 * bits, where its copy lives), the feature it needs (hiding that hides
 * this one), and whether "baseline" has it. Names are Linux's
 * /proc/cpuinfo names.
 */
struct feature {
  const char *name;
  uint32_t leaf, sub;
  uint8_t reg, bit;
  const char *needs;
  bool baseline;
  uint32_t leaf2; /* NO_LEAF or 0x80000001 (EDX, same bit) */
};

#define L1C(n, b, dep, base) {n, 1, 0, ECX, b, dep, base, NO_LEAF}
#define L1D(n, b, dep, base) {n, 1, 0, EDX, b, dep, base, NO_LEAF}
#define L1DX(n, b, dep, base) {n, 1, 0, EDX, b, dep, base, 0x80000001u}
#define L7B(n, b, dep) {n, 7, 0, EBX, b, dep, false, NO_LEAF}
#define L7C(n, b, dep) {n, 7, 0, ECX, b, dep, false, NO_LEAF}
#define L7D(n, b, dep) {n, 7, 0, EDX, b, dep, false, NO_LEAF}
#define L71A(n, b, dep) {n, 7, 1, EAX, b, dep, false, NO_LEAF}
#define LDA(n, b, dep) {n, 0xd, 1, EAX, b, dep, false, NO_LEAF}
#define E1C(n, b, dep, base) {n, 0x80000001u, 0, ECX, b, dep, base, NO_LEAF}
#define E1D(n, b, dep, base) {n, 0x80000001u, 0, EDX, b, dep, base, NO_LEAF}
#define KVMA(n, b, dep, base) {n, 0x40000001u, 0, EAX, b, dep, base, NO_LEAF}

static const struct feature features[] = {
    /* Leaf 1 EDX (AMD repeats most of them in 0x80000001 EDX). */
    L1DX("fpu", 0, NULL, true), L1DX("vme", 1, NULL, true),
    L1DX("de", 2, NULL, true), L1DX("pse", 3, NULL, true),
    L1DX("tsc", 4, NULL, true), L1DX("msr", 5, NULL, true),
    L1DX("pae", 6, NULL, true), L1DX("mce", 7, NULL, true),
    L1DX("cx8", 8, NULL, true), L1DX("apic", 9, NULL, true),
    L1D("sep", 11, NULL, true), L1DX("mtrr", 12, NULL, true),
    L1DX("pge", 13, NULL, true), L1DX("mca", 14, NULL, true),
    L1DX("cmov", 15, NULL, true), L1DX("pat", 16, NULL, true),
    L1DX("pse36", 17, NULL, true), L1D("clflush", 19, NULL, true),
    L1DX("mmx", 23, NULL, true), L1DX("fxsr", 24, NULL, true),
    L1D("sse", 25, "fxsr", true), L1D("sse2", 26, "sse", true),
    L1D("ss", 27, NULL, false), L1D("ht", 28, NULL, false),
    /* Leaf 1 ECX. OSXSAVE (27) follows CR4 and is left alone. */
    L1C("pni", 0, "sse2", false), L1C("pclmulqdq", 1, "sse2", false),
    L1C("monitor", 3, NULL, false), L1C("vmx", 5, NULL, false),
    L1C("ssse3", 9, "pni", false), L1C("fma", 12, "avx", false),
    L1C("cx16", 13, NULL, false), L1C("pdcm", 15, NULL, false),
    L1C("pcid", 17, NULL, false), L1C("sse4_1", 19, "ssse3", false),
    L1C("sse4_2", 20, "sse4_1", false), L1C("x2apic", 21, "apic", false),
    L1C("movbe", 22, NULL, false), L1C("popcnt", 23, NULL, false),
    L1C("tsc_deadline_timer", 24, "apic", false),
    L1C("aes", 25, "sse2", false), L1C("xsave", 26, "fxsr", false),
    L1C("avx", 28, "xsave", false), L1C("f16c", 29, "avx", false),
    L1C("rdrand", 30, NULL, false), L1C("hypervisor", 31, NULL, true),
    /* Leaf 7.0 EBX. */
    L7B("fsgsbase", 0, NULL), L7B("tsc_adjust", 1, NULL),
    L7B("sgx", 2, NULL), L7B("bmi1", 3, NULL), L7B("hle", 4, NULL),
    L7B("avx2", 5, "avx"), L7B("fdp_excptn_only", 6, NULL),
    L7B("smep", 7, NULL), L7B("bmi2", 8, NULL), L7B("erms", 9, NULL),
    L7B("invpcid", 10, "pcid"), L7B("rtm", 11, NULL),
    L7B("mpx", 14, "xsave"), L7B("avx512f", 16, "avx2"),
    L7B("avx512dq", 17, "avx512f"), L7B("rdseed", 18, NULL),
    L7B("adx", 19, NULL), L7B("smap", 20, NULL),
    L7B("avx512ifma", 21, "avx512f"), L7B("clflushopt", 23, NULL),
    L7B("clwb", 24, NULL), L7B("intel_pt", 25, NULL),
    L7B("avx512pf", 26, "avx512f"), L7B("avx512er", 27, "avx512f"),
    L7B("avx512cd", 28, "avx512f"), L7B("sha_ni", 29, "sse2"),
    L7B("avx512bw", 30, "avx512f"), L7B("avx512vl", 31, "avx512f"),
    /* Leaf 7.0 ECX. OSPKE (4) follows CR4 and is left alone. */
    L7C("avx512vbmi", 1, "avx512f"), L7C("umip", 2, NULL),
    L7C("pku", 3, "xsave"), L7C("waitpkg", 5, NULL),
    L7C("avx512_vbmi2", 6, "avx512f"), L7C("shstk", 7, "xsave"),
    L7C("gfni", 8, "sse2"), L7C("vaes", 9, "avx"),
    L7C("vpclmulqdq", 10, "avx"), L7C("avx512_vnni", 11, "avx512f"),
    L7C("avx512_bitalg", 12, "avx512f"),
    L7C("avx512_vpopcntdq", 14, "avx512f"), L7C("la57", 16, NULL),
    L7C("rdpid", 22, NULL), L7C("cldemote", 25, NULL),
    L7C("movdiri", 27, NULL), L7C("movdir64b", 28, NULL),
    /* Leaf 7.0 EDX. */
    L7D("avx512_4vnniw", 2, "avx512f"), L7D("avx512_4fmaps", 3, "avx512f"),
    L7D("fsrm", 4, NULL), L7D("avx512_vp2intersect", 8, "avx512f"),
    L7D("md_clear", 10, NULL), L7D("serialize", 14, NULL),
    L7D("tsxldtrk", 16, NULL), L7D("arch_lbr", 19, NULL),
    L7D("ibt", 20, "xsave"), L7D("amx_bf16", 22, "amx_tile"),
    L7D("avx512_fp16", 23, "avx512bw"), L7D("amx_tile", 24, "xsave"),
    L7D("amx_int8", 25, "amx_tile"), L7D("spec_ctrl", 26, NULL),
    L7D("intel_stibp", 27, NULL), L7D("flush_l1d", 28, NULL),
    L7D("arch_capabilities", 29, NULL), L7D("spec_ctrl_ssbd", 31, NULL),
    /* Leaf 7.1 EAX. */
    L71A("avx_vnni", 4, "avx"), L71A("avx512_bf16", 5, "avx512f"),
    /* Leaf 0xD.1 EAX. */
    LDA("xsaveopt", 0, "xsave"), LDA("xsavec", 1, "xsave"),
    LDA("xgetbv1", 2, "xsave"), LDA("xsaves", 3, "xsave"),
    /* Leaf 0x80000001 ECX. */
    E1C("lahf_lm", 0, NULL, true), E1C("cmp_legacy", 1, NULL, false),
    E1C("svm", 2, NULL, false), E1C("extapic", 3, NULL, false),
    E1C("cr8_legacy", 4, NULL, false), E1C("abm", 5, NULL, false),
    E1C("sse4a", 6, "sse2", false), E1C("misalignsse", 7, NULL, false),
    E1C("3dnowprefetch", 8, NULL, false), E1C("osvw", 9, NULL, false),
    E1C("xop", 11, "avx", false), E1C("fma4", 16, "avx", false),
    E1C("tbm", 21, NULL, false), E1C("topoext", 22, NULL, false),
    E1C("perfctr_core", 23, NULL, false),
    /* Leaf 0x80000001 EDX (the AMD copies of leaf 1 are above). */
    E1D("syscall", 11, NULL, true), E1D("nx", 20, NULL, true),
    E1D("mmxext", 22, "mmx", false), E1D("fxsr_opt", 25, "fxsr", false),
    E1D("pdpe1gb", 26, NULL, false), E1D("rdtscp", 27, NULL, false),
    E1D("lm", 29, NULL, true), E1D("3dnowext", 30, "mmx", false),
    E1D("3dnow", 31, "mmx", false),
    /*
     * KVM's paravirtual features (leaf 0x40000001 EAX; QEMU's names).
     * "baseline" leaves out every one the guest uses through a KVM
     * hypercall (VMCALL/VMMCALL): on this machine's KVM a hypercall from
     * ring 0 never completes (docs/platforms.md), and a Linux guest that
     * sees pv-unhalt, pv-ipi or pv-sched-yield then stalls as soon as its
     * second CPU comes up. Asynchronous page faults stay out too: they
     * need the guest's cooperation for little gain in a small VM.
     */
    KVMA("kvmclock", 0, NULL, true), KVMA("kvm-nopiodelay", 1, NULL, true),
    KVMA("kvm-mmu", 2, NULL, false), KVMA("kvmclock2", 3, NULL, true),
    KVMA("kvm-asyncpf", 4, NULL, false),
    KVMA("kvm-steal-time", 5, NULL, true), KVMA("kvm-pv-eoi", 6, NULL, true),
    KVMA("kvm-pv-unhalt", 7, NULL, false),
    KVMA("kvm-pv-tlb-flush", 9, "kvm-steal-time", true),
    KVMA("kvm-asyncpf-vmexit", 10, "kvm-asyncpf", false),
    KVMA("kvm-pv-ipi", 11, NULL, false),
    KVMA("kvm-poll-control", 12, NULL, false),
    KVMA("kvm-pv-sched-yield", 13, NULL, false),
    KVMA("kvm-asyncpf-int", 14, "kvm-asyncpf", false),
    KVMA("kvm-msi-ext-dest-id", 15, NULL, true),
    KVMA("kvm-hc-map-gpa-range", 16, NULL, false),
    KVMA("kvm-migration-control", 17, NULL, false),
    KVMA("kvmclock-stable-bit", 24, NULL, true),
};
#define N_FEATURES (sizeof(features) / sizeof(features[0]))
/* A set of features: one bit per table entry. */
typedef struct {
  uint64_t w[(N_FEATURES + 63) / 64];
} fset_t;

static bool fs_has(const fset_t *s, size_t i) {
  return s->w[i / 64] >> (i % 64) & 1;
}
static void fs_put(fset_t *s, size_t i, bool on) {
  if (on)
    s->w[i / 64] |= 1ull << (i % 64);
  else
    s->w[i / 64] &= ~(1ull << (i % 64));
}

static const char *const templates[] = {"host", "baseline"};

const char *vmm_cpu_template_name(unsigned i) {
  return i < sizeof(templates) / sizeof(templates[0]) ? templates[i] : NULL;
}

const char *vmm_cpu_feature_name(unsigned i) {
  return i < N_FEATURES ? features[i].name : NULL;
}

static int feature_index(const char *name, size_t len) {
  for (size_t i = 0; i < N_FEATURES; i++)
    if (strlen(features[i].name) == len &&
        strncmp(features[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

/* Does feature i need feature j, directly or through others? */
static bool needs(size_t i, size_t j) {
  for (int depth = 0; depth < 16 && features[i].needs; depth++) {
    int p = feature_index(features[i].needs, strlen(features[i].needs));
    if (p < 0)
      return false;
    if ((size_t)p == j)
      return true;
    i = (size_t)p;
  }
  return false;
}

/* The CPUID table, as a flat array we can search. */
struct table {
  vmm_cpuid_entry_t *e;
  size_t n;
};

static vmm_cpuid_entry_t *find(const struct table *t, uint32_t leaf,
                               uint32_t sub) {
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].function == leaf &&
        (!(t->e[i].flags & VMM_CPUID_F_SIGNIFICANT_INDEX) ||
         t->e[i].index == sub))
      return &t->e[i];
  return NULL;
}

static uint32_t *reg_of(vmm_cpuid_entry_t *e, unsigned reg) {
  switch (reg) {
  case EAX: return &e->eax;
  case EBX: return &e->ebx;
  case ECX: return &e->ecx;
  default: return &e->edx;
  }
}

static bool bit_set(const struct table *t, uint32_t leaf, uint32_t sub,
                    unsigned reg, unsigned bit) {
  vmm_cpuid_entry_t *e = find(t, leaf, sub);
  return e && (*reg_of(e, reg) >> bit & 1);
}

/*
 * Parses `spec` into the set of features to show. `host` (may be NULL
 * when only checking) says what the backend supports.
 */
static int parse(const char *spec, const struct table *host, fset_t *out,
                 bool *baseline) {
  if (!spec)
    return vmm__error(VMM_EINVAL, "CPU template: spec is NULL");
  size_t len = strcspn(spec, ",");
  memset(out, 0, sizeof(*out));
  if (len == 4 && strncmp(spec, "host", 4) == 0) {
    *baseline = false;
    for (size_t i = 0; i < N_FEATURES; i++)
      fs_put(out, i, true);
  } else if (len == 8 && strncmp(spec, "baseline", 8) == 0) {
    *baseline = true;
    for (size_t i = 0; i < N_FEATURES; i++)
      fs_put(out, i, features[i].baseline);
  } else {
    return vmm__error(VMM_EINVAL, "unknown CPU template '%.*s' (known: "
                      "host, baseline)", (int)len, spec);
  }
  if (host) /* what the backend lacks is never shown */
    for (size_t i = 0; i < N_FEATURES; i++)
      if (!bit_set(host, features[i].leaf, features[i].sub, features[i].reg,
                   features[i].bit))
        fs_put(out, i, false);
  const char *p = spec + len;
  while (*p == ',') {
    p++;
    len = strcspn(p, ",");
    if (len < 2 || (p[0] != '+' && p[0] != '-'))
      return vmm__error(VMM_EINVAL, "CPU template '%s': '%.*s' is not "
                        "+feature or -feature", spec, (int)len, p);
    int f = feature_index(p + 1, len - 1);
    if (f < 0)
      return vmm__error(VMM_EINVAL, "CPU template '%s': unknown CPU "
                        "feature '%.*s' (see vmm_cpu_feature_name())", spec,
                        (int)len - 1, p + 1);
    if (p[0] == '-') {
      for (size_t i = 0; i < N_FEATURES; i++)
        if (i == (size_t)f || needs(i, (size_t)f))
          fs_put(out, i, false);
    } else {
      for (size_t i = 0; i < N_FEATURES; i++) {
        if (i != (size_t)f && !needs((size_t)f, i))
          continue;
        if (host && !bit_set(host, features[i].leaf, features[i].sub,
                             features[i].reg, features[i].bit))
          return vmm__error(VMM_ENOTSUP, "CPU template '%s': feature '%s' "
                            "is not supported by the backend on this host",
                            spec, features[i].name);
        fs_put(out, i, true);
      }
    }
    p += len;
  }
  return 0;
}

int vmm_cpu_template_check(const char *spec) {
  fset_t s;
  bool baseline;
  return parse(spec, NULL, &s, &baseline);
}

static bool shown(const fset_t *s, const char *name) {
  int i = feature_index(name, strlen(name));
  return i >= 0 && fs_has(s, (size_t)i);
}

static void zero_leaf(struct table *t, uint32_t leaf) {
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].function == leaf)
      t->e[i].eax = t->e[i].ebx = t->e[i].ecx = t->e[i].edx = 0;
}

/*
 * Leaf 0xD follows the XSAVE features: gone without xsave; without AVX,
 * AVX-512, MPX, PKU or AMX their state components leave XCR0's supported
 * mask (EAX/EDX of subleaf 0) and their subleaves, and the maximum size
 * (ECX) is recomputed from what is left.
 */
static void fix_xsave_leaf(struct table *t, const fset_t *s) {
  if (!shown(s, "xsave")) {
    zero_leaf(t, 0xd);
    return;
  }
  vmm_cpuid_entry_t *l0 = find(t, 0xd, 0);
  if (!l0)
    return;
  uint64_t mask = l0->eax | (uint64_t)l0->edx << 32;
  if (!shown(s, "avx"))
    mask &= ~(1ull << 2);
  if (!shown(s, "mpx"))
    mask &= ~(3ull << 3);
  if (!shown(s, "avx512f"))
    mask &= ~(7ull << 5);
  if (!shown(s, "pku"))
    mask &= ~(1ull << 9);
  if (!shown(s, "amx_tile"))
    mask &= ~(3ull << 17);
  uint32_t max = 512 + 64; /* legacy area and XSAVE header */
  for (size_t i = 0; i < t->n; i++) {
    vmm_cpuid_entry_t *e = &t->e[i];
    if (e->function != 0xd || e->index < 2 || e->index > 63)
      continue;
    bool user = (l0->eax | (uint64_t)l0->edx << 32) >> e->index & 1;
    if (user && !(mask >> e->index & 1)) {
      e->eax = e->ebx = e->ecx = e->edx = 0;
    } else if (user && e->eax + e->ebx > max) {
      max = e->eax + e->ebx; /* size + offset in the standard format */
    }
  }
  l0->eax = (uint32_t)mask;
  l0->edx = (uint32_t)(mask >> 32);
  l0->ecx = max;
  if (l0->ebx > max)
    l0->ebx = max;
  vmm_cpuid_entry_t *l1 = find(t, 0xd, 1);
  if (l1 && !shown(s, "xsaves"))
    l1->ebx = l1->ecx = l1->edx = 0; /* no supervisor state (XSS) */
}

/* Rewrites the host table `t` to show exactly the features in `s`. */
static void apply(struct table *t, const fset_t *s, bool baseline,
                  uint32_t apic_id) {
  /* The feature words: baseline clears every bit the table does not
   * know, so nothing new slips in with a newer host. */
  static const struct {
    uint32_t leaf, sub;
    uint8_t reg;
    uint32_t keep; /* bits that follow CR4 (OSXSAVE, OSPKE) */
  } words[] = {{1, 0, ECX, 1u << 27}, {1, 0, EDX, 0}, {7, 0, EBX, 0},
               {7, 0, ECX, 1u << 4},  {7, 0, EDX, 0}, {7, 1, EAX, 0},
               {0xd, 1, EAX, 0},      {0x80000001u, 0, ECX, 0},
               {0x80000001u, 0, EDX, 0}, {0x40000001u, 0, EAX, 0}};
  if (baseline) {
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
      vmm_cpuid_entry_t *e = find(t, words[w].leaf, words[w].sub);
      if (!e)
        continue;
      uint32_t known = words[w].keep;
      for (size_t i = 0; i < N_FEATURES; i++) {
        if (features[i].leaf == words[w].leaf &&
            features[i].sub == words[w].sub && features[i].reg == words[w].reg)
          known |= 1u << features[i].bit;
        if (features[i].leaf2 == words[w].leaf && words[w].reg == EDX)
          known |= 1u << features[i].bit;
      }
      *reg_of(e, words[w].reg) &= known;
    }
  }
  for (size_t i = 0; i < N_FEATURES; i++) {
    if (fs_has(s, i))
      continue;
    const struct feature *f = &features[i];
    vmm_cpuid_entry_t *e = find(t, f->leaf, f->sub);
    if (e)
      *reg_of(e, f->reg) &= ~(1u << f->bit);
    if (f->leaf2 != NO_LEAF && (e = find(t, f->leaf2, 0)))
      *reg_of(e, f->reg) &= ~(1u << f->bit);
  }
  fix_xsave_leaf(t, s);
  if (!shown(s, "sgx"))
    zero_leaf(t, 0x12);
  if (!shown(s, "intel_pt"))
    zero_leaf(t, 0x14);
  if (!shown(s, "amx_tile")) {
    zero_leaf(t, 0x1d);
    zero_leaf(t, 0x1e);
  }
  /* Each vCPU its own APIC id, where CPUID reports it. */
  for (size_t i = 0; i < t->n; i++) {
    vmm_cpuid_entry_t *e = &t->e[i];
    if (e->function == 1)
      e->ebx = (e->ebx & 0x00ffffffu) | (apic_id << 24);
    else if (e->function == 0xb || e->function == 0x1f)
      e->edx = apic_id;
  }
}

#define MAX_CPUID 256

int vmm__cpu_template_apply(vmm_vcpu_t *vcpu, const char *spec) {
  vmm_vm_t *vm = vcpu->vm;
  struct table t = {calloc(MAX_CPUID, sizeof(vmm_cpuid_entry_t)), 0};
  if (!t.e)
    return vmm__error(VMM_ENOMEM, "out of memory for a CPUID table");
  int rc = vm->ops->supported_cpuid(vm->bvm, t.e, MAX_CPUID, &t.n);
  if (rc == 0) {
    fset_t s;
    bool baseline = false;
    rc = parse(spec, &t, &s, &baseline);
    if (rc == 0) {
      apply(&t, &s, baseline, vcpu->id);
      rc = vm->ops->set_cpuid(vcpu->bvcpu, t.e, t.n);
      if (rc < 0)
        vmm__error_prefix(rc, "CPU template (set it before the vCPU "
                          "first runs)");
    }
  }
  free(t.e);
  return rc;
}

bool vmm__cpu_feature_hidden(vmm_vcpu_t *vcpu, const char *name) {
  int f = feature_index(name, strlen(name));
  if (f < 0)
    return false;
  struct table t = {calloc(MAX_CPUID, sizeof(vmm_cpuid_entry_t)), 0};
  if (!t.e)
    return false;
  bool hidden = false;
  if (vcpu->vm->ops->get_cpuid(vcpu->bvcpu, t.e, MAX_CPUID, &t.n) == 0)
    hidden = !bit_set(&t, features[f].leaf, features[f].sub, features[f].reg,
                      features[f].bit);
  free(t.e);
  return hidden;
}

int vmm_vcpu_set_cpu_template(vmm_vcpu_t *vcpu, const char *spec) {
  if (!vmm__handle_valid(vcpu, VMM__H_VCPU))
    return vmm__error(VMM_EBADF, "vmm_vcpu_set_cpu_template: not a live "
                      "vCPU handle");
  if (atomic_load(&vcpu->running))
    return vmm__error(VMM_EBUSY, "vmm_vcpu_set_cpu_template: vCPU %u is "
                      "running", vcpu->id);
  return vmm__cpu_template_apply(vcpu, spec);
}

int vmm_vm_set_cpu_template(vmm_vm_t *vm, const char *spec) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_vm_set_cpu_template: not a live VM "
                      "handle");
  int rc = vmm_cpu_template_check(spec);
  if (rc < 0)
    return rc;
  if (strlen(spec) >= sizeof(vm->cpu_template))
    return vmm__error(VMM_E2BIG, "vmm_vm_set_cpu_template: spec longer "
                      "than %zu bytes", sizeof(vm->cpu_template) - 1);
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "vmm_vm_set_cpu_template: the VM was "
                      "started; set the template before vmm_vm_start()");
  pthread_rwlock_wrlock(&vm->lock);
  for (uint32_t i = 0; rc == 0 && i < vm->max_vcpus; i++)
    if (vm->vcpus[i])
      rc = vmm__cpu_template_apply(vm->vcpus[i], spec);
  if (rc == 0)
    snprintf(vm->cpu_template, sizeof(vm->cpu_template), "%s", spec);
  pthread_rwlock_unlock(&vm->lock);
  return rc;
}
