/* examples/virtio_demo.c — a VM with an interrupt controller, a 16550 UART,
 * virtio-console, virtio-blk over a disk image and virtio-rng, running the
 * blk test guest in its demo mode: it reads the first 4 KiB of the disk,
 * copies them to sectors 16-23, flushes, asks for the disk's serial, takes
 * 64 random bytes and writes a line on the UART and on the console.
 *
 *   virtio-demo DISK.img [GUEST.elf]
 *
 * DISK.img: a raw image of at least 32 KiB, a multiple of 512 bytes
 * (e.g. `truncate -s 1M disk.img`). Exits 0 when all went well.
 */
#include <stdio.h>
#include <string.h>

#include <libvmm/libvmm.h>

#ifndef BLK_GUEST
#define BLK_GUEST "blk.elf"
#endif

/* What the guest and this program agree on (tests/guests/blk_guest.h,
 * tests/guests/lib/layout.h and ucall.h). */
#define PARAM_GPA 0x90000ull
#define UCALL_PORT 0x1000
#define UCALL_MAGIC 0x4c4c4355u
enum { UCALL_SYNC = 1, UCALL_DONE = 2, UCALL_ABORT = 3 };
enum { P_MODE, P_BLK, P_FLAGS, P_RNG, P_CONSOLE };
#define MODE_DEMO 3

struct ucall {
  uint32_t magic, cmd;
  uint64_t args[6];
  char text[256];
};

struct demo {
  int done; /* 1: DONE, -1: ABORT */
  uint64_t sync[6];
  char abort_text[256];
};

/* The guest's ucalls: an OUT of a struct ucall's address to UCALL_PORT. */
static int on_guest_exit(vmm_vcpu_t *vcpu, vmm_exit_t *e, void *opaque) {
  struct demo *d = opaque;
  if (e->reason != VMM_EXIT_IO || e->u.io.port != UCALL_PORT ||
      !e->u.io.is_write || e->u.io.size != 4)
    return 1;
  vmm_vm_t *vm = vmm_vcpu_vm(vcpu);
  uint32_t gpa;
  struct ucall uc;
  memcpy(&gpa, e->u.io.data, 4);
  if (vmm_mem_read(vm, gpa, &uc, sizeof(uc)) < 0 || uc.magic != UCALL_MAGIC)
    return VMM_EINVAL;
  if (uc.cmd == UCALL_SYNC) {
    memcpy(d->sync, uc.args, sizeof(d->sync));
  } else if (uc.cmd == UCALL_DONE || uc.cmd == UCALL_ABORT) {
    d->done = uc.cmd == UCALL_DONE ? 1 : -1;
    memcpy(d->abort_text, uc.text, sizeof(uc.text));
    d->abort_text[sizeof(d->abort_text) - 1] = 0;
    vmm_vm_stop(vm, d->done == 1 ? 0 : 1);
  }
  return 0;
}

