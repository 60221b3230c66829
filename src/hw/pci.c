/* src/hw/pci.c — PCI bus 0 of a VM: configuration mechanism #1 at ports
 * 0xCF8/0xCFC, the host bridge at 00:00.0, BAR sizing and relocation,
 * memory-decoding gating, the capability list. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/io.h>

#include "device_internal.h"
#include "error.h"
#include "hw/pci.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA 0xcfc
#define ENABLE_BIT 0x80000000u
#define SLOTS 32
#define CAP_START 0x40

/* The bus is a device of the VM, so it goes with the VM's devices. */
struct vmm__pci_bus {
  vmm_device_t base; /* first */
  pthread_mutex_t lock;
  uint32_t address; /* CONFIG_ADDRESS as last written */
  uint64_t next_bar;
  struct vmm__pci_fn host;
  struct vmm__pci_fn *fns[SLOTS];
};

static void bus_destroy(vmm_device_t *dev) {
  struct vmm__pci_bus *bus = (struct vmm__pci_bus *)dev;
  if (bus->base.vm && bus->base.vm->pci == bus)
    bus->base.vm->pci = NULL;
  pthread_mutex_destroy(&bus->lock);
  free(bus);
}

static int bus_save(vmm_device_t *dev, struct vmm__sw *w);
static int bus_load(vmm_device_t *dev, struct vmm__sr *r);

static const struct vmm__device_ops bus_ops = {.type = "pci-host",
                                               .destroy = bus_destroy,
                                               .save = bus_save,
                                               .load = bus_load};

/* ---- BARs ------------------------------------------------------------- */

static bool bar_valid(const struct vmm__pci_fn *fn, int bar, uint64_t addr) {
  uint64_t size = fn->bar_size[bar];
  /* 0 is where a BAR is parked; a window past 4 GiB cannot be decoded by
   * a 32-bit BAR; the IOAPIC/LAPIC area is the platform's. */
  return addr != 0 && addr + size <= 0x100000000ull &&
         !(addr < 0xfee01000ull && addr + size > 0xfec00000ull);
}

/* Makes the MMIO bus agree with the BAR and the command register. */
static void bar_update(struct vmm__pci_fn *fn, int bar) {
  if (!fn->bar_size[bar] || !fn->bar_map)
    return;
  bool decode = vmm__pci_get16(fn->cfg, VMM__PCI_COMMAND) & VMM__PCI_CMD_MEM;
  uint64_t want = decode && bar_valid(fn, bar, fn->bar_addr[bar])
                      ? fn->bar_addr[bar]
                      : 0;
  if (want == fn->bar_mapped[bar])
    return;
  if (fn->bar_mapped[bar])
    fn->bar_map(fn, bar, fn->bar_mapped[bar], false);
  fn->bar_mapped[bar] = 0;
  /* A refused address (guest RAM, another device) leaves the BAR
   * unmapped until the guest picks a better one. */
  if (want && fn->bar_map(fn, bar, want, true) == 0)
    fn->bar_mapped[bar] = want;
}

static void bars_update(struct vmm__pci_fn *fn) {
  for (int i = 0; i < VMM__PCI_BARS; i++)
    bar_update(fn, i);
}

/* ---- configuration accesses ------------------------------------------ */

