/* src/hw/fw_cfg.c — QEMU's firmware configuration device (fw_cfg), legacy
 * port I/O interface (selector 0x510, data 0x511). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

#define FW_CFG_DEFAULT_PORT 0x510

/* Selector keys (QEMU docs/specs/fw_cfg.rst and its fw_cfg.h). */
#define KEY_SIGNATURE 0x00
#define KEY_ID 0x01
#define KEY_RAM_SIZE 0x03
#define KEY_NB_CPUS 0x05
#define KEY_KERNEL_SIZE 0x08
#define KEY_INITRD_SIZE 0x0b
#define KEY_MAX_CPUS 0x0f
#define KEY_KERNEL_DATA 0x11
#define KEY_INITRD_DATA 0x12
#define KEY_CMDLINE_SIZE 0x14
#define KEY_CMDLINE_DATA 0x15
#define KEY_FILE_DIR 0x19
#define KEY_FILE_FIRST 0x20
/* Bit 14 asked for write access and bit 15 selects the arch-specific
 * space; neither makes a different generic item readable. */
#define KEY_WRITE_CHANNEL 0x4000
#define KEY_INVALID 0xffff

#define ID_TRADITIONAL 1u /* bit 1 (DMA) stays clear: no DMA at 0x514 */
#define FILE_NAME_MAX 56  /* with the NUL */
#define FILE_ENTRY_SIZE 64
#define MAX_FILES 1024    /* keys 0x20 .. 0x41f, far below 0x4000 */

struct fw_file {
  char name[FILE_NAME_MAX];
  uint8_t *data;
  uint32_t len;
};

/*
 * One selector and one offset per device, shared by every vCPU like the
 * hardware register is: two vCPUs interleaving their reads get each
 * other's bytes, as on QEMU. The lock only keeps the state consistent.
 * Static items are built at creation; the vCPU count and RAM size are
 * computed when the guest selects them, so they describe the VM as it
 * runs (vCPUs and regions created after the device count).
 */
struct fw_cfg {
  vmm_device_t dev; /* first */
  pthread_mutex_t lock;
  uint16_t port;
  uint16_t key;           /* current selector */
  uint32_t offset;        /* into the current item */
  const uint8_t *cur;     /* the current item's bytes (NULL: reads 0) */
  uint32_t cur_len;
  uint8_t scratch[8];     /* computed items live here while selected */
  uint8_t id[4], size_cmdline[4], size_kernel[4], size_initrd[4];
  char *cmdline;          /* with its NUL; NULL when none */
  uint32_t cmdline_len;
  uint8_t *kernel, *initrd;
  uint32_t kernel_len, initrd_len;
  struct fw_file *files;
  uint32_t nfiles;
  uint8_t *dir;           /* big-endian count + 64-byte entries */
  uint32_t dir_len;
};

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t count_vcpus(vmm_vm_t *vm) {
  uint32_t n = 0;
  pthread_rwlock_rdlock(&vm->lock);
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    n += vm->vcpus[i] != NULL;
  pthread_rwlock_unlock(&vm->lock);
  return n;
}

/* RAM as QEMU counts it: the bytes of writable regions (ROM is not). */
static uint64_t ram_size(vmm_vm_t *vm) {
  uint64_t total = 0;
  pthread_rwlock_rdlock(&vm->lock);
  for (size_t i = 0; i < vm->mem.count; i++)
    if (!(vm->mem.slots[i]->flags & VMM_MEM_READONLY))
      total += vm->mem.slots[i]->size;
  pthread_rwlock_unlock(&vm->lock);
  return total;
}

