/* tests/integration/devices_test.c — libvmm's emulated devices and
 * character back-ends, driven by a real guest (tests/guests/devices.c):
 * the 16550A UART polled and by interrupt over every back-end, debug-exit,
 * the i8042 reset line, the CMOS clock, and a guest that misbehaves.
 *
 *   devices_test --backend kvm --guest devices PATH [--test NAME]... [--list]
 *
 * Exits 77 (meson's SKIP) with "SKIP: reason" when the backend cannot run
 * here, 0 when every test passed, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "devices_util.h"
#include "runner.h"

#define TEST_TIMEOUT_S 60

/* ---- UART output -------------------------------------------------------- */

static void test_uart_output(void) {
  struct test_vm t;
  vmm_chardev_t *chr = NULL;
  vmm_device_t *uart = NULL;
  char out[256];
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_chardev_buffer(t.vm, 4096, &chr)) &&
      add_uart(&t, chr, &uart) &&
      set_params(&t, DEV_MODE_UART_OUTPUT, 0, 0, 0, 0)) {
    EXPECT_STR(vmm_device_type(uart), "uart16550");
    EXPECT_TRUE(vmm_device_error(uart) == NULL);
    RUN_UCALL(&t, UCALL_DONE);
    drain(chr, out, sizeof(out));
    EXPECT_STR(out, DEV_MESSAGE);
    EXPECT_EQ(vmm_chardev_buffer_read(chr, out, sizeof(out)), 0);
    EXPECT_TRUE(vmm_device_error(uart) == NULL);
  }
  test_vm_destroy(&t);
}

/* Output, then the debug-exit port stops the VM run by libvmm's threads. */
static void test_uart_output_exit(void) {
  struct test_vm t;
  struct ucall_log log;
  vmm_chardev_t *chr = NULL;
  vmm_device_t *dbg = NULL;
  vmm_vm_stop_info_t info;
  char out[256];
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_chardev_buffer(t.vm, 4096, &chr)) &&
      add_uart(&t, chr, NULL) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, 0, &dbg)) &&
      set_params(&t, DEV_MODE_UART_OUTPUT, 0xf4, 0x21, 1, 0) &&
      start(&t, &log)) {
    EXPECT_STR(vmm_device_type(dbg), "debug-exit");
    if (wait_stopped(&t, &log, &info)) {
      EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 0x43);
      EXPECT_EQ(vmm_vm_state(t.vm), VMM_VM_STOPPED);
    }
    drain(chr, out, sizeof(out));
    EXPECT_STR(out, DEV_MESSAGE);
  }
  test_vm_destroy(&t);
}

/* A file back-end appends to what is there. */
/* ---- UART input ---------------------------------------------------------- */

/* Input written before the run: 16 bytes fit the FIFO, the rest waits in
 * the back-end and follows as the guest reads. */
static void test_uart_echo(void) {
  enum { N = 300 };
  struct test_vm t;
  vmm_chardev_t *chr = NULL;
  uint8_t in[N];
  char out[N + 1];
  pattern(in, N, 1);
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_chardev_buffer(t.vm, 4096, &chr)) &&
      add_uart(&t, chr, NULL) &&
      set_params(&t, DEV_MODE_UART_ECHO, 0, 0, 0, N) &&
      RUN_UCALL(&t, UCALL_SYNC) && EXPECT_EQ(t.uc.args[0], 0) &&
      EXPECT_OK(vmm_chardev_buffer_write(chr, in, N))) {
    if (RUN_UCALL(&t, UCALL_SYNC))
      EXPECT_EQ(t.uc.args[1], echo_sum(in, N));
    RUN_UCALL(&t, UCALL_DONE);
    EXPECT_EQ(drain(chr, out, sizeof(out)), N);
    EXPECT_TRUE(memcmp(out, in, N) == 0);
  }
  test_vm_destroy(&t);
}

