/* bench/bench_util.h — timing, statistics and the guest both benchmark paths run. */
#ifndef VMM_BENCH_UTIL_H
#define VMM_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <libvmm/x86.h>

/* Exit status meaning "skipped" (meson's convention). */
#define BENCH_EXIT_SKIP 77

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);
/* Median of `n` values (sorts them in place); 0 for n == 0. */
double bench_median(double *v, size_t n);
double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);
/* Parses a positive decimal count or exits with a usage error. */
unsigned long bench_parse_count(const char *prog, const char *opt,
                                const char *arg);

/*
 * Exits with status 77 and a message naming the reason when /dev/kvm cannot
 * create a VM here (absent, no permission, wrong API version). Both paths
 * need it, so this is checked before either one runs.
 */
void bench_require_kvm(const char *prog);

/*
 * The benchmark guest: a flat 64-bit environment whose hot code runs in
 * ring 3, so that it runs natively even where guest ring 0 is emulated.
 * It starts in 64-bit ring 0 at BENCH_ENTRY_GPA, where six instructions
 * IRETQ to BENCH_USER_GPA in ring 3 (RFLAGS.IOPL = 3, RSP =
 * BENCH_STACK_GPA); general registers other than RIP, RSP and RFLAGS reach
 * the ring-3 code unchanged. Ring 3 may use every port: IOPL 3 allows it
 * on a conventional KVM, and the TSS carries an all-clear I/O permission
 * bitmap for this machine's paravirtual KVM, which runs ring 3 with IOPL 0
 * whatever the guest asks for and checks the guest's bitmap instead.
 * (Loading CPL 3 straight through the segment registers is refused there:
 * the vCPU shuts down at once.) Guest-physical layout, all below 2 MiB,
 * identity mapped by one user-accessible 2 MiB page:
 */
#define BENCH_GDT_GPA 0x1000u
#define BENCH_PML4_GPA 0x3000u
#define BENCH_PDPT_GPA 0x4000u
#define BENCH_PD_GPA 0x5000u
#define BENCH_KSTACK_GPA 0x8000u /* ring-0 RSP (0x7000..0x7fff) */
#define BENCH_TSS_GPA 0x9000u    /* 104-byte TSS + 8 KiB I/O bitmap + 0xff */
#define BENCH_TSS_LIMIT (104u + 8192u)
#define BENCH_ENTRY_GPA 0x10000u /* ring-0 entry: IRETQ to ring 3 */
#define BENCH_USER_GPA 0x10100u  /* the caller's ring-3 code */
#define BENCH_STACK_GPA 0x20000u /* ring-3 RSP (top of 0x1f000..0x1ffff) */
#define BENCH_IMAGE_SIZE 0x11000u /* bytes from gpa 0 that hold the above */
#define BENCH_GUEST_RAM (2u << 20)

/* GDT selectors (the same layout libvmm's long-mode helper uses). */
#define BENCH_SEL_KCODE 0x08 /* 64-bit ring-0 code */
#define BENCH_SEL_KDATA 0x10 /* ring-0 data */
#define BENCH_SEL_UDATA 0x23 /* ring-3 data, RPL 3 */
#define BENCH_SEL_UCODE 0x2b /* 64-bit ring-3 code, RPL 3 */
#define BENCH_SEL_TSS 0x30

/* Ports the exit_latency guest uses (0x0ec is libvmm's hypercall port). */
#define BENCH_PORT_COUNT 0x500
#define BENCH_PORT_DONE 0x501

/*
 * Writes the GDT, TSS, page tables, the ring-0 entry and `user_code` (at
 * BENCH_USER_GPA) into `image`, which must hold BENCH_IMAGE_SIZE bytes and
 * is zeroed first.
 */
void bench_guest_image(uint8_t *image, const uint8_t *user_code,
                       size_t code_len);
/*
 * Turns `sregs` (as read from the vCPU, so that fields this does not set
 * keep their values) into the 64-bit ring-0 state the entry code expects.
 */
void bench_guest_sregs(vmm_sregs_t *sregs);
/* General registers: RIP at the entry, ring-0 RSP, RFLAGS reserved bit;
 * the rest zero. */
void bench_guest_regs(vmm_regs_t *regs);

#endif
