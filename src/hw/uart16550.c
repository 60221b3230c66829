/* src/hw/uart16550.c — the 16550A UART: register model and the device. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/device.h>
#include <libvmm/irq.h>

#include "device_internal.h"
#include "error.h"
#include "hw/uart16550.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

/*
 * The model. Transmission is instantaneous: a byte written to THR leaves
 * at once, so THR and the transmitter are always empty again by the time
 * the guest looks (LSR.THRE and TEMT read 1, the TX FIFO never fills) and
 * the THR-empty interrupt follows every write. The character timeout of
 * the receiver is also immediate: with the FIFO on and fewer bytes than
 * the trigger level, IIR says "timeout" at once rather than after four
 * character times. Guests read until LSR.DR clears either way.
 *
 * The interrupt output is not gated by MCR.OUT2 (as QEMU's UART): guests
 * that use interrupts set OUT2 anyway, and the ones that forget still work.
 */

static unsigned rx_capacity(const struct vmm__uart_regs *u) {
  return u->fifo_enabled ? UART_FIFO_SIZE : 1;
}

static void rx_clear(struct vmm__uart_regs *u, struct vmm__uart_effects *fx) {
  u->rx_head = 0;
  u->rx_count = 0;
  if (u->want_input) {
    u->want_input = false;
    fx->input_ready = true;
  }
}

static bool rx_push(struct vmm__uart_regs *u, uint8_t c) {
  if (u->rx_count >= rx_capacity(u))
    return false;
  u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
  u->rx_count++;
  return true;
}

/* Modem input lines: wired back from MCR in loopback mode; otherwise a
 * virtual line that is always connected and ready (CTS, DSR, DCD). */
static uint8_t modem_lines(const struct vmm__uart_regs *u) {
  if (!(u->mcr & UART_MCR_LOOP))
    return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
  uint8_t m = 0;
  if (u->mcr & UART_MCR_RTS)
    m |= UART_MSR_CTS;
  if (u->mcr & UART_MCR_DTR)
    m |= UART_MSR_DSR;
  if (u->mcr & UART_MCR_OUT1)
    m |= UART_MSR_RI;
  if (u->mcr & UART_MCR_OUT2)
    m |= UART_MSR_DCD;
  return m;
}

static void update_msr(struct vmm__uart_regs *u) {
  uint8_t old = u->msr & 0xf0, now = modem_lines(u), delta = 0;
  uint8_t changed = old ^ now;
  if (changed & UART_MSR_CTS)
    delta |= UART_MSR_DCTS;
  if (changed & UART_MSR_DSR)
    delta |= UART_MSR_DDSR;
  if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
    delta |= UART_MSR_TERI; /* trailing edge only */
  if (changed & UART_MSR_DCD)
    delta |= UART_MSR_DDCD;
  u->msr = now | (u->msr & 0x0f) | delta;
}

void vmm__uart_reset(struct vmm__uart_regs *u) {
  memset(u, 0, sizeof(*u));
  u->dll = 12; /* 9600 baud from the PC's 1.8432 MHz clock */
  u->rx_trigger = 1;
  u->msr = modem_lines(u);
}

static uint8_t lsr_value(const struct vmm__uart_regs *u) {
  uint8_t lsr = u->lsr_errors | UART_LSR_THRE | UART_LSR_TEMT;
  if (u->rx_count)
    lsr |= UART_LSR_DR;
  return lsr;
}

uint8_t vmm__uart_iir(const struct vmm__uart_regs *u) {
  uint8_t id = UART_IIR_NO_INT;
  if ((u->ier & UART_IER_RLSI) && u->lsr_errors)
    id = UART_IIR_RLSI;
  else if ((u->ier & UART_IER_RDI) && u->rx_count)
    id = !u->fifo_enabled || u->rx_count >= u->rx_trigger ? UART_IIR_RDI
                                                          : UART_IIR_TIMEOUT;
  else if ((u->ier & UART_IER_THRI) && u->thre_pending)
    id = UART_IIR_THRI;
  else if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
    id = UART_IIR_MSI;
  return id | (u->fifo_enabled ? UART_IIR_FIFO : 0);
}

bool vmm__uart_irq(const struct vmm__uart_regs *u) {
  return !(vmm__uart_iir(u) & UART_IIR_NO_INT);
}

