/* src/migrate/proto.h — the migration stream: framed, checksummed records
 * over a file descriptor, with a time limit on every wait for the peer
 * (docs/migration.md describes the format). Shared by send.c and recv.c. */
#ifndef VMM__MIGRATE_PROTO_H
#define VMM__MIGRATE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM__MIG_MAGIC "LIBVMMMG"
#define VMM__MIG_FORMAT 1u
#define VMM__MIG_HDR_MAGIC 0x4d56u /* "VM" little-endian, every record */
#define VMM__MIG_PAGE 4096u
#define VMM__MIG_MAX_REGIONS 64u
#define VMM__MIG_MAX_DESC (1u << 20)          /* description JSON */
#define VMM__MIG_RUN_PAGES 256u                /* pages per PAGES record */
#define VMM__MIG_MAX_STATE (256u << 20)        /* state section */
#define VMM__MIG_MAX_TEXT 512u                 /* messages */

enum vmm__mig_type {
  VMM__MIG_HELLO = 1, /* source → destination: versions, regions, JSON */
  VMM__MIG_READY = 2, /* destination → source: built the VM (or why not) */
  VMM__MIG_ROUND = 3, /* a pre-copy round begins */
  VMM__MIG_PAGES = 4, /* a run of pages of one region */
  VMM__MIG_STATE = 5, /* vCPU, irqchip, clock and device state */
  VMM__MIG_END = 6,   /* nothing follows; totals to check */
  VMM__MIG_ACK = 7,   /* destination → source: has the VM (or why not) */
  VMM__MIG_ABORT = 8, /* source → destination: gives up, with a message */
};

/* Record header (16 bytes, little-endian): u16 magic, u16 type,
 * u32 reserved (0), u64 payload length; then the payload, then a u64
 * checksum of header and payload. */
#define VMM__MIG_HDR_SIZE 16u
#define VMM__MIG_HELLO_FIXED 32u  /* magic[8], 6 x u32 */
#define VMM__MIG_REGION_SIZE 24u  /* u64 gpa, u64 size, u32 flags, u32 0 */
#define VMM__MIG_PAGES_FIXED 16u  /* u32 region, u32 count, u64 first */

struct vmm__mig_hash {
  uint64_t h;
  uint8_t tail[8];
  unsigned ntail;
};

struct vmm__mig_stream {
  int fd;
  int timeout_ms;   /* < 0: no limit */
  int is_socket;    /* -1 unknown, 0 no (write()), 1 yes (send()) */
  uint64_t bytes;   /* both directions */
  bool broken;      /* a read or write failed: send nothing more */
  struct vmm__mig_hash rx; /* checksum of the record being read */
};

struct vmm__mig_hdr {
  uint16_t type;
  uint64_t len;
};

void vmm__mig_hash_init(struct vmm__mig_hash *h);
void vmm__mig_hash_update(struct vmm__mig_hash *h, const void *p, size_t n);
uint64_t vmm__mig_hash_final(struct vmm__mig_hash *h);

void vmm__mig_stream_init(struct vmm__mig_stream *s, int fd, int timeout_ms);

/* Writes one record whose payload is `a` then `b` (either may be empty). */
int vmm__mig_send(struct vmm__mig_stream *s, uint16_t type, const void *a,
                  size_t alen, const void *b, size_t blen);
/*
 * Reads a record header: checks its magic, type and length against the
 * limit of its type. `where` names the point of the stream for messages.
 * Then read the payload with vmm__mig_recv_payload() (as many pieces as
 * wanted, exactly hdr->len bytes in all) and vmm__mig_recv_end().
 */
int vmm__mig_recv_hdr(struct vmm__mig_stream *s, struct vmm__mig_hdr *hdr,
                      const char *where);
int vmm__mig_recv_payload(struct vmm__mig_stream *s, void *buf, size_t n,
                          const char *what);
/* Reads and checks the record's checksum. */
int vmm__mig_recv_end(struct vmm__mig_stream *s, const char *what);

const char *vmm__mig_type_name(unsigned type);

/* Little-endian field access for payloads. */
static inline void vmm__mig_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void vmm__mig_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t vmm__mig_get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static inline uint64_t vmm__mig_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* Status records (READY, ACK, ABORT): u32 status (0 or a negative
 * VMM_E* code) then a message. */
int vmm__mig_send_status(struct vmm__mig_stream *s, uint16_t type,
                         int status, const char *msg);
/* Reads the payload of a status record of `len` bytes: *status and the
 * message (NUL-terminated, at most VMM__MIG_MAX_TEXT). */
int vmm__mig_recv_status(struct vmm__mig_stream *s, uint64_t len,
                         int *status, char *msg, size_t msg_size);

#endif
