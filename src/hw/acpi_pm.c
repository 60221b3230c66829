/* src/hw/acpi_pm.c — the ACPI fixed power-management registers: PM1a
 * event block (status, enable), PM1a control block (sleep type, sleep
 * enable) and the 3.579545 MHz PM timer; S5 powers the VM off. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libvmm/io.h>
#include <libvmm/irq.h>

#include "device_internal.h"
#include "error.h"
#include "hw/acpi_pm.h"
#include "irq_internal.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

#define PM_TIMER_HZ 3579545ull
/* PM1_EN bits that exist: TMR, GBL, PWRBTN, SLPBTN, RTC. */
#define PM1_EN_MASK 0x0721u
/* PM1_STS bits that can be set; all are write-1-to-clear. */
#define PM1_STS_MASK 0x8731u
/* PM1_CNT bits that read back: SCI_EN, BM_RLD, SLP_TYP. */
#define PM1_CNT_KEEP 0x1c03u

struct acpi_pm {
  vmm_device_t dev; /* first */
  pthread_mutex_t lock;
  uint16_t sts, en, cnt;
  bool irqchip, sci; /* the SCI line as last set */
  struct timespec t0;
};

/* The SCI is asserted while an enabled event is pending. Locked. */
static void sci_update(struct acpi_pm *pm) {
  bool level = (pm->sts & pm->en) != 0;
  if (!pm->irqchip || level == pm->sci)
    return;
  if (vmm_irq_set(pm->dev.vm, VMM__ACPI_SCI_GSI, level) == 0)
    pm->sci = level;
}

static uint32_t timer_now(struct acpi_pm *pm) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  uint64_t s = (uint64_t)(t.tv_sec - pm->t0.tv_sec);
  int64_t ns = t.tv_nsec - pm->t0.tv_nsec;
  if (ns < 0) {
    s--;
    ns += 1000000000;
  }
  /* 32 bits wide (FADT TMR_VAL_EXT); wraps every ~20 minutes. */
  return (uint32_t)(s * PM_TIMER_HZ + (uint64_t)ns * PM_TIMER_HZ /
                                          1000000000ull);
}

/* The guest wrote SLP_EN. Locked. */
static void sleep_request(struct acpi_pm *pm, unsigned typ) {
  if (typ == VMM__ACPI_SLP_TYP_S5) {
    vmm__vm_request_stop(pm->dev.vm, VMM_STOP_GUEST_EXIT, 0,
                         "the guest powered off (ACPI S5)");
    return;
  }
  /* No other sleep state exists here. The guest polls WAK_STS after
   * SLP_EN, so it is woken at once rather than left spinning. */
  fprintf(stderr, "libvmm: acpi-pm: the guest asked for sleep type %u; "
          "only S5 (type %u) is supported, it wakes at once\n", typ,
          VMM__ACPI_SLP_TYP_S5);
  pm->sts |= VMM__ACPI_PM1_WAK_STS;
}

/* One byte of the block; `tmr` is the timer as read for this access, so
 * that the bytes of one read belong together. */
static uint8_t reg_byte(const struct acpi_pm *pm, uint32_t off, uint32_t tmr) {
  switch (off) {
  case 0: return (uint8_t)pm->sts;
  case 1: return (uint8_t)(pm->sts >> 8);
  case 2: return (uint8_t)pm->en;
  case 3: return (uint8_t)(pm->en >> 8);
  case 4: return (uint8_t)pm->cnt;
  case 5: return (uint8_t)(pm->cnt >> 8);
  case 8: case 9: case 10: case 11: return (uint8_t)(tmr >> (8 * (off - 8)));
  default: return 0xff; /* 6-7 and past the block: nothing there */
  }
}

static int pm_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                 uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct acpi_pm *pm = opaque;
  uint32_t off = (uint32_t)(addr - VMM__ACPI_PM_BASE);
  pthread_mutex_lock(&pm->lock);
  if (!is_write) {
    uint32_t tmr = timer_now(pm);
    for (uint32_t i = 0; i < size; i++)
      data[i] = reg_byte(pm, off + i, tmr);
    pthread_mutex_unlock(&pm->lock);
    return 0;
  }
  bool cnt_written = false;
  uint16_t cnt = pm->cnt;
  for (uint32_t i = 0; i < size; i++) {
    uint32_t o = off + i;
    uint16_t b = data[i];
    switch (o) {
    case 0: pm->sts &= (uint16_t)~(b & PM1_STS_MASK); break;
    case 1: pm->sts &= (uint16_t)~((b << 8) & PM1_STS_MASK); break;
    case 2: pm->en = (uint16_t)((pm->en & 0xff00) | (b & PM1_EN_MASK)); break;
    case 3:
      pm->en = (uint16_t)((pm->en & 0x00ff) | ((b << 8) & PM1_EN_MASK));
      break;
    case 4: cnt = (uint16_t)((cnt & 0xff00) | b); cnt_written = true; break;
    case 5: cnt = (uint16_t)((cnt & 0x00ff) | b << 8); cnt_written = true; break;
    default: break; /* the timer and the gap are read-only */
    }
  }
  if (cnt_written) {
    /* SCI_EN stays set: there is no legacy mode to go back to. */
    pm->cnt = (uint16_t)((cnt & PM1_CNT_KEEP) | VMM__ACPI_PM1_SCI_EN);
    if (cnt & VMM__ACPI_PM1_SLP_EN)
      sleep_request(pm, (cnt & VMM__ACPI_PM1_SLP_TYP_MASK) >>
                            VMM__ACPI_PM1_SLP_TYP_SHIFT);
  }
  sci_update(pm);
  pthread_mutex_unlock(&pm->lock);
  return 0;
}

