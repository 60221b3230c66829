/* tests/guests/assist_guest.h — what the assist guest (assist.c) and
 * tests/integration/cpu_test.c agree on: modes, the probe table, SYNCs. */
#ifndef GUESTS_ASSIST_GUEST_H
#define GUESTS_ASSIST_GUEST_H

/* Guest parameters (layout.h: GUEST_PARAM_GPA). */
#define AG_PARAM_MODE 0
#define AG_PARAM_ARG 1   /* PROBE: the case index; CPUID: the leaf */
#define AG_PARAM_ARG2 2  /* CPUID: the subleaf */

/* PROBE: runs one instruction of the table below in ring 0 with an IDT
 * whose handlers record the vector and saved RIP, then
 *   SYNC(AG_SYNC_PROBE, index, vector or AG_NO_VECTOR, saved RIP - RIP of
 *        the instruction, error code).
 * EXCEPTIONS: int3, ud2 and int $AG_SOFT_VECTOR in ring 0; the guest checks
 * each handler ran with the right saved RIP and then
 *   SYNC(AG_SYNC_EXCEPTIONS, #BP seen, #UD seen, soft vector seen).
 * CPUID: SYNC(AG_SYNC_CPUID, eax, ebx, ecx, edx) of leaf ARG, subleaf ARG2.
 * UNHANDLED: runs the instruction of probe case ARG; whatever happens is
 *   reported like PROBE (the test expects an internal-error exit instead
 *   when the backend cannot run it and the assist does not handle it). */
#define AG_MODE_PROBE 1
#define AG_MODE_EXCEPTIONS 2
#define AG_MODE_CPUID 3
/* EMULATE: POPCNT, CRC32, STAC/CLAC, RDTSCP, LDMXCSR/STMXCSR, FNSTSW, FWAIT, EMMS
 * with known operands, each checked by the guest where its CPUID says the
 * instruction exists; then SYNC(AG_SYNC_EMULATE, AG_EM_* bits of the ones
 * run). RDTSCP expects TSC_AUX = AG_TSC_AUX (set by the host). */
#define AG_MODE_EMULATE 4

#define AG_SYNC_PROBE 0x51
#define AG_SYNC_EXCEPTIONS 0x52
#define AG_SYNC_CPUID 0x53
#define AG_SYNC_EMULATE 0x54

#define AG_EM_POPCNT 1u
#define AG_EM_SMAP 2u
#define AG_EM_RDTSCP 4u
#define AG_EM_MXCSR 8u
#define AG_EM_X87 16u
#define AG_EM_CRC32 32u
#define AG_TSC_AUX 0x5a5a

#define AG_NO_VECTOR 0xffu
#define AG_SOFT_VECTOR 0x40

/* The probe cases: X(name, needs) — `needs` names what the guest enables
 * before the instruction (see assist.c). Index = position. */
#define AG_PROBES(X)                                                          \
  X(nop) X(int3) X(ud2) X(int_0x40) X(int1) X(cmpxchg16b) X(cmpxchg8b)        \
  X(lock_xadd) X(cpuid) X(rdtsc) X(rdtscp) X(rdpid) X(rdrand) X(rdseed)       \
  X(rdmsr) X(wrmsr) X(swapgs) X(fxsave) X(fxrstor) X(sse_movdqa)              \
  X(ldmxcsr) X(x87_fld1) X(xgetbv) X(xsetbv) X(xsave) X(xrstor) X(xsaveopt)   \
  X(xsavec) X(xsaves) X(avx_vpxor) X(avx2_vpaddd) X(fma_vfmadd) X(popcnt)     \
  X(lzcnt) X(tzcnt) X(movbe) X(crc32) X(aesenc) X(pclmulqdq) X(sha1msg1)      \
  X(bmi1_andn) X(bmi2_pdep) X(adx_adcx) X(clflush) X(clflushopt) X(clwb)      \
  X(mfence) X(wbinvd) X(invlpg) X(invpcid) X(rdfsbase) X(sgdt) X(str)         \
  X(lar) X(verr) X(smsw) X(pause) X(prefetchw) X(movnti) X(rep_movsb)         \
  X(iretq) X(cli_sti) X(popf) X(mov_cr8) X(rdpmc) X(into) X(vzeroupper) \
  X(sse3_movddup) X(ssse3_pshufb) X(sse41_ptest) X(fninit) X(fnstsw) X(fwait) \
  X(stmxcsr) X(emms) X(stac_clac) X(lahf) X(mov_cr3) X(mov_to_cr4) X(lgdt) X(ltr) \
  X(in_out) X(xchg_mem) X(bt_mem) X(cmpxchg) \
  X(sse2_movd) X(sse2_movd_x15) X(sse2_paddq) X(sse2_pxor) X(sse_movups) X(sse2_movdqu_x14) \
  X(ldmxcsr_reserved) X(vmcall) X(vmmcall)

#define AG_PROBE_ENUM(name) AG_PROBE_##name,
enum { AG_PROBES(AG_PROBE_ENUM) AG_PROBE_COUNT };
#undef AG_PROBE_ENUM

#endif
