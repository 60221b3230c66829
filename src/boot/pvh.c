/* src/boot/pvh.c — the PVH entry of an uncompressed ELF kernel (vmlinux):
 * the XEN_ELFNOTE_PHYS32_ENTRY note, hvm_start_info, 32-bit entry. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "boot_internal.h"
#include "error.h"
#include "loader.h"
#include "vm_internal.h"

#define ULL(x) ((unsigned long long)(x))

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u

/* struct hvm_start_info (version 1), struct hvm_modlist_entry and struct
 * hvm_memmap_table_entry, as byte offsets (Xen's public start_info.h). */
#define SI_SIZE 56
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_FLAGS 8
#define SI_NR_MODULES 12
#define SI_MODLIST 16
#define SI_CMDLINE 24
#define SI_RSDP 32
#define SI_MEMMAP 40
#define SI_MEMMAP_ENTRIES 48
#define MOD_SIZE 32
#define MEMMAP_ENTRY_SIZE 24
/* Where the module list and memory map go inside VMM__BOOT_TABLES. */
#define PVH_MODLIST VMM__BOOT_TABLES
#define PVH_MEMMAP (VMM__BOOT_TABLES + 0x100)


/* The fields of the ELF header this file reads, either class. */
struct elf_view {
  bool is64;
  uint64_t phoff, shoff;
  uint16_t phentsize, phnum, shentsize, shnum;
};

static int elf_view(const uint8_t *img, size_t len, struct elf_view *v) {
  if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
    return vmm__error(VMM_ENOEXEC, "PVH: not an ELF file");
  if (img[EI_CLASS] != ELFCLASS32 && img[EI_CLASS] != ELFCLASS64)
    return vmm__error(VMM_ENOEXEC, "PVH: ELF class %u is neither 32 nor "
                      "64-bit", img[EI_CLASS]);
  if (img[EI_DATA] != ELFDATA2LSB)
    return vmm__error(VMM_ENOEXEC, "PVH: the ELF file is not "
                      "little-endian");
  v->is64 = img[EI_CLASS] == ELFCLASS64;
  size_t ehsize = v->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (len < ehsize)
    return vmm__error(VMM_ENOEXEC, "PVH: %zu bytes, too short for the ELF "
                      "header", len);
  if (v->is64) {
    v->phoff = vmm__rd64(img + offsetof(Elf64_Ehdr, e_phoff));
    v->shoff = vmm__rd64(img + offsetof(Elf64_Ehdr, e_shoff));
    v->phentsize = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phentsize));
    v->phnum = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phnum));
    v->shentsize = vmm__rd16(img + offsetof(Elf64_Ehdr, e_shentsize));
    v->shnum = vmm__rd16(img + offsetof(Elf64_Ehdr, e_shnum));
  } else {
    v->phoff = vmm__rd32(img + offsetof(Elf32_Ehdr, e_phoff));
    v->shoff = vmm__rd32(img + offsetof(Elf32_Ehdr, e_shoff));
    v->phentsize = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phentsize));
    v->phnum = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phnum));
    v->shentsize = vmm__rd16(img + offsetof(Elf32_Ehdr, e_shentsize));
    v->shnum = vmm__rd16(img + offsetof(Elf32_Ehdr, e_shnum));
  }
  return 0;
}

/* True when [off, off + size) lies inside the image. */
static bool inside(size_t len, uint64_t off, uint64_t size) {
  return off <= len && size <= len - off;
}

/* Walks the notes in [off, off + size): 1 and *entry when the PVH note
 * is there, 0 when not, negative for a malformed note. */
