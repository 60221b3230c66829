// SPDX-License-Identifier: GPL-2.0
/* backends/svm/kmod/svm_npt.c — nested page tables: guest-physical to
 * host-physical, in the format of the CPU's own long-mode page tables
 * (the CPU walks them with the VMCB's nCR3 as root). Only 4 KiB leaves;
 * intermediate tables are allocated on demand and freed with the VM.
 * Every entry has the User bit: nested walks are treated as user
 * accesses. */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "svm_npt.h"

#define NPT_P (1ull << 0)
#define NPT_RW (1ull << 1)
#define NPT_US (1ull << 2)
#define NPT_ADDR 0x000ffffffffff000ull

struct lvs_npt {
  u64 *root; /* PML4 */
};

static u64 *table_alloc(void) {
  return (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
}

struct lvs_npt *lvs_npt_alloc(void) {
  struct lvs_npt *n = kzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
  if (!n)
    return NULL;
  n->root = table_alloc();
  if (!n->root) {
    kfree(n);
    return NULL;
  }
  return n;
}

static void table_free(u64 *t, int level) {
  if (level > 1)
    for (int i = 0; i < 512; i++)
      if (t[i] & NPT_P)
        table_free(__va(t[i] & NPT_ADDR), level - 1);
  free_page((unsigned long)t);
}

void lvs_npt_free(struct lvs_npt *n) {
  if (!n)
    return;
  table_free(n->root, 4);
  kfree(n);
}

u64 lvs_npt_root_pa(struct lvs_npt *n) { return __pa(n->root); }

/* The leaf entry for `gpa`, allocating the tables above it if `alloc`. */
static u64 *leaf(struct lvs_npt *n, u64 gpa, bool alloc) {
  u64 *t = n->root;
  for (int level = 4; level > 1; level--) {
    u64 *e = &t[(gpa >> (12 + 9 * (level - 1))) & 511];
    if (!(*e & NPT_P)) {
      u64 *nt;
      if (!alloc)
        return NULL;
      nt = table_alloc();
      if (!nt)
        return NULL;
      *e = __pa(nt) | NPT_P | NPT_RW | NPT_US;
    }
    t = __va(*e & NPT_ADDR);
  }
  return &t[(gpa >> 12) & 511];
}

int lvs_npt_map(struct lvs_npt *n, u64 gpa, u64 hpa, bool writable) {
  u64 *e = leaf(n, gpa, true);
  if (!e)
    return -ENOMEM;
  WRITE_ONCE(*e, (hpa & NPT_ADDR) | NPT_P | NPT_US | (writable ? NPT_RW : 0));
  return 0;
}

void lvs_npt_unmap(struct lvs_npt *n, u64 gpa) {
  u64 *e = leaf(n, gpa, false);
  if (e)
    WRITE_ONCE(*e, 0);
}
