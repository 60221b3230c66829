/* tests/integration/guests_test.c — each test guest run to completion:
 * what it printed, what it reported through ucalls and what the host saw
 * of its port, MMIO and hypercall traffic. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "compute.h"
#include "suites.h"

/* ---- hello, real mode, protected mode ---------------------------------- */

static void test_hello(void) {
  struct test_vm t;
  if (CREATE(&t, "hello")) {
    EXPECT_EQ(t.elf.elf_class, 64);
    EXPECT_EQ(t.elf.entry, GUEST_LOAD_GPA);
    RUN_EXPECT(&t, VMM_EXIT_HLT);
    EXPECT_STR(t.console, "Hello from the guest\n");
  }
  test_vm_destroy(&t);
}

static void test_realmode(void) {
  struct test_vm t;
  const char *path = test_guest_path("realmode");
  if (!EXPECT_TRUEF(path, "--guest realmode PATH not given"))
    return;
  if (CREATE(&t, NULL)) {
    uint64_t size = 0;
    uint8_t sig[2] = {0, 0};
    EXPECT_OK(vmm_load_flat_file(t.vm, path, 0x7c00, &size));
    EXPECT_EQ(size, 512);
    EXPECT_OK(vmm_mem_read(t.vm, 0x7c00 + 510, sig, 2));
    EXPECT_TRUE(sig[0] == 0x55 && sig[1] == 0xaa);
    EXPECT_OK(vmm_vcpu_setup_real_mode(t.vcpu, 0, 0x7c00, 0x7c00));
    RUN_EXPECT(&t, VMM_EXIT_HLT);
    EXPECT_STR(t.console, "Hello from real mode\n");
    vmm_sregs_t s;
    if (EXPECT_OK(vmm_vcpu_get_sregs(t.vcpu, &s)))
      EXPECT_EQ(s.cr0 & VMM_X86_CR0_PE, 0);
  }
  test_vm_destroy(&t);
}

struct hc_ctx {
  vmm_vcpu_t *vcpu;
  unsigned calls;
  int bad_vcpu;
};

/* HC_ADD: the sum of the five arguments + 0x100. */
static int hc_add(vmm_vcpu_t *vcpu, uint64_t nr, const uint64_t args[5],
                  uint64_t *ret, void *opaque) {
  struct hc_ctx *c = opaque;
  c->calls++;
  if (vcpu != c->vcpu || nr != HC_ADD)
    c->bad_vcpu = 1;
  *ret = 0x100 + args[0] + args[1] + args[2] + args[3] + args[4];
  return 0;
}

static int hc_fail(vmm_vcpu_t *vcpu, uint64_t nr, const uint64_t args[5],
                   uint64_t *ret, void *opaque) {
  (void)vcpu, (void)nr, (void)args, (void)opaque;
  *ret = 0;
  return VMM_EIO;
}

static void test_pmode(void) {
  struct test_vm t;
  struct hc_ctx hc = {0};
  const char *path = test_guest_path("pmode");
  if (!EXPECT_TRUEF(path, "--guest pmode PATH not given"))
    return;
  if (CREATE(&t, NULL)) {
    vmm_elf_info_t info = {.size = sizeof(info)};
    hc.vcpu = t.vcpu;
    EXPECT_OK(vmm_load_elf_file(t.vm, path, &info));
    EXPECT_EQ(info.elf_class, 32);
    EXPECT_OK(vmm_vcpu_setup_protected_mode(t.vcpu, (uint32_t)info.entry,
                                            GUEST_STACK_TOP));
    /* 32-bit code leaves the upper halves of registers alone: poison them,
     * since the ABI promises only the low halves count in this mode. */
    vmm_regs_t r;
    if (EXPECT_OK(vmm_vcpu_get_regs(t.vcpu, &r))) {
      EXPECT_EQ(r.rip, info.entry);
      EXPECT_EQ(r.rsp, GUEST_STACK_TOP);
      r.rax |= 0xdead000000000000ull;
      r.rbx |= 0xdead000100000000ull;
      r.rcx |= 0xdead000200000000ull;
      r.rdx |= 0xdead000300000000ull;
      r.rsi |= 0xdead000400000000ull;
      r.rdi |= 0xdead000500000000ull;
      EXPECT_OK(vmm_vcpu_set_regs(t.vcpu, &r));
    }
    EXPECT_OK(vmm_hypercall_register(t.vm, HC_ADD, hc_add, &hc));
    /* guest_pre_main: the argument registers hold only the poison above
     * their zero low halves. */
    if (RUN_EXPECT(&t, VMM_EXIT_HYPERCALL)) {
      const uint64_t *a = t.exit.u.hypercall.args;
      EXPECT_EQ(t.exit.u.hypercall.nr, HC_ECHO_EXIT);
      EXPECT_TRUEF(!a[0] && !a[1] && !a[2] && !a[3] && !a[4],
                   "32-bit hypercall args not cut to their low halves: "
                   "%llx %llx %llx %llx %llx",
                   (unsigned long long)a[0], (unsigned long long)a[1],
                   (unsigned long long)a[2], (unsigned long long)a[3],
                   (unsigned long long)a[4]);
    }
    if (RUN_UCALL(&t, UCALL_SYNC)) {
      EXPECT_EQ(t.uc.args[0], 0x10f); /* 0x100 + 1+2+3+4+5 */
      EXPECT_EQ(t.uc.args[1], 4);     /* sizeof(void *): really 32-bit */
    }
    EXPECT_EQ(hc.calls, 1);
    RUN_UCALL(&t, UCALL_DONE);
    EXPECT_STR(t.console, "Hello from protected mode\n");
  }
  test_vm_destroy(&t);
}

