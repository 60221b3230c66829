/* src/boot/aml.h — a small builder of ACPI Machine Language byte code
 * (the DSDT's content): names, integers, packages, devices, methods and
 * resource-template buffers. */
#ifndef VMM__BOOT_AML_H
#define VMM__BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM__AML_DEPTH 8

/*
 * Byte code is appended to a growing buffer. Objects with a length prefix
 * (scopes, devices, methods, packages, buffers) are opened, filled and
 * closed; closing inserts the PkgLength. The first failure (out of
 * memory, nesting too deep, a bad name) sticks in `err` and later calls
 * do nothing, so a caller checks once at the end.
 */
typedef struct vmm__aml {
  uint8_t *buf;
  size_t len, cap;
  size_t open[VMM__AML_DEPTH]; /* where each open object's body starts */
  int depth;
  int err; /* 0 or a negative VMM_E* code */
} vmm__aml_t;

void vmm__aml_init(vmm__aml_t *a);
void vmm__aml_free(vmm__aml_t *a);
/* The result: 0 and the byte code, or the first error (message set). */
int vmm__aml_finish(vmm__aml_t *a);

void vmm__aml_bytes(vmm__aml_t *a, const void *p, size_t n);
/* A name string: "\\_SB_.PCI0", "_HID", "^FOO"; segments shorter than
 * four characters are padded with '_'. */
void vmm__aml_name(vmm__aml_t *a, const char *path);
/* The smallest encoding of an integer (ZeroOp, OneOp, Byte..QWord). */
void vmm__aml_int(vmm__aml_t *a, uint64_t v);
void vmm__aml_string(vmm__aml_t *a, const char *s);
/* EISA id ("PNP0A03") as the compressed 32-bit integer. */
void vmm__aml_eisaid(vmm__aml_t *a, const char *id);

/* Name(path, <object that follows>) */
void vmm__aml_name_decl(vmm__aml_t *a, const char *path);
/* Openers; each is ended by vmm__aml_close(). */
void vmm__aml_scope(vmm__aml_t *a, const char *path);
void vmm__aml_device(vmm__aml_t *a, const char *path);
void vmm__aml_method(vmm__aml_t *a, const char *path, unsigned nargs,
                     bool serialized);
/* Package(n) { ... } — the caller appends exactly `n` elements. */
void vmm__aml_package(vmm__aml_t *a, unsigned n);
/* Buffer() { ... } holding a ResourceTemplate: resource descriptors,
 * then vmm__aml_res_end() (which sets the buffer's size), then
 * vmm__aml_close(). */
void vmm__aml_buffer(vmm__aml_t *a);
void vmm__aml_close(vmm__aml_t *a);
/* Return (<object that follows>) */
void vmm__aml_return(vmm__aml_t *a);

/* Resource descriptors, appended inside an open buffer (a
 * ResourceTemplate); vmm__aml_res_end() adds the end tag. */
void vmm__aml_res_bus_number(vmm__aml_t *a, uint16_t min, uint16_t max);
/* IO(Decode16, base, base, 1, len) */
void vmm__aml_res_io(vmm__aml_t *a, uint16_t base, uint8_t len);
/* WordIO producer window [min, max]. */
void vmm__aml_res_word_io(vmm__aml_t *a, uint16_t min, uint16_t max);
/* DWordMemory producer window [min, max], read-write, non-cacheable. */
void vmm__aml_res_dword_memory(vmm__aml_t *a, uint32_t min, uint32_t max);
/* Memory32Fixed(ReadWrite, base, len) */
void vmm__aml_res_memory32(vmm__aml_t *a, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, level ? Level : Edge, low ? ActiveLow :
 * ActiveHigh, Exclusive) { gsi } */
void vmm__aml_res_interrupt(vmm__aml_t *a, uint32_t gsi, bool level,
                            bool low);
void vmm__aml_res_end(vmm__aml_t *a);

#endif
