/* tests/guests/hypercall.c — the libvmm hypercall ABI round trip: a
 * registered function, unregistered numbers that surface as
 * VMM_EXIT_HYPERCALL (answered and unanswered), the same from ring 3, a
 * function removed while the guest runs, and a function that fails. */
#include "guest.h"
#include "ring3.h"

void guest_main(void);

static uint64_t hypercall_sequence(uint64_t ring) {
  GUEST_ASSERT_EQ(hypercall(HC_ADD, 1, 2, 3, 4, 5 + ring), 0x100 + 15 + ring);
  GUEST_ASSERT_EQ(hypercall(HC_ECHO_EXIT, 10, 20, 30, 40, 50 + ring),
                  HC_ECHO_RET);
  /* Nobody answers: the ABI says -ENOSYS. */
  GUEST_ASSERT_EQ(hypercall(HC_UNANSWERED, 0, 0, 0, 0, ring), (uint64_t)-38);
  return guest_cpl();
}

void guest_main(void) {
  GUEST_ASSERT_EQ(hypercall_sequence(0), 0);
  GUEST_SYNC(0);
  ring3_init();
  GUEST_ASSERT_EQ(ring3_call(hypercall_sequence, 3), 3);
  GUEST_SYNC(3);
  /* The host unregistered HC_ADD: now it exits and the host answers. */
  GUEST_ASSERT_EQ(hypercall(HC_ADD, 7, 0, 0, 0, 0), HC_ECHO_RET);
  GUEST_SYNC(4);
  hypercall(HC_FAIL, 0, 0, 0, 0, 0);
  guest_done();
}