/* ---- ring 3 compute ---------------------------------------------------- */

static void test_compute(void) {
  struct test_vm t;
  if (CREATE(&t, "compute")) {
    if (RUN_UCALL(&t, UCALL_SYNC)) {
      uint64_t want = compute_run(COMPUTE_SEED, COMPUTE_STEPS);
      EXPECT_EQ(t.uc.args[2], COMPUTE_STEPS);
      EXPECT_EQ(t.uc.args[1], 3); /* it ran in ring 3 */
      EXPECT_EQ(t.uc.args[0], want);
    }
    RUN_UCALL(&t, UCALL_DONE);
    vmm_sregs_t s;
    if (EXPECT_OK(vmm_vcpu_get_sregs(t.vcpu, &s)))
      EXPECT_EQ(s.cs.selector, VMM_LM_SEL_KCODE); /* back in ring 0 */
  }
  test_vm_destroy(&t);
}

/* ---- PIO and MMIO ------------------------------------------------------ */

struct io_rec {
  uint64_t addr;
  uint32_t size;
  int is_write;
  uint64_t value;
};

struct io_log {
  vmm_vcpu_t *vcpu;
  struct io_rec rec[64];
  size_t n;
  unsigned string_reads; /* reads of PIO_REP_PORT so far */
  int bad_vcpu;
};

/* Records every access; answers reads with io_read_value() (PIO_REP_PORT
 * counts up, so the guest can tell the elements of a REP INSB apart). */
static int log_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                  uint32_t size, int is_write, void *opaque) {
  struct io_log *l = opaque;
  if (vcpu != l->vcpu)
    l->bad_vcpu = 1;
  uint64_t v = 0;
  if (is_write) {
    memcpy(&v, data, size <= 8 ? size : 8);
  } else {
    v = io_read_value(addr, size);
    if (addr == PIO_REP_PORT)
      v = (uint8_t)(v + l->string_reads++);
    memcpy(data, &v, size <= 8 ? size : 8);
  }
  if (l->n < 64)
    l->rec[l->n++] = (struct io_rec){addr, size, is_write, v};
  return 0;
}

static int fail_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                   uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr, (void)data, (void)size, (void)is_write, (void)opaque;
  return VMM_EIO;
}

/* Checks that log entry `i` is this access. */
static bool check_rec(const struct io_log *l, size_t i, uint64_t addr,
                      uint32_t size, int is_write, uint64_t value,
                      unsigned line) {
  char what[200];
  snprintf(what, sizeof(what), "handler access %zu", i);
  if (i >= l->n)
    return check_true(false, line, what, "only %zu accesses recorded", l->n);
  const struct io_rec *r = &l->rec[i];
  if (!is_write)
    value = r->value; /* the handler chose it */
  return check_true(r->addr == addr && r->size == size &&
                        r->is_write == is_write && r->value == value,
                    line, what,
                    "got %s 0x%llx size %u value 0x%llx, expected %s 0x%llx "
                    "size %u value 0x%llx",
                    r->is_write ? "write" : "read",
                    (unsigned long long)r->addr, r->size,
                    (unsigned long long)r->value, is_write ? "write" : "read",
                    (unsigned long long)addr, size,
                    (unsigned long long)value);
}
#define CHECK_REC(l, i, addr, size, w, v)                                     \
  check_rec((l), (i), (addr), (size), (w), (v), __LINE__)

/* The next stop is an unhandled port access; reads get io_read_value(). */
static bool expect_io_exit(struct test_vm *t, uint16_t port, uint8_t size,
                           int is_write, uint64_t value, unsigned line) {
  if (!check_run(t, VMM_EXIT_IO, line))
    return false;
  const vmm_exit_t *e = &t->exit;
  uint64_t v = 0;
  if (is_write)
    memcpy(&v, e->u.io.data, size);
  bool ok = check_true(e->u.io.port == port && e->u.io.size == size &&
                           e->u.io.is_write == is_write &&
                           e->u.io.count == 1 && v == value,
                       line, "IO exit",
                       "port 0x%x size %u count %u %s 0x%llx, expected port "
                       "0x%x size %u %s 0x%llx",
                       e->u.io.port, e->u.io.size, e->u.io.count,
                       e->u.io.is_write ? "write" : "read",
                       (unsigned long long)v, port, size,
                       is_write ? "write" : "read", (unsigned long long)value);
  if (ok && !is_write) {
    v = io_read_value(port, size);
    memcpy(e->u.io.data, &v, size);
  }
  return ok;
}
#define EXPECT_IO_EXIT(t, port, size, w, v)                                   \
  expect_io_exit((t), (port), (size), (w), (v), __LINE__)