uint8_t vmm__uart_read(struct vmm__uart_regs *u, unsigned offset,
                       struct vmm__uart_effects *fx) {
  bool dlab = u->lcr & UART_LCR_DLAB;
  switch (offset) {
  case UART_RBR: {
    if (dlab)
      return u->dll;
    if (!u->rx_count)
      return 0;
    uint8_t c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
    u->rx_count--;
    if (u->want_input) { /* there is room now for what the back-end held */
      u->want_input = false;
      fx->input_ready = true;
    }
    return c;
  }
  case UART_IER:
    return dlab ? u->dlm : u->ier;
  case UART_IIR: {
    uint8_t iir = vmm__uart_iir(u);
    if ((iir & 0x0f) == UART_IIR_THRI)
      u->thre_pending = false; /* reading IIR clears a THRE interrupt */
    return iir;
  }
  case UART_LCR:
    return u->lcr;
  case UART_MCR:
    return u->mcr;
  case UART_LSR: {
    uint8_t lsr = lsr_value(u);
    u->lsr_errors = 0; /* error bits clear when read */
    return lsr;
  }
  case UART_MSR: {
    uint8_t msr = u->msr;
    u->msr &= 0xf0; /* deltas clear when read */
    return msr;
  }
  case UART_SCR:
    return u->scr;
  }
  return 0xff; /* not a register of this device */
}

void vmm__uart_write(struct vmm__uart_regs *u, unsigned offset, uint8_t value,
                     struct vmm__uart_effects *fx) {
  bool dlab = u->lcr & UART_LCR_DLAB;
  switch (offset) {
  case UART_THR:
    if (dlab) {
      u->dll = value;
    } else if (u->mcr & UART_MCR_LOOP) {
      if (!rx_push(u, value))
        u->lsr_errors |= UART_LSR_OE; /* the byte is lost */
      u->thre_pending = true;
    } else {
      if (fx->n_out < sizeof(fx->out))
        fx->out[fx->n_out++] = value;
      u->thre_pending = true; /* sent: THR empty again */
    }
    break;
  case UART_IER:
    if (dlab) {
      u->dlm = value;
    } else {
      uint8_t old = u->ier;
      u->ier = value & 0x0f;
      /* Enabling the THRE interrupt while THR is empty raises it. */
      if ((u->ier & UART_IER_THRI) && !(old & UART_IER_THRI))
        u->thre_pending = true;
      else if (!(u->ier & UART_IER_THRI))
        u->thre_pending = false;
    }
    break;
  case UART_FCR:
    if ((value & UART_FCR_ENABLE) != u->fifo_enabled) {
      /* Switching the FIFOs on or off empties them. */
      u->fifo_enabled = value & UART_FCR_ENABLE;
      rx_clear(u, fx);
    }
    if (!u->fifo_enabled)
      break; /* the other bits only count with the FIFOs on */
    if (value & UART_FCR_CLEAR_RX)
      rx_clear(u, fx);
    /* CLEAR_TX: the transmitter is always empty. DMA mode: nothing. */
    static const uint8_t trigger[4] = {1, 4, 8, 14};
    u->rx_trigger = trigger[value >> 6];
    break;
  case UART_LCR:
    u->lcr = value;
    break;
  case UART_MCR: {
    bool was_loop = u->mcr & UART_MCR_LOOP;
    u->mcr = value & 0x1f;
    update_msr(u);
    if (was_loop && !(u->mcr & UART_MCR_LOOP) && u->want_input &&
        u->rx_count < rx_capacity(u)) {
      u->want_input = false; /* the line is connected again */
      fx->input_ready = true;
    }
    break;
  }
  case UART_LSR:
  case UART_MSR:
    break; /* read-only (factory test on real parts) */
  case UART_SCR:
    u->scr = value;
    break;
  }
}

size_t vmm__uart_receive(struct vmm__uart_regs *u, const uint8_t *data,
                         size_t len) {
  size_t n = 0;
  if (!(u->mcr & UART_MCR_LOOP))
    while (n < len && rx_push(u, data[n]))
      n++;
  if (n < len)
    u->want_input = true;
  return n;
}

/* ---- the device --------------------------------------------------------- */

#define UART_DEFAULT_PORT 0x3f8
#define UART_DEFAULT_IRQ 4

struct uart {
  vmm_device_t dev; /* first: devices are cast from vmm_device_t */
  pthread_mutex_t lock;
  struct vmm__uart_regs regs;
  vmm_chardev_t *chr;
  uint16_t port;
  uint32_t gsi;
  bool irqchip; /* the VM can take interrupts */
  bool irq_level;
};

/* Drives the interrupt line to the model's level. Lock held: the level
 * set last is always the model's latest. */
static void uart_update_irq(struct uart *u) {
  bool level = vmm__uart_irq(&u->regs);
  if (!u->irqchip || level == u->irq_level)
    return;
  u->irq_level = level;
  if (level)
    vmm__device_count(&u->dev.counters.interrupts, 1);
  int rc = vmm_irq_set(u->dev.vm, u->gsi, level);
  if (rc == VMM_ENOTSUP)
    u->irqchip = false; /* no interrupt controller: polled use only */
}

