"""cffi builder (API mode) for the libvmm package.

The declarations below are a subset of include/libvmm/*.h written for
cffi; in API mode cffi compiles a C extension that includes the real
<libvmm/libvmm.h>, so the compiler checks every declaration against the
installed headers (a wrong type or a struct field that moved fails the
build, or the import, instead of corrupting memory). Compiler and linker
flags come from `pkg-config libvmm`.
"""
import os
import shlex
import subprocess

from cffi import FFI

CDEF = r"""
/* common.h */
typedef struct vmm_vm vmm_vm_t;
typedef struct vmm_vcpu vmm_vcpu_t;
typedef struct vmm_mem_region vmm_mem_region_t;
typedef struct vmm_device vmm_device_t;
typedef struct vmm_chardev vmm_chardev_t;
typedef struct vmm_config vmm_config_t;
const char *vmm_strerror(int code);
const char *vmm_err_name(int code);
const char *vmm_last_error(void);
#define VMM_EIO ...
#define VMM_EINVAL ...

/* version.h */
#define VMM_VERSION_MAJOR ...
#define VMM_VERSION_MINOR ...
#define VMM_VERSION_PATCH ...
unsigned int vmm_version(void);
const char *vmm_version_string(void);

/* backend.h */
unsigned int vmm_backend_count(void);
const char *vmm_backend_name(unsigned int index);
int vmm_backend_probe(const char *name);

/* vm.h */
typedef struct vmm_vm_config {
  size_t size;
  const char *backend;
  uint32_t max_vcpus;
  uint32_t flags;
  uint16_t hypercall_port;
  ...;
} vmm_vm_config_t;
#define VMM_VM_F_IRQCHIP ...
typedef struct vmm_vm_stop_info {
  size_t size;
  uint32_t reason;
  int32_t status;
  uint32_t vcpu;
  int32_t error;
  char message[256];
  ...;
} vmm_vm_stop_info_t;
int vmm_vm_create(const vmm_vm_config_t *config, vmm_vm_t **out);
int vmm_vm_destroy(vmm_vm_t *vm);
int vmm_vm_start(vmm_vm_t *vm);
int vmm_vm_pause(vmm_vm_t *vm);
int vmm_vm_resume(vmm_vm_t *vm);
int vmm_vm_stop(vmm_vm_t *vm, int status);
int vmm_vm_wait(vmm_vm_t *vm, int timeout_ms, vmm_vm_stop_info_t *info);
int vmm_vm_state(const vmm_vm_t *vm);
const char *vmm_vm_backend(const vmm_vm_t *vm);
int vmm_vm_caps(const vmm_vm_t *vm, uint64_t *caps);

/* x86.h */
typedef struct vmm_regs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip, rflags;
} vmm_regs_t;

/* vcpu.h */
typedef struct vmm_exit {
  uint32_t reason;
  uint32_t reserved;
  union {
    struct {
      uint16_t port;
      uint8_t size;
      uint8_t is_write;
      uint32_t count;
      uint8_t *data;
    } io;
    struct {
      uint64_t gpa;
      uint32_t size;
      uint32_t is_write;
      uint8_t *data;
    } mmio;
    struct {
      uint64_t nr;
      uint64_t args[5];
      uint64_t ret;
    } hypercall;
    struct {
      uint32_t exception;
      uint32_t reserved;
      uint64_t rip;
      uint64_t dr6, dr7;
    } debug;
    struct {
      uint32_t kind;
      uint32_t backend_code;
      uint64_t rip;
      uint8_t insn_len;
      uint8_t insn[15];
      uint64_t data[4];
      uint8_t cpu_mode;
      uint8_t code_bits;
      uint8_t cpl;
      uint8_t reserved8;
      uint32_t reserved32;
    } internal;
    uint8_t padding[256];
  } u;
} vmm_exit_t;
int vmm_vcpu_create(vmm_vm_t *vm, uint32_t id, vmm_vcpu_t **out);
typedef int (*vmm_vm_exit_fn)(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                              void *opaque);
int vmm_vm_on_exit(vmm_vm_t *vm, vmm_vm_exit_fn fn, void *opaque);
uint32_t vmm_vcpu_id(const vmm_vcpu_t *vcpu);
vmm_vcpu_t *vmm_vm_get_vcpu(vmm_vm_t *vm, uint32_t id);
int vmm_vcpu_run(vmm_vcpu_t *vcpu, vmm_exit_t *exit);
int vmm_vcpu_kick(vmm_vcpu_t *vcpu);
int vmm_vcpu_get_regs(vmm_vcpu_t *vcpu, vmm_regs_t *regs);
int vmm_vcpu_set_regs(vmm_vcpu_t *vcpu, const vmm_regs_t *regs);
int vmm_vcpu_setup_real_mode(vmm_vcpu_t *vcpu, uint16_t cs_selector,
                             uint16_t ip, uint16_t sp);
int vmm_vcpu_setup_protected_mode(vmm_vcpu_t *vcpu, uint32_t entry,
                                  uint32_t stack);
int vmm_vcpu_setup_long_mode(vmm_vcpu_t *vcpu, uint64_t entry,
                             uint64_t stack, uint64_t setup_gpa);

/* memory.h */
#define VMM_PAGE_SIZE ...
#define VMM_MEM_READONLY ...
#define VMM_MEM_DIRTY_LOG ...
int vmm_mem_map(vmm_vm_t *vm, uint64_t gpa, uint64_t size, void *hva,
                uint32_t flags, vmm_mem_region_t **out);
int vmm_mem_unmap(vmm_mem_region_t *region);
int vmm_mem_read(vmm_vm_t *vm, uint64_t gpa, void *buf, size_t len);
int vmm_mem_write(vmm_vm_t *vm, uint64_t gpa, const void *buf, size_t len);
int vmm_mem_dirty_log_get(vmm_mem_region_t *region, uint64_t *bitmap,
                          size_t bitmap_bytes);
int vmm_mem_dirty_log_clear(vmm_mem_region_t *region);

/* io.h */
typedef int (*vmm_io_fn)(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                         uint32_t size, int is_write, void *opaque);
typedef int (*vmm_hypercall_fn)(vmm_vcpu_t *vcpu, uint64_t nr,
                                const uint64_t args[5], uint64_t *ret,
                                void *opaque);
int vmm_io_register(vmm_vm_t *vm, int space, uint64_t addr, uint64_t len,
                    vmm_io_fn fn, void *opaque);
int vmm_io_unregister(vmm_vm_t *vm, int space, uint64_t addr);
int vmm_hypercall_register(vmm_vm_t *vm, uint64_t nr, vmm_hypercall_fn fn,
                           void *opaque);
int vmm_hypercall_unregister(vmm_vm_t *vm, uint64_t nr);
#define VMM_HYPERCALL_PORT_DEFAULT ...

/* loader.h */
typedef struct vmm_elf_info {
  size_t size;
  uint64_t entry;
  uint64_t lowest;
  uint64_t highest;
  uint32_t elf_class;
  uint32_t segments;
  ...;
} vmm_elf_info_t;
int vmm_load_flat(vmm_vm_t *vm, const void *image, size_t len, uint64_t gpa);
int vmm_load_elf(vmm_vm_t *vm, const void *image, size_t len,
                 vmm_elf_info_t *info);
int vmm_load_elf_file(vmm_vm_t *vm, const char *path, vmm_elf_info_t *info);

/* device.h */
const char *vmm_device_type(const vmm_device_t *dev);
const char *vmm_device_error(const vmm_device_t *dev);
int vmm_chardev_stdio(vmm_vm_t *vm, vmm_chardev_t **out);
int vmm_chardev_file(vmm_vm_t *vm, const char *path, vmm_chardev_t **out);
int vmm_chardev_socket(vmm_vm_t *vm, const char *path, vmm_chardev_t **out);
int vmm_chardev_buffer(vmm_vm_t *vm, size_t capacity, vmm_chardev_t **out);
int vmm_chardev_buffer_read(vmm_chardev_t *chr, void *buf, size_t len);
int vmm_chardev_buffer_write(vmm_chardev_t *chr, const void *buf, size_t len);
typedef struct vmm_uart_config {
  size_t size;
  uint16_t port;
  uint32_t irq;
  vmm_chardev_t *chardev;
  ...;
} vmm_uart_config_t;
int vmm_uart_create(vmm_vm_t *vm, const vmm_uart_config_t *config,
                    vmm_device_t **out);
int vmm_debug_exit_create(vmm_vm_t *vm, uint16_t port, vmm_device_t **out);

/* virtio.h */
typedef struct vmm_virtio_config {
  size_t size;
  uint32_t transport;
  uint32_t irq;
  uint64_t mmio_base;
  uint16_t queue_size;
  uint32_t pci_slot;
  ...;
} vmm_virtio_config_t;
#define VMM_VIRTIO_MMIO ...
#define VMM_VIRTIO_PCI ...
uint64_t vmm_virtio_mmio_base(const vmm_device_t *dev);
uint32_t vmm_virtio_irq(const vmm_device_t *dev);
int vmm_virtio_rng_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          vmm_device_t **out);
int vmm_virtio_console_create(vmm_vm_t *vm,
                              const vmm_virtio_config_t *config,
                              vmm_chardev_t *chardev, vmm_device_t **out);
typedef struct vmm_virtio_blk_config {
  size_t size;
  const char *path;
  uint32_t flags;
  uint16_t num_queues;
  char serial[20];
  ...;
} vmm_virtio_blk_config_t;
#define VMM_BLK_F_READONLY ...
int vmm_virtio_blk_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          const vmm_virtio_blk_config_t *blk,
                          vmm_device_t **out);
typedef struct vmm_virtio_net_config {
  size_t size;
  uint32_t backend;
  int32_t fd;
  const char *name;
  uint8_t mac[6];
  ...;
} vmm_virtio_net_config_t;
#define VMM_NET_TAP ...
#define VMM_NET_SOCKET ...
int vmm_virtio_net_create(vmm_vm_t *vm, const vmm_virtio_config_t *config,
                          const vmm_virtio_net_config_t *net,
                          vmm_device_t **out);
int vmm_virtio_net_mac(const vmm_device_t *dev, uint8_t mac[6]);
int vmm_virtio_pci_devfn(const vmm_device_t *dev);

/* config.h */
int vmm_config_parse(const char *json, size_t len, vmm_config_t **out);
int vmm_config_parse_file(const char *path, vmm_config_t **out);
void vmm_config_free(vmm_config_t *cfg);
int vmm_vm_create_from_config(const vmm_config_t *cfg, vmm_vm_t **out);
int vmm_vm_describe_json(vmm_vm_t *vm, char **out);
uint32_t vmm_config_vcpus(const vmm_config_t *cfg);
int vmm_device_set_id(vmm_device_t *dev, const char *id);
const char *vmm_device_id(const vmm_device_t *dev);
int vmm_vm_find_device(vmm_vm_t *vm, const char *id, vmm_device_t **out);
vmm_chardev_t *vmm_device_chardev(const vmm_device_t *dev);

/* control.h */
int vmm_vm_control_listen(vmm_vm_t *vm, const char *path);
int vmm_vm_control_close(vmm_vm_t *vm);

/* irq.h */
int vmm_irq_set(vmm_vm_t *vm, uint32_t gsi, int level);
int vmm_irq_pulse(vmm_vm_t *vm, uint32_t gsi);

/* libc: vmm_vm_describe_json() hands out malloc()ed strings */
void free(void *ptr);

/* The trampolines the library calls; Python functions behind them are
 * attached with @ffi.def_extern in libvmm/_core.py. */
extern "Python" int _libvmm_io_cb(vmm_vcpu_t *vcpu, uint64_t addr,
                                  uint8_t *data, uint32_t size, int is_write,
                                  void *opaque);
extern "Python" int _libvmm_exit_cb(vmm_vcpu_t *vcpu, vmm_exit_t *exit,
                                    void *opaque);
extern "Python" int _libvmm_hypercall_cb(vmm_vcpu_t *vcpu, uint64_t nr,
                                         const uint64_t args[5],
                                         uint64_t *ret, void *opaque);
"""

