/* src/hw/rtc.c — the MC146818 CMOS real-time clock at ports 0x70/0x71. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvmm/device.h>

#include "device_internal.h"
#include "error.h"
#include "snapshot/stream.h"
#include "vm_internal.h"

#define RTC_INDEX_PORT 0x70 /* write: bit 7 NMI mask (ignored), bits 0-6 index */
#define RTC_DATA_PORT 0x71

/* CMOS registers. */
#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32 /* where the ACPI FADT says PCs keep it */
#define CMOS_SIZE 128

#define A_UIP 0x80     /* update in progress */
#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_SET 0x80     /* updates halted while the time is set */
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define D_VRT 0x80 /* valid RAM and time */
#define HOUR_PM 0x80
/* The update cycle takes ~2 ms and UIP rises 244 us before it. */
#define UIP_WINDOW_NS 244000L

/*
 * The time registers show the host's clock (UTC) plus an offset the guest
 * sets by writing them; with B.SET the clock stands still while the guest
 * writes, and runs on from what it wrote when SET clears. Binary or BCD
 * (B.DM) and 12 or 24 hours (B.24H) apply to reads and writes alike.
 * The alarm, periodic and update interrupts are not generated (register
 * C reads 0); the other bytes are plain CMOS memory.
 */
struct rtc {
  vmm_device_t dev; /* first */
  pthread_mutex_t lock;
  uint8_t index;
  uint8_t cmos[CMOS_SIZE];
  int64_t offset;   /* guest time - host time, seconds */
  bool frozen;      /* B.SET: the clock reads frozen_time */
  int64_t frozen_time;
};

static int64_t host_now(long *nsec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (nsec)
    *nsec = ts.tv_nsec;
  return (int64_t)ts.tv_sec;
}

static int64_t guest_now(const struct rtc *r) {
  return r->frozen ? r->frozen_time : host_now(NULL) + r->offset;
}

static void guest_tm(const struct rtc *r, struct tm *tm) {
  time_t t = (time_t)guest_now(r);
  if (!gmtime_r(&t, tm))
    memset(tm, 0, sizeof(*tm));
}

static bool binary_mode(const struct rtc *r) {
  return r->cmos[REG_B] & B_DM_BINARY;
}

static uint8_t encode(const struct rtc *r, int v) {
  v = ((v % 100) + 100) % 100;
  return binary_mode(r) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | (v % 10));
}

/* Guest-written values are not checked: a bad BCD digit just counts as
 * its value, and timegm() normalises whatever comes out. */
