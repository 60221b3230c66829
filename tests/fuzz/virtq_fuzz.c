/* tests/fuzz/virtq_fuzz.c — the libFuzzer entry point for the split
 * virtqueue walker (src/virtio/queue.c): descriptor chains, indirect
 * tables, the available and used rings, all written by a hostile driver.
 *
 * Input layout: byte 0 picks the queue size (a power of two, 1..256) and
 * the negotiated features (bit 3 indirect, bit 4 event_idx); byte 1 is how
 * many chains to try to pop; the rest is copied over guest RAM (64 KiB at
 * 0, the rings at 0x1000/0x2000/0x3000 inside it, as in
 * tests/unit/test_virtq.c). A ROM page sits at 0x10000 and a hole after
 * it. Whatever the rings hold, pop must answer 1, 0 or a refusal that
 * breaks the queue with a message, an element's buffers must lie inside
 * guest RAM, and reads/writes/pushes of what was popped must stay inside
 * them (ASan). Run under every build by fuzz_driver.c over
 * tests/fuzz/corpus-virtq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/memory.h>

#include "memmap.h"
#include "virtio/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u
#define ROM_GPA 0x10000ull
#define ROM_SIZE 0x1000u

static void invariant(int ok, const char *what) {
  if (ok)
    return;
  fprintf(stderr, "virtq_fuzz: invariant broken: %s\n", what);
  abort();
}

static struct vmm__memmap map;
static struct vmm__memslot ram, rom;
static int ready;

static void setup(void) {
  vmm__memmap_init(&map);
  ram.gpa = 0;
  ram.size = RAM_SIZE;
  ram.hva = aligned_alloc(4096, RAM_SIZE);
  rom.gpa = ROM_GPA;
  rom.size = ROM_SIZE;
  rom.flags = VMM_MEM_READONLY;
  rom.slot = 1;
  rom.hva = aligned_alloc(4096, ROM_SIZE);
  if (!ram.hva || !rom.hva || vmm__memmap_insert(&map, &ram) < 0 ||
      vmm__memmap_insert(&map, &rom) < 0)
    abort();
  memset(rom.hva, 0xa5, ROM_SIZE);
  ready = 1;
}

/* The element's buffers are host pointers into one of the two slots. */
static int inside(const struct vmm__memslot *s, const void *p, size_t n) {
  const uint8_t *b = p;
  return b >= s->hva && n <= s->size && b - s->hva <= (ptrdiff_t)(s->size - n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready)
    setup();
  if (size < 2)
    return 0;
  memset(ram.hva, 0, RAM_SIZE);
  size_t n = size - 2 < RAM_SIZE ? size - 2 : RAM_SIZE;
  memcpy(ram.hva, data + 2, n);

  struct vmm__virtq q;
  vmm__virtq_init(&q);
  q.size = (uint16_t)(1u << (data[0] % 9));
  q.indirect = data[0] & 0x08;
  q.event_idx = data[0] & 0x10;
  q.desc_gpa = 0x1000;
  q.avail_gpa = 0x2000;
  q.used_gpa = 0x3000;
  if (vmm__virtq_start(&q, &map) < 0)
    return 0;
  struct vmm__virtq_elem elem;
  memset(&elem, 0, sizeof(elem));
  static uint8_t buf[0x20000];
  unsigned rounds = data[1] % 32u + 1;
  for (unsigned i = 0; i < rounds; i++) {
    (void)vmm__virtq_has_avail(&q);
    int rc = vmm__virtq_pop(&q, &elem);
    invariant(rc <= 1, "pop result");
    if (rc < 0) {
      invariant(q.broken && q.error[0], "refused without a reason");
      invariant(vmm__virtq_pop(&q, &elem) < 0, "a broken queue popped");
      break;
    }
    if (rc == 0) {
      vmm__virtq_set_notify(&q, i & 1);
      continue;
    }
    invariant(elem.head < q.size, "head outside the table");
    uint64_t out = 0, in = 0;
    for (uint32_t k = 0; k < elem.out_num + elem.in_num; k++) {
      const struct iovec *v = &elem.iov[k];
      invariant(inside(&ram, v->iov_base, v->iov_len) ||
                    (k < elem.out_num && inside(&rom, v->iov_base, v->iov_len)),
                "a buffer outside guest memory (or a writable one in ROM)");
      if (k < elem.out_num)
        out += v->iov_len;
      else
        in += v->iov_len;
    }
    invariant(out == elem.out_len && in == elem.in_len, "part lengths");
    size_t r = vmm__virtq_elem_read(&elem, i, buf, sizeof(buf));
    invariant(r <= sizeof(buf), "read length");
    size_t w = vmm__virtq_elem_write(&elem, i & 7, buf, r);
    invariant(w <= elem.in_len, "wrote more than offered");
    invariant(vmm__virtq_push(&q, &elem, (uint32_t)w) == 0 || q.broken,
              "push of a popped chain failed without breaking the queue");
    (void)vmm__virtq_should_notify(&q);
  }
  vmm__virtq_elem_free(&elem);
  return 0;
}
