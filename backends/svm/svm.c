/* backends/svm/svm.c — the "svm" backend: libvmm over its own AMD SVM
 * kernel module (kmod/, /dev/libvmm-svm). VMs, memory slots, CPUID. */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "svm_internal.h"

static pthread_once_t dev_once = PTHREAD_ONCE_INIT;
static int dev_fd = -1;
static int dev_errno;

static void dev_open(void) {
  dev_fd = open(LVS_DEVICE, O_RDWR | O_CLOEXEC);
  dev_errno = dev_fd < 0 ? errno : 0;
}

int vmm__svm_ioctl(int fd, unsigned long req, void *arg) {
  int r;
  do
    r = ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

static int svm_probe(void) {
  pthread_once(&dev_once, dev_open);
  if (dev_fd < 0) {
    if (dev_errno == ENOENT)
      return vmm__error(VMM_ENODEV, "svm: %s does not exist (load "
                        "backends/svm/kmod/libvmm-svm.ko; see "
                        "docs/backends.md)", LVS_DEVICE);
    if (dev_errno == EACCES || dev_errno == EPERM)
      return vmm__error(VMM_EACCES, "svm: no permission to open %s",
                        LVS_DEVICE);
    return vmm__error(VMM_ENODEV, "svm: cannot open %s: %s", LVS_DEVICE,
                      strerror(dev_errno));
  }
  int api = ioctl(dev_fd, LVS_GET_API_VERSION, 0);
  if (api != LVS_API_VERSION)
    return vmm__error(VMM_ENOTSUP, "svm: module API version %d, libvmm "
                      "needs %d", api, LVS_API_VERSION);
  return 0;
}

static int svm_caps(uint64_t *caps) {
  /* No in-kernel interrupt controller, eventfds or XSAVE state in the
   * module (docs/backends.md). */
  *caps = VMM_CAP_READONLY_MEM | VMM_CAP_IMMEDIATE_EXIT | VMM_CAP_CPUID |
          VMM_CAP_MSRS | VMM_CAP_DIRTY_LOG | VMM_CAP_GUEST_DEBUG;
  return 0;
}

static int svm_vm_create(vmm_vm_t *vm, void **bvm) {
  int rc = svm_probe();
  if (rc < 0)
    return rc;
  struct svm_vm *s = calloc(1, sizeof(*s));
  if (!s)
    return vmm__error(VMM_ENOMEM, "svm: out of memory");
  s->vm = vm;
  s->fd = vmm__svm_ioctl(dev_fd, LVS_CREATE_VM, NULL);
  if (s->fd < 0) {
    int e = errno;
    free(s);
    return vmm__error(e == ENOMEM ? VMM_ENOMEM : VMM_EBACKEND,
                      "svm: LVS_CREATE_VM failed: %s", strerror(e));
  }
  *bvm = s;
  return 0;
}

static void svm_vm_destroy(void *bvm) {
  struct svm_vm *s = bvm;
  if (!s)
    return;
  close(s->fd);
  free(s);
}

static int svm_mem_set(void *bvm, uint32_t slot, uint64_t gpa, uint64_t size,
                       void *hva, uint32_t flags) {
  struct svm_vm *s = bvm;
  struct lvs_region r = {
      .slot = slot,
      .flags = ((flags & VMM_MEM_READONLY) ? LVS_REGION_READONLY : 0) |
               ((flags & VMM_MEM_DIRTY_LOG) ? LVS_REGION_DIRTY_LOG : 0),
      .gpa = gpa, .size = size, .uaddr = (uintptr_t)hva};
  if (slot < LVS_MAX_REGIONS && size == 0)
    memset(&s->slots[slot], 0, sizeof(s->slots[slot]));
  if (vmm__svm_ioctl(s->fd, LVS_SET_REGION, &r) < 0) {
    int e = errno;
    return vmm__error(e == ENOMEM ? VMM_ENOMEM
                      : e == EINVAL || e == EEXIST ? VMM_EINVAL
                                                   : VMM_EBACKEND,
                      "svm: LVS_SET_REGION slot %u [0x%llx, +0x%llx) "
                      "failed: %s", slot, (unsigned long long)gpa,
                      (unsigned long long)size, strerror(e));
  }
  if (size)
    s->slots[slot] = r; /* slot < LVS_MAX_REGIONS: the module checked */
  return 0;
}

static int svm_dirty_log_fetch(void *bvm, uint32_t slot, uint64_t size,
                               uint64_t *bitmap) {
  struct svm_vm *s = bvm;
  (void)size; /* the module sizes the bitmap from the slot: 64-bit words */
  struct lvs_dirty_log d = {.slot = slot, .bitmap = (uintptr_t)bitmap};
  if (vmm__svm_ioctl(s->fd, LVS_GET_DIRTY_LOG, &d) < 0)
    return vmm__error(VMM_EBACKEND, "svm: LVS_GET_DIRTY_LOG slot %u: %s",
                      slot, strerror(errno));
  return 0;
}

/* ---- CPUID: the host's, without what the module does not virtualize -- */

static pthread_once_t cpuid_once = PTHREAD_ONCE_INIT;
static vmm_cpuid_entry_t host_cpuid[LVS_MAX_CPUID];
static size_t host_cpuid_n;

static void cpuid_add(uint32_t fn, uint32_t idx, bool indexed) {
  if (host_cpuid_n == LVS_MAX_CPUID)
    return;
  unsigned a, b, c, d;
  __cpuid_count(fn, idx, a, b, c, d);
  vmm_cpuid_entry_t *e = &host_cpuid[host_cpuid_n++];
  *e = (vmm_cpuid_entry_t){.function = fn, .index = idx,
                           .flags = indexed ? VMM_CPUID_F_SIGNIFICANT_INDEX
                                            : 0,
                           .eax = a, .ebx = b, .ecx = c, .edx = d};
  switch (fn) {
  case 1:
    /* No VMX, MONITOR, XSAVE/OSXSAVE/AVX (the module switches FXSAVE
     * state only), x2APIC, TSC deadline; and a hypervisor is present. */
    e->ecx &= ~((1u << 5) | (1u << 3) | (1u << 26) | (1u << 27) |
                (1u << 28) | (1u << 21) | (1u << 24) | (1u << 12) |
                (1u << 29));
    e->ecx |= 1u << 31;
    e->ebx = (e->ebx & 0x00ffffffu); /* APIC id: set per vCPU */
    break;
  case 7:
    /* Only features needing no extended state or host help. */
    e->ebx &= (1u << 0) | (1u << 3) | (1u << 7) | (1u << 8) | (1u << 9) |
              (1u << 18) | (1u << 19) | (1u << 20) | (1u << 23) |
              (1u << 29);
    e->ecx = e->edx = 0;
    if (idx != 0)
      e->eax = e->ebx = 0;
    else
      e->eax = 0;
    break;
  case 0x80000001:
    e->ecx &= ~((1u << 2) | (1u << 11) | (1u << 16)); /* SVM, XOP, FMA4 */
    break;
  default:
    break;
  }
}

static void cpuid_fetch(void) {
  unsigned max, b, c, d;
  __cpuid(0, max, b, c, d);
  for (uint32_t fn = 0; fn <= max && fn <= 0x1f; fn++) {
    /* Power management, XSAVE, PQM/PQE, SGX, PT, AMX: not offered. */
    if (fn == 5 || fn == 6 || fn == 0xd || fn == 0xf || fn == 0x10 ||
        fn == 0x12 || fn == 0x14 || fn == 0x19 || fn == 0x1d || fn == 0x1e)
      continue;
    if (fn == 4 || fn == 0xb || fn == 0x1f) {
      for (uint32_t i = 0; i < 8; i++)
        cpuid_add(fn, i, true);
    } else if (fn == 7) {
      cpuid_add(fn, 0, true);
    } else {
      cpuid_add(fn, 0, false);
    }
  }
  __cpuid(0x80000000, max, b, c, d);
  for (uint32_t fn = 0x80000000; fn <= max && fn <= 0x80000021; fn++) {
    if (fn == 0x8000000a) /* SVM itself */
      continue;
    if (fn == 0x8000001d) {
      for (uint32_t i = 0; i < 4; i++)
        cpuid_add(fn, i, true);
    } else {
      cpuid_add(fn, 0, false);
    }
  }
  /* Leaf 0x80000000's maximum stays: skipped leaves read as zeros. */
}

int vmm__svm_host_cpuid(const vmm_cpuid_entry_t **out, size_t *count) {
  pthread_once(&cpuid_once, cpuid_fetch);
  *out = host_cpuid;
  *count = host_cpuid_n;
  return 0;
}

static int svm_supported_cpuid(void *bvm, vmm_cpuid_entry_t *entries,
                               size_t capacity, size_t *count) {
  (void)bvm;
  const vmm_cpuid_entry_t *c;
  size_t n;
  vmm__svm_host_cpuid(&c, &n);
  *count = n;
  memcpy(entries, c, (n < capacity ? n : capacity) * sizeof(*c));
  if (capacity < n)
    return vmm__error(VMM_E2BIG, "svm: CPUID table has %zu entries, room "
                      "for %zu", n, capacity);
  return 0;
}

const struct vmm__backend_ops vmm__svm_ops = {
    .name = "svm",
    .probe = svm_probe,
    .caps = svm_caps,
    .vm_create = svm_vm_create,
    .vm_destroy = svm_vm_destroy,
    .mem_set = svm_mem_set,
    .dirty_log_fetch = svm_dirty_log_fetch,
    .supported_cpuid = svm_supported_cpuid,
    /* No in-kernel irqchip, MSI, irqfd or ioeventfd: NULL, libvmm falls
     * back to user space where it can. */
    .vcpu_create = vmm__svm_vcpu_create,
    .vcpu_destroy = vmm__svm_vcpu_destroy,
    .vcpu_run = vmm__svm_vcpu_run,
    .vcpu_kick_set = vmm__svm_vcpu_kick_set,
    .get_regs = vmm__svm_get_regs,
    .set_regs = vmm__svm_set_regs,
    .get_sregs = vmm__svm_get_sregs,
    .set_sregs = vmm__svm_set_sregs,
    .get_fpu = vmm__svm_get_fpu,
    .set_fpu = vmm__svm_set_fpu,
    .get_msrs = vmm__svm_get_msrs,
    .set_msrs = vmm__svm_set_msrs,
    .get_cpuid = vmm__svm_get_cpuid,
    .set_cpuid = vmm__svm_set_cpuid,
    .set_debug = vmm__svm_set_debug,
    .inject_event = vmm__svm_inject_event,
    .translate = vmm__svm_translate,
    .vm_state_save = vmm__svm_vm_state_save,
    .vm_state_load = vmm__svm_vm_state_load,
    .vcpu_state_save = vmm__svm_vcpu_state_save,
    .vcpu_state_load = vmm__svm_vcpu_state_load,
    .vcpu_complete = vmm__svm_vcpu_complete,
};
