/* bench/raw_kvm.c — the baseline VMM on /dev/kvm that libvmm is compared with. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "raw_kvm.h"

static int fail(const char *what) {
  fprintf(stderr, "raw kvm: %s: %s\n", what, strerror(errno));
  return -1;
}

int raw_kvm_open(struct raw_kvm *kvm) {
  kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm->fd < 0)
    return fail("open /dev/kvm");
  if (ioctl(kvm->fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
    close(kvm->fd);
    errno = EINVAL;
    return fail("KVM_GET_API_VERSION");
  }
  int size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) {
    fail("KVM_GET_VCPU_MMAP_SIZE");
    close(kvm->fd);
    return -1;
  }
  kvm->run_size = (size_t)size;
  /* KVM_GET_SUPPORTED_CPUID fails with E2BIG until the buffer is big
   * enough. */
  kvm->cpuid = NULL;
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    struct kvm_cpuid2 *c =
        calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (!c)
      break;
    c->nent = n;
    if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
      kvm->cpuid = c;
      return 0;
    }
    free(c);
    if (errno != E2BIG)
      break;
  }
  fail("KVM_GET_SUPPORTED_CPUID");
  close(kvm->fd);
  kvm->fd = -1;
  return -1;
}

void raw_kvm_close(struct raw_kvm *kvm) {
  if (kvm->fd >= 0)
    close(kvm->fd);
  kvm->fd = -1;
  free(kvm->cpuid);
  kvm->cpuid = NULL;
}

int raw_vm_create(struct raw_kvm *kvm, struct raw_vm *vm) {
  memset(vm, 0, sizeof(*vm));
  vm->fd = vm->vcpu_fd = -1;
  vm->fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
  if (vm->fd < 0) {
    fail("KVM_CREATE_VM");
    goto out;
  }
  /* Three pages just below the 4 GiB BIOS area, as most VMMs put them. */
  if (ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) {
    fail("KVM_SET_TSS_ADDR");
    goto out;
  }
  return 0;
out:
  raw_vm_destroy(vm);
  return -1;
}

int raw_mem_map(struct raw_vm *vm, size_t mem_size) {
  vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm->mem == MAP_FAILED) {
    vm->mem = NULL;
    fail("mmap guest memory");
    goto out;
  }
  vm->mem_size = mem_size;
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .flags = 0,
      .guest_phys_addr = 0,
      .memory_size = mem_size,
      .userspace_addr = (uint64_t)(uintptr_t)vm->mem,
  };
  if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    fail("KVM_SET_USER_MEMORY_REGION");
    goto out;
  }
  return 0;
out:
  raw_vm_destroy(vm);
  return -1;
}

int raw_vcpu_create(struct raw_kvm *kvm, struct raw_vm *vm) {
  vm->vcpu_fd = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
  if (vm->vcpu_fd < 0) {
    fail("KVM_CREATE_VCPU");
    goto out;
  }
  vm->run = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                 vm->vcpu_fd, 0);
  if (vm->run == MAP_FAILED) {
    vm->run = NULL;
    fail("mmap kvm_run");
    goto out;
  }
  vm->run_size = kvm->run_size;
  if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, kvm->cpuid) < 0) {
    fail("KVM_SET_CPUID2");
    goto out;
  }
  return 0;
out:
  raw_vm_destroy(vm);
  return -1;
}

int raw_vm_setup(struct raw_kvm *kvm, size_t mem_size, struct raw_vm *vm) {
  if (raw_vm_create(kvm, vm) < 0 || raw_mem_map(vm, mem_size) < 0 ||
      raw_vcpu_create(kvm, vm) < 0)
    return -1;
  return 0;
}

void raw_vm_destroy(struct raw_vm *vm) {
  if (vm->run)
    munmap(vm->run, vm->run_size);
  if (vm->vcpu_fd >= 0)
    close(vm->vcpu_fd);
  if (vm->fd >= 0)
    close(vm->fd);
  if (vm->mem)
    munmap(vm->mem, vm->mem_size);
  memset(vm, 0, sizeof(*vm));
  vm->fd = vm->vcpu_fd = -1;
}
static void seg_from_kvm(vmm_segment_t *d, const struct kvm_segment *s) {
  memset(d, 0, sizeof(*d));
  d->base = s->base;
  d->limit = s->limit;
  d->selector = s->selector;
  d->type = s->type;
  d->present = s->present;
  d->dpl = s->dpl;
  d->db = s->db;
  d->s = s->s;
  d->l = s->l;
  d->g = s->g;
  d->avl = s->avl;
  d->unusable = s->unusable;
}

