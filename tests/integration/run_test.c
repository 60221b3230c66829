/* tests/integration/run_test.c — running VMs on libvmm's threads:
 * vmm_vm_start/pause/resume/stop/wait, the default treatment of exits, the
 * exit hook, and VMs with the backend's interrupt controller. The guests
 * are a few hand-assembled instructions, so that each test shows exactly
 * what the guest does. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "suites.h"
#include "test_vm.h"

#define RAM (1u << 20)
#define REAL_ENTRY 0x7c00
#define LM_SETUP 0x1000
#define LM_ENTRY 0x10000
#define LM_USER 0x11000

/* A VM on the backend under test with 1 MiB of RAM at 0. */
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

/* vCPU `id` running `code` in real mode at 0:REAL_ENTRY. */
static vmm_vcpu_t *real_mode_vcpu(vmm_vm_t *vm, uint32_t id,
                                  const uint8_t *code, size_t len) {
  vmm_vcpu_t *vcpu = NULL;
  if (!EXPECT_OK(vmm_vcpu_create(vm, id, &vcpu)) ||
      !EXPECT_OK(vmm_mem_write(vm, REAL_ENTRY, code, len)) ||
      !EXPECT_OK(vmm_vcpu_setup_real_mode(vcpu, 0, REAL_ENTRY, 0x7000)))
    return NULL;
  return vcpu;
}

/*
 * vCPU `id` entering ring 3 at LM_USER, where `user` runs: a ring-0 stub
 * does IRETQ with RFLAGS.IOPL = 3. Each vCPU gets its own stack.
 */
static vmm_vcpu_t *ring3_vcpu(vmm_vm_t *vm, uint32_t id, const uint8_t *user,
                              size_t len) {
  static const uint8_t stub[] = {
      0x6a, 0x23,                   /* push $0x23 (SS) */
      0x54,                         /* push %rsp */
      0x68, 0x02, 0x30, 0x00, 0x00, /* push $0x3002 (RFLAGS, IOPL 3) */
      0x6a, 0x2b,                   /* push $0x2b (CS) */
      0x68, 0x00, 0x10, 0x01, 0x00, /* push $LM_USER */
      0x48, 0xcf,                   /* iretq */
  };
  vmm_vcpu_t *vcpu = NULL;
  if (!EXPECT_OK(vmm_vcpu_create(vm, id, &vcpu)) ||
      !EXPECT_OK(vmm_mem_write(vm, LM_ENTRY, stub, sizeof(stub))) ||
      !EXPECT_OK(vmm_mem_write(vm, LM_USER, user, len)) ||
      !EXPECT_OK(vmm_vcpu_setup_long_mode(vcpu, LM_ENTRY,
                                          0x80000 - id * 0x1000, LM_SETUP)))
    return NULL;
  return vcpu;
}

static const uint8_t spin[] = {0xeb, 0xfe}; /* jmp . */

/* ---- state changes -------------------------------------------------- */

struct transitions {
  atomic_int n;
  int from[8], to[8];
};

static void record_state(vmm_vm_t *vm, vmm_vm_state_t old_state,
                         vmm_vm_state_t new_state, void *opaque) {
  (void)vm;
  struct transitions *t = opaque;
  int i = atomic_fetch_add(&t->n, 1);
  if (i < 8) {
    t->from[i] = (int)old_state;
    t->to[i] = (int)new_state;
  }
}