static bool expect_mmio_exit(struct test_vm *t, uint64_t gpa, uint32_t size,
                             int is_write, uint64_t value, unsigned line) {
  if (!check_run(t, VMM_EXIT_MMIO, line))
    return false;
  const vmm_exit_t *e = &t->exit;
  uint64_t v = 0;
  if (is_write)
    memcpy(&v, e->u.mmio.data, size <= 8 ? size : 8);
  bool ok = check_true(e->u.mmio.gpa == gpa && e->u.mmio.size == size &&
                           (int)e->u.mmio.is_write == is_write && v == value,
                       line, "MMIO exit",
                       "gpa 0x%llx size %u %s 0x%llx, expected gpa 0x%llx "
                       "size %u %s 0x%llx",
                       (unsigned long long)e->u.mmio.gpa, e->u.mmio.size,
                       e->u.mmio.is_write ? "write" : "read",
                       (unsigned long long)v, (unsigned long long)gpa, size,
                       is_write ? "write" : "read", (unsigned long long)value);
  if (ok && !is_write) {
    v = io_read_value(gpa, size);
    memcpy(e->u.mmio.data, &v, size);
  }
  return ok;
}
#define EXPECT_MMIO_EXIT(t, gpa, size, w, v)                                  \
  expect_mmio_exit((t), (gpa), (size), (w), (v), __LINE__)

static void test_pio(void) {
  struct test_vm t;
  struct io_log log = {0};
  if (!CREATE(&t, "pio"))
    goto out;
  log.vcpu = t.vcpu;
  EXPECT_OK(vmm_io_register(t.vm, VMM_IO_PIO, PIO_HANDLED_PORT,
                            PIO_HANDLED_LEN, log_io, &log));
  EXPECT_OK(vmm_io_register(t.vm, VMM_IO_PIO, PIO_REP_PORT, 1, log_io, &log));
  EXPECT_OK(vmm_io_register(t.vm, VMM_IO_PIO, PIO_ERROR_PORT, 1, fail_io,
                            NULL));
  const uint16_t p = PIO_HANDLED_PORT;
  for (unsigned ring = 0; ring <= 3; ring += 3) {
    log.n = 0;
    if (!EXPECT_IO_EXIT(&t, PIO_EXIT_PORT, 2, 1, 0xbeef) ||
        !EXPECT_IO_EXIT(&t, PIO_EXIT_PORT + 4, 4, 0, 0) ||
        !RUN_UCALL(&t, UCALL_SYNC))
      goto out;
    EXPECT_EQ(t.uc.args[0], ring);
    EXPECT_EQ(log.n, 7);
    CHECK_REC(&log, 0, p, 1, 1, 0x11);
    CHECK_REC(&log, 1, p + 2, 2, 1, 0x2222);
    CHECK_REC(&log, 2, p + 4, 4, 1, 0x44444444u + ring);
    CHECK_REC(&log, 3, p + 1, 1, 0, 0);
    CHECK_REC(&log, 4, p + 2, 2, 0, 0);
    CHECK_REC(&log, 5, p + 4, 4, 0, 0);
    /* Straddles the end of the range: not split, the owner of byte 0. */
    CHECK_REC(&log, 6, p + 7, 4, 1, 0x77777777u);
  }

  /* REP OUTSB of "abcde", then REP INSB of 4: one access per element. */
  log.n = 0;
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 4);
  EXPECT_EQ(log.n, 9);
  for (unsigned i = 0; i < 5; i++)
    CHECK_REC(&log, i, PIO_REP_PORT, 1, 1, (uint64_t)('a' + i));
  for (unsigned i = 5; i < 9; i++)
    CHECK_REC(&log, i, PIO_REP_PORT, 1, 0, 0);

  /* A handler removed while the guest is stopped: the port exits now. */
  EXPECT_OK(vmm_io_unregister(t.vm, VMM_IO_PIO, PIO_HANDLED_PORT));
  log.n = 0;
  if (!EXPECT_IO_EXIT(&t, PIO_HANDLED_PORT, 1, 1, 0x55) ||
      !RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 5);
  EXPECT_EQ(log.n, 0);

  /* A handler's error is what vmm_vcpu_run() returns. */
  RUN_EXPECT(&t, VMM_EIO);
  EXPECT_EQ(log.bad_vcpu, 0);
out:
  test_vm_destroy(&t);
}

