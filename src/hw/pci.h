/* src/hw/pci.h — the PCI host bridge (bus 0, configuration mechanism #1)
 * and the PCI function object devices embed to sit on it. */
#ifndef VMM__HW_PCI_H
#define VMM__HW_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <libvmm/libvmm.h>

#define VMM__PCI_CFG_SIZE 256
#define VMM__PCI_BARS 6

/* Configuration space offsets. */
#define VMM__PCI_VENDOR_ID 0x00
#define VMM__PCI_DEVICE_ID 0x02
#define VMM__PCI_COMMAND 0x04
#define VMM__PCI_STATUS 0x06
#define VMM__PCI_REVISION 0x08
#define VMM__PCI_CLASS_PROG 0x09
#define VMM__PCI_HEADER_TYPE 0x0e
#define VMM__PCI_BAR0 0x10
#define VMM__PCI_SUBSYS_VENDOR 0x2c
#define VMM__PCI_SUBSYS_ID 0x2e
#define VMM__PCI_CAP_PTR 0x34
#define VMM__PCI_INT_LINE 0x3c
#define VMM__PCI_INT_PIN 0x3d

#define VMM__PCI_CMD_MEM 0x2u
#define VMM__PCI_CMD_MASTER 0x4u
#define VMM__PCI_CMD_INTX_DISABLE 0x400u
#define VMM__PCI_STATUS_CAP_LIST 0x10u

/* Where libvmm places the BARs of its PCI devices (guests may move them). */
#define VMM__PCI_MMIO_WINDOW 0xe0000000ull

struct vmm__pci_fn;

/*
 * A function on bus 0. The owner fills `cfg` (identity, capabilities)
 * and `wmask` (bits the guest may write, beyond the command register and
 * BARs, which the bus handles), and `bar_size` (power of two, at least
 * 4 KiB; 0 = no BAR; 32-bit memory BARs only).
 * Hooks run on the vCPU thread with the bus lock held.
 */
struct vmm__pci_fn {
  uint8_t cfg[VMM__PCI_CFG_SIZE];
  uint8_t wmask[VMM__PCI_CFG_SIZE];
  uint64_t bar_size[VMM__PCI_BARS];
  /* Guest-visible BAR bases, and where each is on the MMIO bus now
   * (0: not mapped: memory decoding off, or no valid address). */
  uint64_t bar_addr[VMM__PCI_BARS];
  uint64_t bar_mapped[VMM__PCI_BARS];
  /* Maps BAR `bar` at `addr` (map) or takes it off `addr`; returns 0 or
   * a negative code (the BAR then stays unmapped). */
  int (*bar_map)(struct vmm__pci_fn *fn, int bar, uint64_t addr, bool map);
  /* Before a read / after a write of [off, off + len) outside the header
   * (capabilities). May be NULL. */
  void (*cfg_read)(struct vmm__pci_fn *fn, uint32_t off, uint32_t len);
  void (*cfg_write)(struct vmm__pci_fn *fn, uint32_t off, uint32_t len);
  void *opaque;
  uint8_t devfn;
  uint8_t cap_last, cap_end; /* vmm__pci_cap_add() */
};

/* Puts `fn` on the VM's bus 0 (creating the bus and the host bridge at
 * 00:00.0 on first use) at device `slot` (1-31; 0 = the next free one),
 * assigns its BARs in the PCI window and enables memory decoding. Before
 * vmm_vm_start(). */
int vmm__pci_add(vmm_vm_t *vm, struct vmm__pci_fn *fn, uint32_t slot);
/* Takes `fn` off the bus (a failed device creation). */
void vmm__pci_remove(vmm_vm_t *vm, struct vmm__pci_fn *fn);

/* The functions on bus 0 other than the host bridge, in slot order: up
 * to `cap` of them with their devfn, interrupt pin (cfg INT_PIN, 0: none)
 * and the GSI their owner put in the interrupt-line register (the line
 * the function raises; platform tables route the pin to it). Returns how
 * many there are (0 without a bus), which may exceed `cap`. */
struct vmm__pci_intx {
  uint8_t devfn, pin;
  uint32_t gsi;
};
int vmm__pci_list(vmm_vm_t *vm, struct vmm__pci_intx *out, int cap);

/* Saved state of a function (src/snapshot): its configuration bytes and
 * BAR bases. Load checks that the bytes the guest cannot write match this
 * function's and every BAR base is aligned, then moves the BARs there
 * (their owner's bar_map runs). Call without the owner's locks held. */
struct vmm__sw;
struct vmm__sr;
void vmm__pci_fn_save(vmm_vm_t *vm, struct vmm__pci_fn *fn,
                      struct vmm__sw *w);
int vmm__pci_fn_load(vmm_vm_t *vm, struct vmm__pci_fn *fn,
                     struct vmm__sr *r);

/* Builders for the owner, before vmm__pci_add(): appends a capability of
 * `len` bytes (id first) to the list; returns its offset, or 0 if full. */
uint8_t vmm__pci_cap_add(struct vmm__pci_fn *fn, uint8_t id, uint8_t len);

static inline void vmm__pci_set16(uint8_t *cfg, uint32_t off, uint16_t v) {
  cfg[off] = (uint8_t)v;
  cfg[off + 1] = (uint8_t)(v >> 8);
}
static inline void vmm__pci_set32(uint8_t *cfg, uint32_t off, uint32_t v) {
  for (int i = 0; i < 4; i++)
    cfg[off + (uint32_t)i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t vmm__pci_get32(const uint8_t *cfg, uint32_t off) {
  return (uint32_t)cfg[off] | (uint32_t)cfg[off + 1] << 8 |
         (uint32_t)cfg[off + 2] << 16 | (uint32_t)cfg[off + 3] << 24;
}
static inline uint16_t vmm__pci_get16(const uint8_t *cfg, uint32_t off) {
  return (uint16_t)(cfg[off] | cfg[off + 1] << 8);
}

#endif
