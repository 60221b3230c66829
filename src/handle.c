/* src/handle.c — registry of live handles, so stale pointers get VMM_EBADF. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "vm_internal.h"

/*
 * An open-addressing hash set of (pointer, type) under one mutex. Calls
 * that take a handle check it here before dereferencing it, so a handle
 * that was destroyed (or never was one) is reported instead of touching
 * freed memory. It costs a lock and a probe per call; vmm_vcpu_run()
 * pays that once per call, not per exit.
 */
struct entry {
  uintptr_t key; /* 0 empty, 1 deleted */
  int type;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static size_t capacity, used; /* used counts deleted slots too */

static size_t hash(uintptr_t p, size_t cap) {
  uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 17) & (cap - 1);
}

/* Rebuilds the table with room for twice the live entries (at least 256
 * slots), dropping deleted markers: without that, a process creating and
 * destroying VMs forever would grow the table forever. */
static int rehash(void) {
  size_t live = 0;
  for (size_t i = 0; i < capacity; i++)
    live += table[i].key > 1;
  size_t ncap = 256;
  while (ncap < (live + 1) * 4)
    ncap *= 2;
  struct entry *n = calloc(ncap, sizeof(*n));
  if (!n)
    return -1;
  for (size_t i = 0; i < capacity; i++) {
    if (table[i].key <= 1)
      continue;
    size_t j = hash(table[i].key, ncap);
    while (n[j].key)
      j = (j + 1) & (ncap - 1);
    n[j] = table[i];
  }
  free(table);
  table = n;
  capacity = ncap;
  used = live;
  return 0;
}

int vmm__handle_add(const void *p, enum vmm__handle_type type) {
  int rc = 0;
  pthread_mutex_lock(&lock);
  if ((used + 1) * 2 > capacity && rehash() < 0) {
    rc = VMM_ENOMEM;
  } else {
    size_t j = hash((uintptr_t)p, capacity);
    while (table[j].key > 1)
      j = (j + 1) & (capacity - 1);
    if (table[j].key == 0)
      used++;
    table[j].key = (uintptr_t)p;
    table[j].type = (int)type;
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

static struct entry *lookup(uintptr_t key) {
  if (!capacity)
    return NULL;
  size_t j = hash(key, capacity);
  while (table[j].key) {
    if (table[j].key == key)
      return &table[j];
    j = (j + 1) & (capacity - 1);
  }
  return NULL;
}

void vmm__handle_remove(const void *p) {
  pthread_mutex_lock(&lock);
  struct entry *e = lookup((uintptr_t)p);
  if (e)
    e->key = 1;
  pthread_mutex_unlock(&lock);
}

bool vmm__handle_valid(const void *p, enum vmm__handle_type type) {
  if (!p)
    return false;
  pthread_mutex_lock(&lock);
  struct entry *e = lookup((uintptr_t)p);
  bool ok = e && e->type == (int)type;
  pthread_mutex_unlock(&lock);
  return ok;
}