/* Points the data register at item `key` (lock held). */
static void select_item(struct fw_cfg *f, uint16_t key) {
  static const uint8_t signature[4] = {'Q', 'E', 'M', 'U'};
  f->key = key;
  f->offset = 0;
  f->cur = NULL;
  f->cur_len = 0;
  uint16_t k = key & (uint16_t)~KEY_WRITE_CHANNEL;
  switch (k) {
  case KEY_SIGNATURE:
    f->cur = signature;
    f->cur_len = sizeof(signature);
    return;
  case KEY_ID:
    f->cur = f->id;
    f->cur_len = 4;
    return;
  case KEY_RAM_SIZE: {
    uint64_t ram = ram_size(f->dev.vm);
    put_le32(f->scratch, (uint32_t)ram);
    put_le32(f->scratch + 4, (uint32_t)(ram >> 32));
    f->cur = f->scratch;
    f->cur_len = 8;
    return;
  }
  case KEY_NB_CPUS:
  case KEY_MAX_CPUS: {
    /* 16-bit items in QEMU. MAX_CPUS: no hot-plug, so the same number. */
    uint32_t n = count_vcpus(f->dev.vm);
    f->scratch[0] = (uint8_t)n;
    f->scratch[1] = (uint8_t)(n >> 8);
    f->cur = f->scratch;
    f->cur_len = 2;
    return;
  }
  case KEY_CMDLINE_SIZE:
    f->cur = f->size_cmdline;
    f->cur_len = 4;
    return;
  case KEY_CMDLINE_DATA:
    f->cur = (const uint8_t *)f->cmdline;
    f->cur_len = f->cmdline_len;
    return;
  case KEY_KERNEL_SIZE:
    if (f->kernel) {
      f->cur = f->size_kernel;
      f->cur_len = 4;
    }
    return;
  case KEY_KERNEL_DATA:
    f->cur = f->kernel;
    f->cur_len = f->kernel_len;
    return;
  case KEY_INITRD_SIZE:
    if (f->initrd) {
      f->cur = f->size_initrd;
      f->cur_len = 4;
    }
    return;
  case KEY_INITRD_DATA:
    f->cur = f->initrd;
    f->cur_len = f->initrd_len;
    return;
  case KEY_FILE_DIR:
    f->cur = f->dir;
    f->cur_len = f->dir_len;
    return;
  }
  if (k >= KEY_FILE_FIRST && (uint32_t)(k - KEY_FILE_FIRST) < f->nfiles) {
    const struct fw_file *file = &f->files[k - KEY_FILE_FIRST];
    f->cur = file->data;
    f->cur_len = file->len;
  }
  /* Anything else (arch-specific keys included) reads as zeros, as
   * QEMU's unassigned keys do. */
}

static uint8_t read_data(struct fw_cfg *f) {
  if (!f->cur || f->offset >= f->cur_len)
    return 0; /* past the end: 0, and the offset stops growing */
  return f->cur[f->offset++];
}

/*
 * The two ports as one range. Selector: a 16-bit write at `port` (a 1-byte
 * write there is ignored, as QEMU accepts only the full width); it reads
 * all-ones, being write-only. Data: each byte of a read at port + 1 is the
 * next byte of the item (so a wider IN gets a substring, as on the MMIO
 * variant); writes there are ignored, as on QEMU since 2.4.
 */
static int fw_cfg_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                     uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct fw_cfg *f = opaque;
  pthread_mutex_lock(&f->lock);
  if (addr == f->port) {
    if (is_write && size == 2)
      select_item(f, (uint16_t)(data[0] | data[1] << 8));
    else if (!is_write)
      memset(data, 0xff, size);
  } else if (!is_write) {
    for (uint32_t i = 0; i < size; i++)
      data[i] = read_data(f);
  }
  pthread_mutex_unlock(&f->lock);
  return 0;
}

static void fw_cfg_free(struct fw_cfg *f) {
  for (uint32_t i = 0; i < f->nfiles; i++)
    free(f->files[i].data);
  free(f->files);
  free(f->dir);
  free(f->cmdline);
  free(f->kernel);
  free(f->initrd);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

static void fw_cfg_destroy(vmm_device_t *dev) {
  fw_cfg_free((struct fw_cfg *)dev);
}

static void fw_cfg_describe(const vmm_device_t *dev,
                            struct vmm__device_desc *d) {
  const struct fw_cfg *f = (const struct fw_cfg *)dev;
  d->port = f->port;
  d->cmdline = f->cmdline;
}

/* The selector and the read position; the items are creation parameters
 * (computed ones are kept as the guest saw them when it selected them). */
static int fw_cfg_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct fw_cfg *f = (struct fw_cfg *)dev;
  pthread_mutex_lock(&f->lock);
  vmm__sw_u16(w, f->key);
  vmm__sw_u32(w, f->offset);
  vmm__sw_bytes(w, f->scratch, sizeof(f->scratch));
  pthread_mutex_unlock(&f->lock);
  return 0;
}