static void test_start_pause_resume_stop(void) {
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  struct transitions tr;
  memset(&tr, 0, sizeof(tr));
  vmm_vcpu_t *v0 = ring3_vcpu(vm, 0, spin, sizeof(spin));
  vmm_vcpu_t *v1 = ring3_vcpu(vm, 1, spin, sizeof(spin));
  if (!v0 || !v1 || !EXPECT_OK(vmm_vm_on_state_change(vm, record_state, &tr)))
    goto out;
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_CREATED);
  if (!EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  usleep(50 * 1000);
  if (EXPECT_OK(vmm_vm_pause(vm))) {
    EXPECT_EQ(vmm_vm_state(vm), VMM_VM_PAUSED);
    /* Paused vCPUs are out of the guest: their state can be read, and
     * both are in their ring-3 loop. */
    vmm_regs_t r;
    if (EXPECT_OK(vmm_vcpu_get_regs(v0, &r)))
      EXPECT_EQ(r.rip, LM_USER);
    if (EXPECT_OK(vmm_vcpu_get_regs(v1, &r)))
      EXPECT_EQ(r.rip, LM_USER);
    EXPECT_RC(vmm_vm_pause(vm), VMM_ESTATE);
    EXPECT_OK(vmm_vm_resume(vm));
    EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  }
  EXPECT_RC(vmm_vm_resume(vm), VMM_ESTATE);
  EXPECT_OK(vmm_vm_stop(vm, 7));
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_EQ(info.status, 7);
    EXPECT_EQ(vmm_vm_state(vm), VMM_VM_STOPPED);
  }
  /* Waiting again returns the same at once. */
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  if (EXPECT_OK(vmm_vm_wait(vm, 0, &info)))
    EXPECT_EQ(info.status, 7);
  static const int want[][2] = {{VMM_VM_CREATED, VMM_VM_RUNNING},
                                {VMM_VM_RUNNING, VMM_VM_PAUSED},
                                {VMM_VM_PAUSED, VMM_VM_RUNNING},
                                {VMM_VM_RUNNING, VMM_VM_STOPPED}};
  if (EXPECT_EQ(atomic_load(&tr.n), 4))
    for (int i = 0; i < 4; i++) {
      EXPECT_EQ(tr.from[i], want[i][0]);
      EXPECT_EQ(tr.to[i], want[i][1]);
    }
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* ---- what happens to exits nobody consumed -------------------------- */

struct seen {
  atomic_int n;
  uint32_t value[8];
};

static int record_out(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                      uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr;
  struct seen *s = opaque;
  if (!is_write)
    return 0;
  uint32_t v = 0;
  memcpy(&v, data, size < 4 ? size : 4);
  int i = atomic_fetch_add(&s->n, 1);
  if (i < 8)
    s->value[i] = v;
  return 0;
}

static void test_default_exits(void) {
  /* Real mode, 1 MiB of RAM. Reads of a port and of MMIO with nothing
   * behind them must give all ones; an unregistered hypercall -ENOSYS;
   * HLT (no interrupt controller) stops the VM. */
  static const uint8_t code[] = {
      0xe4, 0x99,                         /* in $0x99, %al */
      0xe6, 0x98,                         /* out %al, $0x98 */
      0x66, 0xb8, 0x05, 0x00, 0x00, 0x00, /* mov $5, %eax */
      0x66, 0xe7, 0xec,                   /* out %eax, $0xec (hypercall 5) */
      0x66, 0xe7, 0x98,                   /* out %eax, $0x98 */
      0xb8, 0x00, 0x20,                   /* mov $0x2000, %ax */
      0x8e, 0xd8,                         /* mov %ax, %ds */
      0xa0, 0x00, 0x00,                   /* mov 0x0, %al (gpa 0x20000) */
      0xe6, 0x98,                         /* out %al, $0x98 */
      0xf4,                               /* hlt */
  };
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  vmm_vm_t *vm = NULL;
  if (!EXPECT_OK(vmm_vm_create(&cfg, &vm)))
    return;
  /* RAM below 128 KiB only: 0x20000 is a hole. */
  struct seen s;
  memset(&s, 0, sizeof(s));
  vmm_vcpu_t *vcpu;
  if (!EXPECT_OK(vmm_mem_map(vm, 0, 0x20000, NULL, 0, NULL)) ||
      !EXPECT_OK(vmm_io_register(vm, VMM_IO_PIO, 0x98, 1, record_out, &s)) ||
      !(vcpu = real_mode_vcpu(vm, 0, code, sizeof(code))) ||
      !EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_HALT);
    EXPECT_EQ(info.vcpu, 0);
  }
  if (EXPECT_EQ(atomic_load(&s.n), 3)) {
    EXPECT_EQ(s.value[0], 0xff);
    EXPECT_EQ(s.value[1], (uint32_t)VMM_ENOSYS);
    EXPECT_EQ(s.value[2], 0xff);
  }
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* The exit hook answers reads and sees writes; returning 1 falls back to
 * the default treatment. */
