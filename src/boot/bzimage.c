/* src/boot/bzimage.c — the Linux x86 boot protocol for bzImage kernels:
 * setup header checks, boot_params (the "zero page"), the 64-bit entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "boot_internal.h"
#include "bzimage.h"
#include "error.h"
#include "vm_internal.h"

#define ULL(x) ((unsigned long long)(x))


int vmm__bzimage_parse(const uint8_t *img, size_t len,
                       struct vmm__bzimage *bz) {
  memset(bz, 0, sizeof(*bz));
  if (len < BZ_HDR_MAGIC + 4)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: %zu bytes, too short for a setup header "
                      "(the \"HdrS\" magic is at 0x202)", len);
  uint16_t boot_flag = vmm__rd16(img + BZ_BOOT_FLAG);
  if (boot_flag != 0xaa55)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: boot_flag at 0x1fe is 0x%04x, not 0xaa55",
                      boot_flag);
  if (memcmp(img + BZ_HDR_MAGIC, "HdrS", 4) != 0)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: no \"HdrS\" magic at 0x202 (a kernel older "
                      "than boot protocol 2.00, or not a kernel)");
  if (len < BZ_HDR_MIN_END)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: %zu bytes, too short for the whole setup "
                      "header (0x%x bytes)", len, BZ_HDR_MIN_END);
  bz->version = vmm__rd16(img + BZ_VERSION);
  if (bz->version < BZ_PROTOCOL_MIN)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: boot protocol %u.%02u is too old: libvmm "
                      "needs %u.%02u or newer (Linux 3.8+, which announces "
                      "its 64-bit entry in xloadflags)", bz->version >> 8,
                      bz->version & 0xff, BZ_PROTOCOL_MIN >> 8,
                      BZ_PROTOCOL_MIN & 0xff);
  if (bz->version > BZ_PROTOCOL_MAX)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: boot protocol %u.%02u is newer than the "
                      "newest libvmm knows (%u.%02u)", bz->version >> 8,
                      bz->version & 0xff, BZ_PROTOCOL_MAX >> 8,
                      BZ_PROTOCOL_MAX & 0xff);
  /* The header's own idea of its end: 0x202 + the jump's offset byte. */
  bz->hdr_end = 0x202u + img[0x201];
  if (bz->hdr_end < BZ_HDR_MIN_END || bz->hdr_end > BZ_HDR_MAX_END)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: the setup header ends at 0x%x (0x202 + the "
                      "byte at 0x201), outside [0x%x, 0x%x] for protocol "
                      "%u.%02u", bz->hdr_end, BZ_HDR_MIN_END, BZ_HDR_MAX_END,
                      bz->version >> 8, bz->version & 0xff);

  unsigned sects = img[BZ_SETUP_SECTS];
  if (sects == 0)
    sects = 4; /* documented: 0 means the historical 4 */
  bz->setup_size = (sects + 1u) * 512u;
  if (len <= bz->setup_size)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: truncated: %zu bytes, but setup_sects %u "
                      "puts the kernel at 0x%x", len, sects, bz->setup_size);
  if (bz->hdr_end > bz->setup_size)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: the setup header (to 0x%x) is longer than "
                      "the setup code (0x%x bytes)", bz->hdr_end,
                      bz->setup_size);
  bz->kernel_size = len - bz->setup_size;
  uint64_t syssize = (uint64_t)vmm__rd32(img + BZ_SYSSIZE) * 16;
  if (syssize == 0)
    return vmm__error(VMM_ENOEXEC, "bzImage: syssize is 0");
  if (syssize > bz->kernel_size)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: truncated: syssize says 0x%llx bytes of "
                      "kernel after the setup code, the file has 0x%zx",
                      ULL(syssize), bz->kernel_size);
  /* Bytes past syssize (a signature appended by a signing tool) are not
   * part of the kernel. */
  bz->kernel_size = (size_t)syssize;

  bz->loadflags = img[BZ_LOADFLAGS];
  if (!(bz->loadflags & BZ_LOADED_HIGH))
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: loadflags 0x%02x lacks LOADED_HIGH: a zImage "
                      "(kernel at 0x10000) is not supported", bz->loadflags);
  bz->xloadflags = vmm__rd16(img + BZ_XLOADFLAGS);
  if (!(bz->xloadflags & BZ_XLF_KERNEL_64))
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: xloadflags 0x%04x lacks XLF_KERNEL_64: a "
                      "32-bit kernel (libvmm uses the 64-bit entry)",
                      bz->xloadflags);
  bz->relocatable = img[BZ_RELOCATABLE] != 0;
  bz->kernel_alignment = vmm__rd32(img + BZ_KERNEL_ALIGNMENT);
  if (bz->relocatable &&
      (bz->kernel_alignment < VMM_PAGE_SIZE ||
       (bz->kernel_alignment & (bz->kernel_alignment - 1))))
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: kernel_alignment 0x%x is not a power of two "
                      ">= 4096", bz->kernel_alignment);
  bz->pref_address = vmm__rd64(img + BZ_PREF_ADDRESS);
  if (bz->pref_address & (VMM_PAGE_SIZE - 1))
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: pref_address 0x%llx is not page aligned",
                      ULL(bz->pref_address));
  bz->init_size = vmm__rd32(img + BZ_INIT_SIZE);
  if (bz->init_size < bz->kernel_size)
    return vmm__error(VMM_ENOEXEC,
                      "bzImage: init_size 0x%x is smaller than the kernel "
                      "it must hold (0x%zx bytes)", bz->init_size,
                      bz->kernel_size);
  bz->initrd_addr_max = vmm__rd32(img + BZ_INITRD_ADDR_MAX);
  bz->cmdline_size = vmm__rd32(img + BZ_CMDLINE_SIZE);
  return 0;
}