static void test_mmio(void) {
  struct test_vm t;
  struct io_log log = {0};
  if (!CREATE(&t, "mmio"))
    goto out;
  log.vcpu = t.vcpu;
  EXPECT_OK(vmm_io_register(t.vm, VMM_IO_MMIO, MMIO_HANDLED_GPA,
                            MMIO_HANDLED_LEN, log_io, &log));
  EXPECT_OK(vmm_io_register(t.vm, VMM_IO_MMIO, MMIO_STRADDLE_GPA,
                            MMIO_STRADDLE_LEN, log_io, &log));
  const uint64_t h = MMIO_HANDLED_GPA;
  for (unsigned ring = 0; ring <= 3; ring += 3) {
    log.n = 0;
    if (!EXPECT_MMIO_EXIT(&t, MMIO_EXIT_GPA + 4, 4, 1, 0xdeadbeef) ||
        !EXPECT_MMIO_EXIT(&t, MMIO_EXIT_GPA + 8, 8, 0, 0) ||
        !EXPECT_MMIO_EXIT(&t, MMIO_EXIT_GPA + 2, 2, 0, 0) ||
        !RUN_UCALL(&t, UCALL_SYNC))
      goto out;
    EXPECT_EQ(t.uc.args[0], ring);
    EXPECT_EQ(log.n, 10);
    CHECK_REC(&log, 0, h + 0x10, 1, 1, 0x11);
    CHECK_REC(&log, 1, h + 0x20, 2, 1, 0x2222);
    CHECK_REC(&log, 2, h + 0x40, 4, 1, 0x44444444);
    CHECK_REC(&log, 3, h + 0x80, 8, 1, 0x8888888888888888ull + ring);
    CHECK_REC(&log, 4, h + 0x11, 1, 0, 0);
    CHECK_REC(&log, 5, h + 0x22, 2, 0, 0);
    CHECK_REC(&log, 6, h + 0x44, 4, 0, 0);
    CHECK_REC(&log, 7, h + 0x88, 8, 0, 0);
    /* 8 bytes where the handler owns 4: all of it goes to that handler. */
    CHECK_REC(&log, 8, MMIO_STRADDLE_GPA, 8, 1, 0x0102030405060708ull);
    CHECK_REC(&log, 9, MMIO_STRADDLE_GPA, 8, 0, 0);
  }
  RUN_UCALL(&t, UCALL_DONE);
  EXPECT_EQ(log.bad_vcpu, 0);
out:
  test_vm_destroy(&t);
}

/* ---- hypercalls -------------------------------------------------------- */

static bool expect_hypercall(struct test_vm *t, uint64_t nr,
                             const uint64_t args[5], unsigned line) {
  if (!check_run(t, VMM_EXIT_HYPERCALL, line))
    return false;
  const vmm_exit_t *e = &t->exit;
  bool ok = check_true(e->u.hypercall.nr == nr &&
                           !memcmp(e->u.hypercall.args, args,
                                   5 * sizeof(uint64_t)),
                       line, "hypercall exit",
                       "nr %llu args %llx %llx %llx %llx %llx, expected nr "
                       "%llu args %llx %llx %llx %llx %llx",
                       (unsigned long long)e->u.hypercall.nr,
                       (unsigned long long)e->u.hypercall.args[0],
                       (unsigned long long)e->u.hypercall.args[1],
                       (unsigned long long)e->u.hypercall.args[2],
                       (unsigned long long)e->u.hypercall.args[3],
                       (unsigned long long)e->u.hypercall.args[4],
                       (unsigned long long)nr, (unsigned long long)args[0],
                       (unsigned long long)args[1],
                       (unsigned long long)args[2],
                       (unsigned long long)args[3],
                       (unsigned long long)args[4]);
  return ok;
}

static void test_hypercall(void) {
  struct test_vm t;
  struct hc_ctx hc = {0};
  if (!CREATE(&t, "hypercall"))
    goto out;
  hc.vcpu = t.vcpu;
  EXPECT_OK(vmm_hypercall_register(t.vm, HC_ADD, hc_add, &hc));
  EXPECT_RC(vmm_hypercall_register(t.vm, HC_ADD, hc_add, &hc), VMM_EEXIST);
  EXPECT_OK(vmm_hypercall_register(t.vm, HC_FAIL, hc_fail, NULL));
  for (unsigned ring = 0; ring <= 3; ring += 3) {
    const uint64_t echo[5] = {10, 20, 30, 40, 50 + ring};
    const uint64_t none[5] = {0, 0, 0, 0, ring};
    if (!expect_hypercall(&t, HC_ECHO_EXIT, echo, __LINE__))
      goto out;
    t.exit.u.hypercall.ret = HC_ECHO_RET;
    /* Left unanswered: the guest must get -ENOSYS. */
    if (!expect_hypercall(&t, HC_UNANSWERED, none, __LINE__))
      goto out;
    if (!RUN_UCALL(&t, UCALL_SYNC))
      goto out;
    EXPECT_EQ(t.uc.args[0], ring);
  }
  EXPECT_EQ(hc.calls, 2);
  EXPECT_EQ(hc.bad_vcpu, 0);

  /* Unregistered while stopped: the same number now exits. */
  EXPECT_OK(vmm_hypercall_unregister(t.vm, HC_ADD));
  EXPECT_FAIL(vmm_hypercall_unregister(t.vm, HC_ADD));
  const uint64_t seven[5] = {7, 0, 0, 0, 0};
  if (!expect_hypercall(&t, HC_ADD, seven, __LINE__))
    goto out;
  t.exit.u.hypercall.ret = HC_ECHO_RET;
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 4);
  EXPECT_EQ(hc.calls, 2);

  /* A function's error stops the run with that error. */
  RUN_EXPECT(&t, VMM_EIO);
