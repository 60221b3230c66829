/* src/loader_elf.c — the validating ELF32/ELF64 x86 loader (vmm_load_elf*). */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "le.h"
#include "error.h"
#include "loader.h"
#include "vm_internal.h"

/*
 * An image is untrusted input: every field is read through these
 * little-endian readers (the buffer need not be aligned, and x86 images
 * are LSB whatever the host is) and checked before it is used, and no
 * byte of guest memory changes until the whole image has been accepted.
 */

#define ULL(x) ((unsigned long long)(x))

/* The header fields the loader uses, widened to one layout. */
struct elf_header {
  bool is64;
  uint64_t entry, phoff;
  uint16_t phentsize, phnum;
};

/* One PT_LOAD segment that loads something (p_memsz > 0). */
struct elf_segment {
  size_t index; /* in the program header table, for messages */
  uint64_t offset, paddr, filesz, memsz;
};

/* What a rejected e_type is, and what to do about it, for the message:
 * "e_type 3 (ET_DYN) is not ET_EXEC (2): position-independent ...". */
static void type_text(uint16_t type, const char **name, const char **hint) {
  *name = *hint = "";
  switch (type) {
  case ET_NONE: *name = " (ET_NONE)"; break;
  case ET_REL:
    *name = " (ET_REL)";
    *hint = ": an object file, link it first";
    break;
  case ET_DYN:
    *name = " (ET_DYN)";
    *hint = ": position-independent images need relocation, which this "
            "loader does not do";
    break;
  case ET_CORE: *name = " (ET_CORE)"; *hint = ": a core dump"; break;
  }
}