/* True when [addr, addr + len) lies in RAM entries of `map`. */
static bool in_ram(const vmm__e820_t *map, int n, uint64_t addr,
                   uint64_t len) {
  for (int i = 0; i < n; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t end = map[i].addr + map[i].size;
    if (addr >= map[i].addr && addr < end)
      return len <= end - addr;
  }
  return false;
}

/* The kernel's load address: pref_address when the kernel fits there
 * (it then runs without relocating), else — relocatable kernels only —
 * the lowest kernel_alignment boundary above 1 MiB where init_size bytes
 * of RAM are free, below 4 GiB (the identity map of the 64-bit entry). */
static int choose_load(const struct vmm__bzimage *bz, const vmm__e820_t *map,
                       int n, uint64_t *load) {
  uint64_t need = bz->init_size;
  if (bz->pref_address >= VMM__BOOT_HIGH &&
      in_ram(map, n, bz->pref_address, need) &&
      bz->pref_address + need <= (1ull << 32)) {
    *load = bz->pref_address;
    return 0;
  }
  if (!bz->relocatable)
    return vmm__error(VMM_ENOSPC,
                      "bzImage: the kernel is not relocatable and needs "
                      "init_size 0x%x bytes of RAM at pref_address 0x%llx",
                      bz->init_size, ULL(bz->pref_address));
  for (int i = 0; i < n; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t lo = map[i].addr, hi = map[i].addr + map[i].size;
    if (hi > (1ull << 32))
      hi = 1ull << 32;
    if (lo < VMM__BOOT_HIGH)
      lo = VMM__BOOT_HIGH;
    uint64_t at = (lo + bz->kernel_alignment - 1) &
                  ~(uint64_t)(bz->kernel_alignment - 1);
    if (at < hi && hi - at >= need) {
      *load = at;
      return 0;
    }
  }
  return vmm__error(VMM_ENOSPC,
                    "bzImage: no RAM for the kernel: it needs init_size "
                    "0x%x (%u MiB) contiguous bytes at a 0x%x boundary "
                    "between 1 MiB and 4 GiB", bz->init_size,
                    (bz->init_size + 0xfffff) >> 20, bz->kernel_alignment);
}

/* The initrd as high as it can go below initrd_addr_max (and, when the
 * kernel can take it, anywhere in RAM after that), above the kernel if
 * possible, else between 1 MiB and the kernel. */
static int place_initrd(vmm_vm_t *vm, const struct vmm__bzimage *bz,
                        size_t len, uint64_t kstart, uint64_t kend,
                        uint64_t *at) {
  uint64_t limit = (uint64_t)bz->initrd_addr_max + 1;
  uint64_t limits[2] = {limit, UINT64_MAX};
  int tries = (bz->xloadflags & BZ_XLF_CAN_BE_LOADED_ABOVE_4G) ? 2 : 1;
  for (int t = 0; t < tries; t++) {
    *at = vmm__boot_place_high(vm, len, VMM_PAGE_SIZE, kend, limits[t]);
    if (*at)
      return 0;
    *at = vmm__boot_place_high(vm, len, VMM_PAGE_SIZE, VMM__BOOT_HIGH,
                               kstart < limits[t] ? kstart : limits[t]);
    if (*at)
      return 0;
  }
  return vmm__error(VMM_ENOSPC,
                    "bzImage: no room for the %zu-byte initrd in RAM below "
                    "initrd_addr_max 0x%x%s, outside the kernel's "
                    "[0x%llx, 0x%llx)", len, bz->initrd_addr_max,
                    tries == 2 ? " or above it" : "", ULL(kstart),
                    ULL(kend));
}

