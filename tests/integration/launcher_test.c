/* tests/integration/launcher_test.c — what the mini-launcher stands on and
 * the launcher itself: the boot-time port and vmm_vm_get_timings(), SMP on
 * libvmm's threads (APs waiting for INIT/SIPI, started by the guest), and
 * examples/vmm-boot run as a program on small boot guests (every exit
 * path, bad usage, signals).
 *
 *   launcher_test --backend kvm [--guest vmm-boot PATH]
 *                 [--guest launch-pvh PATH] [--guest launch-mb PATH] ...
 *
 * The library tests use a few hand-assembled instructions, so that each
 * shows exactly what the guest does. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "test_vm.h"
#include "launcher_cli.h"
#include "runner.h"

#define RAM (1u << 20)
#define REAL_ENTRY 0x7c00
#define LM_SETUP 0x1000
#define LM_ENTRY 0x10000
#define AP_ENTRY 0x20000 /* SIPI vector 0x20 */
/* "Promptly": far below a hang, generous for a loaded shared machine
 * and sanitizer builds. */
#define PROMPT_NS 10000000000ull

static vmm_vm_t *make_vm(uint32_t flags) {
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.flags = flags;
  vmm_vm_t *vm = NULL;
  if (!EXPECT_OK(vmm_vm_create(&cfg, &vm)))
    return NULL;
  if (!EXPECT_OK(vmm_mem_map(vm, 0, RAM, NULL, 0, NULL))) {
    vmm_vm_destroy(vm);
    return NULL;
  }
  return vm;
}

