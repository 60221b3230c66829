// SPDX-License-Identifier: GPL-2.0
/* backends/svm/kmod/main.c — /dev/libvmm-svm: the device, VM and vCPU
 * files, guest memory regions (pinned user memory) and the checks on
 * every argument that comes from user space. The vendor part (svm.c) is
 * reached through lvs_svm_ops only. */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/io.h>

#include "lvs.h"

static const struct lvs_vendor_ops *ops = &lvs_svm_ops;
static u32 hw_features;

/* ---- memory regions ------------------------------------------------- */

struct lvs_region_k *lvs_region_find(struct lvs_vm *vm, u64 gpa) {
  for (int i = 0; i < LVS_MAX_REGIONS; i++) {
    struct lvs_region_k *r = &vm->regions[i];
    if (r->used && gpa >= r->gpa && gpa - r->gpa < r->size)
      return r;
  }
  return NULL;
}

static void region_release(struct lvs_vm *vm, struct lvs_region_k *r,
                           unsigned long mapped) {
  /* No vCPU is inside the guest (or in its exit handling, which looks
   * regions up) while the write lock is held, and each one flushes its
   * TLB before entering again (npt_gen). */
  down_write(&vm->mem_lock);
  r->used = false;
  for (unsigned long i = 0; i < mapped; i++)
    ops->unmap(vm, r->gpa + ((u64)i << PAGE_SHIFT));
  atomic_inc(&vm->npt_gen);
  up_write(&vm->mem_lock);
  if (r->pages) {
    unpin_user_pages_dirty_lock(r->pages, r->npages, !r->pinned_ro);
    kvfree(r->pages);
  }
  if (vm->mm && r->npages)
    account_locked_vm(vm->mm, r->npages, false);
  kvfree(r->dirty);
  memset(r, 0, sizeof(*r));
}

static int region_add(struct lvs_vm *vm, const struct lvs_region *a) {
  struct lvs_region_k *r = &vm->regions[a->slot];
  unsigned long npages = a->size >> PAGE_SHIFT, got = 0, mapped = 0;
  unsigned int gup;
  int rc;

  if (r->used)
    return -EEXIST;
  for (int i = 0; i < LVS_MAX_REGIONS; i++) {
    const struct lvs_region_k *o = &vm->regions[i];
    if (o->used && a->gpa < o->gpa + o->size && o->gpa < a->gpa + a->size)
      return -EEXIST; /* overlaps slot i */
  }
  if (current->mm != vm->mm)
    return -EPERM; /* only the process that made the VM maps memory */
  rc = account_locked_vm(vm->mm, npages, true);
  if (rc)
    return rc;
  r->npages = npages;
  r->gpa = a->gpa;
  r->size = a->size;
  r->uaddr = a->uaddr;
  r->flags = a->flags;
  r->pages = kvcalloc(npages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT);
  if (a->flags & LVS_REGION_DIRTY_LOG)
    r->dirty = kvcalloc(BITS_TO_LONGS(npages), sizeof(long),
                        GFP_KERNEL_ACCOUNT);
  if (!r->pages || ((a->flags & LVS_REGION_DIRTY_LOG) && !r->dirty)) {
    rc = -ENOMEM;
    goto fail;
  }
  /* Pinned for writing even for ROM: a read-only pin of memory never
   * written would pin the shared zero page, and the host's later writes
   * (firmware loading) would land in a copy the guest never sees. Only a
   * mapping user space itself cannot write is pinned read-only. */
  gup = FOLL_LONGTERM | FOLL_WRITE;
  while (got < npages) {
    long n = pin_user_pages_fast(a->uaddr + (got << PAGE_SHIFT),
                                 min(npages - got, 512ul), gup,
                                 r->pages + got);
    if (n == -EFAULT && got == 0 && (gup & FOLL_WRITE) &&
        (a->flags & LVS_REGION_READONLY)) {
      gup &= ~FOLL_WRITE;
      continue;
    }
    if (n <= 0) {
      rc = n ? (int)n : -EFAULT;
      goto fail;
    }
    got += n;
    if (fatal_signal_pending(current)) {
      rc = -EINTR;
      goto fail;
    }
  }
  r->pinned_ro = !(gup & FOLL_WRITE);
  down_write(&vm->mem_lock);
  for (; mapped < npages; mapped++) {
    rc = ops->map(vm, a->gpa + ((u64)mapped << PAGE_SHIFT),
                  page_to_phys(r->pages[mapped]),
                  !(a->flags & (LVS_REGION_READONLY | LVS_REGION_DIRTY_LOG)));
    if (rc)
      break;
  }
  if (!rc)
    r->used = true;
  up_write(&vm->mem_lock);
  if (rc)
    goto fail;
  return 0;
fail:
  /* Only what was pinned is unpinned. */
  if (r->pages && got < npages) {
    unpin_user_pages(r->pages, got);
    kvfree(r->pages);
    r->pages = NULL;
  }
  region_release(vm, r, mapped);
  return rc;
}