static int scan_notes(const uint8_t *img, uint64_t off, uint64_t size,
                      const char *where, uint32_t *entry) {
  uint64_t at = 0;
  while (size - at >= 12) {
    const uint8_t *n = img + off + at;
    uint32_t namesz = vmm__rd32(n), descsz = vmm__rd32(n + 4),
             type = vmm__rd32(n + 8);
    uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ull;
    uint64_t desc_pad = ((uint64_t)descsz + 3) & ~3ull;
    if (name_pad > size - at - 12 || desc_pad > size - at - 12 - name_pad) {
      /* A truncated note after the PVH one is harmless, but a truncated
       * table is a broken image either way. */
      return vmm__error(VMM_ENOEXEC,
                        "PVH: malformed note in %s at +0x%llx: namesz %u / "
                        "descsz %u run past the end of the notes (0x%llx "
                        "bytes)", where, ULL(at), namesz, descsz, ULL(size));
    }
    const uint8_t *name = n + 12, *desc = n + 12 + name_pad;
    if (namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
        type == XEN_ELFNOTE_PHYS32_ENTRY) {
      uint64_t e;
      if (descsz == 4)
        e = vmm__rd32(desc);
      else if (descsz == 8)
        e = vmm__rd64(desc);
      else
        return vmm__error(VMM_ENOEXEC,
                          "PVH: the XEN_ELFNOTE_PHYS32_ENTRY note in %s has "
                          "a %u-byte value (want 4 or 8)", where, descsz);
      if (e > UINT32_MAX)
        return vmm__error(VMM_ENOEXEC,
                          "PVH: the entry point 0x%llx of "
                          "XEN_ELFNOTE_PHYS32_ENTRY is above 4 GiB", ULL(e));
      *entry = (uint32_t)e;
      return 1;
    }
    at += 12 + name_pad + desc_pad;
  }
  return 0;
}

int vmm__pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry) {
  struct elf_view v;
  int rc = elf_view(img, len, &v);
  if (rc)
    return rc;
  size_t phsize = v.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  size_t shsize = v.is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  bool had_pt_note = false;
  if (v.phnum > 0) {
    if (v.phentsize != phsize ||
        !inside(len, v.phoff, (uint64_t)v.phnum * phsize))
      return vmm__error(VMM_ENOEXEC, "PVH: the program header table lies "
                        "outside the %zu-byte image or has a bad entry size",
                        len);
    for (size_t i = 0; i < v.phnum; i++) {
      const uint8_t *ph = img + v.phoff + i * phsize;
      if (vmm__rd32(ph) != PT_NOTE)
        continue;
      uint64_t off = v.is64 ? vmm__rd64(ph + offsetof(Elf64_Phdr, p_offset))
                            : vmm__rd32(ph + offsetof(Elf32_Phdr, p_offset));
      uint64_t sz = v.is64 ? vmm__rd64(ph + offsetof(Elf64_Phdr, p_filesz))
                           : vmm__rd32(ph + offsetof(Elf32_Phdr, p_filesz));
      if (!inside(len, off, sz))
        return vmm__error(VMM_ENOEXEC, "PVH: PT_NOTE %zu at 0x%llx + "
                          "0x%llx runs past the end of the image", i,
                          ULL(off), ULL(sz));
      had_pt_note = true;
      rc = scan_notes(img, off, sz, "a PT_NOTE segment", entry);
      if (rc)
        return rc;
    }
  }
  /* Sections only when no segment carried notes: a stripped program
   * header table is how some linkers leave notes. */
  if (had_pt_note || v.shnum == 0 || v.shoff == 0)
    return 0;
  if (v.shentsize != shsize ||
      !inside(len, v.shoff, (uint64_t)v.shnum * shsize))
    return vmm__error(VMM_ENOEXEC, "PVH: the section header table lies "
                      "outside the %zu-byte image or has a bad entry size",
                      len);
  for (size_t i = 0; i < v.shnum; i++) {
    const uint8_t *sh = img + v.shoff + i * shsize;
    uint32_t type = vmm__rd32(sh + offsetof(Elf64_Shdr, sh_type));
    if (type != SHT_NOTE)
      continue;
    uint64_t off = v.is64 ? vmm__rd64(sh + offsetof(Elf64_Shdr, sh_offset))
                          : vmm__rd32(sh + offsetof(Elf32_Shdr, sh_offset));
    uint64_t sz = v.is64 ? vmm__rd64(sh + offsetof(Elf64_Shdr, sh_size))
                         : vmm__rd32(sh + offsetof(Elf32_Shdr, sh_size));
    if (!inside(len, off, sz))
      return vmm__error(VMM_ENOEXEC, "PVH: SHT_NOTE section %zu at 0x%llx "
                        "+ 0x%llx runs past the end of the image", i,
                        ULL(off), ULL(sz));
    rc = scan_notes(img, off, sz, "an SHT_NOTE section", entry);
    if (rc)
      return rc;
  }
  return 0;
}

