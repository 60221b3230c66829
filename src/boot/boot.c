/* src/boot/boot.c — vmm_boot(): reading the kernel and initrd, format
 * detection, the e820 map and placement shared by the kernel formats. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot_internal.h"
#include "config/config_internal.h"
#include "error.h"
#include "loader.h"
#include "multiboot.h"
#include "vm_internal.h"

#define ULL(x) ((unsigned long long)(x))

/* ---- format detection ------------------------------------------------- */

static bool is_bzimage(const uint8_t *img, size_t len) {
  return len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa &&
         memcmp(img + 0x202, "HdrS", 4) == 0;
}

static bool is_elf(const uint8_t *img, size_t len) {
  return len >= EI_NIDENT && memcmp(img, ELFMAG, SELFMAG) == 0;
}

int vmm_kernel_detect(const void *image, size_t len) {
  if (!image)
    return vmm__error(VMM_EINVAL, "vmm_kernel_detect: image is NULL");
  const uint8_t *img = image;
  if (is_elf(img, len)) {
    uint32_t entry;
    /* A malformed note table is reported by vmm_boot(); here it only
     * means "not PVH". */
    if (vmm__pvh_find_entry(img, len, &entry) == 1)
      return VMM_KERNEL_PVH;
    if (vmm__multiboot_detect(img, len))
      return VMM_KERNEL_MULTIBOOT;
    return VMM_KERNEL_ELF;
  }
  if (is_bzimage(img, len))
    return VMM_KERNEL_BZIMAGE;
  /* Multiboot's a.out kludge: a header with load addresses, any file. */
  if (vmm__multiboot_detect(img, len))
    return VMM_KERNEL_MULTIBOOT;
  return VMM_KERNEL_UNKNOWN;
}

const char *vmm_kernel_format_name(int format) {
  switch (format) {
  case VMM_KERNEL_BZIMAGE: return "bzimage";
  case VMM_KERNEL_PVH: return "pvh";
  case VMM_KERNEL_MULTIBOOT: return "multiboot";
  case VMM_KERNEL_ELF: return "elf";
  default: return "unknown";
  }
}

/* ---- the memory map --------------------------------------------------- */

static int e820_add(vmm__e820_t *map, size_t cap, size_t *n, uint64_t addr,
                    uint64_t end, uint32_t type) {
  if (end <= addr)
    return 0;
  if (*n > 0) {
    vmm__e820_t *last = &map[*n - 1];
    if (last->type == type && last->addr + last->size == addr) {
      last->size += end - addr;
      return 0;
    }
  }
  if (*n >= cap)
    return vmm__error(VMM_E2BIG,
                      "the guest memory map needs more than %zu entries",
                      cap);
  map[*n].addr = addr;
  map[*n].size = end - addr;
  map[*n].type = type;
  (*n)++;
  return 0;
}

int vmm__boot_e820(vmm_vm_t *vm, vmm__e820_t *map, size_t capacity) {
  if (!vm || !map)
    return vmm__error(VMM_EINVAL, "vmm__boot_e820: NULL argument");
  size_t n = 0;
  int rc = 0;
  pthread_rwlock_rdlock(&vm->lock);
  /* Slots are sorted and never overlap, so the map comes out sorted. */
  for (size_t i = 0; i < vm->mem.count && rc == 0; i++) {
    const struct vmm__memslot *s = vm->mem.slots[i];
    uint64_t a = s->gpa, end = s->gpa + s->size;
    uint32_t type =
        (s->flags & VMM_MEM_READONLY) ? VMM__E820_RESERVED : VMM__E820_RAM;
    /* Below 1 MiB: RAM up to the EBDA, then the EBDA, VGA hole, option
     * ROMs and BIOS area as reserved (the MP table and ACPI tables live
     * there, and kernels expect that hole). */
    if (a < VMM__BOOT_LOWMEM_END) {
      uint64_t e = end < VMM__BOOT_LOWMEM_END ? end : VMM__BOOT_LOWMEM_END;
      rc = e820_add(map, capacity, &n, a, e, type);
      a = e;
    }
    if (rc == 0 && a < VMM__BOOT_HIGH && a < end) {
      uint64_t e = end < VMM__BOOT_HIGH ? end : VMM__BOOT_HIGH;
      rc = e820_add(map, capacity, &n, a, e, VMM__E820_RESERVED);
      a = e;
    }
    if (rc == 0)
      rc = e820_add(map, capacity, &n, a, end, type);
  }
  pthread_rwlock_unlock(&vm->lock);
  return rc ? rc : (int)n;
}