static void cfg_write(struct vmm__pci_fn *fn, uint32_t off, uint32_t len,
                      uint32_t value) {
  bool bars = false, cmd = false;
  for (uint32_t i = 0; i < len; i++) {
    uint32_t o = off + i;
    uint8_t b = (uint8_t)(value >> (8 * i));
    if (o >= VMM__PCI_BAR0 && o < VMM__PCI_BAR0 + 4 * VMM__PCI_BARS) {
      int bar = (int)(o - VMM__PCI_BAR0) / 4;
      unsigned shift = 8 * ((o - VMM__PCI_BAR0) % 4);
      uint64_t size = fn->bar_size[bar];
      if (!size)
        continue; /* a BAR the device does not have reads 0 whatever is written */
      uint64_t a = fn->bar_addr[bar];
      a = (a & ~(0xffull << shift)) | (uint64_t)b << shift;
      fn->bar_addr[bar] = a & ~(size - 1) & 0xffffffffull;
      bars = true;
    } else if (o == VMM__PCI_COMMAND || o == VMM__PCI_COMMAND + 1) {
      /* Memory space, bus master, INTx disable; no I/O space. */
      uint8_t m = o == VMM__PCI_COMMAND ? (uint8_t)(VMM__PCI_CMD_MEM |
                                                    VMM__PCI_CMD_MASTER)
                                        : (uint8_t)(VMM__PCI_CMD_INTX_DISABLE >>
                                                    8);
      fn->cfg[o] = (uint8_t)((fn->cfg[o] & ~m) | (b & m));
      cmd = true;
    } else {
      fn->cfg[o] = (uint8_t)((fn->cfg[o] & ~fn->wmask[o]) |
                             (b & fn->wmask[o]));
    }
  }
  if (bars || cmd)
    bars_update(fn);
  if (fn->cfg_write && off + len > CAP_START)
    fn->cfg_write(fn, off, len);
}

static uint32_t cfg_read(struct vmm__pci_fn *fn, uint32_t off, uint32_t len) {
  if (fn->cfg_read && off + len > CAP_START)
    fn->cfg_read(fn, off, len);
  uint32_t v = 0;
  for (uint32_t i = 0; i < len; i++) {
    uint32_t o = off + i;
    uint8_t b = fn->cfg[o];
    if (o >= VMM__PCI_BAR0 && o < VMM__PCI_BAR0 + 4 * VMM__PCI_BARS) {
      int bar = (int)(o - VMM__PCI_BAR0) / 4;
      /* Memory BAR, 32-bit, not prefetchable: low bits 0. */
      b = fn->bar_size[bar]
              ? (uint8_t)(fn->bar_addr[bar] >> (8 * ((o - VMM__PCI_BAR0) % 4)))
              : 0;
    }
    v |= (uint32_t)b << (8 * i);
  }
  return v;
}

/* Port handler for 0xCF8-0xCFF. */
static int pio_access(vmm_vcpu_t *vcpu, uint64_t port, uint8_t *data,
                      uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct vmm__pci_bus *bus = opaque;
  if (size == 0 || size > 4)
    return 0;
  uint32_t value = 0;
  if (is_write)
    memcpy(&value, data, size);
  pthread_mutex_lock(&bus->lock);
  uint32_t out = 0xffffffffu;
  if (port == CONFIG_ADDRESS && size == 4) {
    if (is_write)
      bus->address = value & 0x80fffffcu; /* reserved bits read 0 */
    else
      out = bus->address;
  } else if (port >= CONFIG_DATA) {
    uint32_t byte = (uint32_t)(port - CONFIG_DATA);
    uint32_t a = bus->address;
    uint32_t busno = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f,
             func = (a >> 8) & 7, off = (a & 0xfc) + byte;
    struct vmm__pci_fn *fn = NULL;
    if ((a & ENABLE_BIT) && busno == 0 && func == 0)
      fn = bus->fns[dev];
    /* An access straddling the end of the dword (0xCFE as a dword) is cut
     * at the register's end, as the port range would. */
    uint32_t len = size;
    if (byte + len > 4)
      len = 4 - byte;
    if (fn) {
      if (is_write)
        cfg_write(fn, off, len, value);
      else
        out = cfg_read(fn, off, len) |
              (len < 4 ? 0xffffffffu << (8 * len) : 0);
    }
  }
  /* Other ports and sizes (0xCF8 as a byte: the PCI mechanism #2 probe)
   * read all-ones and ignore writes. */
  pthread_mutex_unlock(&bus->lock);
  if (!is_write)
    memcpy(data, &out, size);
  return 0;
}

/* ---- the bus ---------------------------------------------------------- */

