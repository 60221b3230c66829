/* tests/unit/test_boot_fixture.h — what the boot unit tests share: a VM
 * object built by hand over 32 MiB of RAM (no backend: the loaders' memory
 * half only needs the handle, lock and region map) and synthesized bzImage
 * and PVH ELF images. */
#ifndef TEST_BOOT_FIXTURE_H
#define TEST_BOOT_FIXTURE_H

#include <elf.h>
#include <stdlib.h>

#include "boot/boot_internal.h"
#include "boot/bzimage.h"
#include "unit.h"
#include "vm_internal.h"

#define BF static __attribute__((unused))

/* RAM: [0, 1 MiB) and [1 MiB, RAM_END) as two regions, filled with FILL
 * before each test so that writes of a failed boot show. */
#define FILL 0xcc
#define LOW_SIZE 0x100000ull
#define RAM_END 0x2000000ull /* 32 MiB */

BF vmm_vm_t *vm;
BF struct vmm__memslot slots[2];

BF uint8_t *gmem(uint64_t gpa) {
  struct vmm__memslot *s = vmm__memmap_find(&vm->mem, gpa);
  CU_ASSERT_FATAL(s != NULL);
  return s->hva + (gpa - s->gpa);
}
BF uint64_t g64(uint64_t gpa) {
  uint64_t v;
  memcpy(&v, gmem(gpa), 8);
  return v;
}
BF uint32_t g32(uint64_t gpa) {
  uint32_t v;
  memcpy(&v, gmem(gpa), 4);
  return v;
}
BF bool all_fill(uint64_t gpa, uint64_t len) {
  for (uint64_t i = 0; i < len; i++)
    if (*gmem(gpa + i) != FILL)
      return false;
  return true;
}

BF int guest_init(void) {
  vm = calloc(1, sizeof(*vm));
  if (!vm || pthread_rwlock_init(&vm->lock, NULL) != 0)
    return -1;
  vmm__memmap_init(&vm->mem);
  if (vmm__handle_add(vm, VMM__H_VM) != 0)
    return -1;
  slots[0] = (struct vmm__memslot){.gpa = 0, .size = LOW_SIZE,
                                   .hva = malloc(LOW_SIZE), .slot = 0};
  slots[1] = (struct vmm__memslot){.gpa = LOW_SIZE,
                                   .size = RAM_END - LOW_SIZE,
                                   .hva = malloc(RAM_END - LOW_SIZE),
                                   .slot = 1};
  for (int i = 0; i < 2; i++)
    if (!slots[i].hva || vmm__memmap_insert(&vm->mem, &slots[i]) != 0)
      return -1;
  return 0;
}

BF int guest_fini(void) {
  vmm__handle_remove(vm);
  vmm__memmap_fini(&vm->mem);
  pthread_rwlock_destroy(&vm->lock);
  for (int i = 0; i < 2; i++)
    free(slots[i].hva);
  free(vm);
  return 0;
}

BF void guest_reset(void) {
  for (int i = 0; i < 2; i++)
    memset(slots[i].hva, FILL, slots[i].size);
}

BF bool lock_released(void) {
  if (pthread_rwlock_trywrlock(&vm->lock) != 0)
    return false;
  pthread_rwlock_unlock(&vm->lock);
  return true;
}

/* ---- images ----------------------------------------------------------- */

#define IMG_MAX 0x10000
BF uint8_t img[IMG_MAX];
BF size_t img_len;

BF void put16(size_t off, uint16_t v) { memcpy(img + off, &v, 2); }
BF void put32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }
BF void put64(size_t off, uint64_t v) { memcpy(img + off, &v, 8); }

/* A bzImage of protocol 2.15: 4 setup sectors (0xa00 bytes), a 0x3000-byte
 * "kernel" of pattern bytes, init_size 1 MiB, pref_address 16 MiB,
 * relocatable at 2 MiB, 64-bit entry, initrd anywhere. */
#define BZ_SETUP 0xa00u
#define BZ_PAYLOAD 0x3000u
#define BZ_PREF 0x1000000ull
#define BZ_INIT 0x100000u
BF uint8_t bz_byte(size_t i) { return (uint8_t)(i * 7 + 3); }
BF size_t bz_build(void) {
  memset(img, 0, sizeof(img));
  img[BZ_SETUP_SECTS] = 4;
  put32(BZ_SYSSIZE, BZ_PAYLOAD / 16);
  put16(BZ_BOOT_FLAG, 0xaa55);
  img[0x200] = 0xeb;
  img[0x201] = 0x26c - 0x202;
  memcpy(img + BZ_HDR_MAGIC, "HdrS", 4);
  put16(BZ_VERSION, 0x020f);
  img[BZ_LOADFLAGS] = BZ_LOADED_HIGH;
  put32(BZ_INITRD_ADDR_MAX, 0x7fffffff);
  put32(BZ_KERNEL_ALIGNMENT, 0x200000);
  img[BZ_RELOCATABLE] = 1;
  put16(BZ_XLOADFLAGS, BZ_XLF_KERNEL_64 | BZ_XLF_CAN_BE_LOADED_ABOVE_4G);
  put32(BZ_CMDLINE_SIZE, 2047);
  put64(BZ_PREF_ADDRESS, BZ_PREF);
  put32(BZ_INIT_SIZE, BZ_INIT);
  for (size_t i = 0; i < BZ_PAYLOAD; i++)
    img[BZ_SETUP + i] = bz_byte(i);
  img_len = BZ_SETUP + BZ_PAYLOAD;
  return img_len;
}

