/* tests/guests/launch_guest.c — a tiny 32-bit kernel for the mini-launcher's
 * tests (examples/vmm-boot), built twice: with a PVH note (launch-pvh.elf)
 * and with a multiboot header (launch-mb.elf). It prints on the COM1 UART,
 * then does what its command line says, word by word:
 *
 *   boottime   write 123 to the boot-time port 0xf5
 *   modules    print the size and first bytes of each module (the initrd)
 *   memmap     print the memory map the loader passed
 *   cpuid      print CPUID leaf 1's ECX and EDX (CPU templates)
 *   echo       read a line from the UART and print it back
 *   smp=N      start the other N-1 processors with INIT/SIPI through the
 *              local APIC and wait until all have checked in
 *   exit=N     write N to the debug-exit port 0xf4
 *   reset      ask the i8042 for a reset
 *   triple     divide by zero without an IDT: a triple fault
 *   internal   jump to an address with no memory behind it, which the
 *              backend cannot execute
 *   poweroff   ACPI S5 through the FADT's PM1a control block
 *   hang       spin forever (signal tests)
 *
 * Entered in 32-bit protected mode without paging: PVH with EBX =
 * hvm_start_info, multiboot with EAX = 0x2badb002 and EBX = the info
 * block; the bzImage at its 64-bit entry with RSI = boot_params (the
 * loader identity-maps the low 4 GiB). Ring 0 only, few instructions: cheap on an emulating KVM. */
#include <stddef.h>
#include <stdint.h>

#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define BOOT_TIMER 0xf5
#define BOOT_TIMER_MAGIC 123
#define AP_TRAMPOLINE 0x70000u /* SIPI vector 0x70: free low memory */
#define AP_COUNTER (AP_TRAMPOLINE + 0x100)
#define LAPIC 0xfee00000u

#define PVH_MAGIC 0x336ec578u
#define MB_BOOT_MAGIC 0x2badb002u

#ifdef BOOT_PVH
/* XEN_ELFNOTE_PHYS32_ENTRY (18): name "Xen", a 32-bit entry address. */
__asm__(".pushsection .note.pvh, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 4, 18\n"
        ".asciz \"Xen\"\n"
        ".balign 4\n"
        ".long _start\n"
        ".popsection\n");
#endif
#ifdef BOOT_MULTIBOOT
/* Multiboot v1 header: magic, flags (bit 1: memory information),
 * checksum. */
__asm__(".pushsection .multiboot, \"a\"\n"
        ".balign 4\n"
        ".long 0x1badb002, 0x2, -(0x1badb002 + 0x2)\n"
        ".popsection\n");
#endif

#define BZ_MAGIC 0x627a696du /* our own mark: "entered as a bzImage" */
#ifdef BOOT_BZIMAGE
/* The payload starts with the 32-bit entry (unused: libvmm takes the
 * 64-bit one) and has the 64-bit entry at +0x200, as in Linux. */
__asm__(".section .text.head, \"ax\"\n"
        ".code32\n"
        "startup_32: ud2\n"
        ".org 0x200\n"
        ".code64\n"
        ".globl startup_64\n"
        "startup_64:\n"
        "  lea stack_top(%rip), %rsp\n"
        "  mov $0x627a696d, %edi\n" /* BZ_MAGIC; RSI is boot_params */
        "  call boot_main\n"
        "1: cli\n"
        "  hlt\n"
        "  jmp 1b\n"
        ".text\n");
#else
__asm__(".section .text.entry, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        "  mov $stack_top, %esp\n"
        "  push %ebx\n"
        "  push %eax\n"
        "  call boot_main\n"
        "1: cli\n"
        "  hlt\n"
        "  jmp 1b\n"
        ".text\n");
#endif

/* The stack (the entry code refers to it by name). */
__attribute__((used, aligned(16))) uint8_t boot_stack[8192];
__asm__(".set stack_top, boot_stack + 8192");