static void pm_destroy(vmm_device_t *dev) {
  struct acpi_pm *pm = (struct acpi_pm *)dev;
  pthread_mutex_destroy(&pm->lock);
  free(pm);
}

/* The registers, the SCI level and the PM timer's value, which a loaded
 * device continues from (the guest sees no jump while it was saved). */
static int pm_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct acpi_pm *pm = (struct acpi_pm *)dev;
  pthread_mutex_lock(&pm->lock);
  vmm__sw_u16(w, pm->sts);
  vmm__sw_u16(w, pm->en);
  vmm__sw_u16(w, pm->cnt);
  vmm__sw_bool(w, pm->sci);
  vmm__sw_u32(w, timer_now(pm));
  pthread_mutex_unlock(&pm->lock);
  return 0;
}

static int pm_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct acpi_pm *pm = (struct acpi_pm *)dev;
  uint16_t sts = vmm__sr_u16(r), en = vmm__sr_u16(r), cnt = vmm__sr_u16(r);
  bool sci = vmm__sr_bool(r);
  uint32_t tmr = vmm__sr_u32(r);
  if (sts & ~PM1_STS_MASK)
    vmm__sr_fail(r, "PM1_STS 0x%04x has bits that cannot be set", sts);
  if (en & ~PM1_EN_MASK)
    vmm__sr_fail(r, "PM1_EN 0x%04x has bits that do not exist", en);
  if ((cnt & ~PM1_CNT_KEEP) || !(cnt & VMM__ACPI_PM1_SCI_EN))
    vmm__sr_fail(r, "PM1_CNT 0x%04x is not a value it can hold", cnt);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&pm->lock);
  pm->sts = sts;
  pm->en = en;
  pm->cnt = cnt;
  pm->sci = !sci; /* drive the line as saved */
  sci_update(pm);
  /* t0 such that the timer reads `tmr` now. */
  uint64_t back_ns = (uint64_t)tmr * 1000000000ull / PM_TIMER_HZ;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t t0 = (int64_t)now.tv_sec * 1000000000ll + now.tv_nsec -
               (int64_t)back_ns;
  pm->t0.tv_sec = (time_t)(t0 / 1000000000ll);
  pm->t0.tv_nsec = (long)(t0 % 1000000000ll);
  if (pm->t0.tv_nsec < 0) {
    pm->t0.tv_nsec += 1000000000l;
    pm->t0.tv_sec--;
  }
  pthread_mutex_unlock(&pm->lock);
  return 0;
}

static const struct vmm__device_ops pm_ops = {.type = "acpi-pm",
                                              .destroy = pm_destroy,
                                              .save = pm_save,
                                              .load = pm_load};

int vmm__acpi_pm_create(vmm_vm_t *vm, vmm_device_t **out) {
  static const char fn[] = "acpi-pm";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn);
  if (rc < 0)
    return rc;
  struct acpi_pm *pm = calloc(1, sizeof(*pm));
  if (!pm)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  pthread_mutex_init(&pm->lock, NULL);
  pm->dev.vm = vm;
  pm->cnt = VMM__ACPI_PM1_SCI_EN;
  pm->irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;
  clock_gettime(CLOCK_MONOTONIC, &pm->t0);
  rc = vmm_io_register(vm, VMM_IO_PIO, VMM__ACPI_PM_BASE, VMM__ACPI_PM_LEN,
                       pm_io, pm);
  if (rc < 0) {
    pm_destroy(&pm->dev);
    return vmm__error_prefix(rc, fn);
  }
  rc = vmm__device_add(vm, &pm->dev, &pm_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, VMM__ACPI_PM_BASE);
    pm_destroy(&pm->dev);
    return rc;
  }
  if (out)
    *out = &pm->dev;
  return 0;
}