static int decode(const struct rtc *r, uint8_t v) {
  return binary_mode(r) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t read_time(const struct rtc *r, uint8_t reg) {
  struct tm tm;
  guest_tm(r, &tm);
  switch (reg) {
  case REG_SECONDS:
    return encode(r, tm.tm_sec > 59 ? 59 : tm.tm_sec);
  case REG_MINUTES:
    return encode(r, tm.tm_min);
  case REG_HOURS:
    if (r->cmos[REG_B] & B_24H)
      return encode(r, tm.tm_hour);
    else {
      int h = tm.tm_hour % 12;
      return encode(r, h ? h : 12) | (tm.tm_hour >= 12 ? HOUR_PM : 0);
    }
  case REG_WEEKDAY:
    return encode(r, tm.tm_wday + 1); /* 1 = Sunday */
  case REG_DAY:
    return encode(r, tm.tm_mday);
  case REG_MONTH:
    return encode(r, tm.tm_mon + 1);
  case REG_YEAR:
    return encode(r, (tm.tm_year + 1900) % 100);
  case REG_CENTURY:
    return encode(r, (tm.tm_year + 1900) / 100);
  }
  return 0;
}

static void write_time(struct rtc *r, uint8_t reg, uint8_t v) {
  struct tm tm;
  guest_tm(r, &tm);
  int year = tm.tm_year + 1900;
  switch (reg) {
  case REG_SECONDS:
    tm.tm_sec = decode(r, v);
    break;
  case REG_MINUTES:
    tm.tm_min = decode(r, v);
    break;
  case REG_HOURS:
    if (r->cmos[REG_B] & B_24H)
      tm.tm_hour = decode(r, v);
    else
      tm.tm_hour = decode(r, v & (uint8_t)~HOUR_PM) % 12 +
                   (v & HOUR_PM ? 12 : 0);
    break;
  case REG_WEEKDAY:
    return; /* follows from the date */
  case REG_DAY:
    tm.tm_mday = decode(r, v);
    break;
  case REG_MONTH:
    tm.tm_mon = decode(r, v) - 1;
    break;
  case REG_YEAR:
    tm.tm_year = year / 100 * 100 + decode(r, v) - 1900;
    break;
  case REG_CENTURY:
    tm.tm_year = decode(r, v) * 100 + year % 100 - 1900;
    break;
  }
  tm.tm_isdst = 0;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return; /* not representable: the write is lost */
  if (r->frozen)
    r->frozen_time = (int64_t)t;
  else
    r->offset = (int64_t)t - host_now(NULL);
}

static bool is_time_reg(uint8_t reg) {
  switch (reg) {
  case REG_SECONDS:
  case REG_MINUTES:
  case REG_HOURS:
  case REG_WEEKDAY:
  case REG_DAY:
  case REG_MONTH:
  case REG_YEAR:
  case REG_CENTURY:
    return true;
  }
  return false;
}

static uint8_t rtc_read(struct rtc *r) {
  uint8_t reg = r->index;
  if (is_time_reg(reg))
    return read_time(r, reg);
  switch (reg) {
  case REG_A: {
    long nsec;
    host_now(&nsec);
    bool uip = !r->frozen && nsec >= 1000000000L - UIP_WINDOW_NS;
    return (uint8_t)((r->cmos[REG_A] & 0x7f) | (uip ? A_UIP : 0));
  }
  case REG_C: {
    uint8_t v = r->cmos[REG_C]; /* flags clear when read */
    r->cmos[REG_C] = 0;
    return v;
  }
  case REG_D:
    return D_VRT;
  }
  return r->cmos[reg];
}

static void rtc_write(struct rtc *r, uint8_t v) {
  uint8_t reg = r->index;
  if (is_time_reg(reg)) {
    write_time(r, reg, v);
    return;
  }
  switch (reg) {
  case REG_A:
    r->cmos[REG_A] = v & 0x7f; /* UIP is read-only */
    break;
  case REG_B:
    if ((v & B_SET) && !r->frozen) {
      r->frozen_time = host_now(NULL) + r->offset;
      r->frozen = true;
    } else if (!(v & B_SET) && r->frozen) {
      r->offset = r->frozen_time - host_now(NULL);
      r->frozen = false;
    }
    if (v & B_SET)
      v &= (uint8_t)~B_UIE; /* SET clears UIE */
    r->cmos[REG_B] = v;
    break;
  case REG_C:
  case REG_D:
    break; /* read-only */
  default:
    r->cmos[reg] = v;
  }
}

/* A wider access is a series of byte accesses (index, then data: some
 * firmware writes both with one OUTW); bytes past 0x71 are not ours. */
static int rtc_io(vmm_vcpu_t *vcpu, uint64_t addr, uint8_t *data,
                  uint32_t size, int is_write, void *opaque) {
  (void)vcpu;
  struct rtc *r = opaque;
  pthread_mutex_lock(&r->lock);
  for (uint32_t i = 0; i < size; i++) {
    uint64_t port = addr + i;
    if (port == RTC_INDEX_PORT) {
      if (is_write)
        r->index = data[i] & 0x7f;
      else
        data[i] = 0xff; /* write-only */
    } else if (port == RTC_DATA_PORT) {
      if (is_write)
        rtc_write(r, data[i]);
      else
        data[i] = rtc_read(r);
    } else if (!is_write) {
      data[i] = 0xff;
    }
  }
  pthread_mutex_unlock(&r->lock);
  return 0;
}

static void rtc_destroy(vmm_device_t *dev) {
  struct rtc *r = (struct rtc *)dev;
  pthread_mutex_destroy(&r->lock);
  free(r);
}

/* The CMOS bytes and the guest's offset from the host clock: a restored
 * guest's clock keeps the offset it set, against the host's time then
 * (as a real RTC runs on while the machine is off). */
static int rtc_save(vmm_device_t *dev, struct vmm__sw *w) {
  struct rtc *r = (struct rtc *)dev;
  pthread_mutex_lock(&r->lock);
  vmm__sw_u8(w, r->index);
  vmm__sw_bytes(w, r->cmos, CMOS_SIZE);
  vmm__sw_u64(w, (uint64_t)r->offset);
  vmm__sw_bool(w, r->frozen);
  vmm__sw_u64(w, (uint64_t)r->frozen_time);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

static int rtc_load(vmm_device_t *dev, struct vmm__sr *sr) {
  struct rtc *r = (struct rtc *)dev;
  uint8_t index = vmm__sr_u8(sr), cmos[CMOS_SIZE];
  vmm__sr_bytes(sr, cmos, CMOS_SIZE);
  int64_t offset = (int64_t)vmm__sr_u64(sr);
  bool frozen = vmm__sr_bool(sr);
  int64_t frozen_time = (int64_t)vmm__sr_u64(sr);
  /* Offsets beyond ±10000 years would overflow the calendar code. */
  const int64_t limit = 10000ll * 366 * 86400;
  if (index >= CMOS_SIZE)
    vmm__sr_fail(sr, "index 0x%02x", index);
  if (offset > limit || offset < -limit)
    vmm__sr_fail(sr, "clock offset %lld s", (long long)offset);
  if (frozen_time > limit || frozen_time < -limit)
    vmm__sr_fail(sr, "frozen time %lld s", (long long)frozen_time);
  if (frozen != !!(cmos[REG_B] & B_SET))
    vmm__sr_fail(sr, "frozen flag disagrees with register B 0x%02x",
                 cmos[REG_B]);
  if (cmos[REG_A] & A_UIP)
    vmm__sr_fail(sr, "register A 0x%02x has the read-only UIP bit",
                 cmos[REG_A]);
  int rc = vmm__sr_finish(sr);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&r->lock);
  r->index = index;
  memcpy(r->cmos, cmos, CMOS_SIZE);
  r->offset = offset;
  r->frozen = frozen;
  r->frozen_time = frozen_time;
  pthread_mutex_unlock(&r->lock);
  return 0;
}

static const struct vmm__device_ops rtc_ops = {
    .type = "rtc",
    .destroy = rtc_destroy,
    .save = rtc_save,
    .load = rtc_load,
};

int vmm_rtc_create(vmm_vm_t *vm, vmm_device_t **out) {
  static const char fn[] = "vmm_rtc_create";
  if (out)
    *out = NULL;
  int rc = vmm__device_precheck(vm, fn);
  if (rc < 0)
    return rc;
  struct rtc *r = calloc(1, sizeof(*r));
  if (!r)
    return vmm__error(VMM_ENOMEM, "%s: out of memory", fn);
  pthread_mutex_init(&r->lock, NULL);
  r->cmos[REG_A] = A_DEFAULT;
  r->cmos[REG_B] = B_24H;
  r->cmos[REG_D] = D_VRT;
  r->dev.vm = vm;
  rc = vmm_io_register(vm, VMM_IO_PIO, RTC_INDEX_PORT, 2, rtc_io, r);
  if (rc < 0) {
    vmm__error_prefix(rc, fn);
    goto fail;
  }
  rc = vmm__device_add(vm, &r->dev, &rtc_ops);
  if (rc < 0) {
    vmm_io_unregister(vm, VMM_IO_PIO, RTC_INDEX_PORT);
    goto fail;
  }
  if (out)
    *out = &r->dev;
  return 0;

fail:
  pthread_mutex_destroy(&r->lock);
  free(r);
  return rc;
}
