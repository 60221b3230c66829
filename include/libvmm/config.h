/* libvmm/config.h — describing a whole VM in JSON: parse a description,
 * build the VM from it, and describe a live VM in the same schema
 * (docs/config.md has the schema). */
#ifndef LIBVMM_CONFIG_H
#define LIBVMM_CONFIG_H

#include <libvmm/common.h>
#include <libvmm/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A parsed and validated VM description (opaque). */
typedef struct vmm_config vmm_config_t;

/*
 * Parses and validates a JSON VM description of `len` bytes (no NUL
 * needed). Everything that can be checked without creating the VM is
 * checked here: JSON syntax (the message gives line and column), types,
 * unknown fields, ranges and alignment, overlapping memory regions and
 * device ports, duplicate device ids, files that must exist. A failure
 * returns VMM_EINVAL (or VMM_ENOENT for a missing file, VMM_ERANGE for a
 * value out of range, VMM_EOVERLAP for overlapping ranges, VMM_EEXIST for
 * a duplicate id or an existing socket path; docs/config.md lists all) and
 * vmm_last_error() starts with the JSON path of the offending field:
 * "devices[2].path: no such file". Relative paths are taken relative to
 * the current directory. `*out` is NULL on failure.
 */
VMM_EXPORT int vmm_config_parse(const char *json, size_t len,
                                vmm_config_t **out);
/* The same from a file; relative paths inside it are taken relative to
 * the directory of `path`. */
VMM_EXPORT int vmm_config_parse_file(const char *path, vmm_config_t **out);
/* NULL is accepted. */
VMM_EXPORT void vmm_config_free(vmm_config_t *cfg);

/*
 * Builds the VM a description asks for: memory regions, vCPUs with their
 * CPU template, devices with their character back-ends, the payload loaded
 * and vCPU 0 set up to run it, and the control socket listening
 * (vmm_vm_control_listen()). The VM is left CREATED: start it with
 * vmm_vm_start().
 * On failure nothing is left behind and `*out` is NULL; vmm_last_error()
 * names the part that failed ("devices[1] (virtio-blk): ..."). `cfg` may
 * be freed once this returned.
 */
VMM_EXPORT int vmm_vm_create_from_config(const vmm_config_t *cfg,
                                         vmm_vm_t **out);

/*
 * The JSON description of a live VM in the schema vmm_config_parse()
 * reads, so that parse → create → describe → parse round-trips: backend,
 * flags, memory regions, vCPUs and CPU template, devices with their
 * back-ends, and — for a VM made by vmm_vm_create_from_config() — the
 * payload and control socket it was made with. A VM built call by call
 * has a "payload" only when it booted a kernel from files with
 * vmm_boot() (libvmm does not keep the images it loaded). `*out` is
 * a NUL-terminated string allocated with malloc(); release it with free().
 * Any thread, also while the VM runs (the control socket's "describe"
 * uses it).
 */
VMM_EXPORT int vmm_vm_describe_json(vmm_vm_t *vm, char **out);

/* ---- accessors for launchers ------------------------------------------ */

/* The "control": {"path": ...} socket path of a description, or NULL. */
VMM_EXPORT const char *vmm_config_control_path(const vmm_config_t *cfg);
/* The id of the device whose character back-end is "stdio" (the console
 * a launcher puts into raw mode), or NULL when none is. */
VMM_EXPORT const char *vmm_config_stdio_device(const vmm_config_t *cfg);
/* The "sandbox" of a description as VMM_SANDBOX_* flags ("off" 0, "on",
 * "kill"), or -1 when it does not say (the VM is then not sandboxed; a
 * launcher may choose its own default). */
VMM_EXPORT int vmm_config_sandbox(const vmm_config_t *cfg);
/* Number of vCPUs the description asks for (0 for a NULL config). */
VMM_EXPORT uint32_t vmm_config_vcpus(const vmm_config_t *cfg);

/*
 * Device ids. Every device has an id, unique in its VM: the "id" of its
 * description, or one given with vmm_device_set_id(), or else
 * "<type><n>" made up by vmm_vm_describe_json() ("uart0"). Ids are 1..63
 * characters of [A-Za-z0-9_.-].
 */
VMM_EXPORT int vmm_device_set_id(vmm_device_t *dev, const char *id);
/* The id set on the device, or NULL when it has none. */
VMM_EXPORT const char *vmm_device_id(const vmm_device_t *dev);
/* The device of `vm` with id `id` (VMM_ENOENT when there is none). */
VMM_EXPORT int vmm_vm_find_device(vmm_vm_t *vm, const char *id,
                                  vmm_device_t **out);
/* The character back-end a UART or virtio-console device uses, or NULL. */
VMM_EXPORT vmm_chardev_t *vmm_device_chardev(const vmm_device_t *dev);

#ifdef __cplusplus
}
#endif
#endif
