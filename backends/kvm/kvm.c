/* backends/kvm/kvm.c — the KVM backend: /dev/kvm, VMs and memory slots. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "kvm_internal.h"

/* Where KVM may put the three pages VMX needs for real-mode emulation; the
 * top of the 32-bit space below the BIOS area, as most VMMs use. */
#define KVM_TSS_GPA 0xfffbd000u

static pthread_once_t sys_once = PTHREAD_ONCE_INIT;
static int sys_fd = -1;
static int sys_errno;

static int run_size = -1;
static size_t xsave_size;

static void sys_open(void) {
  sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  sys_errno = sys_fd < 0 ? errno : 0;
  if (sys_fd < 0)
    return;
  run_size = ioctl(sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
    /* XSAVE2 reports the full size when features beyond 4 KiB exist. */
    int n = ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    xsave_size = n > (int)sizeof(struct kvm_xsave) ? (size_t)n
                                                    : sizeof(struct kvm_xsave);
  }
}

size_t vmm__kvm_xsave_size(void) {
  pthread_once(&sys_once, sys_open);
  return xsave_size;
}

int vmm__kvm_run_size(void) {
  pthread_once(&sys_once, sys_open);
  return run_size;
}

int vmm__kvm_sys_fd(void) {
  pthread_once(&sys_once, sys_open);
  return sys_fd;
}