static int exit_hook(vmm_vcpu_t *vcpu, vmm_exit_t *exit, void *opaque) {
  (void)vcpu;
  struct seen *s = opaque;
  if (exit->reason != VMM_EXIT_IO)
    return 1;
  if (!exit->u.io.is_write) {
    exit->u.io.data[0] = 0x42;
    return 0;
  }
  int i = atomic_fetch_add(&s->n, 1);
  if (i < 8)
    s->value[i] = exit->u.io.data[0];
  return 0;
}

static void test_exit_hook(void) {
  static const uint8_t code[] = {
      0xe4, 0x99, /* in $0x99, %al */
      0xe6, 0x98, /* out %al, $0x98 */
      0xf4,       /* hlt */
  };
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  struct seen s;
  memset(&s, 0, sizeof(s));
  if (!real_mode_vcpu(vm, 0, code, sizeof(code)) ||
      !EXPECT_OK(vmm_vm_on_exit(vm, exit_hook, &s)) ||
      !EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  EXPECT_RC(vmm_vm_on_exit(vm, exit_hook, &s), VMM_ESTATE);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info)))
    EXPECT_EQ(info.reason, VMM_STOP_HALT);
  if (EXPECT_EQ(atomic_load(&s.n), 1))
    EXPECT_EQ(s.value[0], 0x42);
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_triple_fault_stops(void) {
  /* HLT in ring 3 is a #GP; with no IDT that is a triple fault. */
  static const uint8_t user[] = {0xf4};
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  if (!ring3_vcpu(vm, 0, user, sizeof(user)) || !EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_SHUTDOWN);
    EXPECT_EQ(info.vcpu, 0);
    EXPECT_TRUE(strlen(info.message) > 0);
  }
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* ---- the backend's interrupt controller ----------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_irqchip_halt_then_stop(void) {
  /* With the in-kernel interrupt controller, HLT with interrupts off
   * waits inside the backend forever: no exit, the VM keeps RUNNING
   * until it is stopped. */
  static const uint8_t code[] = {0xfa, 0xf4, 0xeb, 0xfd}; /* cli; hlt; jmp */
  uint64_t caps = 0;
  if (vmm_backend_caps(test_backend, &caps) == 0 &&
      !(caps & VMM_CAP_IRQCHIP)) {
    note("backend has no VMM_CAP_IRQCHIP: not run");
    return;
  }
  vmm_vm_t *vm = make_vm(VMM_VM_F_IRQCHIP);
  if (!vm)
    return;
  if (!real_mode_vcpu(vm, 0, code, sizeof(code)) ||
      !EXPECT_OK(vmm_vm_start(vm)))
    goto out;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  EXPECT_RC(vmm_vm_wait(vm, 200, &info), VMM_ETIMEDOUT);
  EXPECT_EQ(vmm_vm_state(vm), VMM_VM_RUNNING);
  /* Interrupt lines exist here, and a masked one is harmless. */
  EXPECT_OK(vmm_irq_set(vm, 5, 1));
  EXPECT_OK(vmm_irq_set(vm, 5, 0));
  EXPECT_OK(vmm_irq_pulse(vm, 6));
  EXPECT_RC(vmm_irq_set(vm, VMM_IRQ_GSI_MAX, 1), VMM_ERANGE);
  EXPECT_RC(vmm_msi_send(vm, 0x1000, 0), VMM_EINVAL);
  EXPECT_OK(vmm_msi_send(vm, 0xfee00000, 0x30));
  /* Pausing wakes the halted vCPU out of the backend. */
  EXPECT_OK(vmm_vm_pause(vm));
  EXPECT_OK(vmm_vm_resume(vm));
  double t0 = now_s();
  EXPECT_OK(vmm_vm_stop(vm, 3));
  if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info))) {
    EXPECT_EQ(info.reason, VMM_STOP_REQUESTED);
    EXPECT_EQ(info.status, 3);
    EXPECT_TRUE(now_s() - t0 < 2.0);
  }
