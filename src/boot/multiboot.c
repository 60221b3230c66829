/* src/boot/multiboot.c — multiboot v1 (specification 0.6.96): the header,
 * ELF and a.out-kludge kernels, the module, the info block, the entry. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "error.h"
#include "loader.h"
#include "multiboot.h"
#include "vm_internal.h"

#define ULL(x) ((unsigned long long)(x))
#define FOUR_GIB (1ull << 32)
#define PAGE 4096ull
#define MODULE_STRING "initrd"
#define LOADER_NAME "libvmm"

/* Images are untrusted: little-endian reads from unaligned bytes. */

/* ---- the header --------------------------------------------------------- */

int vmm__multiboot_find(const uint8_t *img, size_t len, vmm__mb_header_t *h) {
  size_t limit = len < VMM__MB_SEARCH ? len : VMM__MB_SEARCH;
  long bad = -1; /* offset of a magic with a wrong checksum */
  const char *why = "";
  for (size_t off = 0; off + 4 <= limit; off += 4) {
    if (vmm__rd32(img + off) != VMM__MB_MAGIC)
      continue;
    if (off + 12 > limit) {
      if (bad < 0) {
        bad = (long)off;
        why = "its flags and checksum lie past the end of the image or of "
              "the first 8192 bytes (truncated)";
      }
      continue;
    }
    uint32_t flags = vmm__rd32(img + off + 4), sum = vmm__rd32(img + off + 8);
    if ((uint32_t)(VMM__MB_MAGIC + flags + sum) != 0) {
      if (bad < 0) {
        bad = (long)off;
        why = "magic + flags + checksum is not 0 (bad checksum)";
      }
      continue;
    }
    memset(h, 0, sizeof(*h));
    h->offset = (uint32_t)off;
    h->flags = flags;
    if (flags & VMM__MB_F_AOUT_KLUDGE) {
      if (off + 32 > len)
        return vmm__error(VMM_ENOEXEC,
                          "multiboot header at offset 0x%zx sets flag bit 16 "
                          "(address fields) but the %zu-byte image ends "
                          "before them (truncated)", off, len);
      h->header_addr = vmm__rd32(img + off + 12);
      h->load_addr = vmm__rd32(img + off + 16);
      h->load_end_addr = vmm__rd32(img + off + 20);
      h->bss_end_addr = vmm__rd32(img + off + 24);
      h->entry_addr = vmm__rd32(img + off + 28);
    }
    return 1;
  }
  if (bad >= 0)
    return vmm__error(VMM_ENOEXEC, "multiboot magic 0x%x at offset 0x%lx but "
                      "no valid header: %s", VMM__MB_MAGIC, bad, why);
  return 0;
}

bool vmm__multiboot_detect(const void *image, size_t len) {
  /* The same test as vmm__multiboot_find(), without leaving a message for
   * a caller that goes on to try other formats. */
  if (!image)
    return false;
  const uint8_t *img = image;
  size_t limit = len < VMM__MB_SEARCH ? len : VMM__MB_SEARCH;
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    uint32_t flags = vmm__rd32(img + off + 4);
    if (vmm__rd32(img + off) == VMM__MB_MAGIC &&
        (uint32_t)(VMM__MB_MAGIC + flags + vmm__rd32(img + off + 8)) == 0)
      return !(flags & VMM__MB_F_AOUT_KLUDGE) || off + 32 <= len;
  }
  return false;
}

/* ---- the memory map -------------------------------------------------------
 */

/* True when [gpa, gpa + len) lies in RAM of the map (adjacent RAM entries
 * count as one range). */
static bool in_ram(const vmm__e820_t *map, size_t n, uint64_t gpa,
                   uint64_t len) {
  uint64_t end = gpa + len;
  for (size_t i = 0; i < n && gpa < end; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t s = map[i].addr, e = map[i].addr + map[i].size;
    if (s <= gpa && gpa < e)
      gpa = e; /* covered up to e; the map is sorted */
  }
  return gpa >= end;
}

