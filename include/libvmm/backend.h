/* libvmm/backend.h — which hypervisor backends are compiled in and usable. */
#ifndef LIBVMM_BACKEND_H
#define LIBVMM_BACKEND_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Capability bits reported by vmm_backend_caps() and vmm_vm_caps(). */
#define VMM_CAP_READONLY_MEM (1ull << 0)   /* ROM regions trap writes as MMIO */
#define VMM_CAP_DIRTY_LOG (1ull << 1)      /* per-region dirty page log */
#define VMM_CAP_IMMEDIATE_EXIT (1ull << 2) /* race-free vmm_vcpu_kick() */
#define VMM_CAP_IRQCHIP (1ull << 3)        /* in-kernel interrupt controller */
#define VMM_CAP_IOEVENTFD (1ull << 4)      /* doorbells signalled by eventfd */
#define VMM_CAP_IRQFD (1ull << 5)          /* interrupts raised by eventfd */
#define VMM_CAP_GUEST_DEBUG (1ull << 6)    /* single step / breakpoints */
#define VMM_CAP_CPUID (1ull << 7)          /* guest CPUID table can be set */
#define VMM_CAP_MSRS (1ull << 8)           /* guest MSRs can be read/written */
#define VMM_CAP_XSAVE (1ull << 9)          /* extended FPU state */

/* Number of backends compiled into this library. */
VMM_EXPORT unsigned int vmm_backend_count(void);
/* Name of backend number `index` ("kvm"), or NULL past the end. */
VMM_EXPORT const char *vmm_backend_name(unsigned int index);
/*
 * 0 when backend `name` can create VMs on this host; otherwise a negative
 * code (VMM_ENODEV: not compiled in or no device node, VMM_EACCES: no
 * permission...) with the reason in vmm_last_error(). "auto" probes the
 * backend that vmm_vm_create() would pick.
 */
VMM_EXPORT int vmm_backend_probe(const char *name);
/* Capability bits (VMM_CAP_*) of backend `name` on this host. */
VMM_EXPORT int vmm_backend_caps(const char *name, uint64_t *caps);

#ifdef __cplusplus
}
#endif
#endif
