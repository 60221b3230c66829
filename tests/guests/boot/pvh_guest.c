/* tests/guests/boot/pvh_guest.c — the PVH test kernel (ELF32): checks the
 * PVH start state (32-bit protected mode, paging off, hvm_start_info in
 * EBX) and reports the memory map, command line and module for the host
 * to compare with what it put there. */
#include "boot_guest.h"
#include "guest.h"

extern uint32_t boot_ebx, boot_esp, boot_eflags;

struct start_info {
  uint32_t magic, version, flags, nr_modules;
  uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
  uint32_t memmap_entries, reserved;
};
struct mod_entry {
  uint64_t paddr, size, cmdline_paddr, reserved;
};
struct memmap_entry {
  uint64_t addr, size;
  uint32_t type, reserved;
};

void pvh_main(void);
void pvh_main(void) {
  uint32_t cr0, cr4;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
  GUEST_ASSERT(cr0 & 1);           /* PE */
  GUEST_ASSERT(!(cr0 & (1u << 31))); /* PG off */
  GUEST_ASSERT_EQ(cr4, 0);
  GUEST_ASSERT(!(boot_eflags & (1u << 9)));
  uint16_t tr;
  __asm__ volatile("str %0" : "=r"(tr));

  const struct start_info *si = (const struct start_info *)boot_ebx;
  GUEST_ASSERT_EQ(si->magic, 0x336ec578);
  GUEST_ASSERT_EQ(si->version, 1);
  GUEST_ASSERT(si->memmap_entries > 0 && si->memmap_entries <= 128);
  const struct memmap_entry *mm =
      (const struct memmap_entry *)(uint32_t)si->memmap_paddr;
  uint64_t ram = 0, prev_end = 0;
  for (uint32_t i = 0; i < si->memmap_entries; i++) {
    GUEST_ASSERT(mm[i].size > 0);
    GUEST_ASSERT(mm[i].addr >= prev_end);
    prev_end = mm[i].addr + mm[i].size;
    if (mm[i].type == 1)
      ram += mm[i].size;
  }
  const char *cmd = (const char *)(uint32_t)si->cmdline_paddr;
  uint64_t cmdlen = strlen(cmd);
  uint64_t mod_paddr = 0, mod_size = 0, mod_hash = 0;
  if (si->nr_modules) {
    GUEST_ASSERT_EQ(si->nr_modules, 1);
    const struct mod_entry *m =
        (const struct mod_entry *)(uint32_t)si->modlist_paddr;
    mod_paddr = m->paddr;
    mod_size = m->size;
    GUEST_ASSERT(mod_paddr + mod_size <= 0x100000000ull);
    mod_hash = boot_hash((const void *)(uint32_t)mod_paddr, mod_size);
  }
  GUEST_SYNC(boot_ebx, si->memmap_entries, ram, boot_hash(cmd, cmdlen),
             mod_paddr, mod_hash);
  GUEST_SYNC(cmdlen, mod_size, si->rsdp_paddr, boot_esp, tr);
  guest_done();
}