void boot_main(uint32_t magic, uintptr_t info);

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint32_t rd32(uint32_t addr) {
  return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void wr32(uint32_t addr, uint32_t v) {
  *(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

static void putc_(char c) {
  for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
    ;
  outb(COM1, (uint8_t)c);
}
static void puts_(const char *s) {
  while (*s)
    putc_(*s++);
}
static void putn(const char *s, uint32_t n) {
  for (uint32_t i = 0; i < n && s[i]; i++)
    putc_(s[i]);
}
static void putx(uint64_t v) {
  char b[19] = "0x";
  int n = 0;
  char d[16];
  do {
    d[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  for (int i = 0; i < n; i++)
    b[2 + i] = d[n - 1 - i];
  b[2 + n] = 0;
  puts_(b);
}
static void putu(uint32_t v) {
  char d[11];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    putc_(d[--n]);
}

static __attribute__((noreturn)) void guest_exit(uint8_t v) {
  outb(DEBUG_EXIT, v);
  for (;;)
    __asm__ volatile("cli; hlt");
}

/* ---- what the loader passed ------------------------------------------- */

static struct {
  const char *via;
  const char *cmdline;
  uint32_t nmods;
  uint32_t rsdp;
  uint32_t pvh, mbi, bp; /* the structures, 0 when not that protocol */
} boot;

/* ---- SMP: INIT, SIPI, count the processors that check in -------------- */

static const uint8_t ap_code[] = {
    0x8c, 0xc8,                   /* mov %cs,%ax */
    0x8e, 0xd8,                   /* mov %ax,%ds */
    0xf0, 0xff, 0x06, 0x00, 0x01, /* lock incw (0x100) */
    0xfa, 0xf4, 0xeb, 0xfc,       /* 1: cli; hlt; jmp 1b */
};

static void start_aps(uint32_t n) {
  volatile uint16_t *count = (volatile uint16_t *)(uintptr_t)AP_COUNTER;
  for (size_t i = 0; i < sizeof(ap_code); i++)
    ((volatile uint8_t *)(uintptr_t)AP_TRAMPOLINE)[i] = ap_code[i];
  *count = 0;
  wr32(LAPIC + 0xf0, rd32(LAPIC + 0xf0) | 0x1ff); /* software enable */
  wr32(LAPIC + 0x310, 0);
  wr32(LAPIC + 0x300, 0x000c4500); /* INIT, all excluding self */
  wr32(LAPIC + 0x300, 0x000c4600 | (AP_TRAMPOLINE >> 12)); /* SIPI */
  /* A second SIPI, as the MP spec asks; a started AP ignores it. */
  wr32(LAPIC + 0x300, 0x000c4600 | (AP_TRAMPOLINE >> 12));
  uint64_t t0 = rdtsc();
  while (*count < n - 1 && rdtsc() - t0 < 30000000000ull)
    __asm__ volatile("pause");
  puts_("boot-guest: ");
  putu(*count + 1u);
  puts_(" CPUs up\n");
  if (*count != n - 1) {
    puts_("boot-guest: not all processors started\n");
    guest_exit(0x3f);
  }
}

/* ---- ACPI S5 ------------------------------------------------------------ */

static int sig_is(uint32_t addr, const char *sig) {
  const char *p = (const char *)(uintptr_t)addr;
  return p[0] == sig[0] && p[1] == sig[1] && p[2] == sig[2] && p[3] == sig[3];
}

/* The FADT from the RSDP (XSDT entries are 64-bit, RSDT 32-bit; the
 * tables lie below 4 GiB here). */
static uint32_t find_fadt(uint32_t rsdp) {
  uint8_t rev = *(volatile uint8_t *)(uintptr_t)(rsdp + 15);
  uint32_t sdt = rev >= 2 ? rd32(rsdp + 24) : rd32(rsdp + 16);
  uint32_t step = rev >= 2 ? 8 : 4;
  uint32_t len = rd32(sdt + 4);
  for (uint32_t off = 36; off + step <= len; off += step) {
    uint32_t t = rd32(sdt + off);
    if (sig_is(t, "FACP"))
      return t;
  }
  return 0;
}

static void acpi_poweroff(void) {
  /* Without a pointer from the loader: the BIOS area, as on a PC. */
  for (uint32_t a = 0xe0000; !boot.rsdp && a < 0x100000; a += 16)
    if (sig_is(a, "RSD ") && sig_is(a + 4, "PTR "))
      boot.rsdp = a;
  if (!boot.rsdp) {
    puts_("boot-guest: no ACPI RSDP from the loader\n");
    guest_exit(0x7e);
  }
  uint32_t fadt = find_fadt(boot.rsdp);
  if (!fadt) {
    puts_("boot-guest: no FADT\n");
    guest_exit(0x7d);
  }
  uint32_t pm1a = rd32(fadt + 64), dsdt = rd32(fadt + 40);
  /* SLP_TYPa of \_S5: the first element of the package after "_S5_" in
   * the DSDT (a byte, or a BytePrefix 0x0a and a byte). */
  uint32_t len = rd32(dsdt + 4), typ = 0;
  for (uint32_t i = 36; i + 8 < len; i++) {
    if (sig_is(dsdt + i, "_S5_")) {
      const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)(dsdt + i + 4);
      if (p[0] == 0x12) { /* PackageOp PkgLength NumElements */
        uint32_t skip = 1 + ((p[1] >> 6) + 1) + 1;
        uint8_t b = p[skip];
        typ = b == 0x0a ? p[skip + 1] : b == 0x01 ? 1 : b == 0x00 ? 0 : b;
      }
      break;
    }
  }
  puts_("boot-guest: ACPI power-off (PM1a_CNT ");
  putx(pm1a);
  puts_(", SLP_TYP ");
  putu(typ);
  puts_(")\n");
  outw((uint16_t)pm1a, (uint16_t)((typ & 7) << 10 | 1u << 13));
  puts_("boot-guest: still running after the ACPI power-off\n");
  guest_exit(0x7c);
}

/* ---- the commands ------------------------------------------------------- */

static int word_is(const char *w, uint32_t len, const char *s) {
  uint32_t i = 0;
  for (; i < len && s[i]; i++)
    if (w[i] != s[i])
      return 0;
  return i == len && !s[i];
}

static uint32_t number(const char *s, uint32_t len) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
    v = v * 10 + (uint32_t)(s[i] - '0');
  return v;
}

static void show_modules(void) {
  for (uint32_t i = 0; i < boot.nmods; i++) {
    uint32_t start, size;
    if (boot.bp) { /* boot_params: ramdisk_image, ramdisk_size */
      start = rd32(boot.bp + 0x218);
      size = rd32(boot.bp + 0x21c);
    } else if (boot.pvh) { /* hvm_modlist_entry: paddr, size, cmdline, reserved */
      uint32_t e = rd32(boot.pvh + 16) + i * 32;
      start = rd32(e);
      size = rd32(e + 8);
    } else { /* multiboot module: start, end, string, reserved */
      uint32_t e = rd32(boot.mbi + 24) + i * 16;
      start = rd32(e);
      size = rd32(e + 4) - start;
    }
    puts_("boot-guest: module ");
    putu(i);
    puts_(": ");
    putu(size);
    puts_(" bytes: ");
    putn((const char *)(uintptr_t)start, size < 16 ? size : 16);
    puts_("\n");
  }
}

static void show_memmap(void) {
  if (boot.bp) { /* e820_entries at 0x1e8, the table at 0x2d0 */
    uint32_t n = *(volatile uint8_t *)(uintptr_t)(boot.bp + 0x1e8);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t e = boot.bp + 0x2d0 + i * 20;
      puts_("boot-guest: memory ");
      putx((uint64_t)rd32(e + 4) << 32 | rd32(e));
      puts_(" size ");
      putx((uint64_t)rd32(e + 12) << 32 | rd32(e + 8));
      puts_(" type ");
      putu(rd32(e + 16));
      puts_("\n");
    }
  } else if (boot.pvh) { /* hvm_memmap_table_entry: addr, size, type, reserved */
    uint32_t map = rd32(boot.pvh + 40), n = rd32(boot.pvh + 48);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t e = map + i * 24;
      puts_("boot-guest: memory ");
      putx((uint64_t)rd32(e + 4) << 32 | rd32(e));
      puts_(" size ");
      putx((uint64_t)rd32(e + 12) << 32 | rd32(e + 8));
      puts_(" type ");
      putu(rd32(e + 16));
      puts_("\n");
    }
  } else if (rd32(boot.mbi) & 1) {
    puts_("boot-guest: memory upper ");
    putu(rd32(boot.mbi + 8));
    puts_(" KiB\n");
  }
}

static void run(const char *w, uint32_t len) {
  if (word_is(w, len, "boottime")) {
    outb(BOOT_TIMER, BOOT_TIMER_MAGIC);
  } else if (word_is(w, len, "modules")) {
    show_modules();
  } else if (word_is(w, len, "memmap")) {
    show_memmap();
  } else if (word_is(w, len, "echo")) {
    char line[64];
    uint32_t n = 0;
    uint64_t t0 = rdtsc();
    /* Polled (LSR bit 0: data ready), bounded: ~10 s at 3 GHz. */
    while (n < sizeof(line) - 1 && rdtsc() - t0 < 30000000000ull) {
      if (!(inb(COM1 + 5) & 1)) {
        __asm__ volatile("pause");
        continue;
      }
      char c = (char)inb(COM1);
      if (c == '\n')
        break;
      line[n++] = c;
    }
    line[n] = 0;
    puts_("boot-guest: read '");
    puts_(line);
    puts_("'\n");
  } else if (word_is(w, len, "cpuid")) {
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    puts_("boot-guest: cpuid 1: ecx=");
    putx(c);
    puts_(" edx=");
    putx(d);
    puts_("\n");
  } else if (len > 4 && word_is(w, 4, "smp=")) {
    start_aps(number(w + 4, len - 4));
  } else if (len > 5 && word_is(w, 5, "exit=")) {
    guest_exit((uint8_t)number(w + 5, len - 5));
  } else if (word_is(w, len, "reset")) {
    outb(0x64, 0xfe);
  } else if (word_is(w, len, "triple")) {
    static const struct __attribute__((packed)) {
      uint16_t limit;
      uint32_t base;
    } no_idt = {0, 0};
    __asm__ volatile("lidt %0\n"
                     "xor %%ecx, %%ecx\n"
                     "div %%ecx" /* #DE, then #GP, #DF: no IDT for any */
                     : : "m"(no_idt), "a"(1), "d"(0) : "ecx");
  } else if (word_is(w, len, "internal")) {
    __asm__ volatile("jmp *%0" : : "r"((uintptr_t)0xf0000000u));
  } else if (word_is(w, len, "poweroff")) {
    acpi_poweroff();
  } else if (word_is(w, len, "hang")) {
    for (;;)
      __asm__ volatile("pause");
  }
}

void boot_main(uint32_t magic, uintptr_t info) {
  uint32_t ebx = (uint32_t)info;
  if (magic == BZ_MAGIC) {
    boot.via = "bzimage";
    boot.bp = ebx;
    boot.cmdline = (const char *)(uintptr_t)rd32(ebx + 0x228);
    boot.nmods = rd32(ebx + 0x21c) ? 1 : 0;
    boot.rsdp = rd32(ebx + 0x70); /* acpi_rsdp_addr (below 4 GiB) */
  } else if (magic == MB_BOOT_MAGIC) {
    boot.via = "multiboot";
    boot.mbi = ebx;
    uint32_t flags = rd32(ebx);
    boot.cmdline = flags & 4 ? (const char *)(uintptr_t)rd32(ebx + 16) : "";
    boot.nmods = flags & 8 ? rd32(ebx + 20) : 0;
  } else if (rd32(ebx) == PVH_MAGIC) {
    boot.via = "pvh";
    boot.pvh = ebx;
    boot.cmdline = (const char *)(uintptr_t)rd32(ebx + 24);
    boot.nmods = rd32(ebx + 12);
    boot.rsdp = rd32(ebx + 32);
  } else {
    puts_("boot-guest: entered without PVH or multiboot information\n");
    guest_exit(0x7f);
  }
  if (!boot.cmdline)
    boot.cmdline = "";
  puts_("boot-guest: booted via ");
  puts_(boot.via);
  puts_(", command line '");
  puts_(boot.cmdline);
  puts_("'\n");
  const char *p = boot.cmdline;
  while (*p) {
    while (*p == ' ')
      p++;
    const char *w = p;
    while (*p && *p != ' ')
      p++;
    if (p > w)
      run(w, (uint32_t)(p - w));
  }
  puts_("boot-guest: done\n");
  guest_exit(0);
}
