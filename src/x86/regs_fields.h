/* src/x86/regs_fields.h — the field lists of vmm_regs_t and vmm_sregs_t
 * as X-macros, so that each backend copies between its own register
 * structures and libvmm's by the same names, and a field added to the
 * public structs is added in one place for all backends. */
#ifndef VMM__X86_REGS_FIELDS_H
#define VMM__X86_REGS_FIELDS_H

/* vmm_regs_t: the general registers, RIP and RFLAGS. */
#define VMM__X86_GPRS(X)                                                      \
  X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9)         \
  X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

/* vmm_sregs_t: the segment registers (vmm_segment_t each) ... */
#define VMM__X86_SEGS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)

/* ... and the control registers, EFER and the APIC base. */
#define VMM__X86_CTRL_REGS(X)                                                 \
  X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(apic_base)

#endif