/* Bus handler (vCPU threads). A wider access is a series of byte accesses
 * to consecutive registers, as the ISA bus splits it for an 8-bit part. */
static int uart_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                   uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct uart *u = opaque;
  struct vmm__uart_effects fx = {.n_out = 0};
  pthread_mutex_lock(&u->lock);
  for (uint32_t i = 0; i < size; i++) {
    uint64_t offset = addr + i - u->port;
    if (offset >= UART_NREGS) {
      if (!is_write)
        data[i] = 0xff; /* past the device: nothing drives the bus */
      continue;
    }
    if (is_write)
      vmm__uart_write(&u->regs, (unsigned)offset, data[i], &fx);
    else
      data[i] = vmm__uart_read(&u->regs, (unsigned)offset, &fx);
  }
  uart_update_irq(u);
  /* Output under the lock keeps bytes in THR order across vCPUs; the
   * back-end never calls into the device while writing. */
  if (fx.n_out && u->chr)
    vmm__chardev_write(u->chr, fx.out, fx.n_out);
  pthread_mutex_unlock(&u->lock);
  /* Outside the lock: a buffer back-end delivers at once, into uart_input. */
  if (fx.input_ready && u->chr)
    vmm__chardev_input_ready(u->chr);
  return 0;
}

/* Input from the back-end (loop thread, or a vmm_chardev_buffer_write()
 * caller). */
static size_t uart_input(void *opaque, const uint8_t *data, size_t len) {
  struct uart *u = opaque;
  pthread_mutex_lock(&u->lock);
  size_t n = vmm__uart_receive(&u->regs, data, len);
  uart_update_irq(u);
  pthread_mutex_unlock(&u->lock);
  return n;
}

static void uart_destroy(vmm_device_t *dev) {
  struct uart *u = (struct uart *)dev;
  if (u->chr)
    vmm__chardev_detach(u->chr);
  pthread_mutex_destroy(&u->lock);
  free(u);
}

static void uart_describe(const vmm_device_t *dev,
                          struct vmm__device_desc *d) {
  const struct uart *u = (const struct uart *)dev;
  d->port = u->port;
  d->irq = u->gsi;
  d->chardev = u->chr;
}

/* The register file and receive FIFO; the port, line and back-end are
 * creation parameters. */
static int uart_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct uart *u = (struct uart *)dev;
  pthread_mutex_lock(&u->lock);
  const struct vmm__uart_regs *g = &u->regs;
  vmm__sw_u8(w, g->ier);
  vmm__sw_u8(w, g->lcr);
  vmm__sw_u8(w, g->mcr);
  vmm__sw_u8(w, g->scr);
  vmm__sw_u8(w, g->dll);
  vmm__sw_u8(w, g->dlm);
  vmm__sw_u8(w, g->lsr_errors);
  vmm__sw_u8(w, g->msr);
  vmm__sw_bool(w, g->fifo_enabled);
  vmm__sw_u8(w, g->rx_trigger);
  vmm__sw_bytes(w, g->rx, sizeof(g->rx));
  vmm__sw_u32(w, g->rx_head);
  vmm__sw_u32(w, g->rx_count);
  vmm__sw_bool(w, g->thre_pending);
  vmm__sw_bool(w, g->want_input);
  vmm__sw_bool(w, u->irq_level);
  pthread_mutex_unlock(&u->lock);
  return 0;
}

static int uart_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct uart *u = (struct uart *)dev;
  struct vmm__uart_regs g;
  memset(&g, 0, sizeof(g));
  g.ier = vmm__sr_u8(r);
  g.lcr = vmm__sr_u8(r);
  g.mcr = vmm__sr_u8(r);
  g.scr = vmm__sr_u8(r);
  g.dll = vmm__sr_u8(r);
  g.dlm = vmm__sr_u8(r);
  g.lsr_errors = vmm__sr_u8(r);
  g.msr = vmm__sr_u8(r);
  g.fifo_enabled = vmm__sr_bool(r);
  g.rx_trigger = vmm__sr_u8(r);
  vmm__sr_bytes(r, g.rx, sizeof(g.rx));
  g.rx_head = vmm__sr_u32(r);
  g.rx_count = vmm__sr_u32(r);
  g.thre_pending = vmm__sr_bool(r);
  g.want_input = vmm__sr_bool(r);
  bool level = vmm__sr_bool(r);
  if (g.ier & 0xf0)
    vmm__sr_fail(r, "IER 0x%02x has reserved bits", g.ier);
  if (g.mcr & 0xe0)
    vmm__sr_fail(r, "MCR 0x%02x has reserved bits", g.mcr);
  if (g.lsr_errors & (uint8_t)~UART_LSR_OE)
    vmm__sr_fail(r, "line errors 0x%02x besides overrun", g.lsr_errors);
  if (g.rx_trigger != 1 && g.rx_trigger != 4 && g.rx_trigger != 8 &&
      g.rx_trigger != 14)
    vmm__sr_fail(r, "receive trigger level %u", g.rx_trigger);
  if (g.rx_head >= UART_FIFO_SIZE || g.rx_count > UART_FIFO_SIZE)
    vmm__sr_fail(r, "receive FIFO head %u, count %u (size %d)", g.rx_head,
                 g.rx_count, UART_FIFO_SIZE);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&u->lock);
  u->regs = g;
  /* Drive the line as saved (the interrupt controller's own state came
   * with the backend's); raising a raised line changes nothing. */
  u->irq_level = !level;
  uart_update_irq(u);
  pthread_mutex_unlock(&u->lock);
  return 0;
}