/* Prints what a buffer back-end holds, each line indented. */
static void show(const char *what, vmm_chardev_t *chr) {
  char buf[512];
  int n = vmm_chardev_buffer_read(chr, buf, sizeof(buf) - 1);
  buf[n > 0 ? n : 0] = 0;
  printf("  %s: %s%s", what, buf, n > 0 && buf[n - 1] == '\n' ? "" : "\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: virtio-demo DISK.img [GUEST.elf]\n");
    return 2;
  }
  const char *guest = argc > 2 ? argv[2] : BLK_GUEST;
  vmm_vm_config_t config = VMM_VM_CONFIG_INIT;
  config.flags = VMM_VM_F_IRQCHIP;
  vmm_vm_t *vm = NULL;
  vmm_vcpu_t *vcpu = NULL;
  vmm_chardev_t *uart_out = NULL, *console_out = NULL;
  vmm_device_t *uart = NULL, *console = NULL, *blk = NULL, *rng = NULL;
  vmm_elf_info_t elf = {.size = sizeof(elf)};
  struct demo d = {0};
  vmm_uart_config_t uart_cfg = VMM_UART_CONFIG_INIT;
  vmm_virtio_blk_config_t blk_cfg = VMM_VIRTIO_BLK_CONFIG_INIT;
  blk_cfg.path = argv[1];
  memcpy(blk_cfg.serial, "virtio-demo-disk", 16);
  int rc;
  if ((rc = vmm_vm_create(&config, &vm)) < 0 ||
      (rc = vmm_mem_map(vm, 0, 4 << 20, NULL, 0, NULL)) < 0 ||
      (rc = vmm_vcpu_create(vm, 0, &vcpu)) < 0 ||
      (rc = vmm_chardev_buffer(vm, 4096, &uart_out)) < 0 ||
      (rc = vmm_chardev_buffer(vm, 4096, &console_out)) < 0 ||
      (uart_cfg.chardev = uart_out,
       rc = vmm_uart_create(vm, &uart_cfg, &uart)) < 0 ||
      (rc = vmm_virtio_console_create(vm, NULL, console_out, &console)) < 0 ||
      (rc = vmm_virtio_blk_create(vm, NULL, &blk_cfg, &blk)) < 0 ||
      (rc = vmm_virtio_rng_create(vm, NULL, &rng)) < 0 ||
      (rc = vmm_load_elf_file(vm, guest, &elf)) < 0 ||
      (rc = vmm_vcpu_setup_long_mode(vcpu, elf.entry, 0x80000, 0x1000)) < 0 ||
      (rc = vmm_vm_on_exit(vm, on_guest_exit, &d)) < 0) {
    fprintf(stderr, "virtio-demo: %s: %s\n", vmm_strerror(rc),
            vmm_last_error());
    vmm_vm_destroy(vm);
    return 1;
  }
  uint64_t params[5] = {MODE_DEMO, vmm_virtio_mmio_base(blk), 0,
                        vmm_virtio_mmio_base(rng),
                        vmm_virtio_mmio_base(console)};
  printf("virtio-demo: backend %s; virtio-blk at 0x%llx (GSI %u), "
         "virtio-console at 0x%llx, virtio-rng at 0x%llx\n",
         vmm_vm_backend(vm), (unsigned long long)params[1],
         vmm_virtio_irq(blk), (unsigned long long)params[4],
         (unsigned long long)params[3]);
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if ((rc = vmm_mem_write(vm, PARAM_GPA, params, sizeof(params))) < 0 ||
      (rc = vmm_vm_start(vm)) < 0 ||
      (rc = vmm_vm_wait(vm, 30000, &info)) < 0) {
    fprintf(stderr, "virtio-demo: %s: %s\n", vmm_strerror(rc),
            vmm_last_error());
    vmm_vm_stop(vm, 1);
    vmm_vm_wait(vm, -1, NULL);
    vmm_vm_destroy(vm);
    return 1;
  }
  int ok = d.done == 1;
  if (ok) {
    char id[21] = {0};
    vmm_mem_read(vm, d.sync[2], id, 20);
    printf("  virtio-blk: read 4 KiB (checksum 0x%016llx), wrote them to "
           "sectors 16-23, flushed; serial \"%s\"\n",
           (unsigned long long)d.sync[1], id);
    printf("  virtio-rng: %llu random bytes\n",
           (unsigned long long)d.sync[3]);
    show("UART", uart_out);
    show("virtio-console", console_out);
    ok = d.sync[3] == 64 && d.sync[4] > 0 && strcmp(id, blk_cfg.serial) == 0;
  } else {
    fprintf(stderr, "virtio-demo: the guest did not finish: %s%s\n",
            d.done < 0 ? d.abort_text : "", info.message);
  }
  const vmm_device_t *devs[] = {uart, console, blk, rng};
  for (size_t i = 0; i < 4; i++) {
    if (vmm_device_error(devs[i])) {
      fprintf(stderr, "virtio-demo: %s: %s\n", vmm_device_type(devs[i]),
              vmm_device_error(devs[i]));
      ok = 0;
    }
  }
  vmm_vm_destroy(vm);
  printf("virtio-demo: %s\n", ok ? "all went well" : "FAILED");
  return ok ? 0 : 1;
}