/*
 * A PVH ELF: one PT_LOAD of 0x200 file bytes (0x1000 in memory) at
 * PVH_LOAD, the note "Xen"/18 with the entry PVH_LOAD + 0x10 in a PT_NOTE
 * segment and in an SHT_NOTE section. Layout: ELF header, program headers
 * at 0x40, note at 0x100, segment data at 0x200, section headers at 0x400.
 */
#define PVH_LOAD 0x200000ull
#define PVH_ENTRY (PVH_LOAD + 0x10)
#define PVH_NOTE_OFF 0x100
#define PVH_DATA_OFF 0x200
#define PVH_SH_OFF 0x400
enum pvh_variant { PVH_BOTH, PVH_SECTION_ONLY, PVH_NONE };
BF size_t pvh_build(int cls, enum pvh_variant var, uint32_t descsz) {
  memset(img, 0, sizeof(img));
  /* The note: namesz 4, descsz, type 18, "Xen\0", the entry. */
  size_t n = PVH_NOTE_OFF;
  put32(n, 4);
  put32(n + 4, descsz);
  put32(n + 8, var == PVH_NONE ? 17 : 18);
  memcpy(img + n + 12, "Xen", 4);
  put64(n + 16, PVH_ENTRY);
  uint64_t notesz = 16 + ((descsz + 3) & ~3u);
  for (size_t i = 0; i < 0x200; i++)
    img[PVH_DATA_OFF + i] = (uint8_t)(i ^ 0x5a);
  bool pt_note = var != PVH_SECTION_ONLY;
  if (cls == 64) {
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = 0xffffffff81000000ull;
    eh->e_phoff = 0x40;
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = pt_note ? 2 : 1;
    eh->e_shoff = PVH_SH_OFF;
    eh->e_shentsize = sizeof(Elf64_Shdr);
    eh->e_shnum = 2;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + 0x40);
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_offset = PVH_DATA_OFF,
                         .p_vaddr = 0xffffffff80000000ull + PVH_LOAD,
                         .p_paddr = PVH_LOAD, .p_filesz = 0x200,
                         .p_memsz = 0x1000, .p_align = 0x1000};
    ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = PVH_NOTE_OFF,
                         .p_filesz = notesz, .p_align = 4};
    Elf64_Shdr *sh = (Elf64_Shdr *)(img + PVH_SH_OFF);
    sh[1] = (Elf64_Shdr){.sh_type = SHT_NOTE, .sh_offset = PVH_NOTE_OFF,
                         .sh_size = notesz, .sh_addralign = 4};
    img_len = PVH_SH_OFF + 2 * sizeof(Elf64_Shdr);
  } else {
    Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS32;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_386;
    eh->e_version = EV_CURRENT;
    eh->e_entry = (uint32_t)PVH_ENTRY;
    eh->e_phoff = 0x40;
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf32_Phdr);
    eh->e_phnum = pt_note ? 2 : 1;
    eh->e_shoff = PVH_SH_OFF;
    eh->e_shentsize = sizeof(Elf32_Shdr);
    eh->e_shnum = 2;
    Elf32_Phdr *ph = (Elf32_Phdr *)(img + 0x40);
    ph[0] = (Elf32_Phdr){.p_type = PT_LOAD, .p_offset = PVH_DATA_OFF,
                         .p_vaddr = (uint32_t)PVH_LOAD,
                         .p_paddr = (uint32_t)PVH_LOAD, .p_filesz = 0x200,
                         .p_memsz = 0x1000, .p_align = 0x1000};
    ph[1] = (Elf32_Phdr){.p_type = PT_NOTE, .p_offset = PVH_NOTE_OFF,
                         .p_filesz = (uint32_t)notesz, .p_align = 4};
    Elf32_Shdr *sh = (Elf32_Shdr *)(img + PVH_SH_OFF);
    sh[1] = (Elf32_Shdr){.sh_type = SHT_NOTE, .sh_offset = PVH_NOTE_OFF,
                         .sh_size = (uint32_t)notesz, .sh_addralign = 4};
    img_len = PVH_SH_OFF + 2 * sizeof(Elf32_Shdr);
  }
  return img_len;
}

/* A request over `img`, with an optional initrd and command line. */
BF vmm__boot_req_t req_for(const void *initrd, size_t initrd_len,
                           const char *cmdline) {
  vmm__boot_req_t r;
  memset(&r, 0, sizeof(r));
  r.kernel = img;
  r.kernel_len = img_len;
  r.initrd = initrd;
  r.initrd_len = initrd_len;
  r.cmdline = cmdline ? cmdline : "";
  return r;
}

#endif