static int vm_set_region(struct lvs_vm *vm, void __user *argp) {
  struct lvs_region a;
  int rc;

  if (copy_from_user(&a, argp, sizeof(a)))
    return -EFAULT;
  if (a.slot >= LVS_MAX_REGIONS ||
      (a.flags & ~(LVS_REGION_READONLY | LVS_REGION_DIRTY_LOG)))
    return -EINVAL;
  mutex_lock(&vm->lock);
  if (a.size == 0) {
    if (vm->regions[a.slot].used)
      region_release(vm, &vm->regions[a.slot], vm->regions[a.slot].npages);
    rc = 0;
  } else if ((a.gpa | a.size | a.uaddr) & ~PAGE_MASK ||
             a.size > LVS_MAX_REGION_BYTES ||
             a.gpa >= (1ull << LVS_GPA_BITS) ||
             a.gpa + a.size > (1ull << LVS_GPA_BITS) ||
             a.uaddr + a.size < a.uaddr ||
             !access_ok((void __user *)(uintptr_t)a.uaddr, a.size)) {
    rc = -EINVAL;
  } else {
    rc = region_add(vm, &a);
  }
  mutex_unlock(&vm->lock);
  return rc;
}

bool lvs_dirty_fault(struct lvs_vm *vm, u64 gpa) {
  struct lvs_region_k *r = lvs_region_find(vm, gpa);
  unsigned long i;
  if (!r || !r->dirty || (r->flags & LVS_REGION_READONLY))
    return false;
  i = (gpa - r->gpa) >> PAGE_SHIFT;
  set_bit(i, r->dirty);
  /* Racing vCPUs write the same entry: harmless. */
  return ops->map(vm, r->gpa + ((u64)i << PAGE_SHIFT),
                  page_to_phys(r->pages[i]), true) == 0;
}

static int vm_get_dirty_log(struct lvs_vm *vm, void __user *argp) {
  struct lvs_dirty_log d;
  struct lvs_region_k *r;
  unsigned long *copy = NULL, words, i;
  int rc = 0;

  if (copy_from_user(&d, argp, sizeof(d)))
    return -EFAULT;
  if (d.pad || d.slot >= LVS_MAX_REGIONS)
    return -EINVAL;
  mutex_lock(&vm->lock);
  r = &vm->regions[d.slot];
  if (!r->used || !r->dirty) {
    rc = -ENOENT;
    goto out;
  }
  words = BITS_TO_LONGS(r->npages);
  copy = kvmalloc_array(words, sizeof(long), GFP_KERNEL);
  if (!copy) {
    rc = -ENOMEM;
    goto out;
  }
  /* Take the bits and write-protect those pages again, with no vCPU in
   * the guest; they flush their TLBs before the next entry. */
  down_write(&vm->mem_lock);
  memcpy(copy, r->dirty, words * sizeof(long));
  memset(r->dirty, 0, words * sizeof(long));
  for_each_set_bit(i, copy, r->npages)
    ops->map(vm, r->gpa + ((u64)i << PAGE_SHIFT), page_to_phys(r->pages[i]),
             false);
  atomic_inc(&vm->npt_gen);
  up_write(&vm->mem_lock);
  if (copy_to_user(u64_to_user_ptr(d.bitmap), copy, words * sizeof(long)))
    rc = -EFAULT;
out:
  mutex_unlock(&vm->lock);
  kvfree(copy);
  return rc;
}

/* ---- CPUID and common MSRs ------------------------------------------ */

void lvs_cpuid_lookup(struct lvs_vcpu *v, u32 fn, u32 idx, u32 out[4]) {
  const struct lvs_cpuid_k *c = v->cpuid;
  out[0] = out[1] = out[2] = out[3] = 0;
  for (u32 i = 0; c && i < c->count; i++) {
    const struct lvs_cpuid_entry *e = &c->e[i];
    if (e->function != fn ||
        ((e->flags & LVS_CPUID_SIGNIFICANT_INDEX) && e->index != idx))
      continue;
    out[0] = e->eax, out[1] = e->ebx, out[2] = e->ecx, out[3] = e->edx;
    return;
  }
}

