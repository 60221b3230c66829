/* tests/unit/test_error.c — the error table, per-thread messages, versions. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include <libvmm/version.h>

#include "error.h"
#include "unit.h"

/* The table as the header defines it, to compare the functions against. */
static const struct {
  const char *name;
  int value;
  const char *text;
} table[] = {
#define ENTRY(name, value, text) {"VMM_" #name, value, text},
    VMM_ERRNO_MAP(ENTRY)
#undef ENTRY
};

static void test_table_names_and_strings(void) {
  for (size_t i = 0; i < UNIT_COUNT(table); i++) {
    CU_ASSERT_STRING_EQUAL(vmm_err_name(table[i].value), table[i].name);
    CU_ASSERT_STRING_EQUAL(vmm_strerror(table[i].value), table[i].text);
    CU_ASSERT(table[i].value < 0);
    CU_ASSERT(strlen(table[i].text) > 0);
  }
  CU_ASSERT_STRING_EQUAL(vmm_err_name(0), "VMM_OK");
  CU_ASSERT_STRING_EQUAL(vmm_strerror(0), "success");
}

static void test_table_unique(void) {
  for (size_t i = 0; i < UNIT_COUNT(table); i++) {
    for (size_t j = i + 1; j < UNIT_COUNT(table); j++) {
      CU_ASSERT(table[i].value != table[j].value);
      CU_ASSERT(strcmp(table[i].name, table[j].name) != 0);
      CU_ASSERT(strcmp(table[i].text, table[j].text) != 0);
    }
  }
}

/* "Where an errno value fits, the code equals the negative Linux errno",
 * so that -errno can be passed straight through. */
static void test_table_matches_errno(void) {
  CHECK_U64(VMM_EPERM, -EPERM);
  CHECK_U64(VMM_ENOENT, -ENOENT);
  CHECK_U64(VMM_EINTR, -EINTR);
  CHECK_U64(VMM_EIO, -EIO);
  CHECK_U64(VMM_E2BIG, -E2BIG);
  CHECK_U64(VMM_ENOEXEC, -ENOEXEC);
  CHECK_U64(VMM_EBADF, -EBADF);
  CHECK_U64(VMM_EAGAIN, -EAGAIN);
  CHECK_U64(VMM_ENOMEM, -ENOMEM);
  CHECK_U64(VMM_EACCES, -EACCES);
  CHECK_U64(VMM_EFAULT, -EFAULT);
  CHECK_U64(VMM_EBUSY, -EBUSY);
  CHECK_U64(VMM_EEXIST, -EEXIST);
  CHECK_U64(VMM_ENODEV, -ENODEV);
  CHECK_U64(VMM_EINVAL, -EINVAL);
  CHECK_U64(VMM_ENOSPC, -ENOSPC);
  CHECK_U64(VMM_ERANGE, -ERANGE);
  CHECK_U64(VMM_ENOSYS, -ENOSYS);
  CHECK_U64(VMM_ENOTSUP, -ENOTSUP);
  CHECK_U64(VMM_ETIMEDOUT, -ETIMEDOUT);
  /* libvmm's own codes stay clear of every errno value. */
  CU_ASSERT(VMM_EOVERLAP < -4000 && VMM_EBACKEND < -4000);
  CU_ASSERT(VMM_ESTATE < -4000 && VMM_EVERSION < -4000);
}

static void test_unknown_code(void) {
  const int unknown[] = {1, 3, 4001, -3, -39, -4000, -4005, 12345,
                         INT_MIN, INT_MAX};
  for (size_t i = 0; i < UNIT_COUNT(unknown); i++) {
    CU_ASSERT_STRING_EQUAL(vmm_strerror(unknown[i]), "unknown error");
    CU_ASSERT_STRING_EQUAL(vmm_err_name(unknown[i]), "VMM_EUNKNOWN");
  }
}

static void test_last_error_set(void) {
  CHECK_RC(vmm__error(VMM_EINVAL, "value %d at 0x%x", 42, 0x1000),
           VMM_EINVAL);
  CU_ASSERT_STRING_EQUAL(vmm_last_error(), "value 42 at 0x1000");
  CHECK_RC(vmm__error(VMM_EFAULT, "second"), VMM_EFAULT);
  CU_ASSERT_STRING_EQUAL(vmm_last_error(), "second");
}

