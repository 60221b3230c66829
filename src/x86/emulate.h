/* src/x86/emulate.h — instructions the assist carries out itself. */
#ifndef VMM__X86_EMULATE_H
#define VMM__X86_EMULATE_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

#include "x86/decode.h"

/*
 * Carries out the decoded instruction on the vCPU (registers `r` as read,
 * segment state `s`, privilege `cpl`) when it is one emulate.c knows and
 * nothing about it needs an exception; *done true when it was, with RIP
 * moved past it and the registers written back; *fault >= 0 instead when
 * the instruction raises that exception (error code 0) and must be
 * delivered rather than carried out. Returns 0, or a negative
 * code when guest state or memory could not be reached (nothing done).
 */
int vmm__x86_emulate(vmm_vcpu_t *vcpu, const struct vmm__x86_insn *d,
                     vmm_regs_t *r, const vmm_sregs_t *s, unsigned cpl,
                     bool *done, int *fault);
/* Moves RIP past `d` and writes `r` back; *done true on success. */
int vmm__x86_emulate_finish(vmm_vcpu_t *vcpu, const struct vmm__x86_insn *d,
                            vmm_regs_t *r, bool *done);

#endif
