/* tests/guests/virtio_guest.h — what the virtio guest (virtio_guest.c) and
 * tests/integration/virtio_test.c agree on: modes, parameters, cases. */
#ifndef GUESTS_VIRTIO_GUEST_H
#define GUESTS_VIRTIO_GUEST_H

/* Guest parameters (layout.h: GUEST_PARAM_GPA). */
#define VT_PARAM_MODE 0
#define VT_PARAM_BASE 1  /* MMIO base of the device under test */
#define VT_PARAM_COUNT 2 /* bytes to read (rng) or to echo (console) */
#define VT_PARAM_FLAGS 3 /* VT_F_* */
#define VT_PARAM_CASE 4  /* VT_BAD_* for VT_MODE_BAD */
#define VT_PARAM_GSI 5   /* VT_MODE_RNG_IRQ: the device's interrupt line */
#define VT_PARAM_QMAX 6  /* VT_MODE_PROTOCOL: the QueueNumMax expected */

/* Parameter 0. */
#define VT_MODE_PROTOCOL 1 /* rng: register semantics, reset, queue restart */
#define VT_MODE_RNG 2      /* rng: reads COUNT bytes; SYNC(gpa, count, isr...) */
#define VT_MODE_CONSOLE 3  /* console: echoes COUNT bytes */
#define VT_MODE_BAD 4      /* breaks a rule (VT_PARAM_CASE), watches */
#define VT_MODE_RNG_IRQ 5  /* rng with the IOAPIC: interrupts, level, ack */

/* Features the driver asks for (parameter 3). */
#define VT_F_INDIRECT 1
#define VT_F_EVENT_IDX 2

/* The rng guest's buffer holds at most this many bytes; 64 bytes of
 * 0xAA follow what was asked for, which the device must not touch. */
#define VT_RNG_MAX 8192
#define VT_CANARY 0xaa
#define VT_CANARY_LEN 64

/* Console mode: SYNC(VT_SYNC_READY) when the receive buffers are posted
 * (the host may send the rest then), SYNC(VT_SYNC_ECHOED, n, sum) at the
 * end, sum = sum * 31 + byte over every byte. */
#define VT_SYNC_READY 1
#define VT_SYNC_ECHOED 2

/* Interrupt mode: the vector the IOAPIC entry uses. */
#define VT_IRQ_VECTOR 0x30

/* Malicious drivers (parameter 4). The guest does the bad thing, then
 * reports SYNC(case, status, isr) once Status shows NEEDS_RESET (or after
 * a time-out), then SYNC(case, status after a new FEATURES_OK attempt). */
#define VT_BAD_LOOP 1           /* descriptor 0 -> 1 -> 0 */
#define VT_BAD_ADDR 2           /* a buffer outside guest RAM */
#define VT_BAD_WRAP 3           /* addr + len wraps around 2^64 */
#define VT_BAD_NESTED_INDIRECT 4 /* an indirect table naming another */
#define VT_BAD_HEAD 5           /* available ring names descriptor >= size */
#define VT_BAD_AVAIL_JUMP 6     /* avail idx moves by size + 1 */
#define VT_BAD_READONLY_BUF 7   /* rng given a device-readable buffer */
#define VT_BAD_CONFIG_WRITE 8   /* config write beyond the config space */
#define VT_BAD_ODD_READ 9       /* 2-byte read of the Status register */
#define VT_BAD_RING_ADDR 10     /* descriptor table outside guest RAM */
#define VT_BAD_RING_ALIGN 11    /* descriptor table 8-byte aligned */
#define VT_BAD_NEXT 12          /* next index >= size */
#define VT_BAD_TX_WRITABLE 13   /* console: writable buffer on transmitq */
#define VT_BAD_RX_READABLE 14   /* console: readable buffer on receiveq */
#define VT_BAD_INDIRECT_LEN 15  /* indirect table of 24 bytes */
#define VT_BAD_QUEUE_SIZE 16    /* QueueNum 3 */
#define VT_BAD_ODD_WRITE 17     /* 1-byte write to QueueNotify */
#define VT_BAD_CONFIG_READ 18   /* console: 4-byte read at config offset 6 */
#define VT_BAD_USED_ROM 19      /* used ring in the ROM region */
#define VT_BAD_COUNT 19

/* VT_BAD_USED_ROM: where the host maps a read-only region. */
#define VT_ROM_GPA 0x600000ull
#define VT_ROM_SIZE 0x10000ull

#endif