int vmm__kvm_ioctl(int fd, unsigned long req, void *arg) {
  int r;
  do
    r = ioctl(fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

static int probe_once(void) {
  int fd = vmm__kvm_sys_fd();
  if (fd < 0) {
    if (sys_errno == ENOENT)
      return vmm__error(VMM_ENODEV, "kvm: /dev/kvm does not exist (is the "
                        "kvm module loaded? is virtualization enabled?)");
    if (sys_errno == EACCES || sys_errno == EPERM)
      return vmm__error(VMM_EACCES, "kvm: no permission to open /dev/kvm "
                        "(add the user to the 'kvm' group)");
    return vmm__error(VMM_ENODEV, "kvm: cannot open /dev/kvm: %s",
                      strerror(sys_errno));
  }
  int api = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION)
    return vmm__error(VMM_ENOTSUP, "kvm: API version %d, libvmm needs %d",
                      api, KVM_API_VERSION);
  static const struct {
    long cap;
    const char *name;
  } required[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
  };
  for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
    if (ioctl(fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0)
      return vmm__error(VMM_ENOTSUP, "kvm: the host lacks %s",
                        required[i].name);
  return 0;
}

/* The answer cannot change while /dev/kvm stays open, so it is computed
 * once; every VM creation asks. The message is kept for later callers. */
static pthread_once_t probe_once_ctl = PTHREAD_ONCE_INIT;
static int probe_rc;
static char probe_msg[256];

static void probe_run(void) {
  probe_rc = probe_once();
  if (probe_rc < 0)
    snprintf(probe_msg, sizeof(probe_msg), "%s", vmm_last_error());
}

static int kvm_probe(void) {
  pthread_once(&probe_once_ctl, probe_run);
  return probe_rc < 0 ? vmm__error(probe_rc, "%s", probe_msg) : 0;
}

static pthread_once_t caps_once = PTHREAD_ONCE_INIT;
static uint64_t caps_cached;

static void caps_run(void) {
  int fd = vmm__kvm_sys_fd();
  static const struct {
    long cap;
    uint64_t bit;
  } map[] = {
      {KVM_CAP_READONLY_MEM, VMM_CAP_READONLY_MEM},
      {KVM_CAP_IMMEDIATE_EXIT, VMM_CAP_IMMEDIATE_EXIT},
      {KVM_CAP_IRQCHIP, VMM_CAP_IRQCHIP},
      {KVM_CAP_IOEVENTFD, VMM_CAP_IOEVENTFD},
      {KVM_CAP_IRQFD, VMM_CAP_IRQFD},
      {KVM_CAP_SET_GUEST_DEBUG, VMM_CAP_GUEST_DEBUG},
      {KVM_CAP_EXT_CPUID, VMM_CAP_CPUID},
      {KVM_CAP_XSAVE, VMM_CAP_XSAVE},
  };
  uint64_t c = VMM_CAP_DIRTY_LOG | VMM_CAP_MSRS; /* part of the base API */
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (ioctl(fd, KVM_CHECK_EXTENSION, map[i].cap) > 0)
      c |= map[i].bit;
  caps_cached = c;
}

static int kvm_caps(uint64_t *caps) {
  pthread_once(&caps_once, caps_run);
  *caps = caps_cached;
  return 0;
}

static int kvm_vm_create(vmm_vm_t *vm, void **bvm) {
  struct kvm_vm *k = calloc(1, sizeof(*k));
  if (!k)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory");
  k->vm = vm;
  pthread_mutex_init(&k->routes_lock, NULL);
  do
    k->fd = ioctl(vmm__kvm_sys_fd(), KVM_CREATE_VM, 0);
  while (k->fd < 0 && errno == EINTR);
  if (k->fd < 0) {
    int e = errno;
    pthread_mutex_destroy(&k->routes_lock);
    free(k);
    return vmm__error(e == ENOMEM ? VMM_ENOMEM : VMM_EBACKEND,
                      "kvm: KVM_CREATE_VM failed: %s", strerror(e));
  }
  if (ioctl(k->fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_GPA) < 0) {
    int e = errno;
    close(k->fd);
    pthread_mutex_destroy(&k->routes_lock);
    free(k);
    return vmm__error(VMM_EBACKEND, "kvm: KVM_SET_TSS_ADDR failed: %s",
                      strerror(e));
  }
  *bvm = k;
  return 0;
}

static void kvm_vm_destroy(void *bvm) {
  struct kvm_vm *k = bvm;
  if (!k)
    return;
  close(k->fd);
  free(k->routes);
  pthread_mutex_destroy(&k->routes_lock);
  free(k);
}

static int kvm_mem_set(void *bvm, uint32_t slot, uint64_t gpa, uint64_t size,
                       void *hva, uint32_t flags) {
  struct kvm_vm *k = bvm;
  struct kvm_userspace_memory_region r = {
      .slot = slot,
      .flags = ((flags & VMM_MEM_READONLY) ? KVM_MEM_READONLY : 0) |
               ((flags & VMM_MEM_DIRTY_LOG) ? KVM_MEM_LOG_DIRTY_PAGES : 0),
      .guest_phys_addr = gpa,
      .memory_size = size,
      .userspace_addr = (uintptr_t)hva,
  };
  if (vmm__kvm_ioctl(k->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
    int e = errno;
    return vmm__error(e == ENOMEM ? VMM_ENOMEM : VMM_EBACKEND,
                      "kvm: KVM_SET_USER_MEMORY_REGION slot %u [0x%llx, "
                      "+0x%llx) failed: %s", slot, (unsigned long long)gpa,
                      (unsigned long long)size, strerror(e));
  }
  return 0;
}

static int kvm_dirty_log_fetch(void *bvm, uint32_t slot, uint64_t size,
                               uint64_t *bitmap) {
  struct kvm_vm *k = bvm;
  (void)size; /* KVM sizes the bitmap from the slot: 64-bit words */
  struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};
  if (vmm__kvm_ioctl(k->fd, KVM_GET_DIRTY_LOG, &log) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_GET_DIRTY_LOG slot %u: %s",
                      slot, strerror(errno));
  return 0;
}

/* ---- host-supported CPUID, fetched once per process ---------------- */

static pthread_once_t cpuid_once = PTHREAD_ONCE_INIT;
static struct kvm_cpuid2 *host_cpuid;
static int host_cpuid_rc;

/*
 * KVM lists its paravirtual leaves (0x40000000, signature "KVMKVMKVM")
 * but leaves the hypervisor bit (leaf 1 ECX bit 31) to user space, as
 * QEMU sets it. Without it Linux never reads those leaves: no kvm-clock,
 * its TSC calibration against the PIT and PM timer fails and it runs on
 * jiffies (seen with the stock Debian kernel on kvm-amd). Shown here
 * whenever the leaves are.
 */
static void show_hypervisor(struct kvm_cpuid2 *c) {
  bool kvm_leaves = false;
  for (uint32_t i = 0; i < c->nent; i++) {
    const struct kvm_cpuid_entry2 *e = &c->entries[i];
    if (e->function == 0x40000000u && e->ebx == 0x4b4d564bu && /* KVMK */
        e->ecx == 0x564b4d56u && e->edx == 0x4du)              /* VMKV M */
      kvm_leaves = true;
  }
  for (uint32_t i = 0; kvm_leaves && i < c->nent; i++)
    if (c->entries[i].function == 1)
      c->entries[i].ecx |= 1u << 31;
}

static void cpuid_fetch(void) {
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    struct kvm_cpuid2 *c =
        calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (!c)
      break;
    c->nent = n;
    if (ioctl(vmm__kvm_sys_fd(), KVM_GET_SUPPORTED_CPUID, c) == 0) {
      show_hypervisor(c);
      host_cpuid = c;
      return;
    }
    free(c);
    if (errno != E2BIG) {
      host_cpuid_rc = VMM_EBACKEND;
      return;
    }
  }
  host_cpuid_rc = VMM_ENOMEM;
}

int vmm__kvm_supported_cpuid(const struct kvm_cpuid2 **out) {
  pthread_once(&cpuid_once, cpuid_fetch);
  if (!host_cpuid)
    return vmm__error(host_cpuid_rc, "kvm: KVM_GET_SUPPORTED_CPUID failed");
  *out = host_cpuid;
  return 0;
}

int vmm__kvm_cpuid_export(const struct kvm_cpuid2 *c,
                          vmm_cpuid_entry_t *entries, size_t capacity,
                          size_t *count) {
  *count = c->nent;
  for (size_t i = 0; i < c->nent && i < capacity; i++) {
    const struct kvm_cpuid_entry2 *e = &c->entries[i];
    entries[i] = (vmm_cpuid_entry_t){
        .function = e->function, .index = e->index,
        .flags = (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
                     ? VMM_CPUID_F_SIGNIFICANT_INDEX : 0,
        .eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx};
  }
  if (capacity < c->nent)
    return vmm__error(VMM_E2BIG, "kvm: CPUID table has %u entries, room "
                      "for %zu", c->nent, capacity);
  return 0;
}

static int kvm_supported_cpuid(void *bvm, vmm_cpuid_entry_t *entries,
                               size_t capacity, size_t *count) {
  (void)bvm;
  const struct kvm_cpuid2 *c = NULL;
  int rc = vmm__kvm_supported_cpuid(&c);
  if (rc < 0)
    return rc;
  return vmm__kvm_cpuid_export(c, entries, capacity, count);
}

/* ---- interrupts and eventfds ---------------------------------------- */

static int kvm_irqchip_create(void *bvm) {
  struct kvm_vm *k = bvm;
  if (ioctl(k->fd, KVM_CREATE_IRQCHIP, 0) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_CREATE_IRQCHIP: %s",
                      strerror(errno));
  /* The PIT, with its speaker-port dummy, as PC firmware and kernels
   * expect a timer on IRQ 0. */
  struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
  if (ioctl(k->fd, KVM_CREATE_PIT2, &pit) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_CREATE_PIT2: %s",
                      strerror(errno));
  k->irqchip = true;
  return 0;
}

static int kvm_irq_line(void *bvm, uint32_t gsi, int level) {
  struct kvm_vm *k = bvm;
  struct kvm_irq_level l = {.irq = gsi, .level = (uint32_t)!!level};
  if (vmm__kvm_ioctl(k->fd, KVM_IRQ_LINE, &l) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_IRQ_LINE gsi %u: %s", gsi,
                      strerror(errno));
  return 0;
}

static int kvm_msi_send(void *bvm, uint64_t address, uint32_t data) {
  struct kvm_vm *k = bvm;
  struct kvm_msi m = {.address_lo = (uint32_t)address,
                      .address_hi = (uint32_t)(address >> 32),
                      .data = data};
  /* 0 means the interrupt was blocked by the guest (masked): not an
   * error for the sender. */
  if (vmm__kvm_ioctl(k->fd, KVM_SIGNAL_MSI, &m) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_SIGNAL_MSI 0x%llx/0x%x: %s",
                      (unsigned long long)address, data, strerror(errno));
  return 0;
}

static int kvm_irqfd(void *bvm, int fd, uint32_t gsi, int assign) {
  struct kvm_vm *k = bvm;
  struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = gsi,
                        .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
  if (vmm__kvm_ioctl(k->fd, KVM_IRQFD, &f) < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_IRQFD gsi %u: %s", gsi,
                      strerror(errno));
  return 0;
}

static int kvm_ioeventfd(void *bvm, int fd, vmm_io_space_t space,
                         uint64_t addr, uint32_t len, int match,
                         uint64_t value, int assign) {
  struct kvm_vm *k = bvm;
  struct kvm_ioeventfd e = {
      .datamatch = value, .addr = addr, .len = len, .fd = fd,
      .flags = (space == VMM_IO_PIO ? KVM_IOEVENTFD_FLAG_PIO : 0) |
               (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
               (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN)};
  if (vmm__kvm_ioctl(k->fd, KVM_IOEVENTFD, &e) < 0)
    return vmm__error(errno == ENOSPC ? VMM_ENOSPC : VMM_EBACKEND,
                      "kvm: KVM_IOEVENTFD %s 0x%llx/%u: %s",
                      space == VMM_IO_PIO ? "port" : "mmio",
                      (unsigned long long)addr, len, strerror(errno));
  return 0;
}

/* ---- MSI routes ------------------------------------------------------ */

/* GSIs below this are the irqchip's pins; MSI routes get the ones above. */
#define IRQCHIP_GSIS 24u
/* KVM's limit (KVM_MAX_IRQ_ROUTES) is 4096 on x86. */
#define MAX_ROUTES 4096u

static struct kvm_irq_routing_entry *route_add(struct kvm_vm *k) {
  if (k->n_routes == k->routes_cap) {
    uint32_t cap = k->routes_cap ? 2 * k->routes_cap : 64;
    struct kvm_irq_routing_entry *r = realloc(k->routes, cap * sizeof(*r));
    if (!r)
      return NULL;
    k->routes = r;
    k->routes_cap = cap;
  }
  struct kvm_irq_routing_entry *e = &k->routes[k->n_routes++];
  memset(e, 0, sizeof(*e));
  return e;
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, including the routes
 * KVM_CREATE_IRQCHIP installed, so the first MSI route starts from a copy
 * of those: GSI 0-15 to the PICs and the IOAPIC, 16-23 to the IOAPIC,
 * pin = GSI (as KVM's own default table).
 */
static bool routes_default(struct kvm_vm *k) {
  for (uint32_t gsi = 0; gsi < IRQCHIP_GSIS; gsi++) {
    struct kvm_irq_routing_entry *e = route_add(k);
    if (!e)
      return false;
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
    e->u.irqchip.pin = gsi;
    if (gsi >= 16)
      continue;
    if (!(e = route_add(k)))
      return false;
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
                                   : KVM_IRQCHIP_PIC_SLAVE;
    e->u.irqchip.pin = gsi % 8;
  }
  return true;
}

static int routes_commit(struct kvm_vm *k) {
  size_t size = sizeof(struct kvm_irq_routing) +
                k->n_routes * sizeof(struct kvm_irq_routing_entry);
  struct kvm_irq_routing *t = calloc(1, size);
  if (!t)
    return vmm__error(VMM_ENOMEM, "kvm: out of memory");
  t->nr = k->n_routes;
  memcpy(t->entries, k->routes, k->n_routes * sizeof(t->entries[0]));
  int rc = vmm__kvm_ioctl(k->fd, KVM_SET_GSI_ROUTING, t);
  int e = errno;
  free(t);
  if (rc < 0)
    return vmm__error(VMM_EBACKEND, "kvm: KVM_SET_GSI_ROUTING (%u routes): "
                      "%s", k->n_routes, strerror(e));
  return 0;
}

static struct kvm_irq_routing_entry *route_find(struct kvm_vm *k,
                                                uint32_t gsi) {
  for (uint32_t i = 0; i < k->n_routes; i++)
    if (k->routes[i].gsi == gsi && k->routes[i].type == KVM_IRQ_ROUTING_MSI)
      return &k->routes[i];
  return NULL;
}

static int kvm_msi_route_set(void *bvm, uint32_t *gsi, uint64_t address,
                             uint32_t data) {
  struct kvm_vm *k = bvm;
  if (ioctl(vmm__kvm_sys_fd(), KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) <= 0)
    return vmm__error(VMM_ENOTSUP, "kvm: no KVM_CAP_IRQ_ROUTING");
  pthread_mutex_lock(&k->routes_lock);
  int rc = 0;
  struct kvm_irq_routing_entry *e = NULL, saved;
  bool added = false;
  if (k->n_routes == 0 && !routes_default(k)) {
    k->n_routes = 0;
    rc = vmm__error(VMM_ENOMEM, "kvm: out of memory");
    goto out;
  }
  if (*gsi != VMM__GSI_NEW) {
    if (!(e = route_find(k, *gsi))) {
      rc = vmm__error(VMM_EINVAL, "kvm: GSI %u has no MSI route", *gsi);
      goto out;
    }
    saved = *e;
  } else {
    /* The lowest GSI above the irqchip's that no route uses. */
    uint32_t g = IRQCHIP_GSIS;
    while (g < MAX_ROUTES && route_find(k, g))
      g++;
    if (g >= MAX_ROUTES || k->n_routes >= MAX_ROUTES ||
        !(e = route_add(k))) {
      rc = vmm__error(VMM_ENOSPC, "kvm: no GSI left for an MSI route");
      goto out;
    }
    added = true;
    e->gsi = g;
    e->type = KVM_IRQ_ROUTING_MSI;
  }
  e->u.msi.address_lo = (uint32_t)address;
  e->u.msi.address_hi = (uint32_t)(address >> 32);
  e->u.msi.data = data;
  uint32_t g = e->gsi;
  rc = routes_commit(k);
  if (rc < 0) {
    if (added)
      k->n_routes--;
    else
      *e = saved;
  } else {
    *gsi = g;
  }
out:
  pthread_mutex_unlock(&k->routes_lock);
  return rc;
}

static void kvm_msi_route_del(void *bvm, uint32_t gsi) {
  struct kvm_vm *k = bvm;
  pthread_mutex_lock(&k->routes_lock);
  struct kvm_irq_routing_entry *e = route_find(k, gsi);
  if (e) {
    *e = k->routes[--k->n_routes];
    routes_commit(k); /* a stale route only costs a GSI number */
  }
  pthread_mutex_unlock(&k->routes_lock);
}

const struct vmm__backend_ops vmm__kvm_ops = {
    .name = "kvm",
    .probe = kvm_probe,
    .caps = kvm_caps,
    .vm_create = kvm_vm_create,
    .vm_destroy = kvm_vm_destroy,
    .mem_set = kvm_mem_set,
    .dirty_log_fetch = kvm_dirty_log_fetch,
    .supported_cpuid = kvm_supported_cpuid,
    .irqchip_create = kvm_irqchip_create,
    .irq_line = kvm_irq_line,
    .msi_send = kvm_msi_send,
    .irqfd = kvm_irqfd,
    .ioeventfd = kvm_ioeventfd,
    .msi_route_set = kvm_msi_route_set,
    .msi_route_del = kvm_msi_route_del,
    .vcpu_create = vmm__kvm_vcpu_create,
    .vcpu_destroy = vmm__kvm_vcpu_destroy,
    .vcpu_run = vmm__kvm_vcpu_run,
    .vcpu_kick_set = vmm__kvm_vcpu_kick_set,
    .get_regs = vmm__kvm_get_regs,
    .set_regs = vmm__kvm_set_regs,
    .get_sregs = vmm__kvm_get_sregs,
    .set_sregs = vmm__kvm_set_sregs,
    .get_fpu = vmm__kvm_get_fpu,
    .set_fpu = vmm__kvm_set_fpu,
    .get_msrs = vmm__kvm_get_msrs,
    .set_msrs = vmm__kvm_set_msrs,
    .get_cpuid = vmm__kvm_get_cpuid,
    .set_cpuid = vmm__kvm_set_cpuid,
    .set_debug = vmm__kvm_set_debug,
    .get_mp_state = vmm__kvm_get_mp_state,
    .inject_event = vmm__kvm_inject_event,
    .translate = vmm__kvm_translate,
    .vm_state_save = vmm__kvm_vm_state_save,
    .vm_state_load = vmm__kvm_vm_state_load,
    .vcpu_state_save = vmm__kvm_vcpu_state_save,
    .vcpu_state_load = vmm__kvm_vcpu_state_load,
    .vcpu_complete = vmm__kvm_vcpu_complete,
};