int lvs_msr_get_common(struct lvs_vcpu *v, u32 index, u64 *value) {
  switch (index) {
  case 0x1b: *value = v->apic_base; return 0;      /* APIC_BASE */
  case 0x1a0: *value = v->misc_enable; return 0;   /* MISC_ENABLE */
  default: return -ENOENT;
  }
}

int lvs_msr_set_common(struct lvs_vcpu *v, u32 index, u64 value) {
  switch (index) {
  case 0x1b:
    /* Base 4 KiB aligned below 2^40, BSP (8), x2APIC (10), enable (11). */
    if (value & ~(((1ull << 40) - 1) & ~0x6ffull))
      return -EINVAL;
    v->apic_base = value;
    return 0;
  case 0x1a0:
    v->misc_enable = value;
    return 0;
  default:
    return -ENOENT;
  }
}

/* ---- vCPU file ------------------------------------------------------- */

static long vcpu_run(struct lvs_vcpu *v) {
  struct lvs_vm *vm = v->vm;
  /* First the instruction of the last exit, even when the run returns
   * at once (immediate_exit): user space may then save the state. */
  ops->complete(v);
  for (;;) {
    int rc;
    if (READ_ONCE(v->run->immediate_exit) || signal_pending(current))
      return -EINTR;
    cond_resched();
    down_read(&vm->mem_lock);
    rc = ops->vcpu_run(v);
    up_read(&vm->mem_lock);
    if (rc != LVS_RUN_AGAIN)
      return rc;
  }
}

static long vcpu_msrs(struct lvs_vcpu *v, void __user *argp, bool set) {
  struct lvs_msrs m;
  struct lvs_msr e[LVS_MAX_MSRS];
  u32 i;

  if (copy_from_user(&m, argp, sizeof(m)))
    return -EFAULT;
  if (m.pad || m.count > LVS_MAX_MSRS)
    return -EINVAL;
  if (copy_from_user(e, u64_to_user_ptr(m.entries), m.count * sizeof(e[0])))
    return -EFAULT;
  for (i = 0; i < m.count; i++) {
    int rc = set ? ops->set_msr(v, e[i].index, e[i].value, false)
                 : ops->get_msr(v, e[i].index, &e[i].value);
    if (rc)
      break;
  }
  if (!set && copy_to_user(u64_to_user_ptr(m.entries), e, i * sizeof(e[0])))
    return -EFAULT;
  return i;
}

static long vcpu_set_cpuid(struct lvs_vcpu *v, void __user *argp) {
  struct lvs_cpuid c;
  struct lvs_cpuid_k *k;

  if (copy_from_user(&c, argp, sizeof(c)))
    return -EFAULT;
  if (c.pad || c.count > LVS_MAX_CPUID)
    return -EINVAL;
  k = kzalloc(sizeof(*k), GFP_KERNEL_ACCOUNT);
  if (!k)
    return -ENOMEM;
  k->count = c.count;
  if (copy_from_user(k->e, u64_to_user_ptr(c.entries),
                     c.count * sizeof(k->e[0]))) {
    kfree(k);
    return -EFAULT;
  }
  for (u32 i = 0; i < c.count; i++)
    if ((k->e[i].flags & ~LVS_CPUID_SIGNIFICANT_INDEX) || k->e[i].pad) {
      kfree(k);
      return -EINVAL;
    }
  kfree(v->cpuid);
  v->cpuid = k;
  return 0;
}