/* The end of the run of adjacent RAM entries containing `gpa`; 0 if
 * `gpa` is not RAM. */
static uint64_t ram_run_end(const vmm__e820_t *map, size_t n, uint64_t gpa) {
  uint64_t end = 0;
  for (size_t i = 0; i < n; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t s = map[i].addr, e = map[i].addr + map[i].size;
    if ((s <= gpa && gpa < e) || (end && s == end))
      end = e;
    else if (end)
      break;
  }
  return end;
}

/* The lowest page-aligned place for `len` bytes at or above `floor`, in
 * RAM below 4 GiB (the module addresses are 32-bit); 0 if none. */
static uint64_t place_after(const vmm__e820_t *map, size_t n, uint64_t len,
                            uint64_t floor) {
  for (size_t i = 0; i < n; i++) {
    if (map[i].type != VMM__E820_RAM)
      continue;
    uint64_t s = map[i].addr, e = map[i].addr + map[i].size;
    if (e > FOUR_GIB)
      e = FOUR_GIB;
    if (s < floor)
      s = floor;
    s = (s + PAGE - 1) & ~(PAGE - 1);
    if (s < e && len <= e - s)
      return s;
  }
  return 0;
}

/* ---- the kernel ----------------------------------------------------------- */

struct segment {
  uint64_t paddr, vaddr, offset, filesz, memsz;
  size_t index;
};

