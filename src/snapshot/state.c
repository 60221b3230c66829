/* src/snapshot/state.c — saving and loading a VM's non-memory state (the
 * blob of state.h): the header, the VM, backend, vCPU and device sections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_internal.h"
#include "error.h"
#include "loop.h"
#include "snapshot/state.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

/*
 * Layout (all integers little-endian):
 *   header  "LIBVMMST", u32 version, u32 0, u64 payload length,
 *           u32 CRC-32C of the payload, u32 0
 *   payload sections (stream.h: tag, version, length, bytes):
 *     "vm"      backend name, max_vcpus, flags, vCPU count, device count
 *     "backend" the backend's VM state (its own layout)
 *     "vcpu"    per vCPU in id order: id, assist flags, "backend-vcpu"
 *     "device"  per device in creation order: type, id, failed flag and
 *               reason, then "data" with the device's own state
 *     "end"
 */
#define MAGIC "LIBVMMST"
#define HEADER_LEN 32u
/* How long a snapshot waits for device work in flight (block I/O). */
#define BUSY_WAIT_MS 10000

/* The devices of a VM in creation order (the VM's list is newest first). */
static vmm_device_t **devices_list(vmm_vm_t *vm, uint32_t *count) {
  uint32_t n = 0;
  for (vmm_device_t *d = vm->devices; d; d = d->next)
    n++;
  vmm_device_t **a = calloc(n ? n : 1, sizeof(*a));
  if (!a)
    return NULL;
  uint32_t i = n;
  for (vmm_device_t *d = vm->devices; d; d = d->next)
    a[--i] = d;
  *count = n;
  return a;
}

static uint32_t vcpu_count(const vmm_vm_t *vm) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < vm->max_vcpus; i++)
    n += vm->vcpus[i] != NULL;
  return n;
}

/* Save and load may run only while no vCPU is in the guest. */
static int check_quiet(vmm_vm_t *vm, const char *fn, bool loading) {
  vmm_vm_state_t s = vmm_vm_state(vm);
  if (s != VMM_VM_CREATED && s != VMM_VM_PAUSED)
    return vmm__error(VMM_ESTATE, "%s: the VM is %s; it must be paused (or "
                      "not started yet)", fn,
                      s == VMM_VM_RUNNING ? "running" : "stopped");
  if (!vm->ops->vm_state_save || !vm->ops->vcpu_state_save ||
      !vm->ops->vcpu_complete)
    return vmm__error(VMM_ENOTSUP, "%s: backend %s cannot save state", fn,
                      vm->ops->name);
  for (uint32_t i = 0; i < vm->max_vcpus; i++) {
    vmm_vcpu_t *v = vm->vcpus[i];
    if (!v)
      continue;
    if (atomic_load(&v->running))
      return vmm__error(VMM_EBUSY, "%s: vCPU %u is inside vmm_vcpu_run()",
                        fn, i);
    if (!loading && v->pending_hypercall)
      return vmm__error(VMM_EBUSY, "%s: vCPU %u waits for the answer to "
                        "hypercall exit; run it once more first", fn, i);
  }
  return 0;
}

/* ---- devices, on the loop thread ---------------------------------------- */

struct dev_pass {
  vmm_device_t **devs;
  uint32_t n;
  struct vmm__sw *w;      /* save */
  struct vmm__sr *r;      /* load */
  bool busy;              /* busy check */
  int rc;
};

static void devices_busy(void *opaque) {
  struct dev_pass *p = opaque;
  p->busy = false;
  for (uint32_t i = 0; i < p->n && !p->busy; i++)
    if (p->devs[i]->ops->busy && p->devs[i]->ops->busy(p->devs[i]))
      p->busy = true;
}

static void devices_save(void *opaque) {
  struct dev_pass *p = opaque;
  for (uint32_t i = 0; i < p->n && p->rc == 0; i++) {
    vmm_device_t *d = p->devs[i];
    size_t mark = vmm__sw_begin(p->w, "device", 1);
    vmm__sw_str(p->w, d->ops->type);
    vmm__sw_str(p->w, d->id);
    vmm__sw_bool(p->w, atomic_load(&d->failed) != 0);
    vmm__sw_str(p->w, atomic_load(&d->has_error) == 1 ? d->error : "");
    size_t data = vmm__sw_begin(p->w, "data", 1);
    if (d->ops->save)
      p->rc = d->ops->save(d, p->w);
    else if (!d->ops->stateless)
      p->rc = vmm__error(VMM_ENOTSUP, "device %u (%s) cannot save its "
                         "state", i, d->ops->type);
    vmm__sw_end(p->w, data);
    vmm__sw_end(p->w, mark);
    if (p->rc < 0)
      p->rc = vmm__error_prefix(p->rc, d->ops->type);
  }
}

