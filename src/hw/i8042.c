/* src/hw/i8042.c — the i8042 keyboard controller, as far as its reset line. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "irq_internal.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64 /* write: command; read: status */

/* Status register. */
#define STAT_OBF 0x01  /* output buffer full: data to read at 0x60 */
#define STAT_IBF 0x02  /* input buffer full: controller busy */
#define STAT_SYS 0x04  /* system flag: self-test passed */
#define STAT_CMD 0x08  /* the last write was to the command port */
#define STAT_UNLOCKED 0x10 /* keyboard not inhibited */

/* Commands. */
#define CMD_WRITE_OUTPUT 0xd1 /* next data byte goes to the output port */
#define CMD_PULSE_FIRST 0xf0  /* 0xf0-0xff pulse output bits 0-3 low... */
#define OUTPUT_RESET 0x01     /* ...where output bit 0 is the CPU reset line */

/*
 * No keyboard or mouse: the controller never has data (OBF stays 0,
 * 0x60 reads 0) and is never busy (IBF 0), so drivers find it idle and
 * give up on devices. What it does have is the reset line: command 0xFE
 * (any of 0xF0-0xFE with bit 0 clear, the "pulse output port" commands)
 * or command 0xD1 followed by an output-port value with bit 0 clear
 * resets the machine, which here stops the VM with VMM_STOP_RESET.
 */
struct i8042 {
  vmm_device_t dev; /* first */
  pthread_mutex_t lock;
  uint8_t status;
  uint8_t pending_cmd; /* a command waiting for its data byte, or 0 */
};

static void i8042_reset(struct i8042 *k, const char *what) {
  vmm__vm_request_stop(k->dev.vm, VMM_STOP_RESET, 0, what);
}

static int i8042_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                    uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct i8042 *k = opaque;
  char reset[96] = "";
  /* Only the first byte counts: the next port is not this device's. */
  pthread_mutex_lock(&k->lock);
  if (addr == I8042_CMD_PORT) {
    if (!is_write) {
      data[0] = k->status;
    } else {
      uint8_t cmd = data[0];
      k->status |= STAT_CMD;
      k->pending_cmd = 0;
      if (cmd == CMD_WRITE_OUTPUT)
        k->pending_cmd = cmd;
      else if (cmd >= CMD_PULSE_FIRST && !(cmd & OUTPUT_RESET))
        snprintf(reset, sizeof(reset), "the guest pulsed the i8042 reset "
                 "line (command 0x%02X)", cmd);
    }
  } else if (addr == I8042_DATA_PORT) {
    if (!is_write) {
      data[0] = 0; /* nothing to read */
    } else {
      k->status &= (uint8_t)~STAT_CMD;
      if (k->pending_cmd == CMD_WRITE_OUTPUT && !(data[0] & OUTPUT_RESET))
        snprintf(reset, sizeof(reset), "the guest cleared the reset bit of "
                 "the i8042 output port (0x%02X)", data[0]);
      k->pending_cmd = 0;
    }
  }
  pthread_mutex_unlock(&k->lock);
  if (!is_write)
    for (uint32_t i = 1; i < size; i++)
      data[i] = 0xff; /* the ports after 0x60 / 0x64 are not this device */
  if (reset[0])
    i8042_reset(k, reset);
  return 0;
}

static void i8042_destroy(vmm_device_t *dev) {
  struct i8042 *k = (struct i8042 *)dev;
  pthread_mutex_destroy(&k->lock);
  free(k);
}

static int i8042_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct i8042 *k = (struct i8042 *)dev;
  pthread_mutex_lock(&k->lock);
  vmm__sw_u8(w, k->status);
  vmm__sw_u8(w, k->pending_cmd);
  pthread_mutex_unlock(&k->lock);
  return 0;
}

static int i8042_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct i8042 *k = (struct i8042 *)dev;
  uint8_t status = vmm__sr_u8(r), cmd = vmm__sr_u8(r);
  /* OBF and IBF never get set by this model; SYS and UNLOCKED always are. */
  if ((status & ~(STAT_SYS | STAT_UNLOCKED | STAT_CMD)) != 0 ||
      (status & (STAT_SYS | STAT_UNLOCKED)) != (STAT_SYS | STAT_UNLOCKED))
    vmm__sr_fail(r, "status 0x%02x is not one this model has", status);
  if (cmd != 0 && cmd != CMD_WRITE_OUTPUT)
    vmm__sr_fail(r, "pending command 0x%02x", cmd);
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&k->lock);
  k->status = status;
  k->pending_cmd = cmd;
  pthread_mutex_unlock(&k->lock);
  return 0;
}

static const struct vmm__device_ops i8042_ops = {
    .type = "i8042",
    .destroy = i8042_destroy,
    .save = i8042_save,
    .load = i8042_load,
};

int vmm_i8042_create(vmm_vm_t *vm, vmm_device_t **out) {
  static const char fn[] = "vmm_i8042_create";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn);
  if (rc < 0)
    return rc;
  struct i8042 *k = calloc(1, sizeof(*k));
  if (!k)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  pthread_mutex_init(&k->lock, NULL);
  k->status = STAT_SYS | STAT_UNLOCKED;
  k->dev.vm = vm;
  rc = vmm_io_register(vm, VMM_IO_PIO, I8042_DATA_PORT, 1, i8042_io, k);
  if (rc < 0) {
    vmm__error_prefix(rc, fn);
    goto fail;
  }
  rc = vmm_io_register(vm, VMM_IO_PIO, I8042_CMD_PORT, 1, i8042_io, k);
  if (rc < 0) {
    vmm__error_prefix(rc, fn);
    vmm_io_unregister(vm, VMM_IO_PIO, I8042_DATA_PORT);
    goto fail;
  }
  rc = vmm__device_add(vm, &k->dev, &i8042_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, I8042_DATA_PORT);
    vmm_io_unregister(vm, VMM_IO_PIO, I8042_CMD_PORT);
    goto fail;
  }
  if (out)
    *out = &k->dev;
  return 0;

fail:
  pthread_mutex_destroy(&k->lock);
  free(k);
  return rc;
}
