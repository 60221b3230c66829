/* tests/fuzz/control_fuzz.c — the libFuzzer entry point for the control
 * socket's request handler (src/control_cmd.c, vmm__control_request()).
 * The input is split at newlines the way the server frames a client's
 * bytes, each line (at most VMM__CONTROL_LINE_MAX) is handled against a VM
 * with no vCPU that is never started, and every answer must be one JSON
 * object with a boolean "ok" (and an "error" string when false). A command
 * that changed the VM's state (stop) makes the next input get a fresh VM,
 * so that inputs stay independent. Needs /dev/kvm: without it the target
 * exits 77 (a skipped test). Run under every build by fuzz_driver.c over
 * tests/fuzz/corpus-control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libvmm/libvmm.h>

#include "control_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vmm_vm_t *vm;

static void invariant(int ok, const char *what, const char *text) {
  if (ok)
    return;
  fprintf(stderr, "control_fuzz: invariant broken: %s\n%s\n", what,
          text ? text : "");
  abort();
}

static void handle(const char *line, size_t len) {
  struct vmm__control_counters c;
  memset(&c, 0, sizeof(c));
  /* An exact-size copy: the handler must stay inside `len` (ASan). */
  char *copy = malloc(len ? len : 1);
  if (!copy)
    return;
  memcpy(copy, line, len);
  char *resp = vmm__control_request(vm, &c, copy, len);
  free(copy);
  invariant(resp != NULL, "no response", NULL);
  invariant(c.requests == 1 && c.errors <= 1, "counters", resp);
  invariant(strchr(resp, '\n') == NULL, "a newline inside a response", resp);
  cJSON *r = cJSON_Parse(resp);
  invariant(cJSON_IsObject(r), "the response is not a JSON object", resp);
  const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
  invariant(cJSON_IsBool(ok), "no boolean \"ok\"", resp);
  invariant(cJSON_HasObjectItem(r, "id"), "no \"id\"", resp);
  if (cJSON_IsFalse(ok))
    invariant(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "error")) &&
                  c.errors == 1,
              "a failure without an error string", resp);
  cJSON_Delete(r);
  free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!vm && vmm_vm_create(NULL, &vm) < 0) {
    fprintf(stderr, "control_fuzz: no VM (%s): skipped\n", vmm_last_error());
    exit(77);
  }
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)((nl ? nl : end) - p);
    if (len <= VMM__CONTROL_LINE_MAX)
      handle(p, len);
    p += len + 1;
  }
  if (vmm_vm_state(vm) != VMM_VM_CREATED) {
    vmm_vm_destroy(vm);
    vm = NULL;
  }
  return 0;
}