static int by_paddr(const void *a, const void *b) {
  const struct segment *x = a, *y = b;
  return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/* Where the kernel may go: RAM below 4 GiB, clear of the loader's areas. */
static int check_kernel_range(const vmm__e820_t *map, size_t n, uint64_t gpa,
                              uint64_t len, const char *what) {
  if (gpa >= FOUR_GIB || len > FOUR_GIB - gpa)
    return vmm__error(VMM_ENOEXEC, "%s [0x%llx, 0x%llx) reaches past 4 GiB",
                      what, ULL(gpa), ULL(gpa + len));
  if (gpa < VMM__MB_KERNEL_MIN)
    return vmm__error(VMM_ENOEXEC, "%s [0x%llx, 0x%llx) starts below 0x%llx, "
                      "where libvmm keeps the boot information and command "
                      "line", what, ULL(gpa), ULL(gpa + len),
                      ULL(VMM__MB_KERNEL_MIN));
  if (!in_ram(map, n, gpa, len))
    return vmm__error(VMM_ENOSPC, "%s [0x%llx, 0x%llx) is not inside the "
                      "guest's RAM", what, ULL(gpa), ULL(gpa + len));
  return 0;
}

static int add_chunk(vmm__mb_plan_t *p, uint64_t gpa, uint64_t len,
                     const uint8_t *src, const char *what) {
  if (len == 0)
    return 0;
  if ((p->nchunks & 15) == 0) {
    vmm__mb_chunk_t *c =
        realloc(p->chunks, (p->nchunks + 16) * sizeof(*p->chunks));
    if (!c)
      return vmm__error(VMM_ENOMEM, "multiboot: out of memory");
    p->chunks = c;
  }
  p->chunks[p->nchunks++] = (vmm__mb_chunk_t){gpa, len, src, what};
  return 0;
}

/* The ELF image's PT_LOAD segments, validated. */
static int plan_elf(const uint8_t *img, size_t len, const vmm__e820_t *map,
                    size_t nmap, vmm__mb_plan_t *p) {
  if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
    return vmm__error(VMM_ENOEXEC, "multiboot: the kernel is not ELF and its "
                      "header does not set flag bit 16 (load addresses), so "
                      "there is no way to know where it goes");
  bool is64 = img[EI_CLASS] == ELFCLASS64;
  if ((img[EI_CLASS] != ELFCLASS32 && !is64) || img[EI_DATA] != ELFDATA2LSB)
    return vmm__error(VMM_ENOEXEC, "multiboot: ELF class %u / data %u is not "
                      "a little-endian ELF32 or ELF64", img[EI_CLASS],
                      img[EI_DATA]);
  size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (len < ehsize)
    return vmm__error(VMM_ENOEXEC, "multiboot: the %zu-byte image is too "
                      "short for its ELF header (truncated)", len);
  uint16_t type = vmm__rd16(img + offsetof(Elf32_Ehdr, e_type));
  uint16_t machine = vmm__rd16(img + offsetof(Elf32_Ehdr, e_machine));
  if (type != ET_EXEC)
    return vmm__error(VMM_ENOEXEC, "multiboot: ELF e_type %u is not ET_EXEC",
                      type);
  if (machine != EM_386 && machine != EM_X86_64)
    return vmm__error(VMM_ENOEXEC, "multiboot: ELF e_machine %u is not x86",
                      machine);
  uint64_t entry, phoff;
  uint16_t phentsize, phnum;
  if (is64) {
    entry = vmm__rd64(img + offsetof(Elf64_Ehdr, e_entry));
    phoff = vmm__rd64(img + offsetof(Elf64_Ehdr, e_phoff));
    phentsize = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phentsize));
    phnum = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phnum));
  } else {
    entry = vmm__rd32(img + offsetof(Elf32_Ehdr, e_entry));
    phoff = vmm__rd32(img + offsetof(Elf32_Ehdr, e_phoff));
    phentsize = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phentsize));
    phnum = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phnum));
  }
  size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (phentsize != phsize || phnum == 0 || phnum == PN_XNUM)
    return vmm__error(VMM_ENOEXEC, "multiboot: ELF e_phentsize %u / e_phnum "
                      "%u is not a usable program header table", phentsize,
                      phnum);
  if (phoff > len || (uint64_t)phnum * phsize > len - phoff)
    return vmm__error(VMM_ENOEXEC, "multiboot: the ELF program header table "
                      "at 0x%llx (%u entries) extends past the end of the "
                      "%zu-byte image (truncated)", ULL(phoff), phnum, len);

  struct segment *segs = calloc(phnum, sizeof(*segs));
  if (!segs)
    return vmm__error(VMM_ENOMEM, "multiboot: out of memory");
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; i < phnum; i++) {
    const uint8_t *ph = img + phoff + i * phsize;
    if (vmm__rd32(ph) != PT_LOAD)
      continue;
    struct segment *s = &segs[n];
    s->index = i;
    if (is64) {
      s->offset = vmm__rd64(ph + offsetof(Elf64_Phdr, p_offset));
      s->vaddr = vmm__rd64(ph + offsetof(Elf64_Phdr, p_vaddr));
      s->paddr = vmm__rd64(ph + offsetof(Elf64_Phdr, p_paddr));
      s->filesz = vmm__rd64(ph + offsetof(Elf64_Phdr, p_filesz));
      s->memsz = vmm__rd64(ph + offsetof(Elf64_Phdr, p_memsz));
    } else {
      s->offset = vmm__rd32(ph + offsetof(Elf32_Phdr, p_offset));
      s->vaddr = vmm__rd32(ph + offsetof(Elf32_Phdr, p_vaddr));
      s->paddr = vmm__rd32(ph + offsetof(Elf32_Phdr, p_paddr));
      s->filesz = vmm__rd32(ph + offsetof(Elf32_Phdr, p_filesz));
      s->memsz = vmm__rd32(ph + offsetof(Elf32_Phdr, p_memsz));
    }
    if (s->memsz == 0)
      continue;
    char what[64];
    snprintf(what, sizeof(what), "multiboot: ELF segment %zu", i);
    if (s->filesz > s->memsz) {
      rc = vmm__error(VMM_ENOEXEC, "%s: p_filesz 0x%llx > p_memsz 0x%llx",
                      what, ULL(s->filesz), ULL(s->memsz));
      goto out;
    }
    if (s->filesz && (s->offset > len || s->filesz > len - s->offset)) {
      rc = vmm__error(VMM_ENOEXEC, "%s: file bytes [0x%llx, +0x%llx) extend "
                      "past the end of the %zu-byte image (truncated)", what,
                      ULL(s->offset), ULL(s->filesz), len);
      goto out;
    }
    if ((rc = check_kernel_range(map, nmap, s->paddr, s->memsz, what)) < 0)
      goto out;
    n++;
  }
  if (n == 0) {
    rc = vmm__error(VMM_ENOEXEC, "multiboot: the ELF image has no PT_LOAD "
                    "segment to load");
    goto out;
  }
  qsort(segs, n, sizeof(*segs), by_paddr);
  for (size_t i = 1; i < n; i++)
    if (segs[i].paddr < segs[i - 1].paddr + segs[i - 1].memsz) {
      rc = vmm__error(VMM_ENOEXEC, "multiboot: ELF segments %zu and %zu "
                      "overlap in physical memory", segs[i - 1].index,
                      segs[i].index);
      goto out;
    }
  /* e_entry is virtual; kernels linked high give the physical one or a
   * virtual one inside a segment, which is translated as GRUB does. */
  bool found = false;
  for (size_t i = 0; i < n && !found; i++)
    if (entry >= segs[i].paddr && entry - segs[i].paddr < segs[i].memsz)
      found = true;
  for (size_t i = 0; i < n && !found; i++)
    if (entry >= segs[i].vaddr && entry - segs[i].vaddr < segs[i].memsz) {
      entry = entry - segs[i].vaddr + segs[i].paddr;
      found = true;
    }
  if (!found) {
    rc = vmm__error(VMM_ENOEXEC, "multiboot: ELF entry point 0x%llx is in "
                    "no loaded segment", ULL(entry));
    goto out;
  }
  p->entry = (uint32_t)entry;
  p->kernel_start = segs[0].paddr;
  p->kernel_end = segs[n - 1].paddr + segs[n - 1].memsz;
  for (size_t i = 0; i < n && rc == 0; i++) {
    /* A segment with nothing in the file may name any offset: the
     * pointer is formed only for bytes that were checked to be there. */
    rc = add_chunk(p, segs[i].paddr, segs[i].filesz,
                   segs[i].filesz ? img + segs[i].offset : NULL,
                   "kernel segment");
    if (rc == 0)
      rc = add_chunk(p, segs[i].paddr + segs[i].filesz,
                     segs[i].memsz - segs[i].filesz, NULL, "kernel bss");
  }
