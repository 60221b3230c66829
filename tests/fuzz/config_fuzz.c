/* tests/fuzz/config_fuzz.c — the libFuzzer entry point for the JSON VM
 * description parser. Whatever the bytes, vmm_config_parse() must return
 * (no crash, no leak, no read past `size`), and a description it accepted
 * must be written out and read back to the same text (what
 * vmm_vm_describe_json() relies on). Built with clang -fsanitize=fuzzer
 * when available (meson option `fuzz`), and run under every build by
 * config_fuzz_driver.c over a seed corpus and deterministic mutations. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void invariant(int ok, const char *what, const char *text) {
  if (ok)
    return;
  fprintf(stderr, "config_fuzz: invariant broken: %s\n%s\n", what,
          text ? text : "");
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An unterminated copy: the parser must stay inside `size` bytes (ASan
   * sees a read past the end of this allocation). */
  char *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  vmm_config_t *cfg = NULL;
  int rc = vmm_config_parse(copy, size, &cfg);
  free(copy);
  invariant((rc == 0) == (cfg != NULL), "result and *out disagree", NULL);
  if (rc < 0) {
    invariant(vmm_last_error()[0] != 0, "a rejection without a message",
              NULL);
    return 0;
  }
  char *first = NULL, *second = NULL;
  if (vmm__config_to_json(cfg, &first) == 0) {
    vmm_config_t *again = NULL;
    int rc2 = vmm_config_parse(first, strlen(first), &again);
    invariant(rc2 == 0, "the written description does not parse", first);
    invariant(vmm__config_to_json(again, &second) == 0, "second write",
              first);
    invariant(strcmp(first, second) == 0, "write → parse → write differs",
              first);
    vmm_config_free(again);
  }
  free(first);
  free(second);
  vmm_config_free(cfg);
  return 0;
}
