/* libvmm/libvmm.h — the whole public API of libvmm in one include. */
#ifndef LIBVMM_LIBVMM_H
#define LIBVMM_LIBVMM_H

#include <libvmm/common.h>
#include <libvmm/version.h>
#include <libvmm/backend.h>
#include <libvmm/vm.h>
#include <libvmm/memory.h>
#include <libvmm/x86.h>
#include <libvmm/vcpu.h>
#include <libvmm/io.h>
#include <libvmm/loader.h>
#include <libvmm/irq.h>
#include <libvmm/device.h>
#include <libvmm/virtio.h>
#include <libvmm/uv.h>
#include <libvmm/boot.h>
#include <libvmm/cpu.h>
#include <libvmm/config.h>
#include <libvmm/control.h>
#include <libvmm/gdbstub.h>
#include <libvmm/sandbox.h>
#include <libvmm/migrate.h>
#include <libvmm/snapshot.h>

#endif