static long vcpu_ioctl(struct file *f, unsigned int cmd, unsigned long arg) {
  struct lvs_vcpu *v = f->private_data;
  void __user *argp = (void __user *)arg;
  long rc;

  if (mutex_lock_killable(&v->lock))
    return -EINTR;
  switch (cmd) {
  case LVS_RUN:
    rc = arg ? -EINVAL : vcpu_run(v);
    break;
  case LVS_GET_REGS: {
    struct lvs_regs r;
    ops->get_regs(v, &r);
    rc = copy_to_user(argp, &r, sizeof(r)) ? -EFAULT : 0;
    break;
  }
  case LVS_SET_REGS: {
    struct lvs_regs r;
    rc = copy_from_user(&r, argp, sizeof(r)) ? -EFAULT : 0;
    if (!rc)
      ops->set_regs(v, &r);
    break;
  }
  case LVS_GET_SREGS: {
    struct lvs_sregs s;
    ops->get_sregs(v, &s);
    rc = copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
    break;
  }
  case LVS_SET_SREGS: {
    struct lvs_sregs s;
    rc = copy_from_user(&s, argp, sizeof(s)) ? -EFAULT : 0;
    if (!rc)
      rc = ops->set_sregs(v, &s);
    break;
  }
  case LVS_GET_FPU:
    rc = copy_to_user(argp, v->fx, sizeof(v->fx)) ? -EFAULT : 0;
    break;
  case LVS_SET_FPU: {
    struct lvs_fpu fp;
    u32 mxcsr;
    rc = copy_from_user(&fp, argp, sizeof(fp)) ? -EFAULT : 0;
    memcpy(&mxcsr, fp.fxsave + 24, 4);
    /* FXRSTOR faults on reserved MXCSR bits: refuse them here. */
    if (!rc && (mxcsr & ~0xffffu))
      rc = -EINVAL;
    if (!rc)
      memcpy(v->fx, fp.fxsave, sizeof(v->fx));
    break;
  }
  case LVS_GET_MSRS:
    rc = vcpu_msrs(v, argp, false);
    break;
  case LVS_SET_MSRS:
    rc = vcpu_msrs(v, argp, true);
    break;
  case LVS_SET_CPUID:
    rc = vcpu_set_cpuid(v, argp);
    break;
  case LVS_INJECT_EVENT: {
    struct lvs_event ev;
    rc = copy_from_user(&ev, argp, sizeof(ev)) ? -EFAULT : 0;
    if (!rc && (ev.pad || ev.kind > LVS_EVENT_INTERRUPT || ev.has_error > 1 ||
                (ev.kind == LVS_EVENT_EXCEPTION && ev.vector > 31) ||
                (!ev.has_error && ev.error_code)))
      rc = -EINVAL;
    if (!rc)
      rc = ops->inject(v, &ev);
    break;
  }
  case LVS_SET_DEBUG: {
    struct lvs_debug d;
    rc = copy_from_user(&d, argp, sizeof(d)) ? -EFAULT : 0;
    if (!rc && (d.pad || (d.flags & ~(LVS_DEBUG_SINGLESTEP | LVS_DEBUG_SW_BP |
                                      LVS_DEBUG_HW_BP))))
      rc = -EINVAL;
    if (!rc)
      rc = ops->set_debug(v, &d);
    break;
  }
  default:
    rc = -ENOTTY;
  }
  mutex_unlock(&v->lock);
  return rc;
}

static int vcpu_mmap(struct file *f, struct vm_area_struct *vma) {
  struct lvs_vcpu *v = f->private_data;
  if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
    return -EINVAL;
  vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
  return vm_insert_page(vma, vma->vm_start, virt_to_page(v->run));
}

static int vcpu_release(struct inode *inode, struct file *f) {
  struct lvs_vcpu *v = f->private_data;
  struct lvs_vm *vm = v->vm;

  mutex_lock(&vm->lock);
  vm->vcpus[v->id] = NULL;
  vm->nr_vcpus--;
  mutex_unlock(&vm->lock);
  ops->vcpu_free(v);
  free_page((unsigned long)v->run);
  kfree(v->cpuid);
  fput(v->vm_file);
  kfree(v);
  return 0;
}

static const struct file_operations vcpu_fops = {
    .owner = THIS_MODULE,
    .unlocked_ioctl = vcpu_ioctl,
    .mmap = vcpu_mmap,
    .release = vcpu_release,
    .llseek = noop_llseek,
};

/* ---- VM file --------------------------------------------------------- */

