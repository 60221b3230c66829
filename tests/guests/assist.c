/* tests/guests/assist.c — ring-0 instructions and exceptions for the CPU
 * template and emulation-failure assist tests (modes: assist_guest.h).
 *
 * The guest has its own IDT: each handler records the vector, the error
 * code and the saved RIP, and returns to the address in `exc_resume` (set
 * before each probed instruction), so one guest can try instructions that
 * fault and say what happened. */
#include "assist_guest.h"
#include "guest.h"

void guest_main(void);

/* Written by the handlers (asm below), read by C. */
volatile uint64_t exc_vector = AG_NO_VECTOR, exc_error, exc_rip, exc_count;
volatile uint64_t exc_resume, insn_rip;

/* 16-byte gates for vectors 0 .. AG_SOFT_VECTOR. */
#define IDT_ENTRIES (AG_SOFT_VECTOR + 1)
static uint64_t idt[IDT_ENTRIES * 2] __attribute__((aligned(16)));
/* Operand area of the probes (XSAVE wants 64-byte alignment). */
uint8_t probe_buf[8192] __attribute__((aligned(64)));

/* Stubs of 16 bytes: vectors with a CPU-pushed error code skip the push. */
__asm__(
    "  .text\n"
    "  .balign 16\n"
    "ag_stubs:\n"
    "  vec = 0\n"
    "  .rept " "65" "\n"
    "  .balign 16\n"
    "  .if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 "
    "|| vec == 29 || vec == 30\n"
    "  .else\n"
    "  push $0\n"
    "  .endif\n"
    "  push $vec\n"
    "  jmp ag_common\n"
    "  vec = vec + 1\n"
    "  .endr\n"
    /* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
    "ag_common:\n"
    "  push %rax\n"
    "  mov 8(%rsp), %rax\n"
    "  mov %rax, exc_vector(%rip)\n"
    "  mov 16(%rsp), %rax\n"
    "  mov %rax, exc_error(%rip)\n"
    "  mov 24(%rsp), %rax\n"
    "  mov %rax, exc_rip(%rip)\n"
    "  incq exc_count(%rip)\n"
    "  mov exc_resume(%rip), %rax\n"
    "  test %rax, %rax\n"
    "  jz 1f\n"
    "  movq $0, exc_resume(%rip)\n"
    "  mov %rax, 24(%rsp)\n"
    "  pop %rax\n"
    "  add $16, %rsp\n"
    "  iretq\n"
    /* Not expected: the usual ABORT with vector, error code and RIP. */
    "1:pop %rax\n"
    "  mov 0(%rsp), %rdi\n"
    "  mov 8(%rsp), %rsi\n"
    "  mov 16(%rsp), %rdx\n"
    "  mov 24(%rsp), %rcx\n"
    "  mov %cr2, %r8\n"
    "  and $-16, %rsp\n"
    "  call guest_exception\n"
    "  ud2\n");

extern const char ag_stubs[];