/* [lo, hi) of the PT_LOAD segments, before loading, so that the initrd
 * can be placed first (vmm__elf_load validates the table itself). */
static void load_range(const uint8_t *img, const struct elf_view *v,
                       uint64_t *lo, uint64_t *hi) {
  size_t phsize = v->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  *lo = UINT64_MAX;
  *hi = 0;
  for (size_t i = 0; i < v->phnum; i++) {
    const uint8_t *ph = img + v->phoff + i * phsize;
    if (vmm__rd32(ph) != PT_LOAD)
      continue;
    uint64_t pa = v->is64 ? vmm__rd64(ph + offsetof(Elf64_Phdr, p_paddr))
                          : vmm__rd32(ph + offsetof(Elf32_Phdr, p_paddr));
    uint64_t msz = v->is64 ? vmm__rd64(ph + offsetof(Elf64_Phdr, p_memsz))
                           : vmm__rd32(ph + offsetof(Elf32_Phdr, p_memsz));
    if (msz == 0 || msz > UINT64_MAX - pa)
      continue;
    if (pa < *lo)
      *lo = pa;
    if (pa + msz > *hi)
      *hi = pa + msz;
  }
}

int vmm__pvh_prepare(vmm_vm_t *vm, const vmm__boot_req_t *req,
                     vmm_boot_info_t *info) {
  uint32_t entry = 0;
  int rc = vmm__pvh_find_entry(req->kernel, req->kernel_len, &entry);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return vmm__error(VMM_ENOEXEC,
                      "PVH: the ELF image has no XEN_ELFNOTE_PHYS32_ENTRY "
                      "note (a \"Xen\" note of type 18): the kernel was "
                      "built without CONFIG_PVH");
  struct elf_view v;
  rc = elf_view(req->kernel, req->kernel_len, &v);
  if (rc)
    return rc;
  uint64_t lo, hi;
  load_range(req->kernel, &v, &lo, &hi);
  if (hi == 0)
    return vmm__error(VMM_ENOEXEC, "PVH: the image has no PT_LOAD segment");
  /* Below 1 MiB live the boot structures (boot_internal.h). */
  if (lo < VMM__BOOT_HIGH)
    return vmm__error(VMM_ENOEXEC,
                      "PVH: a segment starts at 0x%llx, below 1 MiB where "
                      "libvmm keeps the boot structures", ULL(lo));
  if (entry < lo || entry >= hi)
    return vmm__error(VMM_ENOEXEC,
                      "PVH: the entry point 0x%x lies outside the loaded "
                      "image [0x%llx, 0x%llx)", entry, ULL(lo), ULL(hi));

  vmm__e820_t map[VMM__E820_MAX];
  int n = vmm__boot_e820(vm, map, VMM__E820_MAX);
  if (n < 0)
    return n;
  uint64_t initrd = 0;
  if (req->initrd) {
    /* Below 4 GiB: the guest starts without paging. Above the kernel if
     * it fits, else between 1 MiB and the kernel. */
    initrd = vmm__boot_place_high(vm, req->initrd_len, VMM_PAGE_SIZE, hi,
                                  1ull << 32);
    if (!initrd)
      initrd = vmm__boot_place_high(vm, req->initrd_len, VMM_PAGE_SIZE,
                                    VMM__BOOT_HIGH, lo);
    if (!initrd)
      return vmm__error(VMM_ENOSPC,
                        "PVH: no room for the %zu-byte initrd in RAM below "
                        "4 GiB outside the kernel's [0x%llx, 0x%llx)",
                        req->initrd_len, ULL(lo), ULL(hi));
  }
  if (strlen(req->cmdline) > VMM__BOOT_CMDLINE_MAX - 1)
    return vmm__error(VMM_ENOSPC, "PVH: the command line is %zu bytes, "
                      "longer than libvmm's %llu-byte area",
                      strlen(req->cmdline), ULL(VMM__BOOT_CMDLINE_MAX - 1));

  vmm_elf_info_t elf = {.size = sizeof(elf)};
  pthread_rwlock_wrlock(&vm->lock);
  rc = vmm__elf_load(req->kernel, req->kernel_len, &vm->mem, &elf);
  pthread_rwlock_unlock(&vm->lock);
  if (rc)
    return vmm__error_prefix(rc, "PVH");

  uint8_t si[SI_SIZE] = {0};
  vmm__wr32(si + SI_MAGIC, HVM_START_MAGIC);
  vmm__wr32(si + SI_VERSION, 1);
  vmm__wr64(si + SI_CMDLINE, VMM__BOOT_CMDLINE);
  vmm__wr64(si + SI_RSDP, req->acpi_rsdp);
  vmm__wr64(si + SI_MEMMAP, PVH_MEMMAP);
  vmm__wr32(si + SI_MEMMAP_ENTRIES, (uint32_t)n);
  uint8_t mod[MOD_SIZE] = {0};
  if (req->initrd) {
    vmm__wr32(si + SI_NR_MODULES, 1);
    vmm__wr64(si + SI_MODLIST, PVH_MODLIST);
    vmm__wr64(mod, initrd);
    vmm__wr64(mod + 8, req->initrd_len);
  }
  uint8_t mm[VMM__E820_MAX * MEMMAP_ENTRY_SIZE] = {0};
  for (int i = 0; i < n; i++) {
    vmm__wr64(mm + i * MEMMAP_ENTRY_SIZE, map[i].addr);
    vmm__wr64(mm + i * MEMMAP_ENTRY_SIZE + 8, map[i].size);
    vmm__wr32(mm + i * MEMMAP_ENTRY_SIZE + 16, map[i].type);
  }
  rc = vmm_mem_write(vm, VMM__BOOT_PARAMS, si, sizeof(si));
  if (rc == 0)
    rc = vmm_mem_write(vm, PVH_MODLIST, mod, sizeof(mod));
  if (rc == 0)
    rc = vmm_mem_write(vm, PVH_MEMMAP, mm, (size_t)n * MEMMAP_ENTRY_SIZE);
  if (rc == 0 && req->initrd)
    rc = vmm_mem_write(vm, initrd, req->initrd, req->initrd_len);
  if (rc == 0)
    rc = vmm__boot_write_cmdline(vm, req->cmdline, VMM__BOOT_CMDLINE_MAX - 1,
                                 "libvmm's area");
  if (rc)
    return vmm__error_prefix(rc, "PVH");

  info->entry = entry;
  info->kernel_start = elf.lowest;
  info->kernel_end = elf.highest;
  info->initrd_start = initrd;
  info->initrd_end = req->initrd ? initrd + req->initrd_len : 0;
  info->params = VMM__BOOT_PARAMS;
  info->cmdline = VMM__BOOT_CMDLINE;
  info->e820_entries = (uint32_t)n;
  return 0;
}