static int parse_header(const uint8_t *img, size_t len, struct elf_header *h) {
  if (len < EI_NIDENT)
    return vmm__error(VMM_ENOEXEC,
                      "image is %zu bytes, too short for the %d-byte ELF "
                      "identification", len, EI_NIDENT);
  if (memcmp(img, ELFMAG, SELFMAG) != 0)
    return vmm__error(VMM_ENOEXEC,
                      "bad ELF magic %02x %02x %02x %02x (want 7f 45 4c 46)",
                      img[0], img[1], img[2], img[3]);
  if (img[EI_CLASS] != ELFCLASS32 && img[EI_CLASS] != ELFCLASS64)
    return vmm__error(VMM_ENOEXEC,
                      "EI_CLASS %u is neither ELFCLASS32 (1) nor "
                      "ELFCLASS64 (2)", img[EI_CLASS]);
  h->is64 = img[EI_CLASS] == ELFCLASS64;
  if (img[EI_DATA] != ELFDATA2LSB)
    return vmm__error(VMM_ENOEXEC,
                      "EI_DATA %u is not ELFDATA2LSB (1): x86 images are "
                      "little-endian", img[EI_DATA]);
  if (img[EI_VERSION] != EV_CURRENT)
    return vmm__error(VMM_ENOEXEC, "EI_VERSION %u is not EV_CURRENT (1)",
                      img[EI_VERSION]);
  /* EI_OSABI is not checked: bare-metal and kernel images carry any value
   * there, and nothing the loader does depends on it. */

  size_t ehsize = h->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (len < ehsize)
    return vmm__error(VMM_ENOEXEC,
                      "image is %zu bytes, too short for the %zu-byte ELF%d "
                      "header", len, ehsize, h->is64 ? 64 : 32);

  /* e_type, e_machine and e_version sit at the same offsets in both. */
  uint16_t type = vmm__rd16(img + offsetof(Elf64_Ehdr, e_type));
  uint16_t machine = vmm__rd16(img + offsetof(Elf64_Ehdr, e_machine));
  uint32_t version = vmm__rd32(img + offsetof(Elf64_Ehdr, e_version));
  if (type != ET_EXEC) {
    const char *name, *hint;
    type_text(type, &name, &hint);
    return vmm__error(VMM_ENOEXEC, "e_type %u%s is not ET_EXEC (2)%s", type,
                      name, hint);
  }
  /* ELF32 may be EM_X86_64 too: that is the x32 ABI, and some boot images
   * are linked as elf32-x86-64. An ELF64 i386 image does not exist. */
  if (machine != EM_X86_64 && (machine != EM_386 || h->is64))
    return vmm__error(
        VMM_ENOEXEC, "e_machine %u is not %s for an ELF%d image", machine,
        h->is64 ? "EM_X86_64 (62)" : "EM_386 (3) or EM_X86_64 (62)",
        h->is64 ? 64 : 32);
  if (version != EV_CURRENT)
    return vmm__error(VMM_ENOEXEC, "e_version %u is not EV_CURRENT (1)",
                      version);

  if (h->is64) {
    h->entry = vmm__rd64(img + offsetof(Elf64_Ehdr, e_entry));
    h->phoff = vmm__rd64(img + offsetof(Elf64_Ehdr, e_phoff));
    h->phentsize = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phentsize));
    h->phnum = vmm__rd16(img + offsetof(Elf64_Ehdr, e_phnum));
  } else {
    h->entry = vmm__rd32(img + offsetof(Elf32_Ehdr, e_entry));
    h->phoff = vmm__rd32(img + offsetof(Elf32_Ehdr, e_phoff));
    h->phentsize = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phentsize));
    h->phnum = vmm__rd16(img + offsetof(Elf32_Ehdr, e_phnum));
  }
  /* e_entry is not checked against the segments: it is a virtual address
   * and segments are placed by p_paddr, which may legitimately differ. */

  /* Exact size, as Linux's binfmt_elf demands: a larger entry would be
   * legal ELF but is never produced, and smaller ones cannot hold a Phdr. */
  size_t phsize = h->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (h->phentsize != phsize)
    return vmm__error(VMM_ENOEXEC, "e_phentsize %u is not %zu for ELF%d",
                      h->phentsize, phsize, h->is64 ? 64 : 32);
  if (h->phnum == 0)
    return vmm__error(VMM_ENOEXEC,
                      "e_phnum is 0: the image has no program headers");
  if (h->phnum == PN_XNUM)
    return vmm__error(VMM_ENOEXEC,
                      "e_phnum is PN_XNUM (0xffff): extended program header "
                      "numbering is not supported");
  /* phnum * phentsize is at most 0xfffe * 56, so only phoff can overflow;
   * compare against what is left after phoff instead of adding. */
  uint64_t table = (uint64_t)h->phnum * h->phentsize;
  if (h->phoff > len || table > len - h->phoff)
    return vmm__error(VMM_ENOEXEC,
                      "program header table at e_phoff 0x%llx (e_phnum %u x "
                      "e_phentsize %u = 0x%llx bytes) extends past the end "
                      "of the %zu-byte image", ULL(h->phoff), h->phnum,
                      h->phentsize, ULL(table), len);
  return 0;
}

/* Reads and checks program header `i`; seg->memsz is left 0 when it loads
 * nothing (not PT_LOAD, or an empty PT_LOAD). */