static void seg_to_kvm(struct kvm_segment *d, const vmm_segment_t *s) {
  memset(d, 0, sizeof(*d));
  d->base = s->base;
  d->limit = s->limit;
  d->selector = s->selector;
  d->type = s->type;
  d->present = s->present;
  d->dpl = s->dpl;
  d->db = s->db;
  d->s = s->s;
  d->l = s->l;
  d->g = s->g;
  d->avl = s->avl;
  d->unusable = s->unusable;
}

int raw_get_sregs(struct raw_vm *vm, vmm_sregs_t *sregs) {
  struct kvm_sregs k;
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &k) < 0)
    return fail("KVM_GET_SREGS");
  vm->sregs = k;
  memset(sregs, 0, sizeof(*sregs));
  seg_from_kvm(&sregs->cs, &k.cs);
  seg_from_kvm(&sregs->ds, &k.ds);
  seg_from_kvm(&sregs->es, &k.es);
  seg_from_kvm(&sregs->fs, &k.fs);
  seg_from_kvm(&sregs->gs, &k.gs);
  seg_from_kvm(&sregs->ss, &k.ss);
  seg_from_kvm(&sregs->tr, &k.tr);
  seg_from_kvm(&sregs->ldt, &k.ldt);
  sregs->gdt.base = k.gdt.base;
  sregs->gdt.limit = k.gdt.limit;
  sregs->idt.base = k.idt.base;
  sregs->idt.limit = k.idt.limit;
  sregs->cr0 = k.cr0;
  sregs->cr2 = k.cr2;
  sregs->cr3 = k.cr3;
  sregs->cr4 = k.cr4;
  sregs->cr8 = k.cr8;
  sregs->efer = k.efer;
  sregs->apic_base = k.apic_base;
  return 0;
}

/* Starts from what raw_get_sregs() read (interrupt bitmap included), as a
 * VMM that does get-modify-set would. */
int raw_set_sregs(struct raw_vm *vm, const vmm_sregs_t *sregs) {
  struct kvm_sregs k = vm->sregs;
  seg_to_kvm(&k.cs, &sregs->cs);
  seg_to_kvm(&k.ds, &sregs->ds);
  seg_to_kvm(&k.es, &sregs->es);
  seg_to_kvm(&k.fs, &sregs->fs);
  seg_to_kvm(&k.gs, &sregs->gs);
  seg_to_kvm(&k.ss, &sregs->ss);
  seg_to_kvm(&k.tr, &sregs->tr);
  seg_to_kvm(&k.ldt, &sregs->ldt);
  k.gdt.base = sregs->gdt.base;
  k.gdt.limit = sregs->gdt.limit;
  k.idt.base = sregs->idt.base;
  k.idt.limit = sregs->idt.limit;
  k.cr0 = sregs->cr0;
  k.cr2 = sregs->cr2;
  k.cr3 = sregs->cr3;
  k.cr4 = sregs->cr4;
  k.cr8 = sregs->cr8;
  k.efer = sregs->efer;
  k.apic_base = sregs->apic_base;
  if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &k) < 0)
    return fail("KVM_SET_SREGS");
  return 0;
}

int raw_set_regs(struct raw_vm *vm, const vmm_regs_t *regs) {
  struct kvm_regs k = {
      .rax = regs->rax, .rbx = regs->rbx, .rcx = regs->rcx,
      .rdx = regs->rdx, .rsi = regs->rsi, .rdi = regs->rdi,
      .rsp = regs->rsp, .rbp = regs->rbp, .r8 = regs->r8,
      .r9 = regs->r9, .r10 = regs->r10, .r11 = regs->r11,
      .r12 = regs->r12, .r13 = regs->r13, .r14 = regs->r14,
      .r15 = regs->r15, .rip = regs->rip, .rflags = regs->rflags,
  };
  if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &k) < 0)
    return fail("KVM_SET_REGS");
  return 0;
}
