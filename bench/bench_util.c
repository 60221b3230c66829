/* bench/bench_util.c — timing, statistics and the shared benchmark guest. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_min(const double *v, size_t n) {
  double m = n ? v[0] : 0;
  for (size_t i = 1; i < n; i++)
    m = v[i] < m ? v[i] : m;
  return m;
}

double bench_max(const double *v, size_t n) {
  double m = n ? v[0] : 0;
  for (size_t i = 1; i < n; i++)
    m = v[i] > m ? v[i] : m;
  return m;
}

unsigned long bench_parse_count(const char *prog, const char *opt,
                                const char *arg) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (errno || end == arg || *end || v == 0 || arg[0] == '-') {
    fprintf(stderr, "%s: %s wants a positive number, not '%s'\n", prog, opt,
            arg);
    exit(2);
  }
  return v;
}

void bench_require_kvm(const char *prog) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    printf("%s: SKIP: /dev/kvm is unusable: %s\n", prog, strerror(errno));
    exit(BENCH_EXIT_SKIP);
  }
  int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api < 0) {
    printf("%s: SKIP: /dev/kvm does not answer KVM_GET_API_VERSION: %s\n",
           prog, strerror(errno));
    exit(BENCH_EXIT_SKIP);
  }
  if (api != KVM_API_VERSION) {
    printf("%s: SKIP: /dev/kvm API version %d, want %d\n", prog, api,
           KVM_API_VERSION);
    exit(BENCH_EXIT_SKIP);
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) {
    printf("%s: SKIP: /dev/kvm cannot create a VM: %s\n", prog,
           strerror(errno));
    exit(BENCH_EXIT_SKIP);
  }
  close(vm);
  close(kvm);
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

/* Ring 0 → ring 3: push SS, RSP, RFLAGS, CS, RIP and IRETQ. */
static const uint8_t entry_code[] = {
    0x6a, BENCH_SEL_UDATA,                   /* push $BENCH_SEL_UDATA */
    0x68, 0x00, 0x00, 0x02, 0x00,            /* push $BENCH_STACK_GPA */
    0x68, 0x02, 0x30, 0x00, 0x00,            /* push $(IOPL3 | 2)     */
    0x6a, BENCH_SEL_UCODE,                   /* push $BENCH_SEL_UCODE */
    0x68, 0x00, 0x01, 0x01, 0x00,            /* push $BENCH_USER_GPA  */
    0x48, 0xcf,                              /* iretq                 */
};
_Static_assert(BENCH_STACK_GPA == 0x20000u && BENCH_USER_GPA == 0x10100u,
               "entry_code hard-codes these addresses");

void bench_guest_image(uint8_t *image, const uint8_t *user_code,
                       size_t code_len) {
  memset(image, 0, BENCH_IMAGE_SIZE);
  uint8_t *gdt = image + BENCH_GDT_GPA;
  put64(gdt + 0x08, 0x00af9b000000ffffull); /* 64-bit ring-0 code */
  put64(gdt + 0x10, 0x00cf93000000ffffull); /* ring-0 data */
  put64(gdt + 0x18, 0x00cffb000000ffffull); /* 32-bit ring-3 code */
  put64(gdt + 0x20, 0x00cff3000000ffffull); /* ring-3 data */
  put64(gdt + 0x28, 0x00affb000000ffffull); /* 64-bit ring-3 code */
  /* 64-bit busy TSS at BENCH_TSS_GPA with its I/O bitmap. */
  uint64_t base = BENCH_TSS_GPA, limit = BENCH_TSS_LIMIT;
  put64(gdt + 0x30, (limit & 0xffff) | ((base & 0xffffff) << 16) |
                        (0xbull << 40) | (1ull << 47) |
                        ((limit >> 16 & 0xf) << 48) |
                        ((base >> 24 & 0xff) << 56));
  put64(gdt + 0x38, base >> 32);
  /* TSS: RSP0 (unused: nothing should trap), then the I/O bitmap right
   * after the 104-byte TSS, all ports allowed (zero bits), and the 0xff
   * byte that must end it. */
  put64(image + BENCH_TSS_GPA + 4, BENCH_KSTACK_GPA);
  image[BENCH_TSS_GPA + 102] = 104;
  image[BENCH_TSS_GPA + BENCH_TSS_LIMIT] = 0xff;
  /* Page tables: present, writable, user; one 2 MiB page at 0. */
  put64(image + BENCH_PML4_GPA, BENCH_PDPT_GPA | 7);
  put64(image + BENCH_PDPT_GPA, BENCH_PD_GPA | 7);
  put64(image + BENCH_PD_GPA, 0x87);
  memcpy(image + BENCH_ENTRY_GPA, entry_code, sizeof(entry_code));
  if (code_len > BENCH_IMAGE_SIZE - BENCH_USER_GPA)
    code_len = BENCH_IMAGE_SIZE - BENCH_USER_GPA;
  memcpy(image + BENCH_USER_GPA, user_code, code_len);
}

static vmm_segment_t flat_segment(uint16_t selector, uint8_t type,
                                  uint8_t l, uint8_t db) {
  uint8_t dpl = selector & 3;
  vmm_segment_t s;
  memset(&s, 0, sizeof(s));
  s.base = 0;
  s.limit = 0xffffffffu;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = dpl;
  s.db = db;
  s.s = 1;
  s.l = l;
  s.g = 1;
  return s;
}

void bench_guest_sregs(vmm_sregs_t *sregs) {
  sregs->cs = flat_segment(BENCH_SEL_KCODE, 0xb, 1, 0);
  sregs->ss = flat_segment(BENCH_SEL_KDATA, 0x3, 0, 1);
  sregs->ds = flat_segment(BENCH_SEL_UDATA, 0x3, 0, 1);
  sregs->es = sregs->ds;
  sregs->fs = sregs->ds;
  sregs->gs = sregs->ds;
  memset(&sregs->tr, 0, sizeof(sregs->tr));
  sregs->tr.base = BENCH_TSS_GPA;
  sregs->tr.limit = BENCH_TSS_LIMIT;
  sregs->tr.selector = BENCH_SEL_TSS;
  sregs->tr.type = 0xb;
  sregs->tr.present = 1;
  memset(&sregs->ldt, 0, sizeof(sregs->ldt));
  sregs->ldt.type = 2;
  sregs->ldt.unusable = 1;
  memset(&sregs->gdt, 0, sizeof(sregs->gdt));
  sregs->gdt.base = BENCH_GDT_GPA;
  sregs->gdt.limit = 0x3f;
  memset(&sregs->idt, 0, sizeof(sregs->idt));
  sregs->cr0 = VMM_X86_CR0_PE | VMM_X86_CR0_MP | VMM_X86_CR0_ET |
               VMM_X86_CR0_NE | VMM_X86_CR0_WP | VMM_X86_CR0_PG;
  sregs->cr2 = 0;
  sregs->cr3 = BENCH_PML4_GPA;
  sregs->cr4 = VMM_X86_CR4_PAE | VMM_X86_CR4_OSFXSR | VMM_X86_CR4_OSXMMEXCPT;
  sregs->efer = VMM_X86_EFER_LME | VMM_X86_EFER_LMA;
}

void bench_guest_regs(vmm_regs_t *regs) {
  memset(regs, 0, sizeof(*regs));
  regs->rip = BENCH_ENTRY_GPA;
  regs->rsp = BENCH_KSTACK_GPA;
  regs->rflags = VMM_X86_RFLAGS_FIXED;
}
