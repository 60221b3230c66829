/* tests/guests/multiboot/mb_layout.h — numbers the multiboot test kernels
 * and their host-side tests (tests/integration/multiboot_test.c) agree on. */
#ifndef MB_LAYOUT_H
#define MB_LAYOUT_H

#define MB_UART_PORT 0x3f8
#define MB_EXIT_PORT 0xf4
#define MB_FW_CFG_PORT 0x510

/* mbinfo: exit value PASS (status 0x21), or MB_FAIL + the check that
 * failed (status 0x81 + 2 * check). */
#define MB_PASS 0x10
#define MB_FAIL 0x40

/* mbsmp: the real-mode trampoline's page (SIPI vector 0x70), free low
 * memory in libvmm's layout. The exit value is the number of CPUs that
 * ran (BSP included) when every AP checked in once, else MB_SMP_BAD | n. */
#define MB_SMP_TRAMPOLINE 0x70000
#define MB_SMP_BAD 0x40

#endif