int vmm__bzimage_prepare(vmm_vm_t *vm, const vmm__boot_req_t *req,
                         vmm_boot_info_t *info) {
  struct vmm__bzimage bz;
  int rc = vmm__bzimage_parse(req->kernel, req->kernel_len, &bz);
  if (rc)
    return rc;
  vmm__e820_t map[VMM__E820_MAX];
  int n = vmm__boot_e820(vm, map, VMM__E820_MAX);
  if (n < 0)
    return n;
  if (!in_ram(map, n, VMM__BOOT_PARAMS, VMM__BOOT_LOW_FREE - VMM__BOOT_PARAMS))
    return vmm__error(VMM_ENOSPC,
                      "bzImage: guest RAM must cover [0x%llx, 0x%llx) for "
                      "boot_params, page tables and the command line",
                      ULL(VMM__BOOT_PARAMS), ULL(VMM__BOOT_LOW_FREE));

  /* Everything is decided before any byte of guest memory is written. */
  uint64_t load = 0;
  rc = choose_load(&bz, map, n, &load);
  if (rc)
    return rc;
  uint64_t kend = load + bz.init_size;
  size_t cmdlen = strlen(req->cmdline);
  uint64_t cmdmax = bz.cmdline_size < VMM__BOOT_CMDLINE_MAX - 1
                        ? bz.cmdline_size
                        : VMM__BOOT_CMDLINE_MAX - 1;
  if (cmdlen > cmdmax)
    return vmm__error(VMM_ENOSPC,
                      "bzImage: the command line is %zu bytes, longer than "
                      "the kernel's cmdline_size (%u)%s", cmdlen,
                      bz.cmdline_size,
                      cmdmax < bz.cmdline_size ? " or libvmm's area" : "");
  uint64_t initrd = 0;
  if (req->initrd) {
    rc = place_initrd(vm, &bz, req->initrd_len, load, kend, &initrd);
    if (rc)
      return rc;
  }

  /* boot_params: zeroed, with the image's setup header copied in and the
   * loader's fields filled. */
  uint8_t *bp = calloc(1, BZ_PARAMS_SIZE);
  if (!bp)
    return vmm__error(VMM_ENOMEM, "out of memory for boot_params");
  const uint8_t *img = req->kernel;
  memcpy(bp + BZ_SETUP_SECTS, img + BZ_SETUP_SECTS,
         bz.hdr_end - BZ_SETUP_SECTS);
  vmm__wr16(bp + BZ_VID_MODE, 0xffff); /* "normal": no video mode change */
  bp[BZ_TYPE_OF_LOADER] = 0xff;   /* undefined boot loader */
  /* No real-mode setup runs, so the heap and segment flags mean nothing;
   * LOADED_HIGH stays, as the kernel is where the header says. */
  bp[BZ_LOADFLAGS] = (uint8_t)(bz.loadflags & (BZ_LOADED_HIGH | 0x20));
  vmm__wr32(bp + BZ_CODE32_START, (uint32_t)load);
  vmm__wr32(bp + BZ_CMD_LINE_PTR, (uint32_t)VMM__BOOT_CMDLINE);
  if (req->initrd) {
    vmm__wr32(bp + BZ_RAMDISK_IMAGE, (uint32_t)initrd);
    vmm__wr32(bp + BZ_RAMDISK_SIZE, (uint32_t)req->initrd_len);
    vmm__wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
    vmm__wr32(bp + BP_EXT_RAMDISK_SIZE,
              (uint32_t)((uint64_t)req->initrd_len >> 32));
  }
  vmm__wr64(bp + BP_ACPI_RSDP_ADDR, req->acpi_rsdp);
  bp[BP_E820_ENTRIES] = (uint8_t)n;
  uint64_t high_kib = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *e = bp + BP_E820_TABLE + 20 * i;
    vmm__wr64(e, map[i].addr);
    vmm__wr64(e + 8, map[i].size);
    vmm__wr32(e + 16, map[i].type);
    if (map[i].type == VMM__E820_RAM && map[i].addr >= VMM__BOOT_HIGH)
      high_kib += map[i].size >> 10;
  }
  /* alt_mem_k: KiB above 1 MiB, for kernels that look before e820. */
  vmm__wr32(bp + BP_ALT_MEM_K, high_kib > UINT32_MAX ? UINT32_MAX
                                                 : (uint32_t)high_kib);

  /* The kernel and initrd first (the big copies), then the small
   * structures; each write is checked whole before it copies. */
  rc = vmm_mem_write(vm, load, img + bz.setup_size, bz.kernel_size);
  if (rc == 0 && req->initrd)
    rc = vmm_mem_write(vm, initrd, req->initrd, req->initrd_len);
  if (rc == 0)
    rc = vmm_mem_write(vm, VMM__BOOT_PARAMS, bp, BZ_PARAMS_SIZE);
  free(bp);
  if (rc == 0)
    rc = vmm__boot_write_cmdline(vm, req->cmdline, cmdmax, "cmdline_size");
  if (rc)
    return rc;

  info->entry = load + 0x200;
  info->kernel_start = load;
  info->kernel_end = kend;
  info->initrd_start = initrd;
  info->initrd_end = req->initrd ? initrd + req->initrd_len : 0;
  info->params = VMM__BOOT_PARAMS;
  info->cmdline = VMM__BOOT_CMDLINE;
  info->e820_entries = (uint32_t)n;
  return 0;
}