out:
  free(segs);
  return rc;
}

/* Flag bit 16: the header says where the image goes. */
static int plan_aout(const uint8_t *img, size_t len, const vmm__mb_header_t *h,
                     const vmm__e820_t *map, size_t nmap,
                     vmm__mb_plan_t *p) {
  if (h->load_addr > h->header_addr)
    return vmm__error(VMM_ENOEXEC, "multiboot: load_addr 0x%x is above "
                      "header_addr 0x%x", h->load_addr, h->header_addr);
  uint32_t before = h->header_addr - h->load_addr;
  if (before > h->offset)
    return vmm__error(VMM_ENOEXEC, "multiboot: header_addr - load_addr = 0x%x "
                      "but the header is only 0x%x bytes into the file",
                      before, h->offset);
  uint64_t file_off = h->offset - before;
  uint64_t load_len;
  if (h->load_end_addr == 0) {
    load_len = len - file_off; /* the rest of the file */
  } else {
    if (h->load_end_addr <= h->load_addr)
      return vmm__error(VMM_ENOEXEC, "multiboot: load_end_addr 0x%x is not "
                        "above load_addr 0x%x", h->load_end_addr,
                        h->load_addr);
    load_len = (uint64_t)h->load_end_addr - h->load_addr;
    if (load_len > len - file_off)
      return vmm__error(VMM_ENOEXEC, "multiboot: load_addr..load_end_addr is "
                        "0x%llx bytes but the image has 0x%llx from the load "
                        "offset (truncated)", ULL(load_len),
                        ULL(len - file_off));
  }
  uint64_t load_end = h->load_addr + load_len;
  uint64_t end = load_end;
  if (h->bss_end_addr) {
    if (h->bss_end_addr < load_end)
      return vmm__error(VMM_ENOEXEC, "multiboot: bss_end_addr 0x%x is below "
                        "the end of the loaded data 0x%llx", h->bss_end_addr,
                        ULL(load_end));
    end = h->bss_end_addr;
  }
  int rc = check_kernel_range(map, nmap, h->load_addr, end - h->load_addr,
                              "multiboot: the kernel (a.out kludge)");
  if (rc < 0)
    return rc;
  if (h->entry_addr < h->load_addr || h->entry_addr >= end)
    return vmm__error(VMM_ENOEXEC, "multiboot: entry_addr 0x%x is outside "
                      "the loaded kernel [0x%x, 0x%llx)", h->entry_addr,
                      h->load_addr, ULL(end));
  p->entry = h->entry_addr;
  p->kernel_start = h->load_addr;
  p->kernel_end = end;
  rc = add_chunk(p, h->load_addr, load_len, img + file_off, "kernel");
  if (rc == 0)
    rc = add_chunk(p, load_end, end - load_end, NULL, "kernel bss");
  return rc;
}

