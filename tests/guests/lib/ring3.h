/* tests/guests/lib/ring3.h — running guest code in ring 3 (64-bit guests).
 *
 * On this machine's KVM guest ring-0 code is emulated (~2M instr/s) while
 * ring 3 runs natively, so hot loops belong in ring 3. Ring 3 is entered
 * with IRETQ (RFLAGS.IOPL = 3, so user code may do port I/O: print,
 * ucall, hypercall) and left with SYSCALL, whose entry point restores the
 * ring-0 context saved by ring3_call(). One vCPU at a time: the saved
 * context and the ring-3 stack are single globals.
 */
#ifndef GUESTS_RING3_H
#define GUESTS_RING3_H

#include <stdint.h>

typedef uint64_t (*ring3_fn)(uint64_t arg);

/* Ring 0: sets EFER.SCE, STAR (selectors per VMM_LM_SEL_*), LSTAR (the
 * SYSCALL entry) and FMASK. Call once before ring3_call(). */
void ring3_init(void);
/* Ring 0: runs fn(arg) in ring 3 on a private stack and returns its result
 * when fn returns. fn must not return by other means. */
uint64_t ring3_call(ring3_fn fn, uint64_t arg);

#endif
