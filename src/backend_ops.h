/* src/backend_ops.h — the seam between the core and a hypervisor backend. */
#ifndef VMM__BACKEND_OPS_H
#define VMM__BACKEND_OPS_H

#include <stdbool.h>

#include <libvmm/libvmm.h>

struct vmm__sw;
struct vmm__sr;

/* msi_route_set: allocate a new GSI. */
#define VMM__GSI_NEW UINT32_MAX

/*
 * A backend is one const table of these. The core never includes a
 * hypervisor header; a backend never touches core structs beyond the
 * handles it is given. Every op returns 0 or a negative VMM_E* code and
 * sets the detailed message with vmm__error() on failure.
 */
struct vmm__backend_ops {
  const char *name;
  /* 0 when usable on this host. */
  int (*probe)(void);
  int (*caps)(uint64_t *caps);

  int (*vm_create)(vmm_vm_t *vm, void **bvm);
  void (*vm_destroy)(void *bvm);
  /* Installs (size > 0) or deletes (size == 0) memory slot `slot`. */
  int (*mem_set)(void *bvm, uint32_t slot, uint64_t gpa, uint64_t size,
                 void *hva, uint32_t flags);
  /* Fetches the pages written since the last fetch (and resets that). */
  int (*dirty_log_fetch)(void *bvm, uint32_t slot, uint64_t size,
                         uint64_t *bitmap);
  int (*supported_cpuid)(void *bvm, vmm_cpuid_entry_t *entries,
                         size_t capacity, size_t *count);

  /* Interrupts (VMM_VM_F_IRQCHIP). irqchip_create runs before any vCPU
   * exists. The fd ops attach (assign) or detach eventfds; the ones a
   * backend lacks are NULL, and libvmm falls back to user space. */
  int (*irqchip_create)(void *bvm);
  int (*irq_line)(void *bvm, uint32_t gsi, int level);
  int (*msi_send)(void *bvm, uint64_t address, uint32_t data);
  int (*irqfd)(void *bvm, int fd, uint32_t gsi, int assign);
  int (*ioeventfd)(void *bvm, int fd, vmm_io_space_t space, uint64_t addr,
                   uint32_t len, int match, uint64_t value, int assign);
  /* An MSI route: a GSI (for irqfd) that delivers the message (address,
   * data). *gsi == VMM__GSI_NEW allocates one and returns it; another
   * value updates that route. msi_route_del releases it. */
  int (*msi_route_set)(void *bvm, uint32_t *gsi, uint64_t address,
                       uint32_t data);
  void (*msi_route_del)(void *bvm, uint32_t gsi);

  int (*vcpu_create)(void *bvm, uint32_t id, void **bvcpu);
  void (*vcpu_destroy)(void *bvcpu);
  /*
   * Enters the guest once and translates the exit into `exit` (IO and MMIO
   * `data` point at backend-owned buffers that the next call consumes).
   * Returns VMM_EINTR when interrupted by a signal or the kick flag.
   */
  int (*vcpu_run)(void *bvcpu, vmm_exit_t *exit);
  /* Sets / clears the flag that makes the next or current entry return
   * VMM_EINTR at once. Must be safe from any thread. */
  void (*vcpu_kick_set)(void *bvcpu, int on);

  int (*get_regs)(void *bvcpu, vmm_regs_t *regs);
  int (*set_regs)(void *bvcpu, const vmm_regs_t *regs);
  int (*get_sregs)(void *bvcpu, vmm_sregs_t *sregs);
  int (*set_sregs)(void *bvcpu, const vmm_sregs_t *sregs);
  int (*get_fpu)(void *bvcpu, vmm_fpu_t *fpu);
  int (*set_fpu)(void *bvcpu, const vmm_fpu_t *fpu);
  int (*get_msrs)(void *bvcpu, vmm_msr_entry_t *entries, size_t count);
  int (*set_msrs)(void *bvcpu, const vmm_msr_entry_t *entries, size_t count);
  int (*get_cpuid)(void *bvcpu, vmm_cpuid_entry_t *entries, size_t capacity,
                   size_t *count);
  int (*set_cpuid)(void *bvcpu, const vmm_cpuid_entry_t *entries,
                   size_t count);
  /* VMM_DEBUG_* flags (and VMM__DEBUG_HW_BREAKPOINTS); `dr` NULL or
   * DR0..DR7 (8 values, DR4/DR5 ignored) for hardware breakpoints. */
  int (*set_debug)(void *bvcpu, uint32_t flags, const uint64_t *dr);
  /* vmm_mp_state_t of the vCPU; NULL when the backend cannot tell. */
  int (*get_mp_state)(void *bvcpu, uint32_t *state);

  /*
   * Event delivery for the emulation-failure assist (src/x86/assist.c).
   * inject_event makes the next entry deliver `vector` through the guest's
   * IDT before any instruction runs, with the current RIP as the return
   * address: VMM__EVENT_EXCEPTION as a CPU exception (with `error_code`
   * when has_error), VMM__EVENT_INTERRUPT like an interrupt (no error
   * code, no check of RFLAGS.IF: what INT n and the traps INT3/INT1 look
   * like once RIP was moved past the instruction). NULL when the backend
   * cannot; the assist then leaves the exit to the caller.
   */
  int (*inject_event)(void *bvcpu, uint8_t vector, int kind, int has_error,
                      uint32_t error_code);
  /* Guest-virtual to guest-physical through the vCPU's current paging;
   * *valid false when unmapped. NULL when the backend cannot. */
  int (*translate)(void *bvcpu, uint64_t gva, uint64_t *gpa, bool *valid);

  /*
   * Saved state (src/snapshot/state.c), in a layout the backend owns and
   * checks: everything of the VM (interrupt controllers, PIT, clock) and
   * of a vCPU (registers of every kind, MSRs, FPU/XSAVE, local APIC,
   * pending events, MP state, CPUID) that guest memory does not hold.
   * Called with no vCPU in the guest; load runs into a VM built with the
   * same configuration before its vCPUs first run. NULL when the backend
   * cannot save state.
   */
  int (*vm_state_save)(void *bvm, struct vmm__sw *w);
  int (*vm_state_load)(void *bvm, struct vmm__sr *r);
  int (*vcpu_state_save)(void *bvcpu, struct vmm__sw *w);
  int (*vcpu_state_load)(void *bvcpu, struct vmm__sr *r);
  /* Finishes, without entering the guest, an instruction whose exit user
   * space already answered (a port or MMIO read's data), so the state
   * read next is the one after it. */
  int (*vcpu_complete)(void *bvcpu);
};

/* Internal set_debug flag: use dr[] (the gdb stub's breakpoints). */
#define VMM__DEBUG_HW_BREAKPOINTS (1u << 31)

#define VMM__EVENT_EXCEPTION 0
#define VMM__EVENT_INTERRUPT 1

/* Compiled-in backends, in "auto" preference order; NULL-terminated. */
extern const struct vmm__backend_ops *const vmm__backends[];

/* Looks a backend up by name ("auto" = first usable). */
int vmm__backend_find(const char *name, const struct vmm__backend_ops **out);

#endif
