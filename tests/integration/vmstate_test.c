/* tests/integration/vmstate_test.c — the internal saved-state API
 * (src/snapshot/state.h) on a real guest: a VM saved while paused and
 * loaded into a second VM built the same way continues where the first
 * stopped, with the same registers and device state; damaged blobs are
 * refused, never crash. Links the core archive (internal API).
 *
 *   vmstate_test --backend kvm --guest spin PATH
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "runner.h"
#include "snapshot/state.h"
#include "snapshot/stream.h"
#include "test_vm.h"

#define HEADER_LEN 32

/* A spin guest counting in ring 3 with an irqchip and one device of each
 * kind that keeps state: what both VMs of a round trip are made of. */
struct rig {
  struct test_vm t;
  vmm_chardev_t *buf;
};

static bool rig_create(struct rig *r) {
  memset(r, 0, sizeof(*r));
  if (test_vm_create_flags(&r->t, "spin", VMM_VM_F_IRQCHIP) < 0) {
    note("test_vm_create: %s", r->t.error);
    return false;
  }
  vmm_vm_t *vm = r->t.vm;
  vmm_uart_config_t uc = VMM_UART_CONFIG_INIT;
  vmm_virtio_config_t mmio = VMM_VIRTIO_CONFIG_INIT;
  vmm_virtio_config_t pci = VMM_VIRTIO_CONFIG_INIT;
  pci.transport = VMM_VIRTIO_PCI;
  vmm_device_t *d;
  return EXPECT_OK(vmm_chardev_buffer(vm, 4096, &r->buf)) &&
         (uc.chardev = r->buf, EXPECT_OK(vmm_uart_create(vm, &uc, &d))) &&
         EXPECT_OK(vmm_rtc_create(vm, &d)) &&
         EXPECT_OK(vmm_i8042_create(vm, &d)) &&
         EXPECT_OK(vmm_debug_exit_create(vm, 0, &d)) &&
         EXPECT_OK(vmm_virtio_rng_create(vm, &mmio, &d)) &&
         EXPECT_OK(vmm_virtio_rng_create(vm, &pci, &d)) &&
         EXPECT_OK(test_vm_set_param(&r->t, 0, 1));
}

static uint64_t counter(struct rig *r) {
  uint64_t v = 0;
  vmm_mem_read(r->t.vm, GUEST_STATUS_GPA, &v, sizeof(v));
  return v;
}