static void test_last_error_prefix(void) {
  vmm__error(VMM_EIO, "disk on fire");
  CHECK_RC(vmm__error_prefix(VMM_EIO, "vmm_load_flat"), VMM_EIO);
  CU_ASSERT_STRING_EQUAL(vmm_last_error(), "vmm_load_flat: disk on fire");
  CHECK_RC(vmm__error_prefix(VMM_EIO, "outer"), VMM_EIO);
  CU_ASSERT_STRING_EQUAL(vmm_last_error(),
                         "outer: vmm_load_flat: disk on fire");
  /* A '%' in the prefix or the message is text, not a format. */
  vmm__error(VMM_EIO, "100%% %s", "done");
  vmm__error_prefix(VMM_EIO, "%s%n");
  CU_ASSERT_STRING_EQUAL(vmm_last_error(), "%s%n: 100% done");
}

/* Messages longer than the buffer are cut, never overflow, and stay
 * NUL-terminated; prefixing a full buffer keeps it bounded too. */
static void test_last_error_truncated(void) {
  char big[2048];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  vmm__error(VMM_EINVAL, "%s", big);
  size_t n = strlen(vmm_last_error());
  CU_ASSERT(n > 100 && n < sizeof(big) - 1);
  vmm__error_prefix(VMM_EINVAL, "prefix");
  CU_ASSERT(strlen(vmm_last_error()) == n);
  CU_ASSERT(strncmp(vmm_last_error(), "prefix: xxx", 11) == 0);
}

static void *other_thread(void *arg) {
  const char **seen = arg;
  /* A new thread starts with no message. */
  seen[0] = strdup(vmm_last_error());
  vmm__error(VMM_EBUSY, "from the other thread");
  seen[1] = strdup(vmm_last_error());
  return NULL;
}

static void test_last_error_per_thread(void) {
  vmm__error(VMM_EINVAL, "from the main thread");
  const char *seen[2] = {NULL, NULL};
  pthread_t t;
  CU_ASSERT_FATAL(pthread_create(&t, NULL, other_thread, seen) == 0);
  pthread_join(t, NULL);
  CU_ASSERT_STRING_EQUAL(seen[0], "");
  CU_ASSERT_STRING_EQUAL(seen[1], "from the other thread");
  CU_ASSERT_STRING_EQUAL(vmm_last_error(), "from the main thread");
  free((void *)seen[0]);
  free((void *)seen[1]);
}

static void test_version(void) {
  CHECK_U64(vmm_version(), VMM_VERSION_HEX);
  CHECK_U64(vmm_version() >> 16, VMM_VERSION_MAJOR);
  CHECK_U64((vmm_version() >> 8) & 0xff, VMM_VERSION_MINOR);
  CHECK_U64(vmm_version() & 0xff, VMM_VERSION_PATCH);
  CU_ASSERT_STRING_EQUAL(vmm_version_string(), VMM_VERSION_STRING);
  char s[64];
  snprintf(s, sizeof(s), "%d.%d.%d", VMM_VERSION_MAJOR, VMM_VERSION_MINOR,
           VMM_VERSION_PATCH);
  CU_ASSERT_STRING_EQUAL(vmm_version_string(), s);
  /* The hex packing gives each part 8 bits. */
  CU_ASSERT(VMM_VERSION_MINOR < 256 && VMM_VERSION_PATCH < 256);
}

int main(void) {
  static const struct unit_test error_tests[] = {
      UNIT_TEST(test_table_names_and_strings),
      UNIT_TEST(test_table_unique),
      UNIT_TEST(test_table_matches_errno),
      UNIT_TEST(test_unknown_code),
      UNIT_TEST(test_last_error_set),
      UNIT_TEST(test_last_error_prefix),
      UNIT_TEST(test_last_error_truncated),
      UNIT_TEST(test_last_error_per_thread),
  };
  static const struct unit_test version_tests[] = {
      UNIT_TEST(test_version),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("error", NULL, NULL, error_tests,
                      UNIT_COUNT(error_tests)) ||
      !unit_add_suite("version", NULL, NULL, version_tests,
                      UNIT_COUNT(version_tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
