/* src/backend.c — the list of compiled-in backends and their selection. */
#include <string.h>

#include "backend_ops.h"
#include "error.h"

#ifdef VMM_HAVE_KVM
extern const struct vmm__backend_ops vmm__kvm_ops;
#endif
#ifdef VMM_HAVE_SVM
extern const struct vmm__backend_ops vmm__svm_ops;
#endif

const struct vmm__backend_ops *const vmm__backends[] = {
#ifdef VMM_HAVE_KVM
    &vmm__kvm_ops,
#endif
#ifdef VMM_HAVE_SVM
    /* After KVM: "auto" takes it only where /dev/libvmm-svm exists and
     * KVM is not usable. */
    &vmm__svm_ops,
#endif
    NULL,
};

unsigned int vmm_backend_count(void) {
  return (unsigned int)(sizeof(vmm__backends) / sizeof(vmm__backends[0]) - 1);
}

const char *vmm_backend_name(unsigned int index) {
  return index < vmm_backend_count() ? vmm__backends[index]->name : NULL;
}

int vmm__backend_find(const char *name, const struct vmm__backend_ops **out) {
  if (!name || !strcmp(name, "auto")) {
    /* The first backend whose probe succeeds; keep the first failure's
     * message when none does, as it explains the preferred one. */
    int first_rc = 0;
    char why[256] = "";
    for (unsigned i = 0; vmm__backends[i]; i++) {
      int rc = vmm__backends[i]->probe();
      if (rc == 0) {
        *out = vmm__backends[i];
        return 0;
      }
      if (!first_rc) {
        first_rc = rc;
        strncpy(why, vmm_last_error(), sizeof(why) - 1);
      }
    }
    if (!first_rc)
      return vmm__error(VMM_ENODEV, "no backend is compiled into libvmm");
    return vmm__error(first_rc, "no usable backend: %s", why);
  }
  for (unsigned i = 0; vmm__backends[i]; i++) {
    if (!strcmp(vmm__backends[i]->name, name)) {
      *out = vmm__backends[i];
      return 0;
    }
  }
  return vmm__error(VMM_ENODEV, "backend \"%s\" is not compiled into libvmm",
                    name);
}

int vmm_backend_probe(const char *name) {
  const struct vmm__backend_ops *ops;
  int rc = vmm__backend_find(name, &ops);
  if (rc < 0)
    return rc;
  return ops->probe();
}

int vmm_backend_caps(const char *name, uint64_t *caps) {
  const struct vmm__backend_ops *ops;
  if (!caps)
    return vmm__error(VMM_EINVAL, "vmm_backend_caps: caps is NULL");
  int rc = vmm__backend_find(name, &ops);
  if (rc < 0)
    return rc;
  rc = ops->probe();
  if (rc < 0)
    return rc;
  return ops->caps(caps);
}