static void devices_load(void *opaque) {
  struct dev_pass *p = opaque;
  for (uint32_t i = 0; i < p->n && p->rc == 0; i++) {
    vmm_device_t *d = p->devs[i];
    struct vmm__sr sec, data;
    char type[64], id[VMM__DEVICE_ID_MAX], err[sizeof(d->error)];
    if (!vmm__sr_section(p->r, "device", 1, &sec, NULL)) {
      p->rc = vmm__sr_finish(p->r);
      return;
    }
    vmm__sr_str(&sec, type, sizeof(type));
    vmm__sr_str(&sec, id, sizeof(id));
    bool failed = vmm__sr_bool(&sec);
    vmm__sr_str(&sec, err, sizeof(err));
    if (!vmm__sr_error(&sec) && strcmp(type, d->ops->type) != 0)
      vmm__sr_fail(&sec, "device %u was a %s, this VM's is a %s", i, type,
                   d->ops->type);
    if (!vmm__sr_error(&sec) && strcmp(id, d->id) != 0)
      vmm__sr_fail(&sec, "device %u (%s) had id \"%s\", this VM's has "
                   "\"%s\"", i, type, id, d->id);
    vmm__sr_section(&sec, "data", 1, &data, NULL);
    if ((p->rc = vmm__sr_finish(&sec)) < 0)
      return;
    data.what = d->ops->type;
    if (d->ops->load) {
      p->rc = d->ops->load(d, &data);
    } else if (!d->ops->stateless) {
      p->rc = vmm__error(VMM_ENOTSUP, "device %u (%s) cannot load state", i,
                         d->ops->type);
    } else {
      p->rc = vmm__sr_finish(&data);
    }
    if (p->rc < 0) {
      p->rc = vmm__error_prefix(p->rc, d->ops->type);
      return;
    }
    if (err[0]) {
      atomic_store(&d->has_error, 2);
      snprintf(d->error, sizeof(d->error), "%s", err);
      atomic_store(&d->has_error, 1);
    }
    atomic_store(&d->failed, failed ? 1 : 0);
  }
}

/* Waits until no device has work in flight (the loop keeps running while
 * the vCPUs are paused, so block requests complete). */