/* ---- the plan ------------------------------------------------------------- */

/* Offsets in the low buffer, which mirrors [VMM__MB_INFO_GPA, 0xa000). */
#define LOW_BASE VMM__MB_INFO_GPA
#define LOW_SIZE (VMM__BOOT_SCRATCH + 0x1000 - LOW_BASE)
#define AT(gpa) ((size_t)((gpa) - LOW_BASE))

void vmm__multiboot_plan_free(vmm__mb_plan_t *p) {
  if (!p)
    return;
  free(p->chunks);
  free(p->low);
  memset(p, 0, sizeof(*p));
}

int vmm__multiboot_plan(const vmm__boot_req_t *req, const vmm__e820_t *map,
                        size_t nmap, vmm__mb_plan_t *p) {
  memset(p, 0, sizeof(*p));
  if (!req || !req->kernel || !map)
    return vmm__error(VMM_EINVAL, "multiboot: no kernel or memory map");
  const uint8_t *img = req->kernel;
  size_t len = req->kernel_len;
  vmm__mb_header_t h;
  int rc = vmm__multiboot_find(img, len, &h);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return vmm__error(VMM_ENOEXEC, "multiboot: no header (magic 0x%x) in the "
                      "first %u bytes of the %zu-byte image", VMM__MB_MAGIC,
                      VMM__MB_SEARCH, len);
  /* Bits 0 and 1 are always honoured (modules are page aligned, memory
   * information is always given). A video mode cannot be: there is no
   * display, and claiming a framebuffer nobody shows would be a lie. */
  if (h.flags & VMM__MB_F_VIDEO_MODE)
    return vmm__error(VMM_ENOEXEC, "multiboot: the kernel requires a video "
                      "mode (header flag bit 2); libvmm has no display and "
                      "does not support it");
  uint32_t unknown = h.flags & 0xfff8u;
  if (unknown)
    return vmm__error(VMM_ENOEXEC, "multiboot: the kernel requires features "
                      "libvmm does not know (header flag bits 0x%x)", unknown);

  p->low = calloc(1, LOW_SIZE);
  if (!p->low) {
    vmm__multiboot_plan_free(p);
    return vmm__error(VMM_ENOMEM, "multiboot: out of memory");
  }
  if (h.flags & VMM__MB_F_AOUT_KLUDGE)
    rc = plan_aout(img, len, &h, map, nmap, p);
  else
    rc = plan_elf(img, len, map, nmap, p);
  if (rc < 0)
    goto fail;

  /* The command line, at its fixed place. */
  size_t cmd_len = strlen(req->cmdline ? req->cmdline : "") + 1;
  if (cmd_len > VMM__BOOT_CMDLINE_MAX) {
    rc = vmm__error(VMM_ENOSPC, "multiboot: the command line (%zu bytes) is "
                    "longer than the %llu bytes reserved for it", cmd_len,
                    ULL(VMM__BOOT_CMDLINE_MAX));
    goto fail;
  }
  p->cmdline_gpa = VMM__BOOT_CMDLINE;
  rc = add_chunk(p, VMM__BOOT_CMDLINE, cmd_len,
                 (const uint8_t *)(req->cmdline ? req->cmdline : ""),
                 "command line");
  if (rc < 0)
    goto fail;

  uint8_t *info = p->low + AT(VMM__MB_INFO_GPA);
  uint32_t flags = VMM__MBI_MEMORY | VMM__MBI_CMDLINE | VMM__MBI_MODS |
                   VMM__MBI_MMAP | VMM__MBI_LOADER_NAME;

  /* The module: page aligned right after the kernel, as GRUB and QEMU
   * place them. */
  uint32_t mods = 0;
  if (req->initrd) {
    if (req->initrd_len == 0 || req->initrd_len >= FOUR_GIB) {
      rc = vmm__error(req->initrd_len ? VMM_ENOSPC : VMM_EINVAL,
                      "multiboot: a module of %zu bytes cannot be loaded",
                      req->initrd_len);
      goto fail;
    }
    uint64_t at = place_after(map, nmap, req->initrd_len, p->kernel_end);
    if (at == 0) {
      rc = vmm__error(VMM_ENOSPC, "multiboot: the module (initrd, %zu bytes) "
                      "does not fit in RAM between the kernel's end 0x%llx "
                      "and 4 GiB", req->initrd_len, ULL(p->kernel_end));
      goto fail;
    }
    p->module_start = at;
    p->module_end = at + req->initrd_len;
    rc = add_chunk(p, at, req->initrd_len, req->initrd, "module");
    if (rc < 0)
      goto fail;
    uint8_t *mod = p->low + AT(VMM__MB_MODS_GPA);
    vmm__wr32(mod + 0, (uint32_t)p->module_start);
    vmm__wr32(mod + 4, (uint32_t)p->module_end); /* one past the last byte */
    vmm__wr32(mod + 8, (uint32_t)VMM__MB_MODSTR_GPA);
    memcpy(p->low + AT(VMM__MB_MODSTR_GPA), MODULE_STRING,
           sizeof(MODULE_STRING));
    mods = 1;
  }
  memcpy(p->low + AT(VMM__MB_NAME_GPA), LOADER_NAME, sizeof(LOADER_NAME));

  /* The memory map, with the size field before each entry that makes it
   * a list a kernel walks by size. */
  size_t nent = 0;
  uint8_t *mm = p->low + AT(VMM__MB_MMAP_GPA);
  for (size_t i = 0; i < nmap && i < VMM__E820_MAX; i++) {
    if (map[i].size == 0)
      continue;
    uint8_t *e = mm + nent++ * 24;
    vmm__wr32(e, 20);
    vmm__wr64(e + 4, map[i].addr);
    vmm__wr64(e + 12, map[i].size);
    vmm__wr32(e + 20, map[i].type);
  }

  /* mem_lower: the conventional memory the info block lives in (at most
   * 640 KiB); mem_upper: the RAM from 1 MiB to the first hole. */
  uint64_t low_end = ram_run_end(map, nmap, VMM__MB_INFO_GPA);
  if (low_end > 0xa0000)
    low_end = 0xa0000;
  uint64_t high_end = ram_run_end(map, nmap, VMM__BOOT_HIGH);
  uint64_t upper_kib = high_end ? (high_end - VMM__BOOT_HIGH) / 1024 : 0;
  if (upper_kib > UINT32_MAX)
    upper_kib = UINT32_MAX;

  vmm__wr32(info + 0, flags);
  vmm__wr32(info + 4, (uint32_t)(low_end / 1024));
  vmm__wr32(info + 8, (uint32_t)upper_kib);
  vmm__wr32(info + 16, (uint32_t)VMM__BOOT_CMDLINE);
  vmm__wr32(info + 20, mods);
  vmm__wr32(info + 24, (uint32_t)VMM__MB_MODS_GPA);
  vmm__wr32(info + 44, (uint32_t)(nent * 24));
  vmm__wr32(info + 48, (uint32_t)VMM__MB_MMAP_GPA);
  vmm__wr32(info + 64, (uint32_t)VMM__MB_NAME_GPA);

  const struct {
    uint64_t gpa, len;
    const char *what;
  } low[] = {
      {VMM__MB_INFO_GPA, VMM__MB_INFO_SIZE, "multiboot info"},
      {VMM__MB_MMAP_GPA, nent * 24, "multiboot memory map"},
      {VMM__MB_MODS_GPA, 16, "multiboot module table"},
      {VMM__MB_NAME_GPA, 0x20, "multiboot strings"},
  };
  for (size_t i = 0; i < sizeof(low) / sizeof(low[0]) && rc == 0; i++)
    rc = add_chunk(p, low[i].gpa, low[i].len, p->low + AT(low[i].gpa),
                   low[i].what);
  if (rc < 0)
    goto fail;
  return 0;

fail:
  vmm__multiboot_plan_free(p);
  return rc;
}

