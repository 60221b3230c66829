/* tests/fuzz/fuzz_probe.c — the smallest libFuzzer target: meson links it
 * at configure time to learn whether clang's fuzzer runtime is there. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data;
  (void)size;
  return 0;
}