/* Input written while the guest runs on libvmm's threads, output read
 * meanwhile: the UART's lock between a vCPU and the writing thread. */
static void test_uart_echo_threads(void) {
  enum { N = 2000 };
  struct test_vm t;
  struct ucall_log log;
  vmm_chardev_t *chr = NULL;
  vmm_vm_stop_info_t info;
  static uint8_t in[N];
  static char out[N + 1];
  size_t got = 0;
  pattern(in, N, 2);
  if (DEV_CREATE(&t, 0) &&
      EXPECT_OK(vmm_chardev_buffer(t.vm, 1 << 16, &chr)) &&
      add_uart(&t, chr, NULL) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, 0, NULL)) &&
      set_params(&t, DEV_MODE_UART_ECHO, 0xf4, 0, 1, N) &&
      start(&t, &log) && wait_syncs(&log, 1)) {
    size_t sent = 0;
    unsigned seed = 1;
    while (sent < N) {
      size_t chunk = 1 + rand_r(&seed) % 64;
      if (chunk > N - sent)
        chunk = N - sent;
      if (!EXPECT_OK(vmm_chardev_buffer_write(chr, in + sent, chunk)))
        break;
      sent += chunk;
      int n = vmm_chardev_buffer_read(chr, out + got, N - got);
      if (n > 0)
        got += (size_t)n;
      if (seed & 4)
        usleep(100);
    }
    if (wait_stopped(&t, &log, &info))
      EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 1);
    int n;
    while ((n = vmm_chardev_buffer_read(chr, out + got, N - got)) > 0)
      got += (size_t)n;
    EXPECT_EQ(got, N);
    EXPECT_TRUE(memcmp(out, in, N) == 0);
    pthread_mutex_lock(&log.mu);
    if (EXPECT_EQ(log.syncs, 2))
      EXPECT_EQ(log.last_sync.args[1], echo_sum(in, N));
    pthread_mutex_unlock(&log.mu);
  }
  test_vm_destroy(&t);
}

/* Reads exactly `len` bytes from a non-blocking fd within `ms`. */
/* ---- UART interrupts ---------------------------------------------------- */

/* IRQ 4 through the in-kernel PIC: the guest sleeps in HLT until the
 * received-data interrupt, its handler drains the FIFO. */
static void test_uart_irq(void) {
  enum { N = 40 };
  struct test_vm t;
  vmm_chardev_t *chr = NULL;
  uint8_t in[N];
  char out[N + 1];
  pattern(in, N, 5);
  int rc = dev_vm_create(&t, VMM_VM_F_IRQCHIP);
  if (rc == VMM_ENOTSUP) {
    note("the backend has no interrupt controller: %s", t.error);
    test_vm_destroy(&t);
    return;
  }
  if (check_true(rc == 0, __LINE__, "dev_vm_create(IRQCHIP)", "%s",
                 t.error) &&
      EXPECT_OK(vmm_chardev_buffer(t.vm, 4096, &chr)) &&
      add_uart(&t, chr, NULL) &&
      set_params(&t, DEV_MODE_UART_IRQ, 0, 0, 0, N) &&
      RUN_UCALL(&t, UCALL_SYNC) && EXPECT_EQ(t.uc.args[0], 1) &&
      EXPECT_OK(vmm_chardev_buffer_write(chr, in, N)) &&
      RUN_UCALL(&t, UCALL_SYNC)) {
    EXPECT_EQ(t.uc.args[0], 2);
    EXPECT_EQ(t.uc.args[1], N);           /* bytes received */
    EXPECT_TRUE(t.uc.args[2] >= 1);       /* interrupts taken */
    EXPECT_EQ(t.uc.args[3], 0);           /* no other vector */
    EXPECT_TRUE(t.uc.args[4] & (1u << 0x04 | 1u << 0x0c)); /* RX ids */
    note("%u bytes in %u interrupt(s), IIR ids 0x%x", (unsigned)t.uc.args[1],
         (unsigned)t.uc.args[2], (unsigned)t.uc.args[4]);
    RUN_UCALL(&t, UCALL_DONE);
    EXPECT_EQ(drain(chr, out, sizeof(out)), N);
    EXPECT_TRUE(memcmp(out, in, N) == 0);
  }
  test_vm_destroy(&t);
}