static int bus_get(vmm_vm_t *vm, struct vmm__pci_bus **out) {
  if (vm->pci) {
    *out = vm->pci;
    return 0;
  }
  struct vmm__pci_bus *bus = calloc(1, sizeof(*bus));
  if (!bus)
    return vmm__error(VMM_ENOMEM, "pci: out of memory");
  pthread_mutex_init(&bus->lock, NULL);
  bus->next_bar = VMM__PCI_MMIO_WINDOW;
  /* The host bridge: Intel Q35's MCH ids, class 06 00 00. */
  struct vmm__pci_fn *h = &bus->host;
  vmm__pci_set16(h->cfg, VMM__PCI_VENDOR_ID, 0x8086);
  vmm__pci_set16(h->cfg, VMM__PCI_DEVICE_ID, 0x29c0);
  vmm__pci_set16(h->cfg, VMM__PCI_COMMAND, VMM__PCI_CMD_MEM);
  h->cfg[VMM__PCI_CLASS_PROG + 2] = 0x06; /* bridge */
  h->cfg[VMM__PCI_CLASS_PROG + 1] = 0x00; /* host */
  bus->fns[0] = h;
  int rc = vmm_io_register(vm, VMM_IO_PIO, CONFIG_ADDRESS, 8, pio_access, bus);
  if (rc < 0) {
    bus_destroy(&bus->base);
    return rc;
  }
  rc = vmm__device_add(vm, &bus->base, &bus_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, CONFIG_ADDRESS);
    bus_destroy(&bus->base);
    return rc;
  }
  vm->pci = bus;
  *out = bus;
  return 0;
}

/* The next naturally aligned window of `size` clear of guest RAM. */
static int bar_alloc(vmm_vm_t *vm, struct vmm__pci_bus *bus, uint64_t size,
                     uint64_t *addr) {
  uint64_t at = (bus->next_bar + size - 1) & ~(size - 1);
  for (;;) {
    if (at + size > 0xfec00000ull)
      return vmm__error(VMM_ENOSPC, "pci: no room for a 0x%llx-byte BAR",
                        (unsigned long long)size);
    bool clash = false;
    pthread_rwlock_rdlock(&vm->lock);
    for (size_t i = 0; i < vm->mem.count && !clash; i++) {
      const struct vmm__memslot *s = vm->mem.slots[i];
      clash = s->gpa < at + size && at < s->gpa + s->size;
    }
    for (size_t i = 0; i < vm->mmio.count && !clash; i++) {
      const struct vmm__bus_range *r = &vm->mmio.ranges[i];
      clash = r->base < at + size && at < r->base + r->len;
    }
    pthread_rwlock_unlock(&vm->lock);
    if (!clash)
      break;
    at += size;
  }
  bus->next_bar = at + size;
  *addr = at;
  return 0;
}

int vmm__pci_add(vmm_vm_t *vm, struct vmm__pci_fn *fn, uint32_t slot) {
  struct vmm__pci_bus *bus = NULL;
  if (slot >= SLOTS)
    return vmm__error(VMM_ERANGE, "PCI slot %u is not from 1 to 31", slot);
  int rc = bus_get(vm, &bus);
  if (rc < 0)
    return rc;
  if (slot == 0) {
    for (slot = 1; slot < SLOTS && bus->fns[slot]; slot++)
      ;
    if (slot == SLOTS)
      return vmm__error(VMM_ENOSPC, "PCI bus 0 is full");
  } else if (bus->fns[slot]) {
    return vmm__error(VMM_EBUSY, "PCI slot %u is taken", slot);
  }
  for (int i = 0; i < VMM__PCI_BARS; i++) {
    uint64_t size = fn->bar_size[i];
    if (!size)
      continue;
    if (size < 4096 || (size & (size - 1)) || size > (1ull << 30))
      return vmm__error(VMM_EINVAL, "pci: BAR size 0x%llx",
                        (unsigned long long)size);
    if ((rc = bar_alloc(vm, bus, size, &fn->bar_addr[i])) < 0)
      return rc;
  }
  fn->devfn = (uint8_t)(slot << 3);
  vmm__pci_set16(fn->cfg, VMM__PCI_COMMAND, VMM__PCI_CMD_MEM |
                                                VMM__PCI_CMD_MASTER);
  pthread_mutex_lock(&bus->lock);
  bars_update(fn);
  for (int i = 0; i < VMM__PCI_BARS; i++) {
    if (fn->bar_size[i] && !fn->bar_mapped[i]) {
      pthread_mutex_unlock(&bus->lock);
      return vmm__error(VMM_EBUSY, "pci: BAR %d at 0x%llx could not be mapped",
                        i, (unsigned long long)fn->bar_addr[i]);
    }
  }
  bus->fns[slot] = fn;
  pthread_mutex_unlock(&bus->lock);
  return 0;
}

