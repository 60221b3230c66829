/* tests/guests/net_guest.h — what the virtio-net guest (net_guest.c) and
 * tests/integration/net_test.c agree on: modes, parameters, the test
 * frame format and its checksum (shared code, freestanding). */
#ifndef GUESTS_NET_GUEST_H
#define GUESTS_NET_GUEST_H

#include <stdint.h>

/* Guest parameters (layout.h: GUEST_PARAM_GPA). */
#define NG_PARAM_MODE 0
#define NG_PARAM_BASE 1  /* MMIO base of the virtio-net device (or devfn) */
#define NG_PARAM_COUNT 2 /* frames to send, and to receive */
#define NG_PARAM_ID 3    /* this side's sender id (1-255) */
#define NG_PARAM_PEER 4  /* the sender id frames are expected from */
#define NG_PARAM_CASE 5  /* NG_BAD_* for NG_MODE_BAD */
#define NG_PARAM_FLAGS 6 /* 1: VIRTIO_F_EVENT_IDX, 2: INDIRECT_DESC */
#define NG_PARAM_PCI 7   /* 1: virtio-pci, NG_PARAM_BASE is the devfn */

#define NG_MODE_EXCHANGE 1 /* send COUNT frames, receive COUNT frames */
#define NG_MODE_BAD 2      /* break a rule (NG_PARAM_CASE), recover, send one */
#define NG_MODE_LINK 3     /* SYNC(READY); the host hangs up: link goes down */
#define NG_MODE_LINK_TX 4  /* the same, sending frames meanwhile (below) */

/* Syncs. EXCHANGE: SYNC(NG_SYNC_CONFIG, mac as u64, status, features),
 * SYNC(NG_SYNC_READY) once receive buffers are posted, then
 * SYNC(NG_SYNC_DONE, sent, received, bad, foreign). BAD:
 * SYNC(NG_SYNC_READY) when the host may send its frame (RX cases), then
 * SYNC(NG_SYNC_BAD, case, status seen, tx used len), for the RX cases
 * SYNC(NG_SYNC_READY) again after the reset (a frame from NG_PARAM_PEER is
 * expected), then SYNC(NG_SYNC_DONE, status, tx used len). */
#define NG_SYNC_CONFIG 1
#define NG_SYNC_READY 2
#define NG_SYNC_DONE 3
#define NG_SYNC_BAD 4
#define NG_SYNC_LINK 5 /* LINK: SYNC(NG_SYNC_LINK, status before, after);
                        * LINK_TX: the same plus the frames sent after
                        * READY (one at a time, each taken back) */

#define NG_BAD_SHORT_HDR 1   /* transmit chain of 8 bytes: dropped */
#define NG_BAD_OVERSIZE 2    /* header + 70000-byte frame: dropped */
#define NG_BAD_HDR_FLAGS 3   /* NEEDS_CSUM / GSO without offloads: dropped */
#define NG_BAD_TX_WRITABLE 4 /* device-writable buffer on transmitq: fail */
#define NG_BAD_RX_READONLY 5 /* device-readable receive buffer: fail */
#define NG_BAD_RX_TINY 6     /* 4-byte receive buffer: fail */
#define NG_BAD_COUNT 6

#define NG_ETHERTYPE 0x88b5 /* IEEE local experimental */
#define NG_HDR_LEN 12
#define NG_BIG 70000u

/*
 * A test frame: dst ff:ff:ff:ff:ff:ff, src (6), ethertype NG_ETHERTYPE,
 * then id (1), seq (4, LE), payload length (2, LE), payload, and a
 * checksum (4, LE) over everything from the id to the end of the payload.
 * Returns the frame's length.
 */
static inline uint32_t ng_payload_len(uint32_t seq) {
  return 46 + (seq * 37u) % 1400u;
}
static inline uint32_t ng_sum(const uint8_t *p, uint32_t n) {
  uint32_t s = 0;
  for (uint32_t i = 0; i < n; i++)
    s = s * 31u + p[i];
  return s;
}
static inline uint32_t ng_build(uint8_t *f, const uint8_t src[6], uint8_t id,
                                uint32_t seq) {
  uint32_t plen = ng_payload_len(seq);
  for (int i = 0; i < 6; i++) {
    f[i] = 0xff;
    f[6 + i] = src[i];
  }
  f[12] = NG_ETHERTYPE >> 8;
  f[13] = NG_ETHERTYPE & 0xff;
  f[14] = id;
  for (int i = 0; i < 4; i++)
    f[15 + i] = (uint8_t)(seq >> (8 * i));
  f[19] = (uint8_t)plen;
  f[20] = (uint8_t)(plen >> 8);
  for (uint32_t i = 0; i < plen; i++)
    f[21 + i] = (uint8_t)(id * 7u + seq * 13u + i);
  uint32_t s = ng_sum(f + 14, 7 + plen);
  for (int i = 0; i < 4; i++)
    f[21 + plen + i] = (uint8_t)(s >> (8 * i));
  return 21 + plen + 4;
}
/* 1: a good test frame (id and seq returned), 0: another ethertype (not
 * ours: ignore), -1: ours but broken. */
static inline int ng_check(const uint8_t *f, uint32_t len, uint8_t *id,
                           uint32_t *seq) {
  if (len < 14 || f[12] != (NG_ETHERTYPE >> 8) ||
      f[13] != (NG_ETHERTYPE & 0xff))
    return 0;
  if (len < 25)
    return -1;
  uint32_t plen = f[19] | (uint32_t)f[20] << 8;
  if (len < 25 + plen)
    return -1;
  uint32_t s = 0, want = ng_sum(f + 14, 7 + plen);
  for (int i = 0; i < 4; i++)
    s |= (uint32_t)f[21 + plen + i] << (8 * i);
  if (s != want)
    return -1;
  *id = f[14];
  *seq = f[15] | (uint32_t)f[16] << 8 | (uint32_t)f[17] << 16 |
         (uint32_t)f[18] << 24;
  return plen == ng_payload_len(*seq) ? 1 : -1;
}

#endif