int vmm__multiboot_write(struct vmm__memmap *mem, const vmm__mb_plan_t *p) {
  static const uint8_t zeros[16384];
  for (size_t i = 0; i < p->nchunks; i++) {
    int rc = vmm__loader_check_range(mem, p->chunks[i].gpa, p->chunks[i].len,
                                     p->chunks[i].what);
    if (rc < 0)
      return rc;
  }
  for (size_t i = 0; i < p->nchunks; i++) {
    const vmm__mb_chunk_t *c = &p->chunks[i];
    int rc;
    if (c->src) {
      rc = vmm__memmap_access(mem, c->gpa, (void *)c->src, (size_t)c->len,
                              true);
    } else {
      rc = 0;
      for (uint64_t done = 0; done < c->len && rc == 0;) {
        size_t n = c->len - done < sizeof(zeros) ? (size_t)(c->len - done)
                                                 : sizeof(zeros);
        rc = vmm__memmap_access(mem, c->gpa + done, (void *)zeros, n, true);
        done += n;
      }
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- vmm_boot()'s entry ---------------------------------------------------- */

int vmm__boot_multiboot(vmm_vm_t *vm, const vmm__boot_req_t *req,
                        vmm_boot_info_t *info) {
  vmm__e820_t map[VMM__E820_MAX];
  int n = vmm__boot_e820(vm, map, VMM__E820_MAX);
  if (n < 0)
    return n;
  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_t *bsp = vm->vcpus[0];
  pthread_rwlock_unlock(&vm->lock);
  if (!bsp)
    return vmm__error(VMM_EINVAL, "multiboot: the VM has no vCPU 0 to "
                      "start the kernel on");
  vmm__mb_plan_t plan;
  int rc = vmm__multiboot_plan(req, map, (size_t)n, &plan);
  if (rc < 0)
    return rc;
  pthread_rwlock_wrlock(&vm->lock);
  rc = vmm__multiboot_write(&vm->mem, &plan);
  pthread_rwlock_unlock(&vm->lock);
  /* The machine state of the specification: 32-bit protected mode with
   * flat segments, paging and interrupts off, EAX the magic, EBX the
   * info block. ESP is undefined there; it gets a small stack anyway. */
  vmm_regs_t regs;
  if (rc == 0)
    rc = vmm_vcpu_setup_protected_mode(bsp, plan.entry,
                                       (uint32_t)VMM__MB_STACK);
  if (rc == 0)
    rc = vmm_vcpu_get_regs(bsp, &regs);
  if (rc == 0) {
    regs.rax = VMM__MB_BOOT_MAGIC;
    regs.rbx = VMM__MB_INFO_GPA;
    rc = vmm_vcpu_set_regs(bsp, &regs);
  }
  if (rc == 0 && info) {
    info->entry = plan.entry;
    info->kernel_start = plan.kernel_start;
    info->kernel_end = plan.kernel_end;
    info->initrd_start = plan.module_start;
    info->initrd_end = plan.module_end;
    info->params = VMM__MB_INFO_GPA;
    info->cmdline = plan.cmdline_gpa;
    info->e820_entries = (uint32_t)n;
  }
  vmm__multiboot_plan_free(&plan);
  return rc;
}