static int parse_segment(const uint8_t *img, size_t len,
                         const struct elf_header *h, size_t i,
                         struct elf_segment *seg) {
  const uint8_t *ph = img + h->phoff + i * h->phentsize;
  uint32_t type = vmm__rd32(ph);
  memset(seg, 0, sizeof(*seg));
  seg->index = i;
  if (type == PT_INTERP)
    return vmm__error(VMM_ENOEXEC,
                      "program header %zu is PT_INTERP: dynamically linked "
                      "executables are not supported, link statically", i);
  if (type != PT_LOAD)
    return 0;
  if (h->is64) {
    seg->offset = vmm__rd64(ph + offsetof(Elf64_Phdr, p_offset));
    seg->paddr = vmm__rd64(ph + offsetof(Elf64_Phdr, p_paddr));
    seg->filesz = vmm__rd64(ph + offsetof(Elf64_Phdr, p_filesz));
    seg->memsz = vmm__rd64(ph + offsetof(Elf64_Phdr, p_memsz));
  } else {
    seg->offset = vmm__rd32(ph + offsetof(Elf32_Phdr, p_offset));
    seg->paddr = vmm__rd32(ph + offsetof(Elf32_Phdr, p_paddr));
    seg->filesz = vmm__rd32(ph + offsetof(Elf32_Phdr, p_filesz));
    seg->memsz = vmm__rd32(ph + offsetof(Elf32_Phdr, p_memsz));
  }
  /* p_align and p_vaddr are not checked: segments are copied to their
   * physical address, never mapped, so alignment does not matter. */
  if (seg->filesz > seg->memsz)
    return vmm__error(VMM_ENOEXEC,
                      "program header %zu (PT_LOAD): p_filesz 0x%llx is "
                      "larger than p_memsz 0x%llx", i, ULL(seg->filesz),
                      ULL(seg->memsz));
  /* With p_filesz 0 no byte is read, so p_offset cannot matter (strip may
   * leave a bss-only segment's offset at or past the end of the file). */
  if (seg->filesz > 0 &&
      (seg->offset > len || seg->filesz > len - seg->offset))
    return vmm__error(VMM_ENOEXEC,
                      "program header %zu (PT_LOAD): p_offset 0x%llx + "
                      "p_filesz 0x%llx extends past the end of the %zu-byte "
                      "image", i, ULL(seg->offset), ULL(seg->filesz), len);
  /* The end must be representable: in 64 bits, 2^64 itself is not (and no
   * region can end there); ELF32 addresses stop at 4 GiB. */
  bool wraps = h->is64 ? seg->memsz > UINT64_MAX - seg->paddr
                       : seg->paddr + seg->memsz > (1ull << 32);
  if (wraps)
    return vmm__error(VMM_ENOEXEC,
                      "program header %zu (PT_LOAD): p_paddr 0x%llx + "
                      "p_memsz 0x%llx wraps past the top of the %d-bit "
                      "physical address space", i, ULL(seg->paddr),
                      ULL(seg->memsz), h->is64 ? 64 : 32);
  return 0;
}