static const struct vmm__device_ops uart_ops = {
    .type = "uart16550",
    .destroy = uart_destroy,
    .describe = uart_describe,
    .save = uart_save,
    .load = uart_load,
};

/* Copies the caller's config, accepting older and newer struct sizes the
 * way vmm_vm_create() does. */
static int read_config(const vmm_uart_config_t *in, vmm_uart_config_t *cfg) {
  vmm_uart_config_t def = VMM_UART_CONFIG_INIT;
  *cfg = def;
  if (!in)
    return 0;
  if (in->size < offsetof(vmm_uart_config_t, chardev) + sizeof(in->chardev))
    return vmm__error(VMM_EINVAL, "vmm_uart_create: vmm_uart_config_t.size "
                      "%zu is too small", in->size);
  if (in->size > sizeof(*cfg)) {
    const uint8_t *extra = (const uint8_t *)in + sizeof(*cfg);
    for (size_t i = 0; i < in->size - sizeof(*cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "vmm_uart_create: vmm_uart_config_t "
                          "has fields this libvmm does not know set");
  }
  memcpy(cfg, in, sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  return 0;
}

int vmm_uart_create(vmm_vm_t *vm, const vmm_uart_config_t *config,
                    vmm_device_t **out) {
  static const char fn[] = "vmm_uart_create";
  vmm_uart_config_t cfg;
  if (out)
    *out = NULL;
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  int rc = read_config(config, &cfg);
  if (rc < 0)
    return rc;
  if (cfg.reserved)
    return vmm__error(VMM_EINVAL, "%s: reserved is not zero", fn);
  if (cfg.port == 0 || (uint32_t)cfg.port + UART_NREGS > 0x10000)
    return vmm__error(VMM_EINVAL, "%s: port 0x%x: the 8 registers must lie "
                      "in 0x1 .. 0xffff", fn, cfg.port);
  if (cfg.irq >= VMM_IRQ_GSI_MAX)
    return vmm__error(VMM_EINVAL, "%s: irq %u is not below %u", fn, cfg.irq,
                      VMM_IRQ_GSI_MAX);
  if (cfg.chardev) {
    vmm_vm_t *owner = vmm__chardev_vm(cfg.chardev);
    if (!owner)
      return vmm__error(VMM_EBADF, "%s: chardev is not a live character "
                        "back-end", fn);
    if (owner != vm)
      return vmm__error(VMM_EINVAL, "%s: chardev belongs to another VM", fn);
  }
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: devices are added before "
                      "vmm_vm_start()", fn);

  struct uart *u = calloc(1, sizeof(*u));
  if (!u)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  pthread_mutex_init(&u->lock, NULL);
  vmm__uart_reset(&u->regs);
  u->port = cfg.port;
  u->gsi = cfg.irq;
  u->irqchip = (vm->flags & VMM_VM_F_IRQCHIP) != 0;
  u->dev.vm = vm; /* for uart_update_irq before vmm__device_add */

  if (cfg.chardev) {
    rc = vmm__chardev_attach(cfg.chardev, uart_input, u);
    if (rc < 0) {
      vmm__error_prefix(rc, fn);
      goto fail;
    }
    u->chr = cfg.chardev;
  }
  rc = vmm_io_register(vm, VMM_IO_PIO, cfg.port, UART_NREGS, uart_io, u);
  if (rc < 0) {
    vmm__error_prefix(rc, fn);
    goto fail;
  }
  rc = vmm__device_add(vm, &u->dev, &uart_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, cfg.port);
    goto fail;
  }
  if (out)
    *out = &u->dev;
  return 0;

fail:
  if (u->chr)
    vmm__chardev_detach(u->chr);
  pthread_mutex_destroy(&u->lock);
  free(u);
  return rc;
}
