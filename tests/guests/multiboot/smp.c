/* tests/guests/multiboot/smp.c — "mbsmp": the BSP reads the CPU count
 * from fw_cfg, starts the other CPUs with INIT, SIPI, SIPI through its
 * local APIC (all-excluding-self), waits for each to check in (bounded
 * pause loop, no HLT: see docs/platforms.md) and exits through the
 * debug-exit port with the number of CPUs that ran.
 * Command line: sipi=0 skips the start-up (the APs stay waiting);
 * spin=1 makes the BSP spin afterwards instead of exiting (run-loop
 * tests stop the VM themselves). */
#include "mb.h"

#define LAPIC 0xfee00000u
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_PENDING (1u << 12)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
/* ~7 s at 3 GHz, long enough for a slow nested machine: the BSP gives up
 * and reports what it saw rather than hanging. */
#define WAIT_TICKS 20000000000ull

extern const char tramp_start[], tramp_end[];
extern volatile uint32_t ap_mask, ap_count;

static volatile uint32_t *lapic(uint32_t reg) {
  return (volatile uint32_t *)(uintptr_t)(LAPIC + reg);
}

static void send_ipi(uint32_t icr) {
  *lapic(LAPIC_ICR_HI) = 0;
  *lapic(LAPIC_ICR_LO) = icr;
  for (int i = 0; i < 100000 && (*lapic(LAPIC_ICR_LO) & ICR_PENDING); i++)
    cpu_pause();
}

static void delay(uint64_t ticks) {
  uint64_t t0 = rdtsc();
  while (rdtsc() - t0 < ticks)
    cpu_pause();
}

void mb_main(uint32_t magic, const char *mbi);
void mb_main(uint32_t magic, const char *mbi) {
  const char *cmdline = (const char *)(uintptr_t)((const uint32_t *)mbi)[4];
  if (magic != 0x2badb002u) {
    mb_printf("mbsmp: bad boot magic 0x%x\n", magic);
    mb_exit(MB_SMP_BAD);
  }
  uint16_t ncpus = 0;
  fw_cfg_select(0x0005);
  fw_cfg_read(&ncpus, 2);
  if (ncpus == 0 || ncpus > 32) {
    mb_printf("mbsmp: fw_cfg says %u CPUs\n", ncpus);
    mb_exit(MB_SMP_BAD);
  }
  memcpy((void *)MB_SMP_TRAMPOLINE, tramp_start, tramp_end - tramp_start);
  *lapic(LAPIC_SVR) = 0x1ff; /* software-enable, spurious vector 0xff */
  int sipi = parse_num(cmdline_value(cmdline, "sipi"), 1) != 0;
  if (ncpus > 1 && sipi) {
    send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
    delay(10000000); /* the 10 ms of the MP start-up protocol, roughly */
    for (int i = 0; i < 2; i++)
      send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP |
               (MB_SMP_TRAMPOLINE >> 12));
    uint64_t t0 = rdtsc();
    while (ap_count < ncpus - 1u && rdtsc() - t0 < WAIT_TICKS)
      cpu_pause();
  }
  uint32_t count = ap_count, mask = ap_mask;
  uint32_t want = ((1u << ncpus) - 1) & ~1u; /* APIC IDs 1..n-1 */
  int ok = sipi ? count == ncpus - 1u && mask == want : count == 0;
  mb_printf("mbsmp: cpus=%u started=%u mask=0x%x %s\n", ncpus, count, mask,
            ok ? "ok" : "BAD");
  if (parse_num(cmdline_value(cmdline, "spin"), 0))
    for (;;)
      cpu_pause();
  mb_exit(ok ? 1 + count : MB_SMP_BAD | (1 + count));
}