SOURCE = r"""
#include <stdlib.h>
#include <libvmm/libvmm.h>
"""


def _pkg_config(*args):
    cmd = [os.environ.get("PKG_CONFIG", "pkg-config"), *args, "libvmm"]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise RuntimeError("libvmm: pkg-config is needed to build the "
                           "bindings") from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError(
            "libvmm: `%s` failed: %s (set PKG_CONFIG_PATH to the directory "
            "of an installed libvmm.pc)" % (" ".join(cmd), e.stderr.strip())
        ) from e
    return shlex.split(out.stdout)


def _flags():
    inc, lib_dirs, libs, cflags, ldflags = [], [], [], [], []
    for f in _pkg_config("--cflags"):
        (inc.append(f[2:]) if f.startswith("-I") else cflags.append(f))
    for f in _pkg_config("--libs"):
        if f.startswith("-L"):
            lib_dirs.append(f[2:])
        elif f.startswith("-l"):
            libs.append(f[2:])
        else:
            ldflags.append(f)
    return dict(include_dirs=inc, library_dirs=lib_dirs, libraries=libs,
                extra_compile_args=cflags + [
                    # a declaration above that disagrees with the header
                    # fails the build instead of warning
                    "-Werror=implicit-function-declaration",
                    "-Werror=incompatible-pointer-types",
                    "-Werror=int-conversion"],
                extra_link_args=ldflags)


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("libvmm._native", SOURCE, **_flags())

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