/* ---- debug-exit and i8042 ------------------------------------------------ */

static void debug_exit_case(uint16_t port, uint32_t value, unsigned size) {
  struct test_vm t;
  struct ucall_log log;
  vmm_vm_stop_info_t info;
  if (DEV_CREATE(&t, 0) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, port, NULL)) &&
      set_params(&t, DEV_MODE_DEBUG_EXIT, port ? port : 0xf4, value, size,
                 0) &&
      start(&t, &log) && wait_stopped(&t, &log, &info)) {
    EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, (value << 1) | 1);
    EXPECT_TRUE(strstr(info.message, "debug-exit") != NULL);
  }
  test_vm_destroy(&t);
}

static void test_debug_exit(void) {
  debug_exit_case(0, 0, 1);
  debug_exit_case(0, 0x7f, 1);
  debug_exit_case(0, 0x1234, 2);
  debug_exit_case(0, 0xdeadbeef, 4);
  debug_exit_case(0x501, 3, 1);
}

static void test_i8042_reset(void) {
  struct test_vm t;
  struct ucall_log log;
  vmm_device_t *kbd = NULL;
  vmm_vm_stop_info_t info;
  if (DEV_CREATE(&t, 0) && EXPECT_OK(vmm_i8042_create(t.vm, &kbd)) &&
      set_params(&t, DEV_MODE_I8042, 0, 0, 0, 0) && start(&t, &log) &&
      wait_stopped(&t, &log, &info)) {
    EXPECT_STR(vmm_device_type(kbd), "i8042");
    EXPECT_STOP(info, VMM_STOP_RESET, 0);
  }
  test_vm_destroy(&t);
}

/* ---- RTC ----------------------------------------------------------------- */

static int from_bcd(unsigned v, bool bcd) {
  return bcd ? (int)((v >> 4) * 10 + (v & 15)) : (int)v;
}

/* The time a phase's SYNC reports, in seconds since the epoch. */
static time_t rtc_decode(uint64_t packed, uint8_t reg_b) {
  bool bcd = !(reg_b & 0x04), h24 = reg_b & 0x02;
  struct tm tm = {0};
  tm.tm_sec = from_bcd(packed & 0xff, bcd);
  tm.tm_min = from_bcd((packed >> 8) & 0xff, bcd);
  unsigned hour = (packed >> 16) & 0xff;
  if (h24)
    tm.tm_hour = from_bcd(hour, bcd);
  else
    tm.tm_hour = from_bcd(hour & 0x7f, bcd) % 12 + (hour & 0x80 ? 12 : 0);
  tm.tm_mday = from_bcd((packed >> 24) & 0xff, bcd);
  tm.tm_mon = from_bcd((packed >> 32) & 0xff, bcd) - 1;
  tm.tm_year = from_bcd((packed >> 48) & 0xff, bcd) * 100 +
               from_bcd((packed >> 40) & 0xff, bcd) - 1900;
  return timegm(&tm);
}

