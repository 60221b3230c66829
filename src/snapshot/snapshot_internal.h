/* src/snapshot/snapshot_internal.h — what the snapshot writer (snapshot.c)
 * and reader (restore.c) agree on: file names and manifest fields. */
#ifndef VMM__SNAPSHOT_INTERNAL_H
#define VMM__SNAPSHOT_INTERNAL_H

/* "format" of manifest.json and its version: another version is refused
 * with VMM_EVERSION. */
#define VMM__SNAP_FORMAT "libvmm-snapshot"
#define VMM__SNAP_VERSION 1
#define VMM__SNAP_MANIFEST "manifest.json"
#define VMM__SNAP_STATE "state.bin"
/* Memory files: "mem-<index>.bin" in region order (by address). */
#define VMM__SNAP_MEM_FMT "mem-%zu.bin"
/* A manifest larger than this is not one libvmm wrote. */
#define VMM__SNAP_MANIFEST_MAX (16u << 20)
/* Test knob: stop (SIGSTOP) halfway through the first memory file, so a
 * test can kill the process in the middle of a snapshot. */
#define VMM__SNAP_ENV_TEST_STOP "LIBVMM_SNAPSHOT_TEST_STOP"

#endif
