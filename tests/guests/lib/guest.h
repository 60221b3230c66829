/* tests/guests/lib/guest.h — the guest-side library: port I/O, printing on
 * port 0xE9, ucalls, assertions, hypercalls. Builds for 64- and 32-bit. */
#ifndef GUESTS_GUEST_H
#define GUESTS_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "ucall.h"

#define NORETURN __attribute__((noreturn))

/* ---- port I/O ---- */
static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}

static inline void hlt(void) { __asm__ volatile("hlt" : : : "memory"); }

static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
  __asm__ volatile("cpuid"
                   : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                   : "a"(leaf), "c"(subleaf));
}

/* Current privilege level: the RPL bits of CS. */
static inline unsigned int guest_cpl(void) {
  unsigned long cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  return cs & 3;
}

/*
 * libvmm hypercall (include/libvmm/io.h): number in EAX, arguments in
 * RBX, RCX, RDX, RSI, RDI (EBX... in 32-bit code), a 32-bit OUT of EAX to
 * the hypercall port, the result in RAX.
 */
#define GUEST_HYPERCALL_PORT 0xec
static inline unsigned long hypercall(unsigned long nr, unsigned long a0,
                                      unsigned long a1, unsigned long a2,
                                      unsigned long a3, unsigned long a4) {
  unsigned long ret;
  __asm__ volatile("outl %%eax, %1"
                   : "=a"(ret)
                   : "Nd"((uint16_t)GUEST_HYPERCALL_PORT), "a"(nr), "b"(a0),
                     "c"(a1), "d"(a2), "S"(a3), "D"(a4)
                   : "memory");
  return ret;
}

/* The host's parameters for this run (layout.h). */
static inline uint64_t guest_param(unsigned int i) {
  return ((volatile uint64_t *)(uintptr_t)GUEST_PARAM_GPA)[i];
}
static inline void guest_set_status(uint64_t v) {
  *(volatile uint64_t *)(uintptr_t)GUEST_STATUS_GPA = v;
}

/* ---- printing on port 0xE9 (no host cooperation beyond the port) ---- */
void guest_putc(char c);
void guest_puts(const char *s);

/* ---- formatting: %s %c %d %u %x %lx %llx %p (and l/ll for d/u) ---- */
int guest_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int guest_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- ucalls ---- */
/* Sends `cmd` with `nargs` (at most UCALL_MAX_ARGS) arguments. */
void ucall(uint32_t cmd, int nargs, const uint64_t *args);
/* PRINT: the host shows the text; the guest goes on. */
void guest_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NORETURN void guest_done(void);
NORETURN void guest_exception(uint64_t vector, uint64_t error_code,
                              uint64_t rip, uint64_t cs, uint64_t cr2);
NORETURN void guest_abort(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define GUEST_NARGS_(_0, _1, _2, _3, _4, _5, _6, N, ...) N
#define GUEST_NARGS(...) GUEST_NARGS_(_, ##__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
/* GUEST_SYNC(a, b...): a checkpoint carrying up to 6 values. The compound
 * literal converts each to uint64_t (varargs would pass an int or a 32-bit
 * long as 4 bytes, with garbage above). */
#define GUEST_SYNC(...)                                                       \
  ucall(UCALL_SYNC, GUEST_NARGS(__VA_ARGS__),                                 \
        (const uint64_t[UCALL_MAX_ARGS]){__VA_ARGS__})

#define GUEST_ASSERT(cond)                                                    \
  do {                                                                        \
    if (!(cond))                                                              \
      guest_abort(__FILE__, __LINE__, "assertion failed: %s", #cond);         \
  } while (0)

#define GUEST_ASSERT_EQ(a, b)                                                 \
  do {                                                                        \
    uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                          \
    if (a_ != b_)                                                             \
      guest_abort(__FILE__, __LINE__, "%s == %s failed: 0x%llx != 0x%llx",    \
                  #a, #b, (unsigned long long)a_, (unsigned long long)b_);    \
  } while (0)

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