static void idt_init(void) {
  for (unsigned v = 0; v < IDT_ENTRIES; v++) {
    uint64_t off = (uint64_t)(uintptr_t)(ag_stubs + 16 * v);
    /* Present, DPL 3 (so that int n works from any ring), 64-bit
     * interrupt gate, selector 0x08. */
    idt[2 * v] = (off & 0xffff) | (0x08ull << 16) | (0xee00ull << 32) |
                 ((off >> 16) & 0xffff) << 48;
    idt[2 * v + 1] = off >> 32;
  }
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* One probed instruction: `setup` runs first (not the probed part), then
 * `insn` at label 2 with the handlers resuming at label 1. */
#define CLOBBERS                                                              \
  "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",        \
      "memory", "cc"
#define PROBE(setup, insn)                                                    \
  __asm__ volatile("lea 1f(%%rip), %%rax\n\t"                                 \
                   "mov %%rax, exc_resume(%%rip)\n\t"                         \
                   "lea probe_buf(%%rip), %%rdi\n\t" setup "\n\t"             \
                   "lea 2f(%%rip), %%rax\n\t"                                 \
                   "mov %%rax, insn_rip(%%rip)\n\t"                           \
                   "xor %%eax, %%eax\n\t"                                     \
                   "xor %%edx, %%edx\n\t"                                     \
                   "2: " insn "\n"                                            \
                   "1:\n\t"                                                   \
                   :                                                          \
                   :                                                          \
                   : CLOBBERS)

#define CR4_OSXSAVE "(1 << 18)"
#define CR4_FSGSBASE "(1 << 16)"
/* CR4.OSXSAVE on and XCR0 = x87 | SSE (| AVX when `mask` says so). */
#define XSAVE_ON(mask)                                                        \
  "mov %%cr4, %%rax\n\t"                                                      \
  "or $" CR4_OSXSAVE ", %%rax\n\t"                                            \
  "mov %%rax, %%cr4\n\t"                                                      \
  "xor %%ecx, %%ecx\n\t"                                                      \
  "xor %%edx, %%edx\n\t"                                                      \
  "mov $" mask ", %%eax\n\t"                                                  \
  "xsetbv\n\t"

static void probe(unsigned which) {
  switch (which) {
  case AG_PROBE_nop: PROBE("", "nop"); break;
  case AG_PROBE_int3: PROBE("", "int3"); break;
  case AG_PROBE_ud2: PROBE("", "ud2"); break;
  case AG_PROBE_int_0x40: PROBE("", "int $0x40"); break;
  case AG_PROBE_int1: PROBE("", ".byte 0xf1"); break;
  case AG_PROBE_cmpxchg16b:
    PROBE("xor %%ebx, %%ebx\n\txor %%ecx, %%ecx", "lock cmpxchg16b (%%rdi)");
    break;
  case AG_PROBE_cmpxchg8b:
    PROBE("xor %%ebx, %%ebx\n\txor %%ecx, %%ecx", "lock cmpxchg8b (%%rdi)");
    break;
  case AG_PROBE_lock_xadd: PROBE("mov $1, %%ecx", "lock xadd %%ecx, (%%rdi)");
    break;
  case AG_PROBE_cpuid: PROBE("", "cpuid"); break;
  case AG_PROBE_rdtsc: PROBE("", "rdtsc"); break;
  case AG_PROBE_rdtscp: PROBE("", "rdtscp"); break;
  case AG_PROBE_rdpid: PROBE("", "rdpid %%rax"); break;
  case AG_PROBE_rdrand: PROBE("", "rdrand %%eax"); break;
  case AG_PROBE_rdseed: PROBE("", "rdseed %%eax"); break;
  case AG_PROBE_rdmsr: PROBE("mov $0xc0000080, %%ecx", "rdmsr"); break;
  case AG_PROBE_wrmsr:
    PROBE("mov $0xc0000080, %%ecx\n\trdmsr\n\tmov %%eax, %%esi\n\t"
          "mov %%edx, %%r8d\n\tmov %%esi, %%eax\n\tmov %%r8d, %%edx",
          "wrmsr");
    break;
  case AG_PROBE_swapgs: PROBE("", "swapgs\n\tswapgs"); break;
  case AG_PROBE_fxsave: PROBE("", "fxsave (%%rdi)"); break;
  case AG_PROBE_fxrstor: PROBE("fxsave (%%rdi)", "fxrstor (%%rdi)"); break;
  case AG_PROBE_sse_movdqa: PROBE("", "movdqa (%%rdi), %%xmm0"); break;
  case AG_PROBE_ldmxcsr:
    PROBE("movl $0x1f80, (%%rdi)", "ldmxcsr (%%rdi)");
    break;
  case AG_PROBE_x87_fld1: PROBE("", "fld1\n\tfstp %%st(0)"); break;
  case AG_PROBE_xgetbv:
    PROBE("mov %%cr4, %%rax\n\tor $" CR4_OSXSAVE ", %%rax\n\t"
          "mov %%rax, %%cr4\n\txor %%ecx, %%ecx",
          "xgetbv");
    break;
  case AG_PROBE_xsetbv:
    PROBE("mov %%cr4, %%rax\n\tor $" CR4_OSXSAVE ", %%rax\n\t"
          "mov %%rax, %%cr4\n\txor %%ecx, %%ecx",
          "mov $3, %%eax\n\txsetbv");
    break;
  case AG_PROBE_xsave:
    PROBE(XSAVE_ON("3"), "mov $3, %%eax\n\txsave (%%rdi)");
    break;
  case AG_PROBE_xrstor:
    /* probe_buf is zero: an XSAVE header with XSTATE_BV 0 (init state). */
    PROBE(XSAVE_ON("3"), "mov $3, %%eax\n\txrstor (%%rdi)");
    break;
  case AG_PROBE_xsaveopt:
    PROBE(XSAVE_ON("3"), "mov $3, %%eax\n\txsaveopt (%%rdi)");
    break;
  case AG_PROBE_xsavec:
    PROBE(XSAVE_ON("3"), "mov $3, %%eax\n\txsavec (%%rdi)");
    break;
  case AG_PROBE_xsaves:
    PROBE(XSAVE_ON("3"), "mov $3, %%eax\n\txsaves (%%rdi)");
    break;
  case AG_PROBE_avx_vpxor:
    PROBE(XSAVE_ON("7"), "vpxor %%xmm1, %%xmm1, %%xmm1");
    break;
  case AG_PROBE_avx2_vpaddd:
    PROBE(XSAVE_ON("7"), "vpaddd %%ymm1, %%ymm1, %%ymm1");
    break;
  case AG_PROBE_fma_vfmadd:
    PROBE(XSAVE_ON("7"), "vfmadd231ps %%xmm1, %%xmm1, %%xmm1");
    break;
  case AG_PROBE_popcnt: PROBE("", "popcnt %%ecx, %%eax"); break;
  case AG_PROBE_lzcnt: PROBE("", "lzcnt %%ecx, %%eax"); break;
  case AG_PROBE_tzcnt: PROBE("", "tzcnt %%ecx, %%eax"); break;
  case AG_PROBE_movbe: PROBE("", "movbe (%%rdi), %%eax"); break;
  case AG_PROBE_crc32: PROBE("", "crc32l %%ecx, %%eax"); break;
  case AG_PROBE_aesenc: PROBE("", "aesenc %%xmm1, %%xmm0"); break;
  case AG_PROBE_pclmulqdq: PROBE("", "pclmulqdq $0, %%xmm1, %%xmm0"); break;
  case AG_PROBE_sha1msg1: PROBE("", "sha1msg1 %%xmm1, %%xmm0"); break;
  case AG_PROBE_bmi1_andn: PROBE("", "andn %%ecx, %%ebx, %%eax"); break;
  case AG_PROBE_bmi2_pdep: PROBE("", "pdep %%ecx, %%ebx, %%eax"); break;
  case AG_PROBE_adx_adcx: PROBE("", "adcx %%ecx, %%eax"); break;
  case AG_PROBE_clflush: PROBE("", "clflush (%%rdi)"); break;
  case AG_PROBE_clflushopt: PROBE("", "clflushopt (%%rdi)"); break;
  case AG_PROBE_clwb: PROBE("", "clwb (%%rdi)"); break;
  case AG_PROBE_mfence: PROBE("", "mfence\n\tlfence\n\tsfence"); break;
  case AG_PROBE_wbinvd: PROBE("", "wbinvd"); break;
  case AG_PROBE_invlpg: PROBE("", "invlpg (%%rdi)"); break;
  case AG_PROBE_invpcid:
    /* Type 2: every context, globals included; the descriptor is 0. */
    PROBE("movq $0, (%%rdi)\n\tmovq $0, 8(%%rdi)\n\tmov $2, %%ecx",
          "invpcid (%%rdi), %%rcx");
    break;
  case AG_PROBE_rdfsbase:
    PROBE("mov %%cr4, %%rax\n\tor $" CR4_FSGSBASE ", %%rax\n\t"
          "mov %%rax, %%cr4",
          "rdfsbase %%rax");
    break;
  case AG_PROBE_sgdt: PROBE("", "sgdt (%%rdi)\n\tsidt 16(%%rdi)"); break;
  case AG_PROBE_str: PROBE("", "str %%eax"); break;
  case AG_PROBE_lar: PROBE("mov $0x10, %%ecx", "lar %%ecx, %%eax"); break;
  case AG_PROBE_verr: PROBE("mov $0x10, %%ecx", "verr %%cx"); break;
  case AG_PROBE_smsw: PROBE("", "smsw %%eax"); break;
  case AG_PROBE_pause: PROBE("", "pause"); break;
  case AG_PROBE_prefetchw: PROBE("", "prefetchw (%%rdi)"); break;
  case AG_PROBE_movnti: PROBE("", "movnti %%ecx, (%%rdi)"); break;
  case AG_PROBE_rep_movsb:
    PROBE("lea 64(%%rdi), %%rsi\n\tmov $16, %%ecx", "rep movsb");
    break;
  case AG_PROBE_iretq:
    PROBE("mov %%ss, %%eax\n\tmov %%rsp, %%rcx\n\tlea 3f(%%rip), %%rsi",
          "push %%rax\n\tpush %%rcx\n\tpushf\n\tpushq $0x08\n\tpush %%rsi\n\t"
          "iretq\n3:");
    break;
  case AG_PROBE_cli_sti: PROBE("", "pushf\n\tcli\n\tsti\n\tpopf"); break;
  case AG_PROBE_popf: PROBE("", "pushf\n\tpopf"); break;
  case AG_PROBE_mov_cr8: PROBE("", "mov %%cr8, %%rax"); break;
  case AG_PROBE_rdpmc: PROBE("xor %%ecx, %%ecx", "rdpmc"); break;
  case AG_PROBE_into: PROBE("", ".byte 0xce"); break;
  case AG_PROBE_vzeroupper: PROBE(XSAVE_ON("7"), "vzeroupper"); break;
  case AG_PROBE_sse3_movddup: PROBE("", "movddup %%xmm1, %%xmm0"); break;
  case AG_PROBE_ssse3_pshufb: PROBE("", "pshufb %%xmm1, %%xmm0"); break;
  case AG_PROBE_sse41_ptest: PROBE("", "ptest %%xmm1, %%xmm0"); break;
  case AG_PROBE_fninit: PROBE("", "fninit"); break;
  case AG_PROBE_fnstsw: PROBE("", "fnstsw %%ax"); break;
  case AG_PROBE_fwait: PROBE("", "fwait"); break;
  case AG_PROBE_stmxcsr: PROBE("", "stmxcsr (%%rdi)"); break;
  case AG_PROBE_emms: PROBE("", "emms"); break;
  case AG_PROBE_stac_clac: PROBE("", "stac\n\tclac"); break;
  case AG_PROBE_lahf: PROBE("", "lahf\n\tsahf"); break;
  case AG_PROBE_mov_cr3: PROBE("", "mov %%cr3, %%rax\n\tmov %%rax, %%cr3"); break;
  case AG_PROBE_mov_to_cr4: PROBE("", "mov %%cr4, %%rax\n\tmov %%rax, %%cr4"); break;
  case AG_PROBE_lgdt: PROBE("sgdt (%%rdi)", "lgdt (%%rdi)"); break;
  case AG_PROBE_ltr:
    /* Mark the TSS descriptor available again (LTR wants type 9). */
    PROBE("sgdt (%%rdi)\n\tmov 2(%%rdi), %%rax\n\t"
          "andb $0xfd, 0x35(%%rax)\n\tmov $0x30, %%ecx",
          "ltr %%cx");
    break;
  case AG_PROBE_in_out:
    PROBE("", "mov $0xe9, %%edx\n\tin %%dx, %%al\n\tout %%al, %%dx");
    break;
  case AG_PROBE_xchg_mem: PROBE("", "xchg %%ecx, (%%rdi)"); break;
  case AG_PROBE_bt_mem: PROBE("mov $5, %%ecx", "lock btsl %%ecx, (%%rdi)"); break;
  case AG_PROBE_cmpxchg: PROBE("", "lock cmpxchg %%ecx, (%%rdi)"); break;
  case AG_PROBE_sse2_movd: PROBE("", "movd %%ecx, %%xmm0"); break;
  case AG_PROBE_sse2_movd_x15: PROBE("", "movd %%ecx, %%xmm15"); break;
  case AG_PROBE_sse2_paddq: PROBE("", "paddq %%xmm1, %%xmm0"); break;
  case AG_PROBE_sse2_pxor: PROBE("", "pxor %%xmm1, %%xmm0"); break;
  /* KVM hypercalls, the instructions Linux's PV IPIs and spinlock kicks
   * use: an unknown number must come back as -KVM_ENOSYS (-1000); another
   * answer raises #UD. */
  case AG_PROBE_vmcall:
    PROBE("", "mov $0x7fffffff, %%eax\n\tvmcall\n\tcmp $-1000, %%rax\n\t"
              "je 3f\n\tud2\n3:");
    break;
  case AG_PROBE_vmmcall:
    PROBE("", "mov $0x7fffffff, %%eax\n\tvmmcall\n\tcmp $-1000, %%rax\n\t"
              "je 3f\n\tud2\n3:");
    break;
  case AG_PROBE_sse_movups: PROBE("", "movups (%%rdi), %%xmm0"); break;
  case AG_PROBE_sse2_movdqu_x14: PROBE("", "movdqu 0x20(%%rdi), %%xmm14"); break;
  case AG_PROBE_ldmxcsr_reserved:
    PROBE("movl $0xffff1f80, (%%rdi)", "ldmxcsr (%%rdi)");
    break;
  default: GUEST_ASSERT(which < AG_PROBE_COUNT);
  }
  exc_resume = 0;
}

/* Every exception the guest expects: vector and RIP checked here. */
static void exceptions(void) {
  unsigned bp = 0, ud = 0, soft = 0;
  uint64_t after, at;

  exc_vector = AG_NO_VECTOR;
  __asm__ volatile("lea 1f(%%rip), %0\n\t"
                   "mov %0, exc_resume(%%rip)\n\t"
                   "int3\n"
                   "1:\n\t"
                   : "=&r"(after) : : "memory");
  GUEST_ASSERT_EQ(exc_vector, 3);
  GUEST_ASSERT_EQ(exc_rip, after); /* a trap: the RIP after INT3 */
  bp++;

  exc_vector = AG_NO_VECTOR;
  __asm__ volatile("lea 1f(%%rip), %0\n\t"
                   "mov %0, exc_resume(%%rip)\n\t"
                   "lea 2f(%%rip), %1\n\t"
                   "2: ud2\n"
                   "1:\n\t"
                   : "=&r"(after), "=&r"(at) : : "memory");
  GUEST_ASSERT_EQ(exc_vector, 6);
  GUEST_ASSERT_EQ(exc_rip, at); /* a fault: the RIP of UD2 itself */
  ud++;

  exc_vector = AG_NO_VECTOR;
  __asm__ volatile("lea 1f(%%rip), %0\n\t"
                   "mov %0, exc_resume(%%rip)\n\t"
                   "int %1\n"
                   "1:\n\t"
                   : "=&r"(after) : "i"(AG_SOFT_VECTOR) : "memory");
  GUEST_ASSERT_EQ(exc_vector, AG_SOFT_VECTOR);
  GUEST_ASSERT_EQ(exc_rip, after);
  soft++;

  /* Twice more in a row: the assist must leave the guest resumable. */
  for (int i = 0; i < 2; i++) {
    exc_vector = AG_NO_VECTOR;
    __asm__ volatile("lea 1f(%%rip), %0\n\t"
                     "mov %0, exc_resume(%%rip)\n\t"
                     "int3\n"
                     "1:\n\t"
                     : "=&r"(after) : : "memory");
    GUEST_ASSERT_EQ(exc_vector, 3);
    GUEST_ASSERT_EQ(exc_rip, after);
    bp++;
  }
  GUEST_SYNC(AG_SYNC_EXCEPTIONS, bp, ud, soft, exc_count);
}

/* Instructions the assist may carry out itself; checked where CPUID says
 * they exist (whoever runs them). */
static void emulated(void) {
  uint32_t r[4], r7[4], e1[4];
  unsigned ran = 0;
  cpuid(1, 0, r);
  cpuid(7, 0, r7);
  cpuid(0x80000001u, 0, e1);
  if (r[2] & (1u << 23)) { /* POPCNT */
    uint64_t out, flags, mem = 0xffff0000ffff0000ull;
    __asm__ volatile("popcnt %2, %0\n\tpushf\n\tpop %1"
                     : "=&r"(out), "=&r"(flags) : "r"(0xf0f0ull) : "cc");
    GUEST_ASSERT_EQ(out, 8);
    GUEST_ASSERT_EQ(flags & 0x8d5, 0); /* ZF, CF, OF, SF, AF, PF clear */
    __asm__ volatile("popcnt %2, %0\n\tpushf\n\tpop %1"
                     : "=&r"(out), "=&r"(flags) : "r"(0ull) : "cc");
    GUEST_ASSERT_EQ(out, 0);
    GUEST_ASSERT_EQ(flags & 0x8d5, 0x40); /* ZF alone */
    __asm__ volatile("popcntq %1, %0" : "=r"(out) : "m"(mem) : "cc");
    GUEST_ASSERT_EQ(out, 32);
    uint64_t ax = 0x1122334455667788ull;
    __asm__ volatile("popcnt %w1, %w0" : "+r"(ax) : "r"(0x7ull) : "cc");
    GUEST_ASSERT_EQ(ax, 0x1122334455660003ull); /* 16-bit: upper kept */
    uint32_t e = 0xffffffffu;
    uint64_t wide = ~0ull;
    __asm__ volatile("popcnt %k1, %k0" : "+r"(wide) : "r"(e) : "cc");
    GUEST_ASSERT_EQ(wide, 32); /* 32-bit: upper half cleared */
    ran |= AG_EM_POPCNT;
  }
  if (r[2] & (1u << 20)) { /* SSE4.2: CRC32 (CRC-32C), every size */
    static const char msg[] = "123456789";
    uint32_t crc = 0xffffffffu;
    for (unsigned i = 0; i < 9; i++)
      __asm__ volatile("crc32b %1, %0" : "+r"(crc) : "m"(msg[i]));
    GUEST_ASSERT_EQ(crc ^ 0xffffffffu, 0xe3069283u);
    uint64_t c64 = 0xffffffffu, q = 0x0123456789abcdefull;
    __asm__ volatile("crc32q %1, %0" : "+r"(c64) : "r"(q));
    GUEST_ASSERT_EQ(c64, 0x9a4f27dcu);
    uint32_t c32 = 0;
    __asm__ volatile("crc32l %1, %0" : "+r"(c32) : "r"(0xdeadbeefu));
    GUEST_ASSERT_EQ(c32, 0x09991d14u);
    uint32_t c16 = 0x12345678u;
    uint16_t w = 0xbeef;
    __asm__ volatile("crc32w %1, %0" : "+r"(c16) : "m"(w));
    GUEST_ASSERT_EQ(c16, 0xd78220dcu);
    ran |= AG_EM_CRC32;
  }
  if (r7[1] & (1u << 20)) { /* SMAP: STAC / CLAC */
    uint64_t f1, f2;
    __asm__ volatile("stac\n\tpushf\n\tpop %0\n\tclac\n\tpushf\n\t"
                     "pop %1" : "=&r"(f1), "=&r"(f2) : : "cc");
    GUEST_ASSERT(f1 & (1u << 18));
    GUEST_ASSERT(!(f2 & (1u << 18)));
    ran |= AG_EM_SMAP;
  }
  if (e1[3] & (1u << 27)) { /* RDTSCP */
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    GUEST_ASSERT_EQ(aux, AG_TSC_AUX);
    GUEST_ASSERT(lo | hi);
    ran |= AG_EM_RDTSCP;
  }
  /* LDMXCSR / STMXCSR: SSE is part of x86-64. */
  uint32_t want = 0x9f80, got = 0, def = 0x1f80;
  __asm__ volatile("ldmxcsr %1\n\tstmxcsr %0\n\tldmxcsr %2"
                   : "=m"(got) : "m"(want), "m"(def));
  GUEST_ASSERT_EQ(got, want);
  ran |= AG_EM_MXCSR;
  /* FNSTSW after FNINIT: 0, in AX (upper bits kept) and in memory. */
  uint64_t rax = 0x12345678ffffull;
  uint16_t sw = 0xffff;
  __asm__ volatile("fninit\n\tfnstsw %%ax\n\tfnstsw %1\n\tfwait\n\temms"
                   : "+a"(rax), "=m"(sw));
  GUEST_ASSERT_EQ(rax, 0x123456780000ull);
  GUEST_ASSERT_EQ(sw, 0);
  ran |= AG_EM_X87;
  GUEST_SYNC(AG_SYNC_EMULATE, ran);
}

void guest_main(void) {
  idt_init();
  uint64_t mode = guest_param(AG_PARAM_MODE);
  if (mode == AG_MODE_PROBE) {
    uint64_t which = guest_param(AG_PARAM_ARG);
    exc_vector = AG_NO_VECTOR;
    insn_rip = 0;
    probe((unsigned)which);
    GUEST_SYNC(AG_SYNC_PROBE, which, exc_vector,
               exc_vector == AG_NO_VECTOR ? 0 : exc_rip - insn_rip,
               exc_error);
  } else if (mode == AG_MODE_EXCEPTIONS) {
    exceptions();
  } else if (mode == AG_MODE_EMULATE) {
    emulated();
  } else if (mode == AG_MODE_CPUID) {
    uint32_t r[4];
    cpuid((uint32_t)guest_param(AG_PARAM_ARG),
          (uint32_t)guest_param(AG_PARAM_ARG2), r);
    GUEST_SYNC(AG_SYNC_CPUID, r[0], r[1], r[2], r[3]);
  } else {
    GUEST_ASSERT(!"unknown mode");
  }
  guest_done();
}