out:
  test_vm_destroy(&t);
}

static void test_hypercall_registration(void) {
  struct test_vm t;
  if (CREATE(&t, NULL)) {
    EXPECT_RC(vmm_hypercall_register(t.vm, 5, NULL, NULL), VMM_EINVAL);
    EXPECT_FAIL(vmm_hypercall_register(t.vm, VMM_HYPERCALL_MAX, hc_fail, NULL));
    EXPECT_OK(vmm_hypercall_register(t.vm, VMM_HYPERCALL_MAX - 1, hc_fail,
                                     NULL));
    EXPECT_OK(vmm_hypercall_register(t.vm, 0, hc_fail, NULL));
    EXPECT_FAIL(vmm_hypercall_unregister(t.vm, 77));
    EXPECT_OK(vmm_hypercall_unregister(t.vm, 0));
  }
  test_vm_destroy(&t);
}

/* ---- triple fault ------------------------------------------------------ */

#define TRIPLE_MARK 0x5452495045000000ull /* as in triple_fault.c */

static void triple_fault(unsigned ring) {
  struct test_vm t;
  if (!CREATE(&t, "triple_fault"))
    goto out;
  EXPECT_OK(test_vm_set_param(&t, 0, ring == 3));
  RUN_EXPECT(&t, VMM_EXIT_SHUTDOWN);
  /* Memory shows how far the guest got. */
  EXPECT_EQ(test_vm_read64(&t, GUEST_STATUS_GPA), TRIPLE_MARK | ring);
  /* The state is readable. Whether it is the state at the fault is the
   * hypervisor's business: Linux KVM on AMD re-initialises the vCPU on a
   * shutdown (the VMCB is undefined then), on Intel it keeps it. */
  vmm_regs_t r;
  vmm_sregs_t s;
  if (EXPECT_OK(vmm_vcpu_get_regs(t.vcpu, &r)) &&
      EXPECT_OK(vmm_vcpu_get_sregs(t.vcpu, &s))) {
    if (r.rbx == 0x1111222233334444ull) {
      EXPECT_EQ(r.r12, 0x5555666677778888ull);
      EXPECT_EQ(s.cs.selector & 3, ring);
    } else {
      note("ring %u: state at shutdown was reset (rip 0x%llx, cs 0x%x), "
           "not kept", ring, (unsigned long long)r.rip, s.cs.selector);
      EXPECT_EQ(s.efer & VMM_X86_EFER_LMA, 0);
    }
  }
  EXPECT_OK(vmm_vm_destroy(t.vm));
  t.vm = NULL;
out:
  test_vm_destroy(&t);
}

static void test_triple_fault_ring0(void) { triple_fault(0); }
static void test_triple_fault_ring3(void) { triple_fault(3); }

/* ---- guest memory: caller-provided and ROM regions --------------------- */

static void test_memory_guest(void) {
  struct test_vm t;
  uint8_t *user = NULL;
  uint64_t caps = 0;
  if (!CREATE(&t, "memory"))
    goto out;
  EXPECT_OK(vmm_vm_caps(t.vm, &caps));
  if (!(caps & VMM_CAP_READONLY_MEM)) {
    note("backend has no VMM_CAP_READONLY_MEM: ROM part not run");
    goto out;
  }
  user = aligned_alloc(VMM_PAGE_SIZE, USERMEM_SIZE);
  if (!EXPECT_TRUE(user))
    goto out;
  memset(user, 0, USERMEM_SIZE);
  const uint64_t v1 = 0xa1a2a3a4a5a6a7a8ull;
  memcpy(user, &v1, 8);
  vmm_mem_region_t *ur = NULL, *rom = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, USERMEM_GPA, USERMEM_SIZE, user, 0, &ur)) ||
      !EXPECT_OK(vmm_mem_map(t.vm, ROM_GPA, ROM_SIZE, NULL, VMM_MEM_READONLY,
                             &rom)))
    goto out;
  EXPECT_TRUE(vmm_mem_region_hva(ur) == user);
  EXPECT_EQ(vmm_mem_region_flags(rom), VMM_MEM_READONLY);
  /* Host writes reach ROM: that is how firmware gets there. */
  const uint64_t rom_words[2] = {0x5253545556575859ull, 0x0f1e2d3c4b5a6978ull};
  EXPECT_OK(vmm_mem_write(t.vm, ROM_GPA, rom_words, sizeof(rom_words)));

  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 1);
  EXPECT_EQ(t.uc.args[1], v1);
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  uint64_t seen;
  memcpy(&seen, user + 8, 8);
  EXPECT_EQ(seen, 0x1122334455667788ull); /* the guest wrote our buffer */

  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 3);
  EXPECT_EQ(t.uc.args[1], rom_words[0]);
  EXPECT_EQ(t.uc.args[2], rom_words[1]);
  /* A guest write to ROM is an MMIO write, and changes nothing. */
  if (!EXPECT_MMIO_EXIT(&t, ROM_GPA + 8, 8, 1, 0xbad0bad0bad0bad0ull) ||
      !RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 4);
  EXPECT_EQ(t.uc.args[1], rom_words[1]);
  EXPECT_EQ(test_vm_read64(&t, ROM_GPA + 8), rom_words[1]);
  RUN_UCALL(&t, UCALL_DONE);

  /* Unmapping a caller's region leaves the caller's memory alone. */
  EXPECT_OK(vmm_mem_unmap(ur));
  user[0] = 1;
  memcpy(&seen, user + 8, 8);
  EXPECT_EQ(seen, 0x1122334455667788ull);