/* 32-bit protected mode, paging off, flat segments, EBX = start_info, and
 * TR a 32-bit TSS with base 0 and limit 0x67 as the PVH ABI states. */
int vmm__boot_pvh(vmm_vm_t *vm, const vmm__boot_req_t *req,
                  vmm_boot_info_t *info) {
  int rc = vmm__pvh_prepare(vm, req, info);
  if (rc)
    return rc;
  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_t *vcpu = vm->max_vcpus ? vm->vcpus[0] : NULL;
  pthread_rwlock_unlock(&vm->lock);
  if (!vcpu)
    return vmm__error(VMM_EINVAL, "PVH: no vCPU 0");
  rc = vmm_vcpu_setup_protected_mode(vcpu, (uint32_t)info->entry,
                                     (uint32_t)VMM__BOOT_SETUP);
  if (rc)
    return rc;
  vmm_sregs_t s;
  rc = vmm_vcpu_get_sregs(vcpu, &s);
  if (rc)
    return rc;
  memset(&s.tr, 0, sizeof(s.tr));
  s.tr.limit = 0x67;
  s.tr.type = 0xb; /* busy 32-bit TSS */
  s.tr.present = 1;
  rc = vmm_vcpu_set_sregs(vcpu, &s);
  if (rc)
    return rc;
  vmm_regs_t r;
  rc = vmm_vcpu_get_regs(vcpu, &r);
  if (rc)
    return rc;
  r.rbx = VMM__BOOT_PARAMS;
  r.rflags = VMM_X86_RFLAGS_FIXED;
  return vmm_vcpu_set_regs(vcpu, &r);
}