/* Waits (up to 10 s) until the guest's counter passes `above`. */
static bool wait_counter(struct rig *r, uint64_t above) {
  for (int i = 0; i < 10000; i++) {
    if (counter(r) > above)
      return true;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return false;
}

/* The "device" sections of a blob, back to back (for comparing). */
static size_t device_sections(const uint8_t *blob, size_t len, uint8_t *out) {
  struct vmm__sr r, sec;
  vmm__sr_init(&r, blob + HEADER_LEN, len - HEADER_LEN, "test");
  size_t n = 0;
  while (r.pos < r.len) {
    size_t at = r.pos;
    char tag[32];
    vmm__sr_str(&r, tag, sizeof(tag));
    r.pos = at;
    if (!vmm__sr_section(&r, tag, 1, &sec, NULL))
      break;
    if (strcmp(tag, "device") == 0) {
      memcpy(out + n, blob + HEADER_LEN + at, r.pos - at);
      n += r.pos - at;
    }
  }
  return n;
}

/* A: run, pause, save. B: same VM, A's memory, load; compare; run on. */
static void test_round_trip(void) {
  struct rig a, b;
  void *blob = NULL, *blob_b = NULL;
  size_t len = 0, len_b = 0;
  bool have_b = false;
  if (!rig_create(&a))
    goto out;
  if (!RUN_UCALL(&a.t, UCALL_SYNC) || !EXPECT_OK(vmm_vm_start(a.t.vm)))
    goto out;
  if (!EXPECT_TRUEF(wait_counter(&a, 100000), "the guest does not count"))
    goto out;
  if (!EXPECT_OK(vmm_vm_pause(a.t.vm)))
    goto out;
  uint64_t at_save = counter(&a);
  if (!EXPECT_OK(vmm__vm_state_save(a.t.vm, &blob, &len)))
    goto out;
  note("state blob: %zu bytes", len);

  have_b = rig_create(&b);
  if (!have_b)
    goto out;
  void *ha = vmm_mem_region_hva(a.t.ram), *hb = vmm_mem_region_hva(b.t.ram);
  memcpy(hb, ha, GUEST_RAM_SIZE);
  if (!EXPECT_OK(vmm__vm_state_load(b.t.vm, blob, len)))
    goto out;

  /* Registers of every kind, as the public API reads them. */
  vmm_regs_t ra, rb;
  vmm_sregs_t sa, sb;
  vmm_fpu_t fa, fb;
  if (EXPECT_OK(vmm_vcpu_get_regs(a.t.vcpu, &ra)) &&
      EXPECT_OK(vmm_vcpu_get_regs(b.t.vcpu, &rb)))
    EXPECT_TRUEF(memcmp(&ra, &rb, sizeof(ra)) == 0, "regs differ: rip "
                 "0x%llx / 0x%llx", (unsigned long long)ra.rip,
                 (unsigned long long)rb.rip);
  if (EXPECT_OK(vmm_vcpu_get_sregs(a.t.vcpu, &sa)) &&
      EXPECT_OK(vmm_vcpu_get_sregs(b.t.vcpu, &sb)))
    EXPECT_TRUE(memcmp(&sa, &sb, sizeof(sa)) == 0);
  if (EXPECT_OK(vmm_vcpu_get_fpu(a.t.vcpu, &fa)) &&
      EXPECT_OK(vmm_vcpu_get_fpu(b.t.vcpu, &fb)))
    EXPECT_TRUE(memcmp(&fa, &fb, sizeof(fa)) == 0);
  static const uint32_t msr_index[] = {0xc0000080, 0xc0000081, 0xc0000082,
                                       0xc0000084, 0xc0000100, 0xc0000102,
                                       0x277};
  vmm_msr_entry_t ma[sizeof(msr_index) / sizeof(msr_index[0])];
  memset(ma, 0, sizeof(ma));
  for (size_t i = 0; i < sizeof(ma) / sizeof(ma[0]); i++)
    ma[i].index = msr_index[i];
  vmm_msr_entry_t mb[sizeof(ma) / sizeof(ma[0])];
  memcpy(mb, ma, sizeof(ma));
  size_t nm = sizeof(ma) / sizeof(ma[0]);
  if (EXPECT_OK(vmm_vcpu_get_msrs(a.t.vcpu, ma, nm)) &&
      EXPECT_OK(vmm_vcpu_get_msrs(b.t.vcpu, mb, nm)))
    for (size_t i = 0; i < nm; i++)
      EXPECT_TRUEF(ma[i].value == mb[i].value, "MSR 0x%x: 0x%llx / 0x%llx",
                   ma[i].index, (unsigned long long)ma[i].value,
                   (unsigned long long)mb[i].value);

  /* B saved at once holds the same device state as A's blob. */
  if (EXPECT_OK(vmm__vm_state_save(b.t.vm, &blob_b, &len_b))) {
    uint8_t *da = malloc(len), *db = malloc(len_b);
    size_t na = device_sections(blob, len, da);
    size_t nb = device_sections(blob_b, len_b, db);
    EXPECT_TRUE(na > 0);
    EXPECT_TRUEF(na == nb && memcmp(da, db, na) == 0, "device state "
                 "differs after a round trip (%zu / %zu bytes)", na, nb);
    free(da);
    free(db);
  }

  /* B continues counting from where A was. */
  uint64_t b0 = counter(&b);
  EXPECT_EQ(b0, at_save);
  if (EXPECT_OK(vmm_vm_start(b.t.vm)))
    EXPECT_TRUEF(wait_counter(&b, at_save + 100000), "the loaded guest "
                 "does not count on (0x%llx)", (unsigned long long)counter(&b));
  /* A, resumed, counts on too (the save did not disturb it). */
  EXPECT_OK(vmm_vm_resume(a.t.vm));
  EXPECT_TRUE(wait_counter(&a, at_save + 100000));
out:
  free(blob);
  free(blob_b);
  test_vm_destroy(&a.t);
  if (have_b)
    test_vm_destroy(&b.t);
}

/* A blob from a paused VM, for the damage tests. */
static void *saved_blob(size_t *len) {
  struct rig a;
  void *blob = NULL;
  if (rig_create(&a) && RUN_UCALL(&a.t, UCALL_SYNC) &&
      EXPECT_OK(vmm_vm_start(a.t.vm)) && wait_counter(&a, 1000) &&
      EXPECT_OK(vmm_vm_pause(a.t.vm)))
    EXPECT_OK(vmm__vm_state_save(a.t.vm, &blob, len));
  test_vm_destroy(&a.t);
  return blob;
}

static void set_crc(uint8_t *blob, size_t len) {
  uint32_t crc = vmm__crc32c(0, blob + HEADER_LEN, len - HEADER_LEN);
  memcpy(blob + 24, &crc, 4);
}

static bool refused(int rc, int want, const char *needle) {
  const char *msg = vmm_last_error();
  return check_true(rc == want && strstr(msg, needle), __LINE__, needle,
                    "rc %s, message \"%s\"", vmm_err_name(rc), msg);
}

static void test_damaged(void) {
  size_t len = 0;
  uint8_t *blob = saved_blob(&len);
  struct rig b;
  bool have_b = false;
  if (!blob)
    goto out;
  have_b = rig_create(&b);
  if (!have_b)
    goto out;
  uint8_t *copy = malloc(len);
  /* Truncated anywhere: the header says how long the payload is. */
  refused(vmm__vm_state_load(b.t.vm, blob, 10), VMM_EINVAL, "header");
  refused(vmm__vm_state_load(b.t.vm, blob, len - 1), VMM_EINVAL, "truncated");
  /* One bit flipped in the payload: the checksum. */
  memcpy(copy, blob, len);
  copy[len / 2] ^= 0x10;
  refused(vmm__vm_state_load(b.t.vm, copy, len), VMM_EINVAL, "checksum");
  /* Another format version. */
  memcpy(copy, blob, len);
  copy[8] = 99;
  refused(vmm__vm_state_load(b.t.vm, copy, len), VMM_EVERSION, "version");
  memcpy(copy, blob, len);
  copy[0] = 'X';
  refused(vmm__vm_state_load(b.t.vm, copy, len), VMM_EINVAL, "magic");
  /* Random damage behind a valid checksum: refused or loaded, never a
   * crash (the sanitizer build watches). */
  unsigned refusals = 0, loads = 0;
  srand(7);
  for (int i = 0; i < 400; i++) {
    memcpy(copy, blob, len);
    int n = 1 + rand() % 4;
    for (int k = 0; k < n; k++) {
      size_t at = HEADER_LEN + (size_t)rand() % (len - HEADER_LEN);
      copy[at] = (uint8_t)rand();
    }
    set_crc(copy, len);
    int rc = vmm__vm_state_load(b.t.vm, copy, len);
    if (rc < 0) {
      refusals++;
      EXPECT_TRUE(vmm_last_error()[0] != 0);
    } else {
      loads++;
    }
  }
  note("400 damaged blobs: %u refused, %u loaded", refusals, loads);
  EXPECT_TRUE(refusals > 0);
  /* The intact blob still loads into the same VM afterwards. */
  EXPECT_OK(vmm__vm_state_load(b.t.vm, blob, len));
  free(copy);
out:
  free(blob);
  if (have_b)
    test_vm_destroy(&b.t);
}

/* A VM built differently is refused with the difference named. */
static void test_mismatch(void) {
  size_t len = 0;
  uint8_t *blob = saved_blob(&len);
  struct test_vm c;
  memset(&c, 0, sizeof(c));
  if (!blob)
    goto out;
  if (!CREATE(&c, "spin"))
    goto out;
  refused(vmm__vm_state_load(c.vm, blob, len), VMM_EINVAL, "flags");
  /* A running VM cannot be saved. */
  void *b2 = NULL;
  size_t l2 = 0;
  EXPECT_RC(vmm__vm_state_save(NULL, &b2, &l2), VMM_EBADF);
out:
  free(blob);
  test_vm_destroy(&c);
}

static const struct test_def tests[] = {
    {"round_trip", test_round_trip},
    {"damaged", test_damaged},
    {"mismatch", test_mismatch},
    {NULL, NULL},
};

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {{"vmstate", tests, 0}};
  return test_main(argc, argv, "vmstate_test", "--guest spin PATH ", suites,
                   1, 120);
}