static long vm_create_vcpu(struct file *vmf, struct lvs_vm *vm,
                           unsigned long id) {
  struct lvs_vcpu *v;
  int rc, fd;

  if (id >= LVS_MAX_VCPUS)
    return -EINVAL;
  v = kzalloc(sizeof(*v), GFP_KERNEL_ACCOUNT);
  if (!v)
    return -ENOMEM;
  mutex_init(&v->lock);
  v->vm = vm;
  v->id = (u32)id;
  v->apic_base = 0xfee00000ull | (1ull << 11) | (id == 0 ? 1ull << 8 : 0);
  v->misc_enable = 1; /* fast strings */
  /* The x87/SSE reset state: FCW 0x37f, MXCSR 0x1f80. */
  v->fx[0] = 0x7f, v->fx[1] = 0x03;
  v->fx[24] = 0x80, v->fx[25] = 0x1f;
  v->run = (struct lvs_run *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
  if (!v->run) {
    kfree(v);
    return -ENOMEM;
  }
  mutex_lock(&vm->lock);
  if (vm->vcpus[id]) {
    rc = -EEXIST;
    goto fail_locked;
  }
  rc = ops->vcpu_init(v);
  if (rc)
    goto fail_locked;
  get_file(vmf);
  v->vm_file = vmf;
  fd = anon_inode_getfd("libvmm-svm-vcpu", &vcpu_fops, v, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fput(vmf);
    ops->vcpu_free(v);
    rc = fd;
    goto fail_locked;
  }
  vm->vcpus[id] = v;
  vm->nr_vcpus++;
  mutex_unlock(&vm->lock);
  return fd;
fail_locked:
  mutex_unlock(&vm->lock);
  free_page((unsigned long)v->run);
  kfree(v);
  return rc;
}

static long vm_ioctl(struct file *f, unsigned int cmd, unsigned long arg) {
  struct lvs_vm *vm = f->private_data;
  switch (cmd) {
  case LVS_SET_REGION:
    return vm_set_region(vm, (void __user *)arg);
  case LVS_CREATE_VCPU:
    return vm_create_vcpu(f, vm, arg);
  case LVS_GET_DIRTY_LOG:
    return vm_get_dirty_log(vm, (void __user *)arg);
  default:
    return -ENOTTY;
  }
}

static int vm_release(struct inode *inode, struct file *f) {
  struct lvs_vm *vm = f->private_data;
  /* vCPUs hold the VM file: none is left now. */
  for (int i = 0; i < LVS_MAX_REGIONS; i++)
    if (vm->regions[i].used)
      region_release(vm, &vm->regions[i], vm->regions[i].npages);
  ops->vm_free(vm);
  if (vm->mm)
    mmdrop(vm->mm);
  kvfree(vm);
  return 0;
}

static const struct file_operations vm_fops = {
    .owner = THIS_MODULE,
    .unlocked_ioctl = vm_ioctl,
    .release = vm_release,
    .llseek = noop_llseek,
};

static long create_vm(unsigned long arg) {
  struct lvs_vm *vm;
  int rc, fd;

  if (arg)
    return -EINVAL;
  vm = kvzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
  if (!vm)
    return -ENOMEM;
  mutex_init(&vm->lock);
  init_rwsem(&vm->mem_lock);
  rc = ops->vm_init(vm);
  if (rc) {
    kvfree(vm);
    return rc;
  }
  vm->mm = current->mm;
  mmgrab(vm->mm);
  fd = anon_inode_getfd("libvmm-svm-vm", &vm_fops, vm, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ops->vm_free(vm);
    mmdrop(vm->mm);
    kvfree(vm);
  }
  return fd;
}

/* ---- the device ------------------------------------------------------ */

static long dev_ioctl(struct file *f, unsigned int cmd, unsigned long arg) {
  switch (cmd) {
  case LVS_GET_API_VERSION:
    return arg ? -EINVAL : LVS_API_VERSION;
  case LVS_GET_INFO: {
    struct lvs_info i = {
        .api_version = LVS_API_VERSION, .max_vcpus = LVS_MAX_VCPUS,
        .max_regions = LVS_MAX_REGIONS, .max_cpuid = LVS_MAX_CPUID,
        .features = hw_features, .gpa_bits = LVS_GPA_BITS};
    return copy_to_user((void __user *)arg, &i, sizeof(i)) ? -EFAULT : 0;
  }
  case LVS_CREATE_VM:
    return create_vm(arg);
  default:
    return -ENOTTY;
  }
}

static const struct file_operations dev_fops = {
    .owner = THIS_MODULE,
    .unlocked_ioctl = dev_ioctl,
    .llseek = noop_llseek,
};

static struct miscdevice lvs_dev = {
    .minor = MISC_DYNAMIC_MINOR,
    .name = "libvmm-svm",
    .fops = &dev_fops,
    .mode = 0600,
};

static int __init lvs_init(void) {
  int rc = ops->hw_setup(&hw_features);
  if (rc)
    return rc;
  rc = misc_register(&lvs_dev);
  if (rc)
    ops->hw_unsetup();
  else
    pr_info("libvmm-svm: %s ready (features 0x%x)\n", ops->name, hw_features);
  return rc;
}

/* Open files hold the module (.owner), so no VM exists here: rmmod is
 * refused while one does. */
static void __exit lvs_exit(void) {
  misc_deregister(&lvs_dev);
  ops->hw_unsetup();
}

module_init(lvs_init);
module_exit(lvs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("libvmm's own AMD SVM hypervisor");
