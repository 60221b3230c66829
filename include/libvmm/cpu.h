/* libvmm/cpu.h — CPU templates (the CPUID features a guest sees) and the
 * emulation-failure assist with its counters. */
#ifndef LIBVMM_CPU_H
#define LIBVMM_CPU_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * CPU templates. `spec` is a template name, optionally followed by
 * comma-separated feature edits:
 *
 *   "host"      everything the backend supports on this host (what a new
 *               vCPU sees without a template);
 *   "baseline"  a conservative x86-64 set: the x86-64 v1 instruction set
 *               (FPU, CMOV, CMPXCHG8B, FXSR, SSE, SSE2, SYSCALL, NX, LM,
 *               LAHF/SAHF) and the hypervisor bit; no XSAVE, AVX,
 *               CMPXCHG16B, SSE3 and later, POPCNT, PCID, SMAP, x2APIC,
 *               RDRAND, RDTSCP...; of KVM's paravirtual features only
 *               those that need no hypercall (kvmclock, steal time, PV
 *               EOI, PV TLB flush) — what a guest kernel can run where
 *               guest ring 0 is emulated (see docs/platforms.md);
 *   "-name"     hides a feature and every feature that depends on it
 *               ("-xsave" also hides AVX, AVX-512, XSAVEOPT... and CPUID
 *               leaf 0xD);
 *   "+name"     shows a feature the backend supports, with the features it
 *               needs ("+avx" brings XSAVE back); VMM_ENOTSUP when the
 *               backend does not support it.
 *
 * e.g. "host,-cx16,-xsave" or "baseline,+x2apic". Feature names are the
 * Linux /proc/cpuinfo ones (vmm_cpu_feature_name()); KVM's paravirtual
 * features (CPUID 0x40000001 EAX) have QEMU's names: "kvmclock",
 * "kvm-pv-unhalt", "kvm-pv-ipi", "kvm-steal-time"... The hypervisor bit
 * and leaf 0x40000000 are kept. An unknown template or feature:
 * VMM_EINVAL naming it.
 *
 * Set the template before the vCPU first runs: backends may refuse a
 * CPUID change afterwards. vmm_vm_set_cpu_template() applies `spec` to
 * every vCPU of the VM, and to each vCPU created later.
 */
VMM_EXPORT int vmm_vcpu_set_cpu_template(vmm_vcpu_t *vcpu, const char *spec);
VMM_EXPORT int vmm_vm_set_cpu_template(vmm_vm_t *vm, const char *spec);
/* Checks `spec` without a VM (same errors as above, except that support
 * by a backend is not checked). */
VMM_EXPORT int vmm_cpu_template_check(const char *spec);
/* The i-th template name / feature name (0-based), NULL past the end;
 * for --help texts and bindings. */
VMM_EXPORT const char *vmm_cpu_template_name(unsigned i);
VMM_EXPORT const char *vmm_cpu_feature_name(unsigned i);

/*
 * The emulation-failure assist. Where a backend stops with "instruction
 * emulation failed" (VMM_EXIT_INTERNAL_ERROR of kind
 * VMM_INTERNAL_EMULATION: some KVMs emulate guest ring 0 and cannot run
 * every instruction there), libvmm decodes the instruction and, for the
 * ones below, does what the CPU would have done and resumes the guest
 * inside vmm_vcpu_run(): the caller does not see the exit.
 *
 *   VMM_ASSIST_INT3       INT3 → #BP (a trap: the guest's handler sees the
 *                         RIP after the INT3), INT1 → #DB
 *   VMM_ASSIST_UD         UD0/UD1/UD2 → #UD
 *   VMM_ASSIST_SOFT_INT   INT n → the software interrupt through the IDT
 *   VMM_ASSIST_HIDDEN_UD  an instruction of a feature the vCPU's CPUID
 *                         table hides (CMPXCHG16B without cx16, the XSAVE
 *                         family without xsave, VEX-encoded ones without
 *                         avx...) → #UD, as a CPU without the feature
 *                         raises. Not on by default: it is right only
 *                         where the guest's CPUID instruction returns the
 *                         table, and some backends pass host bits through
 *                         (docs/platforms.md), so a guest told "popcnt"
 *                         would get #UD for using it.
 *   VMM_ASSIST_EMULATE    carries out a few instructions itself, ones
 *                         every x86-64 guest may run or whose CPUID bit
 *                         some backends cannot hide: POPCNT, CRC32, STAC/CLAC,
 *                         RDTSCP, LDMXCSR/STMXCSR, FNSTSW, FWAIT, EMMS
 *
 * Everything else reaches the caller as before, with the instruction's
 * bytes in exit->u.internal (insn, insn_len), the CPU mode (cpu_mode,
 * code_bits, cpl) and a vmm_last_error() naming RIP, mode and bytes.
 * VMM_ASSIST_DEFAULT is what a new vCPU has; 0 turns the assist off.
 */
#define VMM_ASSIST_INT3 (1u << 0)
#define VMM_ASSIST_UD (1u << 1)
#define VMM_ASSIST_SOFT_INT (1u << 2)
#define VMM_ASSIST_HIDDEN_UD (1u << 3)
#define VMM_ASSIST_EMULATE (1u << 4)
#define VMM_ASSIST_ALL 0x1fu
#define VMM_ASSIST_DEFAULT \
  (VMM_ASSIST_INT3 | VMM_ASSIST_UD | VMM_ASSIST_SOFT_INT | VMM_ASSIST_EMULATE)
VMM_EXPORT int vmm_vcpu_set_assist(vmm_vcpu_t *vcpu, uint32_t flags);

/* Counters of one vCPU. Set `size` to sizeof(vmm_vcpu_stats_t) first:
 * the struct may grow, and libvmm fills only what the caller has room
 * for. */
typedef struct vmm_vcpu_stats {
  size_t size;
  uint64_t assists;           /* emulation failures handled and resumed */
  uint64_t assist_int3;       /* of them: INT3 / INT1 */
  uint64_t assist_ud;         /* UD0/UD1/UD2 */
  uint64_t assist_soft_int;   /* INT n */
  uint64_t assist_hidden_ud;  /* instructions of hidden features */
  uint64_t emulation_failures; /* every emulation failure the backend
                                  reported, handled or not */
  uint64_t assist_emulated;   /* of the assists: instructions carried out */
  /* Returns of the backend's run call (exits to libvmm, whether handled
   * inside vmm_vcpu_run() or handed to the caller), by reason. */
  uint64_t exits;             /* every exit, the ones below added up */
  uint64_t exits_io;          /* port I/O (hypercalls included) */
  uint64_t exits_mmio;
  uint64_t exits_hlt;
  uint64_t exits_shutdown;
  uint64_t exits_debug;
  uint64_t exits_internal_error; /* emulation failures included */
  uint64_t exits_other;       /* any other reason */
  uint64_t exits_interrupted; /* the run call was interrupted by a kick
                                 signal (not counted in `exits`) */
} vmm_vcpu_stats_t;
VMM_EXPORT int vmm_vcpu_get_stats(vmm_vcpu_t *vcpu, vmm_vcpu_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