out:
  test_vm_destroy(&t);
  free(user);
}

/* ---- dirty log --------------------------------------------------------- */

#define DIRTY_WORDS ((DIRTY_PAGES + 63) / 64)

static bool check_dirty(vmm_mem_region_t *r, bool (*want)(unsigned page),
                        const char *phase, unsigned line) {
  uint64_t bm[DIRTY_WORDS];
  memset(bm, 0xa5, sizeof(bm));
  if (!check_rc(vmm_mem_dirty_log_get(r, bm, sizeof(bm)), 0,
                "vmm_mem_dirty_log_get", line))
    return false;
  char what[64];
  snprintf(what, sizeof(what), "dirty log after %s", phase);
  unsigned wrong = 0, first = 0;
  for (unsigned p = 0; p < DIRTY_PAGES; p++) {
    bool dirty = (bm[p / 64] >> (p % 64)) & 1;
    if (dirty != want(p) && wrong++ == 0)
      first = p;
  }
  return check_true(wrong == 0, line, what,
                    "%u pages wrong, first page %u is %s", wrong, first,
                    want(first) ? "clean" : "dirty");
}

static bool none(unsigned p) { (void)p; return false; }
static bool phase1(unsigned p) { return p % 3 == 0; }
static bool phase2(unsigned p) { return p % 5 == 1; }
static bool page7(unsigned p) { return p == 7; }

static void test_dirty_log(void) {
  struct test_vm t;
  uint64_t caps = 0;
  if (!CREATE(&t, "dirty"))
    goto out;
  EXPECT_OK(vmm_vm_caps(t.vm, &caps));
  if (!(caps & VMM_CAP_DIRTY_LOG)) {
    note("backend has no VMM_CAP_DIRTY_LOG: not run");
    goto out;
  }
  vmm_mem_region_t *r = NULL;
  if (!EXPECT_OK(vmm_mem_map(t.vm, DIRTY_GPA, DIRTY_PAGES * VMM_PAGE_SIZE,
                             NULL, VMM_MEM_DIRTY_LOG, &r)))
    goto out;
  uint64_t small[1];
  EXPECT_RC(vmm_mem_dirty_log_get(r, small, sizeof(small)), VMM_EINVAL);
  EXPECT_RC(vmm_mem_dirty_log_get(t.ram, small, sizeof(small)), VMM_EINVAL);
  EXPECT_RC(vmm_mem_dirty_log_clear(t.ram), VMM_EINVAL);
  check_dirty(r, none, "mapping", __LINE__);

  if (!RUN_UCALL(&t, UCALL_SYNC)) /* the guest read every page */
    goto out;
  check_dirty(r, none, "guest reads", __LINE__);
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 1);
  check_dirty(r, phase1, "ring-0 writes", __LINE__);
  check_dirty(r, phase1, "a second get (the log accumulates)", __LINE__);
  EXPECT_EQ(test_vm_read64(&t, DIRTY_GPA + 3 * 4096 + 8 * 3), 0x1000 + 3);
  EXPECT_OK(vmm_mem_dirty_log_clear(r));
  check_dirty(r, none, "clear", __LINE__);

  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 2);
  check_dirty(r, phase2, "ring-3 writes", __LINE__);
  EXPECT_OK(vmm_mem_dirty_log_clear(r));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], 3);
  check_dirty(r, none, "a phase without writes", __LINE__);

  /* Host writes through the API are logged too. */
  uint32_t v = 1;
  EXPECT_OK(vmm_mem_write(t.vm, DIRTY_GPA + 7 * 4096 + 100, &v, sizeof(v)));
  check_dirty(r, page7, "vmm_mem_write", __LINE__);
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
}

/* ---- CPUID ------------------------------------------------------------- */

