/* tests/fuzz/boot_load_fuzz.c — the libFuzzer entry point for the kernel
 * loaders proper: vmm__bzimage_prepare(), vmm__pvh_prepare() (the memory
 * half of the bzImage and PVH boots), vmm__multiboot_plan() + _write()
 * and vmm_load_elf(), all on every input, after vmm_kernel_detect(). No
 * hypervisor: the VM is a bare vmm_vm_t with 32 MiB of guest RAM in two
 * regions, set up the way tests/unit/test_boot_fixture.h does.
 *
 * Input: byte 0 chooses an initrd (bit 0) and a command line (bit 1); the
 * rest is the image. Each loader must answer 0 or a negative code with a
 * message, leave the VM lock free, and stay inside the image (an exact-size
 * heap copy: ASan) and inside guest memory. Run under every build by
 * fuzz_driver.c over tests/fuzz/corpus-boot. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/libvmm.h>

#include "boot/boot_internal.h"
#include "boot/multiboot.h"
#include "vm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOW_SIZE 0x100000ull
#define RAM_END 0x2000000ull /* 32 MiB */

static vmm_vm_t *vm;
static struct vmm__memslot slots[2];
static const vmm__e820_t e820[] = {
    {0, 0x9fc00, VMM__E820_RAM},
    {0x9fc00, LOW_SIZE - 0x9fc00, VMM__E820_RESERVED},
    {LOW_SIZE, RAM_END - LOW_SIZE, VMM__E820_RAM},
};

static void invariant(int ok, const char *what, int rc) {
  if (ok)
    return;
  fprintf(stderr, "boot_load_fuzz: invariant broken: %s (rc %d, '%s')\n",
          what, rc, vmm_last_error());
  abort();
}

static void setup(void) {
  vm = calloc(1, sizeof(*vm));
  if (!vm || pthread_rwlock_init(&vm->lock, NULL) != 0)
    abort();
  vmm__memmap_init(&vm->mem);
  if (vmm__handle_add(vm, VMM__H_VM) != 0)
    abort();
  slots[0] = (struct vmm__memslot){.gpa = 0, .size = LOW_SIZE,
                                   .hva = calloc(1, LOW_SIZE), .slot = 0};
  slots[1] = (struct vmm__memslot){.gpa = LOW_SIZE, .size = RAM_END - LOW_SIZE,
                                   .hva = calloc(1, RAM_END - LOW_SIZE),
                                   .slot = 1};
  for (int i = 0; i < 2; i++)
    if (!slots[i].hva || vmm__memmap_insert(&vm->mem, &slots[i]) != 0)
      abort();
}

static void check(int rc, const char *who) {
  invariant(rc <= 0, who, rc);
  invariant(rc == 0 || vmm_last_error()[0], "a refusal without a message",
            rc);
  int free_lock = pthread_rwlock_trywrlock(&vm->lock) == 0;
  invariant(free_lock, "the VM lock is still held", rc);
  pthread_rwlock_unlock(&vm->lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t initrd[0x2000] = {1, 2, 3};
  if (!vm)
    setup();
  if (size < 1)
    return 0;
  size_t len = size - 1;
  uint8_t *img = malloc(len ? len : 1);
  if (!img)
    return 0;
  memcpy(img, data + 1, len);
  vmm__boot_req_t req = {img, len, (data[0] & 1) ? initrd : NULL,
                         (data[0] & 1) ? sizeof(initrd) : 0,
                         (data[0] & 2) ? "console=ttyS0 root=/dev/vda" : "",
                         0, 0};
  int f = vmm_kernel_detect(img, len);
  invariant(f >= VMM_KERNEL_UNKNOWN && f <= VMM_KERNEL_ELF, "detect", f);

  vmm_boot_info_t info;
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  check(vmm__bzimage_prepare(vm, &req, &info), "bzImage");
  memset(&info, 0, sizeof(info));
  info.size = sizeof(info);
  check(vmm__pvh_prepare(vm, &req, &info), "PVH");

  vmm__mb_plan_t plan;
  int rc = vmm__multiboot_plan(&req, e820, sizeof(e820) / sizeof(e820[0]),
                               &plan);
  check(rc, "multiboot plan");
  if (rc == 0) {
    int w = vmm__multiboot_write(&vm->mem, &plan);
    invariant(w == 0, "a multiboot plan that does not fit memory", w);
    vmm__multiboot_plan_free(&plan);
  }
  vmm_elf_info_t ei;
  memset(&ei, 0, sizeof(ei));
  ei.size = sizeof(ei);
  check(vmm_load_elf(vm, img, len, &ei), "ELF");
  free(img);
  return 0;
}