static int devices_wait_idle(vmm_vm_t *vm, struct dev_pass *p) {
  for (int waited = 0;; waited++) {
    int rc = vmm__loop_call_wait(vm, devices_busy, p);
    if (rc < 0)
      return rc;
    if (!p->busy)
      return 0;
    /* On the loop thread (the control socket) the work cannot complete
     * while we wait for it: the caller tries again later. */
    if (vmm__loop_on_thread(vm))
      return vmm__error(VMM_EBUSY, "device work (block I/O) in flight; try "
                        "again");
    if (waited >= BUSY_WAIT_MS)
      return vmm__error(VMM_ETIMEDOUT, "device work still in flight after "
                        "%d ms", BUSY_WAIT_MS);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

/* ---- save ---------------------------------------------------------------- */

int vmm__vm_state_save(vmm_vm_t *vm, void **blob, size_t *len) {
  static const char fn[] = "vm state save";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!blob || !len)
    return vmm__error(VMM_EINVAL, "%s: blob or len is NULL", fn);
  *blob = NULL;
  *len = 0;
  int rc = check_quiet(vm, fn, false);
  if (rc < 0)
    return rc;
  struct dev_pass p = {0};
  p.devs = devices_list(vm, &p.n);
  if (!p.devs)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  struct vmm__sw w = {0};
  p.w = &w;
  if (vm->loop && (rc = devices_wait_idle(vm, &p)) < 0)
    goto out;
  /* Finish answered port/MMIO reads so the registers are the ones after
   * their instruction (a loaded VM has no such answer pending). */
  for (uint32_t i = 0; i < vm->max_vcpus && rc == 0; i++)
    if (vm->vcpus[i])
      rc = vm->ops->vcpu_complete(vm->vcpus[i]->bvcpu);
  if (rc < 0)
    goto out;

  vmm__sw_bytes(&w, MAGIC, 8);
  vmm__sw_u32(&w, VMM__STATE_VERSION);
  vmm__sw_u32(&w, 0);
  vmm__sw_u64(&w, 0); /* payload length, patched below */
  vmm__sw_u32(&w, 0); /* CRC */
  vmm__sw_u32(&w, 0);

  size_t mark = vmm__sw_begin(&w, "vm", 1);
  vmm__sw_str(&w, vm->ops->name);
  vmm__sw_u32(&w, vm->max_vcpus);
  vmm__sw_u32(&w, vm->flags);
  vmm__sw_u32(&w, vcpu_count(vm));
  vmm__sw_u32(&w, p.n);
  vmm__sw_end(&w, mark);

  mark = vmm__sw_begin(&w, "backend", 1);
  rc = vm->ops->vm_state_save(vm->bvm, &w);
  vmm__sw_end(&w, mark);
  for (uint32_t i = 0; i < vm->max_vcpus && rc == 0; i++) {
    vmm_vcpu_t *v = vm->vcpus[i];
    if (!v)
      continue;
    mark = vmm__sw_begin(&w, "vcpu", 1);
    vmm__sw_u32(&w, v->id);
    vmm__sw_u32(&w, v->assist_flags);
    size_t b = vmm__sw_begin(&w, "backend-vcpu", 1);
    rc = vm->ops->vcpu_state_save(v->bvcpu, &w);
    vmm__sw_end(&w, b);
    vmm__sw_end(&w, mark);
  }
  if (rc == 0) {
    p.rc = 0;
    rc = vmm__loop_call_wait(vm, devices_save, &p);
    if (rc == 0)
      rc = p.rc;
  }
  if (rc == 0) {
    mark = vmm__sw_begin(&w, "end", 1);
    vmm__sw_end(&w, mark);
    rc = vmm__sw_check(&w, fn);
  }
  if (rc < 0)
    goto out;
  uint64_t payload = w.len - HEADER_LEN;
  for (int i = 0; i < 8; i++)
    w.buf[16 + i] = (uint8_t)(payload >> (8 * i));
  uint32_t crc = vmm__crc32c(0, w.buf + HEADER_LEN, payload);
  for (int i = 0; i < 4; i++)
    w.buf[24 + i] = (uint8_t)(crc >> (8 * i));
  *blob = w.buf;
  *len = w.len;
  w.buf = NULL;
out:
  if (rc < 0)
    rc = vmm__error_prefix(rc, fn);
  vmm__sw_free(&w);
  free(p.devs);
  return rc;
}

/* ---- load ---------------------------------------------------------------- */

/* Checks the header; `payload` gets a reader over the checked payload. */
static int header_check(const void *blob, size_t len, struct vmm__sr *payload) {
  struct vmm__sr r;
  vmm__sr_init(&r, blob, len, "saved state");
  char magic[8];
  if (len < HEADER_LEN)
    return vmm__error(VMM_EINVAL, "saved state: %zu bytes, shorter than its "
                      "%u-byte header (truncated?)", len, HEADER_LEN);
  vmm__sr_bytes(&r, magic, 8);
  if (memcmp(magic, MAGIC, 8) != 0)
    return vmm__error(VMM_EINVAL, "saved state: not a libvmm state blob "
                      "(bad magic)");
  uint32_t version = vmm__sr_u32(&r);
  uint32_t zero = vmm__sr_u32(&r);
  uint64_t plen = vmm__sr_u64(&r);
  uint32_t crc = vmm__sr_u32(&r);
  zero |= vmm__sr_u32(&r);
  if (version != VMM__STATE_VERSION)
    return vmm__error(VMM_EVERSION, "saved state: format version %u; this "
                      "libvmm (%s) reads version %u", version,
                      vmm_version_string(), VMM__STATE_VERSION);
  if (zero)
    return vmm__error(VMM_EINVAL, "saved state: reserved header words are "
                      "not zero");
  if (plen != len - HEADER_LEN)
    return vmm__error(VMM_EINVAL, "saved state: the header says %llu payload "
                      "bytes, %zu are there (truncated?)",
                      (unsigned long long)plen, len - HEADER_LEN);
  uint32_t got = vmm__crc32c(0, (const uint8_t *)blob + HEADER_LEN, plen);
  if (got != crc)
    return vmm__error(VMM_EINVAL, "saved state: checksum mismatch (CRC-32C "
                      "0x%08x, header says 0x%08x): the data is corrupted",
                      got, crc);
  vmm__sr_init(payload, (const uint8_t *)blob + HEADER_LEN, (size_t)plen,
               "saved state");
  return 0;
}

int vmm__vm_state_load(vmm_vm_t *vm, const void *blob, size_t len) {
  static const char fn[] = "vm state load";
  if (!vmm__handle_valid(vm, VMM__H_VM))
    return vmm__error(VMM_EBADF, "%s: not a live VM handle", fn);
  if (!blob)
    return vmm__error(VMM_EINVAL, "%s: blob is NULL", fn);
  int rc = check_quiet(vm, fn, true);
  if (rc < 0)
    return rc;
  if (!vm->ops->vm_state_load || !vm->ops->vcpu_state_load)
    return vmm__error(VMM_ENOTSUP, "%s: backend %s cannot load state", fn,
                      vm->ops->name);
  struct vmm__sr r, sec, sub;
  if ((rc = header_check(blob, len, &r)) < 0)
    return vmm__error_prefix(rc, fn);

  struct dev_pass p = {0};
  p.devs = devices_list(vm, &p.n);
  if (!p.devs)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);

  /* The VM must be built like the saved one. */
  char backend[64];
  vmm__sr_section(&r, "vm", 1, &sec, NULL);
  vmm__sr_str(&sec, backend, sizeof(backend));
  /* max_vcpus is informative: the vCPUs themselves must match (ids). */
  (void)vmm__sr_u32(&sec);
  uint32_t flags = vmm__sr_u32(&sec);
  uint32_t n_vcpus = vmm__sr_u32(&sec), n_devs = vmm__sr_u32(&sec);
  rc = vmm__sr_error(&r) ? vmm__sr_finish(&r) : vmm__sr_finish(&sec);
  if (rc < 0)
    goto out;
  if (strcmp(backend, vm->ops->name) != 0)
    rc = vmm__error(VMM_EINVAL, "saved on backend %s, this VM runs on %s",
                    backend, vm->ops->name);
  else if (flags != vm->flags)
    rc = vmm__error(VMM_EINVAL, "saved VM had flags 0x%x, this one 0x%x",
                    flags, vm->flags);
  else if (n_vcpus != vcpu_count(vm) || n_devs != p.n)
    rc = vmm__error(VMM_EINVAL, "saved VM had %u vCPUs and %u devices, this "
                    "one %u and %u", n_vcpus, n_devs, vcpu_count(vm), p.n);
  if (rc < 0)
    goto out;

  vmm__sr_section(&r, "backend", 1, &sec, NULL);
  if ((rc = vmm__sr_error(&r) ? vmm__sr_finish(&r) : 0) < 0)
    goto out;
  if ((rc = vm->ops->vm_state_load(vm->bvm, &sec)) < 0)
    goto out;

  for (uint32_t i = 0; i < vm->max_vcpus; i++) {
    vmm_vcpu_t *v = vm->vcpus[i];
    if (!v)
      continue;
    vmm__sr_section(&r, "vcpu", 1, &sec, NULL);
    uint32_t id = vmm__sr_u32(&sec);
    uint32_t assist = vmm__sr_u32(&sec);
    vmm__sr_section(&sec, "backend-vcpu", 1, &sub, NULL);
    if (!vmm__sr_error(&sec) && id != i)
      vmm__sr_fail(&sec, "vCPU %u expected, the state has vCPU %u", i, id);
    if ((rc = vmm__sr_error(&r) ? vmm__sr_finish(&r) : 0) < 0 ||
        (rc = vmm__sr_finish(&sec)) < 0)
      goto out;
    if ((rc = vm->ops->vcpu_state_load(v->bvcpu, &sub)) < 0) {
      rc = vmm__error_prefix(rc, "vCPU");
      goto out;
    }
    v->assist_flags = assist;
    v->pending_hypercall = false;
  }

  p.r = &r;
  rc = vmm__loop_call_wait(vm, devices_load, &p);
  if (rc == 0)
    rc = p.rc;
  if (rc < 0)
    goto out;
  vmm__sr_section(&r, "end", 1, &sec, NULL);
  if ((rc = vmm__sr_finish(&sec)) == 0)
    rc = vmm__sr_finish(&r);
out:
  if (rc < 0)
    rc = vmm__error_prefix(rc, fn);
  free(p.devs);
  return rc;
}
