/* tests/guests/fleet.c — the guest each VM of examples/fleet runs: some
 * bytes from a virtio-rng (device work on the VM's libuv loop), then a
 * deterministic computation in ring 3 that the host checks. Reports
 * SYNC(result, rng bytes received, OR of the bytes) and DONE.
 * Parameters (layout.h): 0 the seed, 1 the steps (0: none), 2 the rng's
 * MMIO base (0: no rng), 3 how many rng bytes (at most FLEET_RNG_MAX). */
#include "compute.h"
#include "guest.h"
#include "ring3.h"
#include "virtio.h"

void guest_main(void);

#define FLEET_RNG_MAX 256

static struct virtq_mem qmem __attribute__((aligned(4096)));
static uint8_t rng_buf[FLEET_RNG_MAX];
static uint64_t rng_or;

/* Ring 3 (the wait for the device is a spinning loop). */
static uint64_t read_rng(uint64_t len) {
  struct virtio_dev d;
  struct virtq q;
  GUEST_ASSERT_EQ(virtio_init(&d, guest_param(2), VIRTIO_ID_RNG,
                              VIRTIO_F_VERSION_1), 0);
  virtq_setup(&d, &q, 0, &qmem, 8);
  virtio_driver_ok(&d);
  virtq_desc(&q, 0, rng_buf, (uint32_t)len, VRING_DESC_F_WRITE, 0);
  virtq_submit(&d, &q, 0);
  struct vring_used_elem e;
  GUEST_ASSERT(virtq_wait(&q, &e));
  GUEST_ASSERT_EQ(e.id, 0);
  for (uint32_t i = 0; i < e.len && i < len; i++)
    rng_or |= rng_buf[i];
  return e.len;
}

static uint64_t compute(uint64_t steps) {
  return compute_run(guest_param(0), steps);
}

void guest_main(void) {
  ring3_init();
  uint64_t got = 0, len = guest_param(3);
  if (guest_param(2)) {
    GUEST_ASSERT(len > 0 && len <= FLEET_RNG_MAX);
    got = ring3_call(read_rng, len);
  }
  uint64_t result = ring3_call(compute, guest_param(1));
  GUEST_SYNC(result, got, rng_or);
  guest_done();
}