static void test_cpuid_guest(void) {
  struct test_vm t;
  vmm_cpuid_entry_t *tab = NULL;
  uint64_t caps = 0;
  if (!CREATE(&t, "cpuid"))
    goto out;
  EXPECT_OK(vmm_vm_caps(t.vm, &caps));
  if (!(caps & VMM_CAP_CPUID)) {
    note("backend has no VMM_CAP_CPUID: not run");
    goto out;
  }
  size_t count = 0;
  if (!EXPECT_RC(vmm_vcpu_get_cpuid(t.vcpu, NULL, 0, &count), VMM_E2BIG) ||
      !EXPECT_TRUE(count > 0))
    goto out;
  tab = calloc(count + 1, sizeof(*tab));
  size_t n = 0;
  if (!EXPECT_TRUE(tab) ||
      !EXPECT_OK(vmm_vcpu_get_cpuid(t.vcpu, tab, count, &n)))
    goto out;
  EXPECT_EQ(n, count);
  /* Give the hypervisor leaf a signature of our own. */
  vmm_cpuid_entry_t *e = NULL;
  for (size_t i = 0; i < n; i++)
    if (tab[i].function == CPUID_TEST_LEAF)
      e = &tab[i];
  if (!e) {
    e = &tab[n++];
    memset(e, 0, sizeof(*e));
    e->function = CPUID_TEST_LEAF;
    e->eax = CPUID_TEST_LEAF;
  }
  memcpy(&e->ebx, "libv", 4);
  memcpy(&e->ecx, "mm-t", 4);
  memcpy(&e->edx, "est!", 4);
  const vmm_cpuid_entry_t want = *e;
  uint32_t leaf0_eax = 0;
  for (size_t i = 0; i < n; i++)
    if (tab[i].function == 0)
      leaf0_eax = tab[i].eax;
  EXPECT_OK(vmm_vcpu_set_cpuid(t.vcpu, tab, n));

  size_t n2 = 0;
  memset(tab, 0, (count + 1) * sizeof(*tab));
  if (EXPECT_OK(vmm_vcpu_get_cpuid(t.vcpu, tab, count + 1, &n2))) {
    EXPECT_EQ(n2, n);
    bool found = false;
    for (size_t i = 0; i < n2; i++)
      if (tab[i].function == CPUID_TEST_LEAF)
        found = tab[i].ebx == want.ebx && tab[i].ecx == want.ecx &&
                tab[i].edx == want.edx;
    EXPECT_TRUEF(found, "leaf 0x%x not read back as set", CPUID_TEST_LEAF);
  }
  if (RUN_UCALL(&t, UCALL_SYNC)) {
    EXPECT_EQ(t.uc.args[0], want.eax);
    EXPECT_EQ(t.uc.args[1], want.ebx);
    EXPECT_EQ(t.uc.args[2], want.ecx);
    EXPECT_EQ(t.uc.args[3], want.edx);
    EXPECT_EQ(t.uc.args[4], leaf0_eax);
  }
  RUN_UCALL(&t, UCALL_DONE);
out:
  free(tab);
  test_vm_destroy(&t);
}

/* ---- kick -------------------------------------------------------------- */

struct kicker {
  struct test_vm *t;
  atomic_int returned; /* the main thread's run call came back */
  int kicks;           /* kicks it took */
  int busy_run, busy_regs, busy_destroy; /* codes of calls made meanwhile */
  int saw_guest;       /* the guest's counter moved before the kick */
};

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *kicker_main(void *arg) {
  struct kicker *k = arg;
  /* Kick only once the guest is seen running its loop, so that the kick
   * lands inside the run call, not before it. */
  for (int i = 0; i < 2000 && !k->saw_guest; i++) {
    uint64_t v = 0;
    if (vmm_mem_read(k->t->vm, GUEST_STATUS_GPA, &v, sizeof(v)) == 0 && v)
      k->saw_guest = 1;
    else
      sleep_ms(5);
  }
  sleep_ms(20);
  /* A running vCPU is busy for everyone else. */
  vmm_exit_t other;
  vmm_regs_t regs;
  k->busy_run = vmm_vcpu_run(k->t->vcpu, &other);
  k->busy_regs = vmm_vcpu_get_regs(k->t->vcpu, &regs);
  k->busy_destroy = vmm_vm_destroy(k->t->vm);
  vmm_vcpu_kick(k->t->vcpu);
  k->kicks = 1;
  /* One kick must do; more only to get unstuck after a failure. */
  for (int i = 0; i < 500 && !atomic_load(&k->returned); i++)
    sleep_ms(10);
  while (!atomic_load(&k->returned)) {
    vmm_vcpu_kick(k->t->vcpu);
    k->kicks++;
    sleep_ms(100);
  }
  return NULL;
}

/* Runs with a kicker thread and checks the run ended KICKED after 1 kick. */
static void run_kicked(struct test_vm *t, const char *what) {
  struct kicker k = {.t = t};
  pthread_t th;
  uint64_t zero = 0;
  EXPECT_OK(vmm_mem_write(t->vm, GUEST_STATUS_GPA, &zero, sizeof(zero)));
  if (!EXPECT_EQ(pthread_create(&th, NULL, kicker_main, &k), 0))
    return;
  int r = test_vm_run(t);
  atomic_store(&k.returned, 1);
  pthread_join(th, NULL);
  EXPECT_TRUEF(k.saw_guest, "%s: the guest never ran its loop", what);
  EXPECT_TRUEF(r == VMM_EXIT_KICKED, "%s: run returned %s (%s)", what,
               test_exit_name(r), r < 0 ? t->error : "");
  EXPECT_TRUEF(k.kicks == 1, "%s: it took %d kicks", what, k.kicks);
  EXPECT_RC(k.busy_run, VMM_EBUSY);
  EXPECT_RC(k.busy_regs, VMM_EBUSY);
  EXPECT_RC(k.busy_destroy, VMM_EBUSY);
}