void vmm__pci_remove(vmm_vm_t *vm, struct vmm__pci_fn *fn) {
  struct vmm__pci_bus *bus = vm->pci;
  if (!bus)
    return;
  pthread_mutex_lock(&bus->lock);
  for (int i = 1; i < SLOTS; i++)
    if (bus->fns[i] == fn)
      bus->fns[i] = NULL;
  for (int i = 0; i < VMM__PCI_BARS; i++) {
    if (fn->bar_mapped[i] && fn->bar_map)
      fn->bar_map(fn, i, fn->bar_mapped[i], false);
    fn->bar_mapped[i] = 0;
  }
  pthread_mutex_unlock(&bus->lock);
}

int vmm__pci_list(vmm_vm_t *vm, struct vmm__pci_intx *out, int cap) {
  struct vmm__pci_bus *bus = vm->pci;
  if (!bus)
    return 0;
  int n = 0;
  pthread_mutex_lock(&bus->lock);
  for (int i = 1; i < SLOTS; i++) {
    const struct vmm__pci_fn *fn = bus->fns[i];
    if (!fn)
      continue;
    if (n < cap)
      out[n] = (struct vmm__pci_intx){.devfn = fn->devfn,
                                      .pin = fn->cfg[VMM__PCI_INT_PIN],
                                      .gsi = fn->cfg[VMM__PCI_INT_LINE]};
    n++;
  }
  pthread_mutex_unlock(&bus->lock);
  return n;
}

uint8_t vmm__pci_cap_add(struct vmm__pci_fn *fn, uint8_t id, uint8_t len) {
  /* Capabilities sit one after the other from 0x40, dword aligned, in
   * the order they were added. */
  uint32_t at = fn->cap_end ? fn->cap_end : CAP_START;
  if (len < 2 || at + len > VMM__PCI_CFG_SIZE)
    return 0;
  fn->cfg[at] = id;
  fn->cfg[at + 1] = 0;
  if (fn->cap_last)
    fn->cfg[fn->cap_last + 1] = (uint8_t)at;
  else
    fn->cfg[VMM__PCI_CAP_PTR] = (uint8_t)at;
  vmm__pci_set16(fn->cfg, VMM__PCI_STATUS,
                 vmm__pci_get16(fn->cfg, VMM__PCI_STATUS) |
                     VMM__PCI_STATUS_CAP_LIST);
  fn->cap_last = (uint8_t)at;
  fn->cap_end = (uint8_t)((at + len + 3) & ~3u);
  if (at + len + 3 >= VMM__PCI_CFG_SIZE)
    fn->cap_end = 0xff;
  return (uint8_t)at;
}

/* ---- saved state -------------------------------------------------------- */

/* The bits of configuration byte `o` the guest can change (BAR bytes are
 * kept in bar_addr, not cfg). */
static uint8_t writable(const struct vmm__pci_fn *fn, uint32_t o) {
  if (o == VMM__PCI_COMMAND)
    return VMM__PCI_CMD_MEM | VMM__PCI_CMD_MASTER;
  if (o == VMM__PCI_COMMAND + 1)
    return VMM__PCI_CMD_INTX_DISABLE >> 8;
  return fn->wmask[o];
}