static void test_rtc(void) {
  struct test_vm t;
  vmm_device_t *rtc = NULL;
  if (!(DEV_CREATE(&t, 0) && EXPECT_OK(vmm_rtc_create(t.vm, &rtc)) &&
        set_params(&t, DEV_MODE_RTC, 0, 0, 0, 0))) {
    test_vm_destroy(&t);
    return;
  }
  EXPECT_STR(vmm_device_type(rtc), "rtc");
  static const uint8_t want_b[] = {0, 0x02, 0x06, 0x04, 0x00, 0x02};
  struct tm set_tm = {.tm_year = 130, .tm_mon = 5, .tm_mday = 15,
                      .tm_hour = 12, .tm_min = 34, .tm_sec = 56};
  time_t set_time = timegm(&set_tm), set_at = 0;
  for (uint64_t phase = DEV_RTC_PHASE_BCD24; phase <= DEV_RTC_PHASE_SET;
       phase++) {
    time_t before = time(NULL);
    if (phase == DEV_RTC_PHASE_SET)
      set_at = before;
    if (!RUN_UCALL(&t, UCALL_SYNC))
      break;
    time_t after = time(NULL);
    EXPECT_EQ(t.uc.args[0], phase);
    EXPECT_EQ(t.uc.args[2], want_b[phase]);
    EXPECT_EQ(t.uc.args[3] & 0x7f, 0x26);
    EXPECT_EQ(t.uc.args[4], 0x80);
    time_t guest = rtc_decode(t.uc.args[1], (uint8_t)t.uc.args[2]);
    time_t lo = before - 2, hi = after + 2;
    if (phase == DEV_RTC_PHASE_SET) {
      lo = set_time - 1;
      hi = set_time + (after - set_at) + 3;
    }
    EXPECT_TRUEF(guest >= lo && guest <= hi, "phase %u: guest time %lld "
                 "(packed 0x%llx) not in [%lld, %lld]", (unsigned)phase,
                 (long long)guest, (unsigned long long)t.uc.args[1],
                 (long long)lo, (long long)hi);
  }
  RUN_UCALL(&t, UCALL_DONE);
  test_vm_destroy(&t);
}

/* ---- a misbehaving guest ------------------------------------------------- */

/* Odd-size accesses to every device and every UART offset, then random
 * values of random sizes to the UART and RTC ports; the process lives,
 * no device fails, nobody asked for a reset, and a driver can take the
 * UART over afterwards. With an interrupt controller where there is one,
 * so that the interrupt line toggles too. */
static void test_garbage(void) {
  struct test_vm t;
  vmm_chardev_t *chr = NULL;
  vmm_device_t *uart = NULL, *rtc = NULL, *kbd = NULL, *dbg = NULL;
  char out[256];
  int rc = dev_vm_create(&t, VMM_VM_F_IRQCHIP);
  if (rc == VMM_ENOTSUP) {
    test_vm_destroy(&t);
    rc = dev_vm_create(&t, 0);
  }
  if (check_true(rc == 0, __LINE__, "dev_vm_create", "%s", t.error) &&
      EXPECT_OK(vmm_chardev_buffer(t.vm, 64, &chr)) &&
      add_uart(&t, chr, &uart) && EXPECT_OK(vmm_rtc_create(t.vm, &rtc)) &&
      EXPECT_OK(vmm_i8042_create(t.vm, &kbd)) &&
      EXPECT_OK(vmm_debug_exit_create(t.vm, 0, &dbg)) &&
      set_params(&t, DEV_MODE_GARBAGE, 0, 0, 0, 20000) &&
      EXPECT_OK(vmm_chardev_buffer_write(chr, "input", 5))) {
    if (RUN_UCALL(&t, UCALL_SYNC)) {
      drain(chr, out, sizeof(out)); /* whatever the garbage sent */
      EXPECT_OK(vmm_chardev_buffer_write(chr, "more input", 10));
      if (RUN_UCALL(&t, UCALL_DONE)) {
        drain(chr, out, sizeof(out));
        EXPECT_STR(out, "still alive\r\n");
      }
    }
    EXPECT_TRUE(vmm_device_error(uart) == NULL);
    EXPECT_TRUE(vmm_device_error(rtc) == NULL);
    EXPECT_TRUE(vmm_device_error(kbd) == NULL);
    EXPECT_TRUE(vmm_device_error(dbg) == NULL);
    /* No device asked the VM (never started) to stop. */
    EXPECT_RC(vmm_vm_wait(t.vm, 0, NULL), VMM_ESTATE);
  }
  test_vm_destroy(&t);
}