static int by_paddr(const void *a, const void *b) {
  const struct elf_segment *x = a, *y = b;
  if (x->paddr != y->paddr)
    return x->paddr < y->paddr ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Zeroes [gpa, gpa + len) through the map, so that dirty logs see it. */
static int zero_range(struct vmm__memmap *map, uint64_t gpa, uint64_t len) {
  /* vmm__memmap_access only reads the buffer when writing, so a shared
   * const zero block serves any size without an allocation. */
  static const uint8_t zeros[16384];
  while (len > 0) {
    size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
    int rc = vmm__memmap_access(map, gpa, (void *)zeros, n, true);
    if (rc)
      return rc;
    gpa += n;
    len -= n;
  }
  return 0;
}

int vmm__elf_load(const void *image, size_t len, struct vmm__memmap *map,
                  vmm_elf_info_t *info) {
  const size_t info_end =
      offsetof(vmm_elf_info_t, segments) + sizeof(info->segments);
  if (!image)
    return vmm__error(VMM_EINVAL, "image is NULL");
  if (!map)
    return vmm__error(VMM_EINVAL, "region map is NULL");
  if (info && info->size < info_end)
    return vmm__error(VMM_EINVAL,
                      "info->size %zu is smaller than vmm_elf_info_t (%zu "
                      "bytes): set it to sizeof(vmm_elf_info_t)",
                      info->size, info_end);

  const uint8_t *img = image;
  /* Zeroed: the compiler cannot see that a failed parse returns non-0. */
  struct elf_header h = {0};
  int rc = parse_header(img, len, &h);
  if (rc)
    return rc;

  /* phnum < 0xffff, so this is bounded and small (the table itself lies
   * inside the image, which is larger still). */
  struct elf_segment *segs = malloc(h.phnum * sizeof(*segs));
  if (!segs)
    return vmm__error(VMM_ENOMEM, "cannot allocate %u segment records",
                      h.phnum);
  size_t n = 0;
  for (size_t i = 0; i < h.phnum; i++) {
    rc = parse_segment(img, len, &h, i, &segs[n]);
    if (rc)
      goto out;
    if (segs[n].memsz > 0)
      n++;
  }
  if (n == 0) {
    rc = vmm__error(VMM_ENOEXEC,
                    "none of the %u program headers is a PT_LOAD segment "
                    "with p_memsz > 0", h.phnum);
    goto out;
  }

  /* Sorted by start address, any overlap shows up between neighbours:
   * a segment that reaches past a later start reaches past the next one.
   * O(n log n), so a table of 65534 headers cannot stall the caller. */
  qsort(segs, n, sizeof(*segs), by_paddr);
  for (size_t i = 1; i < n; i++) {
    const struct elf_segment *a = &segs[i - 1], *b = &segs[i];
    if (b->paddr < a->paddr + a->memsz) {
      rc = vmm__error(VMM_ENOEXEC,
                      "program headers %zu and %zu (PT_LOAD) overlap: "
                      "[0x%llx, 0x%llx) and [0x%llx, 0x%llx)", a->index,
                      b->index, ULL(a->paddr), ULL(a->paddr + a->memsz),
                      ULL(b->paddr), ULL(b->paddr + b->memsz));
      goto out;
    }
  }

  /* The image is sound; now whether this VM can hold it. */
  for (size_t i = 0; i < n; i++) {
    char what[96];
    snprintf(what, sizeof(what),
             "program header %zu (PT_LOAD) at [0x%llx, 0x%llx)",
             segs[i].index, ULL(segs[i].paddr),
             ULL(segs[i].paddr + segs[i].memsz));
    rc = vmm__loader_check_range(map, segs[i].paddr, segs[i].memsz, what);
    if (rc)
      goto out;
  }

  /* Nothing below can fail on a map that passed the checks above (the
   * caller holds its lock); the error paths only guard against that
   * assumption breaking. */
  for (size_t i = 0; i < n; i++) {
    const struct elf_segment *s = &segs[i];
    if (s->filesz > 0) {
      /* Write access only reads `buf`; the cast drops const for the
       * shared read/write signature. */
      rc = vmm__memmap_access(map, s->paddr, (void *)(img + s->offset),
                              (size_t)s->filesz, true);
      if (rc)
        goto out;
    }
    rc = zero_range(map, s->paddr + s->filesz, s->memsz - s->filesz);
    if (rc)
      goto out;
  }

  if (info) {
    info->entry = h.entry;
    info->lowest = segs[0].paddr;
    info->highest = segs[n - 1].paddr + segs[n - 1].memsz;
    info->elf_class = h.is64 ? 64 : 32;
    info->segments = (uint32_t)n;
  }
out:
  free(segs);
  return rc;
}

int vmm_load_elf(vmm_vm_t *vm, const void *image, size_t len,
                 vmm_elf_info_t *info) {
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "vmm_load_elf: %p is not a live VM",
                      (void *)vm);
  pthread_rwlock_wrlock(&vm->lock);
  int rc = vmm__elf_load(image, len, &vm->mem, info);
  pthread_rwlock_unlock(&vm->lock);
  return rc ? vmm__error_prefix(rc, "vmm_load_elf") : 0;
}

int vmm_load_elf_file(vmm_vm_t *vm, const char *path, vmm_elf_info_t *info) {
  static const char fn[] = "vmm_load_elf_file";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: %p is not a live VM", fn, (void *)vm);
  if (!path)
    return vmm__error(VMM_EINVAL, "%s: path is NULL", fn);
  int fd;
  size_t len;
  int rc = vmm__file_open(path, &fd, &len);
  if (rc)
    return vmm__error_prefix(rc, fn);
  if (len == 0) {
    close(fd);
    return vmm__error(VMM_ENOEXEC, "%s: %s: file is empty", fn, path);
  }
  void *data;
  rc = vmm__file_read(fd, path, len, &data);
  close(fd);
  if (rc)
    return vmm__error_prefix(rc, fn);
  pthread_rwlock_wrlock(&vm->lock);
  rc = vmm__elf_load(data, len, &vm->mem, info);
  pthread_rwlock_unlock(&vm->lock);
  free(data);
  if (rc) {
    vmm__error_prefix(rc, path);
    return vmm__error_prefix(rc, fn);
  }
  return 0;
}
