/* bench/guests/notify_bench.h — what the notify benchmark's guest
 * (notify_guest.c) and host (bench/notify.c) agree on. */
#ifndef BENCH_NOTIFY_BENCH_H
#define BENCH_NOTIFY_BENCH_H

/* Guest parameters (tests/guests/lib/layout.h: GUEST_PARAM_GPA). */
#define NB_PARAM_PCI 0    /* 1: virtio-pci, BASE is the devfn */
#define NB_PARAM_BASE 1   /* virtio-mmio base, or the PCI devfn */
#define NB_PARAM_ROUNDS 2
#define NB_PARAM_N 3      /* round trips per round */
#define NB_PARAM_MSIX 4   /* PCI: completions raise MSI-X vector NB_VECTOR */

#define NB_VECTOR 0x40

/* GUEST_SYNC(NB_SYNC_START, round) before a round's round trips,
 * GUEST_SYNC(NB_SYNC_END, round, bytes received, notifications the
 * device did not want) after them. */
#define NB_SYNC_START 1
#define NB_SYNC_END 2

#endif