/* ---- API misuse ---------------------------------------------------------- */

static void test_misuse(void) {
  struct test_vm t, other;
  vmm_chardev_t *chr = NULL, *chr2 = NULL, *foreign = NULL;
  vmm_device_t *dev = (vmm_device_t *)&t, *uart = NULL;
  memset(&other, 0, sizeof(other));
  if (!DEV_CREATE(&t, 0)) {
    test_vm_destroy(&t);
    return;
  }
  vmm_uart_config_t cfg = VMM_UART_CONFIG_INIT;

  /* Bad VMs. */
  EXPECT_RC(vmm_uart_create(NULL, NULL, &dev), VMM_EBADF);
  EXPECT_TRUE(dev == NULL);
  EXPECT_RC(vmm_uart_create((vmm_vm_t *)&t, NULL, NULL), VMM_EBADF);
  EXPECT_RC(vmm_debug_exit_create(NULL, 0, NULL), VMM_EBADF);
  EXPECT_RC(vmm_i8042_create(NULL, NULL), VMM_EBADF);
  EXPECT_RC(vmm_rtc_create(NULL, NULL), VMM_EBADF);
  EXPECT_RC(vmm_chardev_buffer(NULL, 16, &chr), VMM_EBADF);
  EXPECT_RC(vmm_chardev_stdio(NULL, &chr), VMM_EBADF);
  EXPECT_RC(vmm_chardev_socket(NULL, "/tmp/x", &chr), VMM_EBADF);

  /* Bad configurations. */
  cfg.port = 0;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  cfg.port = 0xfffc; /* registers past 0xffff */
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  cfg.port = 0x3f8;
  cfg.irq = VMM_IRQ_GSI_MAX;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  cfg.irq = 4;
  cfg.reserved = 1;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  cfg.reserved = 0;
  cfg.size = 8;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  cfg.size = sizeof(cfg);
  cfg.chardev = (vmm_chardev_t *)&t;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EBADF);
  cfg.chardev = NULL;
  EXPECT_RC(vmm_chardev_buffer(t.vm, 0, &chr), VMM_EINVAL);
  EXPECT_RC(vmm_chardev_buffer(t.vm, 16, NULL), VMM_EINVAL);
  EXPECT_RC(vmm_chardev_file(t.vm, NULL, &chr), VMM_EINVAL);
  EXPECT_RC(vmm_chardev_file(t.vm, "/nonexistent-dir/x", &chr), VMM_ENOENT);
  EXPECT_RC(vmm_chardev_socket(t.vm, "", &chr), VMM_EINVAL);
  char longpath[200];
  memset(longpath, 'a', sizeof(longpath) - 1);
  longpath[0] = '/';
  longpath[sizeof(longpath) - 1] = 0;
  EXPECT_RC(vmm_chardev_socket(t.vm, longpath, &chr), VMM_ERANGE);
  EXPECT_RC(vmm_chardev_buffer_read(NULL, longpath, 1), VMM_EBADF);
  EXPECT_RC(vmm_chardev_buffer_write(NULL, "x", 1), VMM_EBADF);

  /* Overlaps: with each other, with the hypercall port. */
  if (EXPECT_OK(vmm_chardev_buffer(t.vm, 16, &chr))) {
    EXPECT_RC(vmm_chardev_buffer_read(chr, NULL, 1), VMM_EINVAL);
    EXPECT_RC(vmm_chardev_buffer_write(chr, NULL, 1), VMM_EINVAL);
    EXPECT_OK(vmm_chardev_buffer_write(chr, "x", 0));
    cfg.chardev = chr;
    EXPECT_OK(vmm_uart_create(t.vm, &cfg, &uart));
    cfg.chardev = NULL;
    EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EOVERLAP);
    cfg.port = 0x3fc; /* overlaps the first UART's upper half */
    EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EOVERLAP);
    cfg.port = 0x2f8;
    cfg.chardev = chr; /* serves the first UART already */
    EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EBUSY);
    /* The failed UARTs left no registration behind: COM2 works now. */
    EXPECT_OK(vmm_chardev_buffer(t.vm, 16, &chr2));
    cfg.chardev = chr2;
    EXPECT_OK(vmm_uart_create(t.vm, &cfg, NULL));
  }
  cfg.port = 0xe8; /* 0xe8-0xef: the hypercall port 0xec */
  cfg.chardev = NULL;
  EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EOVERLAP);
  EXPECT_RC(vmm_debug_exit_create(t.vm, 0xec, NULL), VMM_EOVERLAP);
  EXPECT_RC(vmm_debug_exit_create(t.vm, 0x3f9, NULL), VMM_EOVERLAP);
  EXPECT_OK(vmm_rtc_create(t.vm, NULL));
  EXPECT_RC(vmm_rtc_create(t.vm, NULL), VMM_EOVERLAP);
  EXPECT_OK(vmm_i8042_create(t.vm, NULL));
  EXPECT_RC(vmm_i8042_create(t.vm, NULL), VMM_EOVERLAP);
  EXPECT_OK(vmm_debug_exit_create(t.vm, 0, NULL));
  EXPECT_RC(vmm_debug_exit_create(t.vm, 0xf4, NULL), VMM_EOVERLAP);

  /* A back-end of another VM. */
  if (DEV_CREATE(&other, 0) &&
      EXPECT_OK(vmm_chardev_buffer(other.vm, 16, &foreign))) {
    cfg.port = 0x3e8;
    cfg.chardev = foreign;
    EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_EINVAL);
  }
  test_vm_destroy(&other);
  /* Its back-ends went with it. */
  EXPECT_RC(vmm_chardev_buffer_write(foreign, "x", 1), VMM_EBADF);
  EXPECT_TRUE(vmm_device_type(NULL) == NULL);
  EXPECT_TRUE(vmm_device_error(NULL) == NULL);

  /* After start, devices cannot be added. */
  struct ucall_log log;
  vmm_vm_stop_info_t info;
  if (set_params(&t, DEV_MODE_DEBUG_EXIT, 0xf4, 0, 1, 0) &&
      start(&t, &log)) {
    cfg.port = 0x3e8;
    cfg.chardev = NULL;
    EXPECT_RC(vmm_uart_create(t.vm, &cfg, NULL), VMM_ESTATE);
    EXPECT_RC(vmm_debug_exit_create(t.vm, 0x600, NULL), VMM_ESTATE);
    EXPECT_RC(vmm_rtc_create(t.vm, NULL), VMM_ESTATE);
    if (wait_stopped(&t, &log, &info))
      EXPECT_STOP(info, VMM_STOP_GUEST_EXIT, 1);
  }
  test_vm_destroy(&t);
  EXPECT_TRUE(vmm_device_type(uart) == NULL); /* gone with the VM */
}

/* ---- runner -------------------------------------------------------------- */

static const struct test_def tests[] = {
    {"uart_output", test_uart_output},
    {"uart_output_exit", test_uart_output_exit},
    {"uart_file", test_uart_file},
    {"uart_echo", test_uart_echo},
    {"uart_echo_threads", test_uart_echo_threads},
    {"uart_socket", test_uart_socket},
    {"uart_stdio", test_uart_stdio},
    {"uart_irq", test_uart_irq},
    {"debug_exit", test_debug_exit},
    {"i8042_reset", test_i8042_reset},
    {"rtc", test_rtc},
    {"garbage", test_garbage},
    {"misuse", test_misuse},
};

int main(int argc, char **argv) {
  const struct test_suite suite = {"devices", tests,
                                   sizeof(tests) / sizeof(tests[0])};
  return test_main(argc, argv, "devices_test", "--guest devices PATH ",
                   &suite, 1, TEST_TIMEOUT_S);
}