static int fw_cfg_load(vmm_device_t *dev, struct vmm__sr *r) {
  struct fw_cfg *f = (struct fw_cfg *)dev;
  uint16_t key = vmm__sr_u16(r);
  uint32_t offset = vmm__sr_u32(r);
  uint8_t scratch[sizeof(f->scratch)];
  vmm__sr_bytes(r, scratch, sizeof(scratch));
  int rc = vmm__sr_finish(r);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&f->lock);
  select_item(f, key);
  uint32_t len = f->cur_len;
  if (offset <= len) {
    f->offset = offset;
    memcpy(f->scratch, scratch, sizeof(scratch));
  }
  pthread_mutex_unlock(&f->lock);
  if (offset > len)
    return vmm__error(VMM_EINVAL, "fw-cfg: read position %u past item 0x%x "
                      "of %u bytes", offset, key, len);
  return 0;
}

static const struct vmm__device_ops fw_cfg_ops = {
    .type = "fw-cfg",
    .destroy = fw_cfg_destroy,
    .describe = fw_cfg_describe,
    .save = fw_cfg_save,
    .load = fw_cfg_load,
};

/* Copies the caller's config, accepting older and newer struct sizes the
 * way the other device configs do. */
static int read_config(const vmm_fw_cfg_config_t *in,
                       vmm_fw_cfg_config_t *cfg, const char *fn) {
  if (!in) {
    *cfg = (vmm_fw_cfg_config_t)VMM_FW_CFG_CONFIG_INIT;
    return 0;
  }
  if (in->size < offsetof(vmm_fw_cfg_config_t, initrd_len) +
                     sizeof(in->initrd_len))
    return vmm__error(VMM_EINVAL, "%s: vmm_fw_cfg_config_t.size %zu is too "
                      "small", fn, in->size);
  if (in->size > sizeof(*cfg)) {
    const uint8_t *extra = (const uint8_t *)in + sizeof(*cfg);
    for (size_t i = 0; i < in->size - sizeof(*cfg); i++)
      if (extra[i])
        return vmm__error(VMM_EVERSION, "%s: vmm_fw_cfg_config_t has fields "
                          "this libvmm does not know set", fn);
  }
  memcpy(cfg, in, sizeof(*cfg));
  cfg->size = sizeof(*cfg);
  return 0;
}

static int copy_blob(const void *src, size_t len, uint8_t **dst,
                     uint32_t *dst_len, const char *what, const char *fn) {
  if (len > UINT32_MAX)
    return vmm__error(VMM_E2BIG, "%s: the %s (%zu bytes) is larger than the "
                      "32-bit size fw_cfg can describe", fn, what, len);
  *dst = malloc(len ? len : 1);
  if (!*dst)
    return vmm__error(VMM_ENOMEM, "%s: out of memory for the %s", fn, what);
  if (len)
    memcpy(*dst, src, len);
  *dst_len = (uint32_t)len;
  return 0;
}

int vmm_fw_cfg_create(vmm_vm_t *vm, const vmm_fw_cfg_config_t *config,
                      vmm_device_t **out) {
  static const char fn[] = "vmm_fw_cfg_create";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn);
  if (rc < 0)
    return rc;
  vmm_fw_cfg_config_t cfg;
  rc = read_config(config, &cfg, fn);
  if (rc < 0)
    return rc;
  if (cfg.reserved16 || cfg.reserved32)
    return vmm__error(VMM_EINVAL, "%s: reserved fields are not zero", fn);
  if (cfg.port == 0)
    cfg.port = FW_CFG_DEFAULT_PORT;
  if (cfg.port == 0xffff)
    return vmm__error(VMM_EINVAL, "%s: port 0x%x: the data port would lie "
                      "past 0xffff", fn, cfg.port);
  if ((cfg.kernel_len && !cfg.kernel) || (cfg.initrd_len && !cfg.initrd))
    return vmm__error(VMM_EINVAL, "%s: a length without data", fn);

  struct fw_cfg *f = calloc(1, sizeof(*f));
  if (!f)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  pthread_mutex_init(&f->lock, NULL);
  f->dev.vm = vm;
  f->port = cfg.port;
  f->key = KEY_INVALID;
  put_le32(f->id, ID_TRADITIONAL);
  if (cfg.cmdline) {
    rc = copy_blob(cfg.cmdline, strlen(cfg.cmdline) + 1,
                   (uint8_t **)&f->cmdline, &f->cmdline_len, "command line",
                   fn);
    if (rc < 0)
      goto fail;
  }
  put_le32(f->size_cmdline, f->cmdline_len);
  if (cfg.kernel &&
      (rc = copy_blob(cfg.kernel, cfg.kernel_len, &f->kernel, &f->kernel_len,
                      "kernel", fn)) < 0)
    goto fail;
  put_le32(f->size_kernel, f->kernel_len);
  if (cfg.initrd &&
      (rc = copy_blob(cfg.initrd, cfg.initrd_len, &f->initrd, &f->initrd_len,
                      "initrd", fn)) < 0)
    goto fail;
  put_le32(f->size_initrd, f->initrd_len);
  f->dir = calloc(1, 4); /* an empty directory: count 0 */
  if (!f->dir) {
    rc = vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
    goto fail;
  }
  f->dir_len = 4;

  rc = vmm_io_register(vm, VMM_IO_PIO, cfg.port, 2, fw_cfg_io, f);
  if (rc < 0) {
    vmm__error_prefix(rc, fn);
    goto fail;
  }
  rc = vmm__device_add(vm, &f->dev, &fw_cfg_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, cfg.port);
    goto fail;
  }
  if (out)
    *out = &f->dev;
  return 0;

