/* tests/integration/test_vm.c — VM set-up and the ucall-decoding run loop
 * shared by the integration tests. */
#include "test_vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *test_backend = "kvm";

#define MAX_GUESTS 32
static struct {
  const char *name, *path;
} guests[MAX_GUESTS];
static size_t n_guests;

int test_guest_add(const char *name, const char *path) {
  if (n_guests == MAX_GUESTS)
    return -1;
  guests[n_guests].name = name;
  guests[n_guests].path = path;
  n_guests++;
  return 0;
}

const char *test_guest_path(const char *name) {
  for (size_t i = 0; i < n_guests; i++)
    if (strcmp(guests[i].name, name) == 0)
      return guests[i].path;
  return NULL;
}

static int fail(struct test_vm *t, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct test_vm *t, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->error, sizeof(t->error), fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof(t->error) && rc < 0)
    snprintf(t->error + n, sizeof(t->error) - n, ": %s (%s)",
             vmm_err_name(rc), vmm_last_error());
  return rc < 0 ? rc : VMM_EINVAL;
}

/* Serialises console output of vCPUs running on several threads. */
static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;

/* Port 0xE9: one byte per OUT (REP OUTSB would bring several). */
int test_console_out(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                       uint32_t size, int is_write, void *opaque) {
  (void)vcpu, (void)addr;
  struct test_vm *t = opaque;
  if (!is_write)
    return 0; /* reads see 0, as the handler contract zeroes data */
  pthread_mutex_lock(&console_lock);
  for (uint32_t i = 0; i < size && t->console_len + 1 < TEST_CONSOLE_MAX; i++)
    t->console[t->console_len++] = (char)data[i];
  t->console[t->console_len] = 0;
  pthread_mutex_unlock(&console_lock);
  return 0;
}

int test_vm_create(struct test_vm *t, const char *guest) {
  return test_vm_create_flags(t, guest, 0);
}

int test_vm_create_flags(struct test_vm *t, const char *guest,
                         uint32_t flags) {
  memset(t, 0, sizeof(*t));
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  cfg.flags = flags;
  int rc = vmm_vm_create(&cfg, &t->vm);
  if (rc < 0)
    return fail(t, rc, "vmm_vm_create(%s)", test_backend);
  rc = vmm_mem_map(t->vm, GUEST_RAM_GPA, GUEST_RAM_SIZE, NULL, 0, &t->ram);
  if (rc < 0)
    return fail(t, rc, "vmm_mem_map(RAM)");
  rc = vmm_vcpu_create(t->vm, 0, &t->vcpu);
  if (rc < 0)
    return fail(t, rc, "vmm_vcpu_create(0)");
  rc = vmm_io_register(t->vm, VMM_IO_PIO, GUEST_PRINT_PORT, 1,
                       test_console_out, t);
  if (rc < 0)
    return fail(t, rc, "vmm_io_register(0xE9)");
  if (!guest)
    return 0;
  const char *path = test_guest_path(guest);
  if (!path)
    return fail(t, 0, "no path for guest '%s' (pass --guest %s PATH)", guest,
                guest);
  t->elf.size = sizeof(t->elf);
  rc = vmm_load_elf_file(t->vm, path, &t->elf);
  if (rc < 0)
    return fail(t, rc, "vmm_load_elf_file(%s)", path);
  rc = vmm_vcpu_setup_long_mode(t->vcpu, t->elf.entry, GUEST_STACK_TOP,
                                GUEST_SETUP_GPA);
  if (rc < 0)
    return fail(t, rc, "vmm_vcpu_setup_long_mode");
  return 0;
}

void test_vm_destroy(struct test_vm *t) {
  if (t->vm) {
    int rc = vmm_vm_destroy(t->vm);
    if (rc < 0)
      fprintf(stderr, "test_vm_destroy: vmm_vm_destroy: %s (%s)\n",
              vmm_err_name(rc), vmm_last_error());
  }
  t->vm = NULL;
  t->vcpu = NULL;
  t->ram = NULL;
}

int test_vm_set_param(struct test_vm *t, unsigned int i, uint64_t value) {
  if (i >= GUEST_PARAM_COUNT)
    return fail(t, 0, "parameter %u out of range", i);
  int rc = vmm_mem_write(t->vm, GUEST_PARAM_GPA + 8 * i, &value, 8);
  return rc < 0 ? fail(t, rc, "vmm_mem_write(param %u)", i) : 0;
}

uint64_t test_vm_read64(struct test_vm *t, uint64_t gpa) {
  uint64_t v = 0;
  int rc = vmm_mem_read(t->vm, gpa, &v, sizeof(v));
  if (rc < 0)
    fail(t, rc, "vmm_mem_read(0x%llx)", (unsigned long long)gpa);
  return v;
}

/* A ucall is a 4-byte OUT of the struct's address to UCALL_PORT. */
static int decode_ucall(struct test_vm *t) {
  const vmm_exit_t *e = &t->exit;
  if (e->u.io.size != 4 || e->u.io.count != 1 || !e->u.io.is_write)
    return fail(t, 0, "malformed ucall: size %u count %u write %u",
                e->u.io.size, e->u.io.count, e->u.io.is_write);
  uint32_t gpa;
  memcpy(&gpa, e->u.io.data, 4);
  int rc = vmm_mem_read(t->vm, gpa, &t->uc, sizeof(t->uc));
  if (rc < 0)
    return fail(t, rc, "ucall struct at 0x%x", gpa);
  if (t->uc.magic != UCALL_MAGIC)
    return fail(t, 0, "ucall at 0x%x: bad magic 0x%x", gpa, t->uc.magic);
  t->uc.text[UCALL_TEXT_MAX - 1] = 0;
  return 0;
}

int test_vm_run(struct test_vm *t) {
  for (;;) {
    memset(&t->uc, 0, sizeof(t->uc));
    int rc = vmm_vcpu_run(t->vcpu, &t->exit);
    if (rc < 0) {
      fail(t, rc, "vmm_vcpu_run");
      return rc;
    }
    if (t->exit.reason != VMM_EXIT_IO || t->exit.u.io.port != UCALL_PORT)
      return (int)t->exit.reason;
    rc = decode_ucall(t);
    if (rc < 0)
      return rc;
    if (t->uc.cmd == UCALL_PRINT) {
      printf("    guest: %s%s", t->uc.text,
             t->uc.text[0] && t->uc.text[strlen(t->uc.text) - 1] == '\n' ? ""
                                                                         : "\n");
      continue;
    }
    return TEST_RUN_UCALL;
  }
}

void *test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

const char *test_exit_name(int reason) {
  static const char *const names[] = {
      "NONE", "HLT", "SHUTDOWN", "IO", "MMIO", "HYPERCALL", "DEBUG",
      "INTERNAL_ERROR", "KICKED"};
  if (reason == TEST_RUN_UCALL)
    return "UCALL";
  if (reason < 0)
    return vmm_err_name(reason);
  if ((size_t)reason < sizeof(names) / sizeof(names[0]))
    return names[reason];
  return "?";
}

const char *test_ucall_name(uint32_t cmd) {
  static const char *const names[] = {"NONE", "SYNC", "DONE", "ABORT",
                                      "PRINT"};
  return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?";
}