out:
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_irq_needs_irqchip(void) {
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  EXPECT_RC(vmm_irq_set(vm, 4, 1), VMM_ENOTSUP);
  EXPECT_RC(vmm_irq_pulse(vm, 4), VMM_ENOTSUP);
  EXPECT_RC(vmm_msi_send(vm, 0xfee00000, 0x30), VMM_ENOTSUP);
  EXPECT_OK(vmm_vm_destroy(vm));
}

/* ---- misuse and teardown -------------------------------------------- */

static void test_destroy_running(void) {
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  if (ring3_vcpu(vm, 0, spin, sizeof(spin)) && EXPECT_OK(vmm_vm_start(vm))) {
    usleep(20 * 1000);
    double t0 = now_s();
    EXPECT_OK(vmm_vm_destroy(vm));
    EXPECT_TRUE(now_s() - t0 < 2.0);
    EXPECT_RC(vmm_vm_state(vm) == VMM_VM_STOPPED ? 0 : -1, 0);
    return;
  }
  EXPECT_OK(vmm_vm_destroy(vm));
}

static void test_state_errors(void) {
  vmm_vm_t *vm = make_vm(0);
  if (!vm)
    return;
  EXPECT_RC(vmm_vm_start(vm), VMM_EINVAL); /* no vCPU */
  EXPECT_RC(vmm_vm_pause(vm), VMM_ESTATE);
  EXPECT_RC(vmm_vm_resume(vm), VMM_ESTATE);
  EXPECT_RC(vmm_vm_stop(vm, 0), VMM_ESTATE);
  EXPECT_RC(vmm_vm_wait(vm, 0, NULL), VMM_ESTATE);
  vmm_vm_stop_info_t small = {.size = 4};
  EXPECT_RC(vmm_vm_wait(vm, 0, &small), VMM_EINVAL);
  vmm_vcpu_t *vcpu = NULL, *late = NULL;
  if (ring3_vcpu(vm, 0, spin, sizeof(spin)) && EXPECT_OK(vmm_vm_start(vm))) {
    EXPECT_RC(vmm_vm_start(vm), VMM_ESTATE);
    EXPECT_RC(vmm_vcpu_create(vm, 1, &late), VMM_ESTATE);
    EXPECT_RC(vmm_vm_wait(vm, 50, NULL), VMM_ETIMEDOUT);
    EXPECT_OK(vmm_vm_stop(vm, 0));
    EXPECT_OK(vmm_vm_stop(vm, 1)); /* already stopping: fine */
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    if (EXPECT_OK(vmm_vm_wait(vm, 10000, &info)))
      EXPECT_EQ(info.status, 0); /* the first stop wins */
    EXPECT_RC(vmm_vm_pause(vm), VMM_ESTATE);
  }
  (void)vcpu;
  EXPECT_RC(vmm_vm_start(NULL), VMM_EBADF);
  EXPECT_EQ(vmm_vm_state(NULL), VMM_VM_STOPPED);
  EXPECT_OK(vmm_vm_destroy(vm));
}

const struct test_def run_tests[] = {
    {"start_pause_resume_stop", test_start_pause_resume_stop},
    {"default_exits", test_default_exits},
    {"exit_hook", test_exit_hook},
    {"triple_fault_stops", test_triple_fault_stops},
    {"irqchip_halt_then_stop", test_irqchip_halt_then_stop},
    {"irq_needs_irqchip", test_irq_needs_irqchip},
    {"destroy_running", test_destroy_running},
    {"state_errors", test_state_errors},
    {NULL, NULL},
};