uint64_t vmm__boot_place_high(vmm_vm_t *vm, uint64_t len, uint64_t align,
                              uint64_t floor, uint64_t limit) {
  vmm__e820_t map[VMM__E820_MAX];
  int n = vmm__boot_e820(vm, map, VMM__E820_MAX);
  if (n <= 0 || len == 0 || align == 0 || (align & (align - 1)))
    return 0;
  uint64_t best = 0;
  for (int i = 0; i < n; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t lo = map[i].addr, hi = map[i].addr + map[i].size;
    if (hi > limit)
      hi = limit;
    if (lo < floor)
      lo = floor;
    if (hi < len || hi - len < lo)
      continue;
    uint64_t at = (hi - len) & ~(align - 1);
    if (at >= lo && at > best)
      best = at;
  }
  return best;
}

/* ---- shared helpers of the formats ------------------------------------ */

int vmm__boot_write_cmdline(vmm_vm_t *vm, const char *cmdline, uint64_t max,
                            const char *what) {
  size_t len = strlen(cmdline);
  if (max > VMM__BOOT_CMDLINE_MAX - 1)
    max = VMM__BOOT_CMDLINE_MAX - 1;
  if (len > max)
    return vmm__error(VMM_ENOSPC,
                      "the command line is %zu bytes, longer than the %llu "
                      "bytes %s allows", len, ULL(max), what);
  int rc = vmm_mem_write(vm, VMM__BOOT_CMDLINE, cmdline, len + 1);
  if (rc)
    return vmm__error_prefix(rc, "command line");
  return 0;
}

/* ---- vmm_boot --------------------------------------------------------- */

/* The bytes of a kernel or initrd: the caller's buffer, or a file read
 * into `*owned` (freed by the caller). */
static int get_blob(const void *mem, size_t mem_len, const char *path,
                    const char *what, const uint8_t **data, size_t *len,
                    void **owned) {
  *owned = NULL;
  if (mem) {
    if (mem_len == 0)
      return vmm__error(VMM_EINVAL, "the %s is empty (0 bytes)", what);
    *data = mem;
    *len = mem_len;
    return 0;
  }
  if (!path) {
    *data = NULL;
    *len = 0;
    return 0;
  }
  int fd;
  size_t size;
  int rc = vmm__file_open(path, &fd, &size);
  if (rc)
    return vmm__error_prefix(rc, what);
  if (size == 0) {
    close(fd);
    return vmm__error(VMM_EINVAL, "%s %s: file is empty", what, path);
  }
  rc = vmm__file_read(fd, path, size, owned);
  close(fd);
  if (rc)
    return vmm__error_prefix(rc, what);
  *data = *owned;
  *len = size;
  return 0;
}

/* Plain static ELF: segments at their physical addresses, the command
 * line at VMM__BOOT_CMDLINE, entered in 64-bit mode (ELF64) or 32-bit
 * protected mode (ELF32) with nothing else passed. */
static int boot_elf(vmm_vm_t *vm, vmm_vcpu_t *vcpu,
                    const vmm__boot_req_t *req, vmm_boot_info_t *info) {
  vmm_elf_info_t elf = {.size = sizeof(elf)};
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vmm__elf_load(req->kernel, req->kernel_len, &vm->mem, &elf);
  pthread_rwlock_unlock(&vm->lock);
  if (rc)
    return rc;
  rc = vmm__boot_write_cmdline(vm, req->cmdline, VMM__BOOT_CMDLINE_MAX - 1,
                               "the boot layout");
  if (rc)
    return rc;
  info->entry = elf.entry;
  info->kernel_start = elf.lowest;
  info->kernel_end = elf.highest;
  info->cmdline = VMM__BOOT_CMDLINE;
  if (elf.elf_class == 64)
    return vmm_vcpu_setup_long_mode(vcpu, elf.entry, VMM__BOOT_SETUP,
                                    VMM__BOOT_SETUP);
  if (elf.entry > UINT32_MAX)
    return vmm__error(VMM_ENOEXEC, "ELF32 entry 0x%llx is above 4 GiB",
                      ULL(elf.entry));
  return vmm_vcpu_setup_protected_mode(vcpu, (uint32_t)elf.entry,
                                       (uint32_t)VMM__BOOT_SETUP);
}