fail:
  fw_cfg_free(f);
  return rc;
}

int vmm_fw_cfg_add_file(vmm_device_t *dev, const char *name,
                        const void *data, size_t len) {
  static const char fn[] = "vmm_fw_cfg_add_file";
  if (!vmm__handle_valid(dev, VMM__H_DEVICE))
    return vmm__error(VMM_EBADF, "%s: not a live device handle", fn);
  if (dev->ops != &fw_cfg_ops)
    return vmm__error(VMM_EINVAL, "%s: the device is a %s, not fw-cfg", fn,
                      dev->ops->type);
  if (!name || !name[0] || strlen(name) >= FILE_NAME_MAX)
    return vmm__error(VMM_EINVAL, "%s: the name must be 1..%d bytes", fn,
                      FILE_NAME_MAX - 1);
  if (len && !data)
    return vmm__error(VMM_EINVAL, "%s: data is NULL", fn);
  /* Items are fixed once the guest runs: no lock is needed against the
   * vCPUs' reads of the directory if it cannot change under them. */
  if (vmm_vm_state(dev->vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: files are added before "
                      "vmm_vm_start()", fn);
  struct fw_cfg *f = (struct fw_cfg *)dev;
  pthread_mutex_lock(&f->lock);
  int rc = 0;
  for (uint32_t i = 0; i < f->nfiles; i++)
    if (strcmp(f->files[i].name, name) == 0) {
      rc = vmm__error(VMM_EEXIST, "%s: \"%s\" exists", fn, name);
      goto out;
    }
  if (f->nfiles == MAX_FILES) {
    rc = vmm__error(VMM_ENOSPC, "%s: %d files is the most", fn, MAX_FILES);
    goto out;
  }
  struct fw_file file = {{0}, NULL, 0};
  snprintf(file.name, sizeof(file.name), "%s", name);
  rc = copy_blob(data, len, &file.data, &file.len, "file", fn);
  if (rc < 0)
    goto out;
  struct fw_file *files =
      realloc(f->files, (f->nfiles + 1) * sizeof(*files));
  uint32_t dir_len = 4 + (f->nfiles + 1) * FILE_ENTRY_SIZE;
  uint8_t *dir = calloc(1, dir_len);
  if (files)
    f->files = files;
  if (!files || !dir) {
    free(dir);
    free(file.data);
    rc = vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
    goto out;
  }
  f->files[f->nfiles++] = file;
  /* The directory, big-endian as QEMU writes it: count, then per file
   * size, select, reserved and the NUL-padded name. */
  put_be32(dir, f->nfiles);
  for (uint32_t i = 0; i < f->nfiles; i++) {
    uint8_t *e = dir + 4 + i * FILE_ENTRY_SIZE;
    uint16_t key = (uint16_t)(KEY_FILE_FIRST + i);
    put_be32(e, f->files[i].len);
    e[4] = (uint8_t)(key >> 8);
    e[5] = (uint8_t)key;
    memcpy(e + 8, f->files[i].name, FILE_NAME_MAX);
  }
  free(f->dir);
  f->dir = dir;
  f->dir_len = dir_len;
  /* A selection made before (by a host test driving the ports) must not
   * keep pointing at the freed directory. */
  if (f->key != KEY_INVALID)
    select_item(f, f->key);
out:
  pthread_mutex_unlock(&f->lock);
  return rc;
}