static vmm_vcpu_t *real_mode_vcpu(vmm_vm_t *vm, uint32_t id,
                                  const uint8_t *code, size_t len) {
  vmm_vcpu_t *vcpu = NULL;
  if (!EXPECT_OK(vmm_vcpu_create(vm, id, &vcpu)) ||
      !EXPECT_OK(vmm_mem_write(vm, REAL_ENTRY, code, len)) ||
      !EXPECT_OK(vmm_vcpu_setup_real_mode(vcpu, 0, REAL_ENTRY, 0x7000)))
    return NULL;
  return vcpu;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the boot-time port ---------------------------------------------- */

struct timer_calls {
  atomic_int n;
  uint64_t ns;
  vmm_vm_t *vm;
};

static void on_boot_done(vmm_vm_t *vm, uint64_t ns, void *opaque) {
  struct timer_calls *c = opaque;
  c->ns = ns;
  c->vm = vm;
  atomic_fetch_add(&c->n, 1);
}

/* Runs `code` in real mode with a UART (buffer), the debug-exit port and
 * a boot-time port until the guest exits; fills the timings. */
static bool run_timed(const uint8_t *code, size_t len, struct timer_calls *c,
                      vmm_vm_timings_t *t, vmm_vm_stop_info_t *info,
                      uint64_t *before_create) {
  *before_create = now_ns();
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return false;
  bool ok = false;
  vmm_chardev_t *chr = NULL;
  vmm_uart_config_t uart = VMM_UART_CONFIG_INIT;
  vmm_device_t *timer = NULL;
  if (!EXPECT_OK(vmm_chardev_buffer(vm, 256, &chr)) ||
      (uart.chardev = chr, !EXPECT_OK(vmm_uart_create(vm, &uart, NULL))) ||
      !EXPECT_OK(vmm_debug_exit_create(vm, 0, NULL)) ||
      !EXPECT_OK(vmm_boot_timer_create(vm, 0, on_boot_done, c, &timer)) ||
      !real_mode_vcpu(vm, 0, code, len))
    goto out;
  EXPECT_STR(vmm_device_type(timer), "boot-timer");
  /* Before start: created, nothing else. */
  if (!EXPECT_OK(vmm_vm_get_timings(vm, t)))
    goto out;
  EXPECT_TRUE(t->created_ns >= *before_create);
  EXPECT_EQ(t->start_ns, 0);
  EXPECT_EQ(t->first_entry_ns, 0);
  EXPECT_EQ(t->boot_done_ns, 0);
  if (!EXPECT_OK(vmm_vm_start(vm)) ||
      !EXPECT_OK(vmm_vm_wait(vm, 20000, info)) ||
      !EXPECT_OK(vmm_vm_get_timings(vm, t)))
    goto out;
  ok = true;
out:
  EXPECT_OK(vmm_vm_destroy(vm));
  return ok;
}

static void test_boot_timer(void) {
  static const uint8_t code[] = {
      0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, /* mov $0x3f8,%dx; mov $'A'; out */
      0xb0, 0x12, 0xe6, 0xf5,             /* 0x12 → boot port: ignored */
      0xb0, 0x7b, 0xe6, 0xf5,             /* 123 → boot port: booted */
      0xb0, 0x7b, 0xe6, 0xf5,             /* again: ignored */
      0xe4, 0xf5,                         /* in $0xf5,%al: reads 0 */
      0xe6, 0xf4,                         /* out %al,$0xf4: status 1 */
      0xf4,
  };
  struct timer_calls c = {0};
  vmm_vm_timings_t t = {.size = sizeof(t)};
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  uint64_t t0;
  if (!run_timed(code, sizeof(code), &c, &t, &info, &t0))
    return;
  uint64_t elapsed = now_ns() - t0;
  EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
  EXPECT_EQ(info.status, 1); /* the port reads 0 */
  EXPECT_EQ(t.size, sizeof(t));
  /* Ordered: created < started <= first UART byte <= boot port, and all
   * of it within the run as the test measured it. */
  EXPECT_TRUE(t.start_ns > 0);
  EXPECT_TRUE(t.first_entry_ns >= t.start_ns);
  EXPECT_TRUE(t.first_output_ns >= t.first_entry_ns);
  EXPECT_TRUE(t.boot_done_ns >= t.first_output_ns);
  EXPECT_TRUEF(t.boot_done_ns < elapsed, "boot_done %llu ns, run %llu ns",
               (unsigned long long)t.boot_done_ns,
               (unsigned long long)elapsed);
  EXPECT_EQ(atomic_load(&c.n), 1);
  EXPECT_EQ(c.ns, t.boot_done_ns);
  note("created → start %.3f ms → first entry %.3f ms → first UART byte "
       "%.3f ms → boot port %.3f ms", t.start_ns / 1e6,
       t.first_entry_ns / 1e6, t.first_output_ns / 1e6,
       t.boot_done_ns / 1e6);
}

static void test_boot_timer_wrong_values(void) {
  static const uint8_t code[] = {
      0xb0, 0x7c, 0xe6, 0xf5,       /* 124 */
      0xb0, 0x00, 0xe6, 0xf5,       /* 0 */
      0xb8, 0x00, 0x7b, 0xe7, 0xf5, /* 16-bit 0x7b00: low byte is not 123 */
      0xb0, 0x7b, 0xe6, 0xf6,       /* 123 to the next port: not ours */
      0xb0, 0x02, 0xe6, 0xf4,       /* exit, status 5 */
      0xf4,
  };
  struct timer_calls c = {0};
  vmm_vm_timings_t t = {.size = sizeof(t)};
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  uint64_t t0;
  if (!run_timed(code, sizeof(code), &c, &t, &info, &t0))
    return;
  EXPECT_EQ(info.reason, VMM_STOP_GUEST_EXIT);
  EXPECT_EQ(info.status, 5);
  EXPECT_EQ(t.boot_done_ns, 0);
  EXPECT_EQ(t.first_output_ns, 0); /* the guest wrote nothing to the UART */
  EXPECT_EQ(atomic_load(&c.n), 0);
}

static void test_boot_timer_api(void) {
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  vmm_vm_timings_t t = {.size = sizeof(t)};
  /* An older caller's shorter struct is filled as far as it goes. */
  vmm_vm_timings_t small = {.size = offsetof(vmm_vm_timings_t, start_ns)};
  small.start_ns = 0x5a5a;
  EXPECT_OK(vmm_vm_get_timings(vm, &small));
  EXPECT_TRUE(small.created_ns > 0);
  EXPECT_EQ(small.start_ns, 0x5a5a);
  t.size = sizeof(size_t);
  EXPECT_RC(vmm_vm_get_timings(vm, &t), VMM_EINVAL);
  EXPECT_RC(vmm_vm_get_timings(vm, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_vm_get_timings(NULL, &t), VMM_EBADF);
  /* One port, one owner; another port is fine. */
  EXPECT_OK(vmm_boot_timer_create(vm, 0, NULL, NULL, NULL));
  EXPECT_RC(vmm_boot_timer_create(vm, VMM_BOOT_TIMER_PORT, NULL, NULL, NULL),
            VMM_EOVERLAP);
  EXPECT_OK(vmm_boot_timer_create(vm, 0x5f0, NULL, NULL, NULL));
  EXPECT_RC(vmm_boot_timer_create(NULL, 0, NULL, NULL, NULL), VMM_EBADF);
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* ---- SMP ------------------------------------------------------------- */

struct exit_count {
  atomic_int per_vcpu[4];
};

static int count_exits(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  (void)e;
  struct exit_count *c = opaque;
  uint32_t id = vmm_vcpu_id(vcpu);
  if (id < 4)
    atomic_fetch_add(&c->per_vcpu[id], 1);
  return 1;
}

/* vCPUs 1..n-1 are never set up: on a VM with the in-kernel local APIC
 * they wait inside the run call for INIT/SIPI, cost no exits, and do not
 * keep the VM from pausing, stopping or being destroyed. */
static void test_aps_wait_for_sipi(void) {
  static const uint8_t spin[] = {0xeb, 0xfe};
  vmm_vm_t *vm = make_vm(VMM_VM_F_IRQCHIP);
  if (!vm)
    return;
  struct exit_count c = {0};
  vmm_vcpu_t *ap[3] = {NULL};
  uint32_t st = 99;
  vmm_vcpu_t *bsp = real_mode_vcpu(vm, 0, spin, sizeof(spin));
  if (!bsp || !EXPECT_OK(vmm_vcpu_create(vm, 1, &ap[1])) ||
      !EXPECT_OK(vmm_vcpu_create(vm, 2, &ap[2])) ||
      !EXPECT_OK(vmm_vm_on_exit(vm, count_exits, &c)))
    goto out;
  /* vCPU 0 is the bootstrap processor (KVM's default boot CPU id). */
  if (EXPECT_OK(vmm_vcpu_get_mp_state(bsp, &st)))
    EXPECT_STR(vmm_mp_state_name(st), "runnable");
  if (EXPECT_OK(vmm_vcpu_get_mp_state(ap[1], &st)))
    EXPECT_STR(vmm_mp_state_name(st), "uninitialized");
  if (!EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  sleep_ms(300);
  /* Waiting inside the run call counts as running. */
  EXPECT_RC(vmm_vcpu_get_mp_state(ap[1], &st), VMM_EBUSY);
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  EXPECT_EQ(atomic_load(&c.per_vcpu[1]), 0);
  EXPECT_EQ(atomic_load(&c.per_vcpu[2]), 0);
  uint64_t t0 = now_ns();
  if (EXPECT_OK(vmm_vm_pause(vm))) {
    EXPECT_TRUE(now_ns() - t0 < PROMPT_NS);
    if (EXPECT_OK(vmm_vcpu_get_mp_state(ap[2], &st)))
      EXPECT_STR(vmm_mp_state_name(st), "uninitialized");
    if (EXPECT_OK(vmm_vcpu_get_mp_state(bsp, &st)))
      EXPECT_STR(vmm_mp_state_name(st), "runnable");
    EXPECT_OK(vmm_vm_resume(vm));
  }
  sleep_ms(50);
  t0 = now_ns();
  EXPECT_OK(vmm_vm_stop(vm, 9));
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_EQ(info.status, 9);
    EXPECT_TRUE(now_ns() - t0 < PROMPT_NS);
  }
  EXPECT_EQ(atomic_load(&c.per_vcpu[1]) + atomic_load(&c.per_vcpu[2]), 0);
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_destroy_with_waiting_aps(void) {
  static const uint8_t spin[] = {0xeb, 0xfe};
  vmm_vm_t *vm = make_vm(VMM_VM_F_IRQCHIP);
  if (!vm)
    return;
  vmm_vcpu_t *ap1, *ap3;
  if (real_mode_vcpu(vm, 0, spin, sizeof(spin)) &&
      EXPECT_OK(vmm_vcpu_create(vm, 1, &ap1)) &&
      EXPECT_OK(vmm_vcpu_create(vm, 3, &ap3)) && EXPECT_OK(vmm_vm_start(vm)))
    sleep_ms(100);
  uint64_t t0 = now_ns();
  EXPECT_OK(vmm_vm_destroy(vm));
  EXPECT_TRUE(now_ns() - t0 < PROMPT_NS);
}

/*
 * The BSP (64-bit, identity-mapped by the long-mode helper) enables its
 * local APIC and sends INIT then a startup IPI with vector 0x20 to all
 * other processors; an AP starts in real mode at 0x20000 and writes its
 * status to the debug-exit port from its own libvmm thread.
 */
static void test_ap_started_by_sipi(void) {
  static const uint8_t bsp_code[] = {
      0xbb, 0xf0, 0x00, 0xe0, 0xfe,       /* mov $0xfee000f0,%ebx (SVR) */
      0xc7, 0x03, 0xff, 0x01, 0x00, 0x00, /* movl $0x1ff,(%rbx): enable */
      0xbb, 0x00, 0x03, 0xe0, 0xfe,       /* mov $0xfee00300,%ebx (ICR) */
      0xc7, 0x03, 0x00, 0x45, 0x0c, 0x00, /* INIT, all but self, assert */
      0xc7, 0x03, 0x20, 0x46, 0x0c, 0x00, /* SIPI vector 0x20 */
      0xeb, 0xfe,                         /* jmp . */
  };
  static const uint8_t ap_code[] = {
      0xb0, 0x07, 0xe6, 0xf4, /* mov $7,%al; out %al,$0xf4: status 15 */
      0xf4, 0xeb, 0xfd,
  };
  vmm_vm_t *vm = make_vm(VMM_VM_F_IRQCHIP);
  if (!vm)
    return;
  vmm_vcpu_t *bsp = NULL, *ap = NULL;
  struct exit_count c = {0};
  if (!EXPECT_OK(vmm_vcpu_create(vm, 0, &bsp)) ||
      !EXPECT_OK(vmm_vcpu_create(vm, 1, &ap)) ||
      !EXPECT_OK(vmm_mem_write(vm, LM_ENTRY, bsp_code, sizeof(bsp_code))) ||
      !EXPECT_OK(vmm_mem_write(vm, AP_ENTRY, ap_code, sizeof(ap_code))) ||
      !EXPECT_OK(vmm_vcpu_setup_long_mode(bsp, LM_ENTRY, 0x80000,
                                          LM_SETUP)) ||
      !EXPECT_OK(vmm_debug_exit_create(vm, 0, NULL)) ||
      !EXPECT_OK(vmm_vm_on_exit(vm, count_exits, &c)) ||
      !EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 20000, &info))) {
    EXPECT_TRUEF(info.reason == VMM_STOP_GUEST_EXIT && info.status == 15,
                 "reason %u status %d: %s", info.reason, info.status,
                 info.message);
  } else {
    vmm_vm_stop(vm, 0);
    vmm_vm_wait(vm, -1, NULL);
  }
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

static const struct test_def tests[] = {
    {"boot_timer", test_boot_timer},
    {"boot_timer_wrong_values", test_boot_timer_wrong_values},
    {"boot_timer_api", test_boot_timer_api},
    {"aps_wait_for_sipi", test_aps_wait_for_sipi},
    {"destroy_with_waiting_aps", test_destroy_with_waiting_aps},
    {"ap_started_by_sipi", test_ap_started_by_sipi},
};

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {
      {"launcher", tests, sizeof(tests) / sizeof(tests[0])},
      {"cli", launcher_cli_tests, 0},
  };
  return test_main(argc, argv, "launcher_test",
                   "[--guest vmm-boot|launch-pvh|launch-mb PATH]... ", suites,
                   2, 240);
}