static void kick(unsigned ring) {
  struct test_vm t;
  if (!CREATE(&t, "spin"))
    goto out;
  EXPECT_OK(test_vm_set_param(&t, 0, ring == 3));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  run_kicked(&t, "first kick");
  /* The guest goes on where it was, and can be kicked again. */
  run_kicked(&t, "second kick");
  vmm_sregs_t s;
  if (EXPECT_OK(vmm_vcpu_get_sregs(t.vcpu, &s)))
    EXPECT_EQ(s.cs.selector & 3, ring);
out:
  test_vm_destroy(&t);
}

static void test_kick_ring0(void) { kick(0); }
static void test_kick_ring3(void) { kick(3); }

/* A kick while the vCPU is not running ends the next run at once. */
static void test_kick_before_run(void) {
  struct test_vm t;
  if (!CREATE(&t, "spin"))
    goto out;
  EXPECT_OK(test_vm_set_param(&t, 0, 1));
  EXPECT_OK(vmm_vcpu_kick(t.vcpu));
  RUN_EXPECT(&t, VMM_EXIT_KICKED);
  /* Reported once: the next run goes into the guest. */
  if (RUN_UCALL(&t, UCALL_SYNC))
    run_kicked(&t, "kick after a pending kick");
out:
  test_vm_destroy(&t);
}

/* ---- several vCPUs ---------------------------------------------------- */

struct vcpu_thread {
  vmm_vcpu_t *vcpu;
  vmm_exit_t exit;
  int rc;
};

static void *run_vcpu_thread(void *arg) {
  struct vcpu_thread *v = arg;
  v->rc = vmm_vcpu_run(v->vcpu, &v->exit);
  return NULL;
}

/* Two vCPUs of one VM run the hello guest at once, each on its own thread
 * and stack; their output interleaves on the shared port handler. */
static void test_two_vcpus(void) {
  struct test_vm t;
  struct vcpu_thread v[2] = {{0}};
  pthread_t th[2];
  if (!CREATE(&t, "hello"))
    goto out;
  v[0].vcpu = t.vcpu;
  if (!EXPECT_OK(vmm_vcpu_create(t.vm, 1, &v[1].vcpu)) ||
      !EXPECT_OK(vmm_vcpu_setup_long_mode(v[1].vcpu, t.elf.entry,
                                          GUEST_STACK_TOP - 0x10000,
                                          GUEST_SETUP_GPA)))
    goto out;
  int started = 0;
  for (int i = 0; i < 2; i++)
    if (EXPECT_EQ(pthread_create(&th[i], NULL, run_vcpu_thread, &v[i]), 0))
      started |= 1 << i;
  for (int i = 0; i < 2; i++)
    if (started & (1 << i))
      pthread_join(th[i], NULL);
  if (started != 3)
    goto out;
  for (int i = 0; i < 2; i++) {
    EXPECT_RC(v[i].rc, 0);
    EXPECT_EQ(v[i].exit.reason, VMM_EXIT_HLT);
  }
  /* Each character of the greeting twice, in whatever order. */
  static const char hello[] = "Hello from the guest\n";
  unsigned want[256] = {0}, got[256] = {0};
  for (const char *c = hello; *c; c++)
    want[(uint8_t)*c] += 2;
  for (size_t i = 0; i < t.console_len; i++)
    got[(uint8_t)t.console[i]]++;
  EXPECT_EQ(t.console_len, 2 * (sizeof(hello) - 1));
  EXPECT_TRUEF(!memcmp(want, got, sizeof(want)), "console: \"%s\"", t.console);
out:
  test_vm_destroy(&t);
}

const struct test_def guest_tests[] = {
    {"hello", test_hello},
    {"realmode", test_realmode},
    {"pmode", test_pmode},
    {"compute_ring3", test_compute},
    {"pio", test_pio},
    {"mmio", test_mmio},
    {"hypercall", test_hypercall},
    {"hypercall_registration", test_hypercall_registration},
    {"triple_fault_ring0", test_triple_fault_ring0},
    {"triple_fault_ring3", test_triple_fault_ring3},
    {"memory_rom_and_caller", test_memory_guest},
    {"dirty_log", test_dirty_log},
    {"cpuid", test_cpuid_guest},
    {"kick_ring0", test_kick_ring0},
    {"kick_ring3", test_kick_ring3},
    {"kick_before_run", test_kick_before_run},
    {"two_vcpus", test_two_vcpus},
    {NULL, NULL},
};