int vmm_boot(vmm_vm_t *vm, const vmm_boot_config_t *config,
             vmm_boot_info_t *info) {
  static const char fn[] = "vmm_boot";
  const size_t cfg_end =
      offsetof(vmm_boot_config_t, cmdline) + sizeof(config->cmdline);
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!config)
    return vmm__error(VMM_EINVAL, "%s: config is NULL", fn);
  if (config->size < cfg_end)
    return vmm__error(VMM_EINVAL,
                      "%s: config->size %zu is smaller than "
                      "vmm_boot_config_t (%zu bytes): start from "
                      "VMM_BOOT_CONFIG_INIT", fn, config->size, cfg_end);
  if (info && info->size < sizeof(vmm_boot_info_t))
    return vmm__error(VMM_EINVAL,
                      "%s: info->size %zu is smaller than vmm_boot_info_t "
                      "(%zu bytes)", fn, info->size,
                      sizeof(vmm_boot_info_t));
  if (vmm_vm_state(vm) != VMM_VM_CREATED)
    return vmm__error(VMM_ESTATE, "%s: boot before vmm_vm_start()", fn);
  if (!config->kernel && !config->kernel_path)
    return vmm__error(VMM_EINVAL, "%s: no kernel (kernel and kernel_path "
                      "are both NULL)", fn);
  if (config->format > VMM_KERNEL_ELF)
    return vmm__error(VMM_EINVAL, "%s: unknown kernel format %u", fn,
                      config->format);

  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_t *vcpu0 = vm->max_vcpus > 0 ? vm->vcpus[0] : NULL;
  uint32_t ncpus = 0;
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    ncpus += vm->vcpus[i] != NULL;
  pthread_rwlock_unlock(&vm->lock);
  if (!vcpu0)
    return vmm__error(VMM_EINVAL, "%s: create vCPU 0 before booting", fn);

  vmm__boot_req_t req;
  memset(&req, 0, sizeof(req));
  void *kernel_buf = NULL, *initrd_buf = NULL;
  char *cmdline = NULL;
  vmm_boot_info_t out;
  memset(&out, 0, sizeof(out));
  out.size = sizeof(out);
  int rc = get_blob(config->kernel, config->kernel_len, config->kernel_path,
                    "kernel", &req.kernel, &req.kernel_len, &kernel_buf);
  if (rc)
    goto out;
  rc = get_blob(config->initrd, config->initrd_len, config->initrd_path,
                "initrd", &req.initrd, &req.initrd_len, &initrd_buf);
  if (rc)
    goto out;
  /* A copy the platform step may extend (virtio_mmio.device=...). */
  cmdline = strdup(config->cmdline ? config->cmdline : "");
  if (!cmdline) {
    rc = vmm__error(VMM_ENOMEM, "out of memory for the command line");
    goto out;
  }
  req.cmdline = cmdline;
  req.flags = config->flags;

  uint32_t format = config->format;
  if (format == VMM_KERNEL_UNKNOWN) {
    int f = vmm_kernel_detect(req.kernel, req.kernel_len);
    if (f <= 0) {
      rc = vmm__error(VMM_ENOEXEC,
                      "the kernel (%zu bytes) is none of the formats "
                      "libvmm boots: no bzImage setup header (\"HdrS\" at "
                      "0x202), not an ELF file, no multiboot header",
                      req.kernel_len);
      goto out;
    }
    format = (uint32_t)f;
  }

  /* ---- platform tables: before the formats, which pass the RSDP on
   * and write the (possibly extended) command line. */
  rc = vmm__platform_setup(vm, config->flags, &cmdline, &req.acpi_rsdp,
                           &out.mptable);
  if (rc)
    goto out;
  req.cmdline = cmdline;
  out.acpi_rsdp = req.acpi_rsdp;

  switch (format) {
  case VMM_KERNEL_BZIMAGE:
    rc = vmm__boot_bzimage(vm, &req, &out);
    break;
  case VMM_KERNEL_PVH:
    rc = vmm__boot_pvh(vm, &req, &out);
    break;
  case VMM_KERNEL_ELF:
    rc = boot_elf(vm, vcpu0, &req, &out);
    break;
  case VMM_KERNEL_MULTIBOOT:
    rc = vmm__boot_multiboot(vm, &req, &out);
    break;
  }
  if (rc)
    goto out;
  out.format = format;
  out.cpus = ncpus;
  /* For vmm_vm_describe_json(): what was booted, when it came from files
   * (an image in memory cannot be described). */
  if (!config->kernel && (config->initrd_path || !config->initrd))
    rc = vmm__config_note_boot(vm, config);
  if (rc)
    goto out;
  if (info) {
    size_t size = info->size;
    *info = out;
    info->size = size;
  }
out:
  free(cmdline);
  free(kernel_buf);
  free(initrd_buf);
  if (rc)
    vmm__error_prefix(rc, fn);
  return rc;
}