/* The 64-bit entry: paging on with an identity map of 4 GiB (the long-mode
 * helper's tables at VMM__BOOT_SETUP), a GDT whose __BOOT_CS (0x10) is
 * flat 64-bit code and __BOOT_DS (0x18) flat data, interrupts off,
 * RSI = boot_params. */
static int enter64(vmm_vcpu_t *vcpu, uint64_t entry) {
  vmm_vm_t *vm = vcpu->vm;
  int rc = vmm_vcpu_setup_long_mode(vcpu, entry, VMM__BOOT_SETUP,
                                    VMM__BOOT_SETUP);
  if (rc)
    return rc;
  /* The helper's GDT puts code at 0x08; Linux documents 0x10/0x18. Copy
   * its TSS descriptor too, so TR's selector names a real descriptor. */
  uint64_t gdt[6] = {0};
  uint64_t helper[8];
  rc = vmm_mem_read(vm, VMM__BOOT_SETUP + VMM_LM_GDT_OFFSET, helper,
                    sizeof(helper));
  if (rc)
    return rc;
  gdt[BZ_BOOT_CS / 8] = helper[VMM_LM_SEL_KCODE / 8];
  gdt[BZ_BOOT_DS / 8] = helper[VMM_LM_SEL_KDATA / 8];
  gdt[BZ_BOOT_TSS / 8] = helper[VMM_LM_SEL_TSS / 8];
  gdt[BZ_BOOT_TSS / 8 + 1] = helper[VMM_LM_SEL_TSS / 8 + 1];
  rc = vmm_mem_write(vm, VMM__BOOT_SCRATCH, gdt, sizeof(gdt));
  if (rc)
    return rc;
  vmm_sregs_t s;
  rc = vmm_vcpu_get_sregs(vcpu, &s);
  if (rc)
    return rc;
  s.cs.selector = BZ_BOOT_CS;
  s.ds.selector = s.es.selector = s.fs.selector = s.gs.selector =
      s.ss.selector = BZ_BOOT_DS;
  s.tr.selector = BZ_BOOT_TSS;
  s.gdt.base = VMM__BOOT_SCRATCH;
  s.gdt.limit = sizeof(gdt) - 1;
  rc = vmm_vcpu_set_sregs(vcpu, &s);
  if (rc)
    return rc;
  vmm_regs_t r;
  rc = vmm_vcpu_get_regs(vcpu, &r);
  if (rc)
    return rc;
  r.rsi = VMM__BOOT_PARAMS;
  r.rflags = VMM_X86_RFLAGS_FIXED; /* IF clear */
  return vmm_vcpu_set_regs(vcpu, &r);
}

int vmm__boot_bzimage(vmm_vm_t *vm, const vmm__boot_req_t *req,
                      vmm_boot_info_t *info) {
  int rc = vmm__bzimage_prepare(vm, req, info);
  if (rc)
    return rc;
  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_t *vcpu = vm->max_vcpus ? vm->vcpus[0] : NULL;
  pthread_rwlock_unlock(&vm->lock);
  if (!vcpu)
    return vmm__error(VMM_EINVAL, "bzImage: no vCPU 0");
  rc = enter64(vcpu, info->entry);
  return rc ? vmm__error_prefix(rc, "bzImage entry") : 0;
}