void vmm__pci_fn_save(vmm_vm_t *vm, struct vmm__pci_fn *fn,
                      struct vmm__sw *w) {
  struct vmm__pci_bus *bus = vm->pci;
  if (bus)
    pthread_mutex_lock(&bus->lock);
  vmm__sw_bytes(w, fn->cfg, VMM__PCI_CFG_SIZE);
  for (int i = 0; i < VMM__PCI_BARS; i++)
    vmm__sw_u64(w, fn->bar_addr[i]);
  if (bus)
    pthread_mutex_unlock(&bus->lock);
}

int vmm__pci_fn_load(vmm_vm_t *vm, struct vmm__pci_fn *fn,
                     struct vmm__sr *r) {
  struct vmm__pci_bus *bus = vm->pci;
  uint8_t cfg[VMM__PCI_CFG_SIZE];
  uint64_t bar[VMM__PCI_BARS];
  vmm__sr_bytes(r, cfg, sizeof(cfg));
  for (int i = 0; i < VMM__PCI_BARS; i++)
    bar[i] = vmm__sr_u64(r);
  if (vmm__sr_error(r) || !bus)
    return vmm__sr_error(r) ? VMM_EINVAL
                            : vmm__error(VMM_EINVAL, "pci: no bus");
  pthread_mutex_lock(&bus->lock);
  int rc = 0;
  for (uint32_t o = 0; o < VMM__PCI_CFG_SIZE && rc == 0; o++) {
    if (o >= VMM__PCI_BAR0 && o < VMM__PCI_BAR0 + 4 * VMM__PCI_BARS)
      continue;
    uint8_t m = writable(fn, o);
    if ((cfg[o] & ~m) != (fn->cfg[o] & ~m))
      rc = vmm__error(VMM_EINVAL, "pci %02x.0: configuration byte 0x%02x "
                      "is 0x%02x, the device's read-only bits say 0x%02x",
                      fn->devfn >> 3, o, cfg[o], fn->cfg[o]);
  }
  for (int i = 0; i < VMM__PCI_BARS && rc == 0; i++) {
    uint64_t size = fn->bar_size[i];
    if (size ? (bar[i] & (size - 1)) || bar[i] > 0xffffffffull : bar[i] != 0)
      rc = vmm__error(VMM_EINVAL, "pci %02x.0: BAR %d base 0x%llx does not "
                      "fit its size 0x%llx", fn->devfn >> 3, i,
                      (unsigned long long)bar[i], (unsigned long long)size);
  }
  if (rc == 0) {
    memcpy(fn->cfg, cfg, sizeof(cfg));
    memcpy(fn->bar_addr, bar, sizeof(bar));
    bars_update(fn);
  }
  pthread_mutex_unlock(&bus->lock);
  return rc;
}

static int bus_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct vmm__pci_bus *bus = (struct vmm__pci_bus *)dev;
  pthread_mutex_lock(&bus->lock);
  vmm__sw_u32(w, bus->address);
  vmm__sw_bytes(w, bus->host.cfg, VMM__PCI_CFG_SIZE);
  pthread_mutex_unlock(&bus->lock);
  return 0;
}

static int bus_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct vmm__pci_bus *bus = (struct vmm__pci_bus *)dev;
  uint32_t address = vmm__sr_u32(r);
  uint8_t cfg[VMM__PCI_CFG_SIZE];
  vmm__sr_bytes(r, cfg, sizeof(cfg));
  if (address & ~0x80fffffcu)
    vmm__sr_fail(r, "CONFIG_ADDRESS 0x%08x has reserved bits", address);
  for (uint32_t o = 0; o < VMM__PCI_CFG_SIZE && !vmm__sr_error(r); o++) {
    uint8_t m = writable(&bus->host, o);
    if ((cfg[o] & ~m) != (bus->host.cfg[o] & ~m))
      vmm__sr_fail(r, "host bridge configuration byte 0x%02x is 0x%02x, "
                   "its read-only bits say 0x%02x", o, cfg[o],
                   bus->host.cfg[o]);
  }
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&bus->lock);
  bus->address = address;
  memcpy(bus->host.cfg, cfg, sizeof(cfg));
  pthread_mutex_unlock(&bus->lock);
  return 0;
}
