/* tests/integration/cpu_test.c — CPU templates and the emulation-failure
 * assist, with the assist guest (tests/guests/assist.c): which ring-0
 * instructions the backend runs, exceptions raised in ring 0 (delivered by
 * the backend or by the assist), CPUID as the guest sees it under a
 * template, instructions of hidden features, and the API's refusals.
 *
 * The same tests pass on a KVM that emulates guest ring 0 (where INT3 and
 * friends end in emulation failures the assist handles) and on a
 * conventional one (where they never exit): what must hold is what the
 * guest sees. Which of the two happened is printed as a note. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assist_guest.h"
#include "check.h"
#include "runner.h"
#include "test_vm.h"

#define AG_PROBE_NAME(name) #name,
static const char *const probe_names[] = {AG_PROBES(AG_PROBE_NAME)};
#undef AG_PROBE_NAME

/* What one probe did. */
struct probe_result {
  int run;          /* TEST_RUN_UCALL or a VMM_EXIT_* */
  uint64_t vector;  /* AG_NO_VECTOR: the instruction ran */
  int64_t rip_off;  /* saved RIP - RIP of the instruction */
  vmm_exit_t exit;  /* for INTERNAL_ERROR */
  char error[512];  /* vmm_last_error() after an INTERNAL_ERROR */
  vmm_vcpu_stats_t stats;
  bool hung;        /* still on the instruction after PROBE_LIMIT_S */
};

static const char *insn_hex(const vmm_exit_t *e, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (unsigned i = 0; i < e->u.internal.insn_len && n + 4 < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%02x", i ? " " : "",
                          e->u.internal.insn[i]);
  return n ? buf : "(no bytes)";
}

/* A probe whose instruction never completes (KVM hypercalls from ring 0
 * on this machine's KVM) is kicked out after PROBE_LIMIT_S and reported
 * as hanging, so that one instruction does not cost the whole test. */
#define PROBE_LIMIT_S 3
struct watchdog {
  pthread_t tid;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool done, fired;
  vmm_vcpu_t *vcpu;
};

static void *watchdog_main(void *arg) {
  struct watchdog *w = arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += PROBE_LIMIT_S;
  pthread_mutex_lock(&w->mu);
  while (!w->done &&
         pthread_cond_timedwait(&w->cond, &w->mu, &until) != ETIMEDOUT)
    ;
  if (!w->done) {
    w->fired = true;
    vmm_vcpu_kick(w->vcpu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static int run_watched(struct test_vm *t, bool *hung) {
  struct watchdog w = {.vcpu = t->vcpu};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cond, NULL);
  bool armed = pthread_create(&w.tid, NULL, watchdog_main, &w) == 0;
  int run = test_vm_run(t);
  if (armed) {
    pthread_mutex_lock(&w.mu);
    w.done = true;
    pthread_cond_signal(&w.cond);
    pthread_mutex_unlock(&w.mu);
    pthread_join(w.tid, NULL);
  }
  *hung = w.fired && run == VMM_EXIT_KICKED;
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cond);
  return run;
}

/* Runs probe case `which` under CPU template `tmpl` (NULL: none) with
 * assist flags `assist`. */
static bool run_probe(unsigned which, const char *tmpl, uint32_t assist,
                      struct probe_result *r) {
  struct test_vm t;
  bool ok = false;
  memset(r, 0, sizeof(*r));
  r->run = -1;
  if (!CREATE(&t, "assist"))
    goto done;
  if (tmpl && !EXPECT_OK(vmm_vcpu_set_cpu_template(t.vcpu, tmpl)))
    goto done;
  if (!EXPECT_OK(vmm_vcpu_set_assist(t.vcpu, assist)) ||
      !EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_PROBE)) ||
      !EXPECT_OK(test_vm_set_param(&t, AG_PARAM_ARG, which)))
    goto done;
  r->run = run_watched(&t, &r->hung);
  r->exit = t.exit;
  if (r->run == VMM_EXIT_INTERNAL_ERROR)
    snprintf(r->error, sizeof(r->error), "%s", vmm_last_error());
  if (r->run == TEST_RUN_UCALL && t.uc.cmd == UCALL_SYNC) {
    r->vector = t.uc.args[2];
    r->rip_off = (int64_t)t.uc.args[3];
  }
  r->stats.size = sizeof(r->stats);
  ok = EXPECT_OK(vmm_vcpu_get_stats(t.vcpu, &r->stats));
  if (r->run == TEST_RUN_UCALL && t.uc.cmd != UCALL_SYNC) {
    EXPECT_TRUEF(false, "probe %s: guest %s: %s", probe_names[which],
                 test_ucall_name(t.uc.cmd), t.uc.text);
    ok = false;
  }
done:
  test_vm_destroy(&t);
  return ok;
}

static void describe(const struct probe_result *r, char *out, size_t size) {
  char hex[64];
  if (r->run == TEST_RUN_UCALL && r->vector == AG_NO_VECTOR)
    snprintf(out, size, "runs");
  else if (r->run == TEST_RUN_UCALL)
    snprintf(out, size, "exception %llu (saved RIP %+lld)",
             (unsigned long long)r->vector, (long long)r->rip_off);
  else if (r->hung)
    snprintf(out, size, "never completes (kicked out after %d s)",
             PROBE_LIMIT_S);
  else if (r->run == VMM_EXIT_INTERNAL_ERROR)
    snprintf(out, size, "emulation failure: %s",
             insn_hex(&r->exit, hex, sizeof(hex)));
  else
    snprintf(out, size, "exit %s", test_exit_name(r->run));
}

/*
 * The table of docs/platforms.md: every probe with the assist off and the
 * backend's own CPUID. Each must end in one of three ways: it ran, the
 * guest got an exception, or an emulation failure whose exit carries the
 * instruction's bytes, the CPU mode, and bytes libvmm's decoder reads.
 */
static void test_ring0_probe(void) {
  char line[256];
  unsigned failures = 0, hung = 0;
  for (unsigned i = 0; i < AG_PROBE_COUNT; i++) {
    struct probe_result r;
    if (!run_probe(i, NULL, 0, &r))
      continue;
    describe(&r, line, sizeof(line));
    note("probe %-14s %s", probe_names[i], line);
    bool hypercall = i == AG_PROBE_vmcall || i == AG_PROBE_vmmcall;
    if (r.hung) {
      /* Allowed for KVM hypercalls only (docs/platforms.md): the baseline
       * template hides the paravirtual features that use them. */
      hung++;
      EXPECT_TRUEF(hypercall, "probe %s never completed", probe_names[i]);
    } else if (hypercall && r.run == TEST_RUN_UCALL) {
      /* When it completes, with KVM's answer (the guest raises #UD on a
       * wrong one). */
      EXPECT_TRUEF(r.vector == AG_NO_VECTOR, "probe %s: %s", probe_names[i],
                   line);
    } else if (r.run == VMM_EXIT_INTERNAL_ERROR) {
      failures++;
      const vmm_exit_t *e = &r.exit;
      EXPECT_EQ(e->u.internal.kind, VMM_INTERNAL_EMULATION);
      EXPECT_TRUE(e->u.internal.insn_len > 0);
      EXPECT_EQ(e->u.internal.cpu_mode, VMM_CPU_MODE_LONG);
      EXPECT_EQ(e->u.internal.code_bits, 64);
      EXPECT_EQ(e->u.internal.cpl, 0);
      EXPECT_TRUEF(strstr(r.error, "instruction emulation failed at rip") &&
                       strstr(r.error, "long mode, 64-bit code, CPL 0"),
                   "message: %s", r.error);
      EXPECT_EQ(r.stats.emulation_failures, 1);
      EXPECT_EQ(r.stats.assists, 0);
    } else {
      EXPECT_TRUEF(r.run == TEST_RUN_UCALL, "probe %s: %s", probe_names[i],
                   line);
    }
  }
  note("%u of %u probed ring-0 instructions ended in an emulation failure, "
       "%u never completed", failures, (unsigned)AG_PROBE_COUNT, hung);
}

/* INT3, UD2 and INT n in ring 0 reach the guest's IDT with the right
 * saved RIP (the guest checks), whoever delivers them. */
static void test_exceptions(void) {
  struct test_vm t;
  if (!CREATE(&t, "assist"))
    goto out;
  EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_EXCEPTIONS));
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], AG_SYNC_EXCEPTIONS);
  EXPECT_EQ(t.uc.args[1], 3); /* #BP */
  EXPECT_EQ(t.uc.args[2], 1); /* #UD */
  EXPECT_EQ(t.uc.args[3], 1); /* INT 0x40 */
  EXPECT_EQ(t.uc.args[4], 5); /* handler entries */
  vmm_vcpu_stats_t st = {.size = sizeof(st)};
  if (EXPECT_OK(vmm_vcpu_get_stats(t.vcpu, &st))) {
    EXPECT_EQ(st.assists, st.assist_int3 + st.assist_ud +
                              st.assist_soft_int + st.assist_hidden_ud +
                              st.assist_emulated);
    EXPECT_EQ(st.assists, st.emulation_failures);
    note("assists: %llu (int3 %llu, ud %llu, int n %llu) — %s",
         (unsigned long long)st.assists,
         (unsigned long long)st.assist_int3, (unsigned long long)st.assist_ud,
         (unsigned long long)st.assist_soft_int,
         st.assists ? "the backend could not run them; libvmm delivered"
                    : "the backend delivered them itself");
  }
  RUN_UCALL(&t, UCALL_DONE);
out:
  test_vm_destroy(&t);
}

/* Instructions the assist carries out itself: the guest checks results
 * and flags; which ones the backend left to libvmm is counted. */
static void test_emulated(void) {
  struct test_vm t;
  if (!CREATE(&t, "assist"))
    goto out;
  EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_EMULATE));
  vmm_msr_entry_t aux = {.index = 0xc0000103u, .value = AG_TSC_AUX};
  if (vmm_vcpu_set_msrs(t.vcpu, &aux, 1) < 0)
    note("TSC_AUX not settable (%s): RDTSCP checks may fail",
         vmm_last_error());
  if (!RUN_UCALL(&t, UCALL_SYNC))
    goto out;
  EXPECT_EQ(t.uc.args[0], AG_SYNC_EMULATE);
  uint64_t ran = t.uc.args[1];
  EXPECT_TRUE(ran & AG_EM_MXCSR);
  EXPECT_TRUE(ran & AG_EM_X87);
  vmm_vcpu_stats_t st = {.size = sizeof(st)};
  if (EXPECT_OK(vmm_vcpu_get_stats(t.vcpu, &st))) {
    EXPECT_EQ(st.assists, st.emulation_failures);
    EXPECT_EQ(st.assists, st.assist_emulated);
    note("guest ran%s%s%s%s%s%s; %llu of them carried out by libvmm",
         ran & AG_EM_POPCNT ? " popcnt" : "",
         ran & AG_EM_CRC32 ? " crc32" : "", ran & AG_EM_SMAP ? " stac/clac"
         : "", ran & AG_EM_RDTSCP ? " rdtscp" : "",
         ran & AG_EM_MXCSR ? " ldmxcsr/stmxcsr" : "",
         ran & AG_EM_X87 ? " fnstsw/fwait/emms" : "",
         (unsigned long long)st.assist_emulated);
  }
  RUN_UCALL(&t, UCALL_DONE);
  /* LDMXCSR with reserved bits: #GP(0) at the instruction when libvmm
   * carries it out. (QEMU's software CPU, under the nested KVM, loads
   * it without a fault; the SDM says #GP.) */
  struct probe_result r;
  if (run_probe(AG_PROBE_ldmxcsr_reserved, NULL, VMM_ASSIST_DEFAULT, &r)) {
    EXPECT_EQ(r.run, TEST_RUN_UCALL);
    EXPECT_EQ(r.stats.assists, r.stats.emulation_failures);
    if (r.stats.emulation_failures || r.vector != AG_NO_VECTOR) {
      EXPECT_EQ(r.vector, 13);
      EXPECT_EQ(r.rip_off, 0);
    } else {
      note("LDMXCSR with reserved bits ran without #GP (the CPU under "
           "this KVM does not check them)");
    }
  }
out:
  test_vm_destroy(&t);
}

/* With the assist off, an INT3 the backend cannot run is the caller's
 * exit, with its byte; where the backend runs it, the guest gets #BP. */
static void test_assist_off(void) {
  struct probe_result r;
  if (!run_probe(AG_PROBE_int3, NULL, 0, &r))
    return;
  if (r.run == VMM_EXIT_INTERNAL_ERROR) {
    EXPECT_EQ(r.exit.u.internal.insn_len > 0 ? r.exit.u.internal.insn[0] : 0,
              0xcc);
    EXPECT_EQ(r.stats.assists, 0);
  } else {
    EXPECT_EQ(r.vector, 3);
    EXPECT_EQ(r.rip_off, 1);
  }
  EXPECT_RC(vmm_vcpu_set_assist(NULL, 0), VMM_EBADF);
}

/*
 * Instructions of features the template hides raise #UD (the assist, where
 * the backend cannot emulate them; hardware that runs them natively
 * ignores CPUID, so there they run), and an instruction the assist does
 * not handle reaches the caller with RIP, mode and bytes.
 */
static void test_hidden_ud(void) {
  struct probe_result r;
  char line[256];
  /* cx16 hidden: CMPXCHG16B raises #UD or runs, never stops the guest. */
  if (run_probe(AG_PROBE_cmpxchg16b, "host,-cx16", VMM_ASSIST_ALL, &r)) {
    describe(&r, line, sizeof(line));
    note("cmpxchg16b with -cx16: %s (assists %llu)", line,
         (unsigned long long)r.stats.assist_hidden_ud);
    EXPECT_EQ(r.run, TEST_RUN_UCALL);
    if (r.stats.emulation_failures) {
      EXPECT_EQ(r.vector, 6);
      EXPECT_EQ(r.rip_off, 0);
      EXPECT_EQ(r.stats.assist_hidden_ud, 1);
    } else {
      EXPECT_TRUE(r.vector == AG_NO_VECTOR || r.vector == 6);
    }
  }
  /* The default (no hidden-feature assist): the caller sees it. */
  if (run_probe(AG_PROBE_cmpxchg16b, "host,-cx16", VMM_ASSIST_DEFAULT, &r) &&
      r.run == VMM_EXIT_INTERNAL_ERROR) {
    EXPECT_TRUEF(strstr(r.error, "cx16") != NULL, "message: %s", r.error);
    EXPECT_EQ(r.stats.assists, 0);
  }
  /* cx16 shown: the assist must not touch it. Where the backend cannot
   * run it, the exit names RIP, mode, bytes and the feature. */
  if (run_probe(AG_PROBE_cmpxchg16b, "host,+cx16", VMM_ASSIST_ALL, &r)) {
    describe(&r, line, sizeof(line));
    note("cmpxchg16b with +cx16: %s", line);
    if (r.run == VMM_EXIT_INTERNAL_ERROR) {
      const vmm_exit_t *e = &r.exit;
      EXPECT_EQ(e->u.internal.kind, VMM_INTERNAL_EMULATION);
      EXPECT_TRUE(e->u.internal.insn_len >= 5);
      EXPECT_TRUE(memcmp(e->u.internal.insn, "\xf0\x48\x0f\xc7\x0f", 5) ==
                  0);
      EXPECT_EQ(e->u.internal.cpu_mode, VMM_CPU_MODE_LONG);
      EXPECT_EQ(e->u.internal.cpl, 0);
      EXPECT_TRUEF(strstr(r.error, "f0 48 0f c7 0f") &&
                       strstr(r.error, "cx16") && strstr(r.error, "rip 0x"),
                   "message: %s", r.error);
      EXPECT_EQ(r.stats.assists, 0);
      EXPECT_EQ(r.stats.emulation_failures, 1);
    } else {
      EXPECT_EQ(r.run, TEST_RUN_UCALL);
      EXPECT_EQ(r.vector, AG_NO_VECTOR);
    }
  }
}

/* On libvmm's threads, an instruction the assist leaves alone stops the
 * VM with RIP, mode and bytes in the stop message. */
static void test_unhandled_stops_vm(void) {
  struct test_vm t;
  if (!CREATE(&t, "assist"))
    goto out;
  EXPECT_OK(vmm_vcpu_set_cpu_template(t.vcpu, "host,+cx16"));
  EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_PROBE));
  EXPECT_OK(test_vm_set_param(&t, AG_PARAM_ARG, AG_PROBE_cmpxchg16b));
  if (!EXPECT_OK(vmm_vm_start(t.vm)))
    goto out;
  vmm_vm_stop_info_t info = {.size = sizeof(info)};
  if (!EXPECT_OK(vmm_vm_wait(t.vm, 20000, &info)))
    goto out;
  vmm_vcpu_stats_t st = {.size = sizeof(st)};
  EXPECT_OK(vmm_vcpu_get_stats(t.vcpu, &st));
  note("stop: reason %u, \"%s\"", info.reason, info.message);
  if (st.emulation_failures) {
    EXPECT_EQ(info.reason, VMM_STOP_ERROR);
    EXPECT_EQ(info.vcpu, 0);
    EXPECT_TRUEF(strstr(info.message, "emulation failed at rip 0x") &&
                     strstr(info.message, "long mode") &&
                     strstr(info.message, "f0 48 0f c7 0f"),
                 "%s", info.message);
  } else {
    EXPECT_EQ(info.reason, VMM_STOP_HALT); /* ran it, finished, HLT */
  }
out:
  test_vm_destroy(&t);
}

/* ---- CPUID under templates ------------------------------------------- */

struct regs4 {
  uint32_t a, b, c, d;
};

/* CPUID leaf/subleaf as the guest sees it under `tmpl` (set on the VM
 * before vCPU 0 exists when `on_vm`). */
static bool guest_cpuid(const char *tmpl, bool on_vm, uint32_t leaf,
                        uint32_t sub, struct regs4 *out) {
  struct test_vm t;
  bool ok = false;
  memset(out, 0, sizeof(*out));
  if (!CREATE(&t, "assist"))
    goto done;
  if (tmpl) {
    if (on_vm) {
      /* vCPU 0 exists already: it gets the template now, vCPU 1 at
       * creation; both must agree. */
      vmm_vcpu_t *v1;
      vmm_cpuid_entry_t a[256], b[256];
      size_t na, nb;
      if (!EXPECT_OK(vmm_vm_set_cpu_template(t.vm, tmpl)) ||
          !EXPECT_OK(vmm_vcpu_create(t.vm, 1, &v1)) ||
          !EXPECT_OK(vmm_vcpu_get_cpuid(t.vcpu, a, 256, &na)) ||
          !EXPECT_OK(vmm_vcpu_get_cpuid(v1, b, 256, &nb)))
        goto done;
      EXPECT_EQ(na, nb);
      unsigned diff = 0;
      for (size_t i = 0; i < na && i < nb; i++) {
        if (a[i].function == 1) /* APIC ids differ, by design */
          diff += (a[i].ebx >> 24) != 0 || (b[i].ebx >> 24) != 1;
        else if (a[i].function != 0xb && a[i].function != 0x1f)
          diff += memcmp(&a[i], &b[i], sizeof(a[i])) != 0;
      }
      EXPECT_EQ(diff, 0);
    } else if (!EXPECT_OK(vmm_vcpu_set_cpu_template(t.vcpu, tmpl))) {
      goto done;
    }
  }
  if (!EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_CPUID)) ||
      !EXPECT_OK(test_vm_set_param(&t, AG_PARAM_ARG, leaf)) ||
      !EXPECT_OK(test_vm_set_param(&t, AG_PARAM_ARG2, sub)) ||
      !RUN_UCALL(&t, UCALL_SYNC))
    goto done;
  EXPECT_EQ(t.uc.args[0], AG_SYNC_CPUID);
  out->a = (uint32_t)t.uc.args[1], out->b = (uint32_t)t.uc.args[2];
  out->c = (uint32_t)t.uc.args[3], out->d = (uint32_t)t.uc.args[4];
  ok = true;
done:
  test_vm_destroy(&t);
  return ok;
}

/* What the backend supports (the "host" template's source). */
static bool supported(uint32_t leaf, uint32_t sub, struct regs4 *out) {
  vmm_vm_t *vm = NULL;
  vmm_vm_config_t cfg = VMM_VM_CONFIG_INIT;
  cfg.backend = test_backend;
  vmm_cpuid_entry_t e[256];
  size_t n = 0;
  bool found = false;
  memset(out, 0, sizeof(*out));
  if (EXPECT_OK(vmm_vm_create(&cfg, &vm)) &&
      EXPECT_OK(vmm_vm_get_supported_cpuid(vm, e, 256, &n))) {
    for (size_t i = 0; i < n && !found; i++) {
      if (e[i].function == leaf &&
          (!(e[i].flags & VMM_CPUID_F_SIGNIFICANT_INDEX) ||
           e[i].index == sub)) {
        out->a = e[i].eax, out->b = e[i].ebx, out->c = e[i].ecx,
        out->d = e[i].edx;
        found = true;
      }
    }
  }
  vmm_vm_destroy(vm);
  return found;
}

#define BIT(x) (1u << (x))
/* Leaf 1 ECX */
#define F_PNI BIT(0)
#define F_SSSE3 BIT(9)
#define F_CX16 BIT(13)
#define F_PCID BIT(17)
#define F_X2APIC BIT(21)
#define F_POPCNT BIT(23)
#define F_XSAVE BIT(26)
#define F_OSXSAVE BIT(27)
#define F_AVX BIT(28)
#define F_HYPERVISOR BIT(31)
/* Leaf 1 EDX */
#define F_FPU BIT(0)
#define F_CX8 BIT(8)
#define F_CMOV BIT(15)
#define F_FXSR BIT(24)
#define F_SSE2 BIT(26)
/* Leaf 7 EBX */
#define F_AVX2 BIT(5)
#define F_SMAP BIT(20)
#define F_AVX512F BIT(16)
/* 0x80000001 EDX */
#define F_LM BIT(29)
#define F_NX BIT(20)
#define F_SYSCALL BIT(11)

/* The vCPU's CPUID table (what libvmm gave the backend) under `tmpl`. */
static bool table_of(const char *tmpl, uint32_t leaf, uint32_t sub,
                     struct regs4 *out) {
  struct test_vm t;
  bool found = false;
  memset(out, 0, sizeof(*out));
  vmm_cpuid_entry_t e[256];
  size_t n = 0;
  if (CREATE(&t, NULL) &&
      EXPECT_OK(vmm_vcpu_set_cpu_template(t.vcpu, tmpl)) &&
      EXPECT_OK(vmm_vcpu_get_cpuid(t.vcpu, e, 256, &n))) {
    for (size_t i = 0; i < n && !found; i++) {
      if (e[i].function == leaf &&
          (!(e[i].flags & VMM_CPUID_F_SIGNIFICANT_INDEX) ||
           e[i].index == sub)) {
        out->a = e[i].eax, out->b = e[i].ebx, out->c = e[i].ecx,
        out->d = e[i].edx;
        found = true;
      }
    }
  }
  test_vm_destroy(&t);
  return found;
}

/*
 * Does the guest's CPUID return the backend's table for this leaf? Not on
 * every KVM: this machine's passes the host's own bits through for most
 * of leaf 1 and all of leaf 7 (docs/platforms.md). Checks of what the
 * guest sees are strict only where it does.
 */
static bool guest_sees_table(uint32_t leaf, uint32_t sub, unsigned reg) {
  struct regs4 sup, g;
  if (!supported(leaf, sub, &sup) || !guest_cpuid("host", false, leaf, sub,
                                                  &g))
    return false;
  uint32_t dyn = leaf == 1 && reg == 2 ? F_OSXSAVE
                 : leaf == 7 && reg == 2 ? BIT(4) : 0; /* follow CR4 */
  uint32_t s[4] = {sup.a, sup.b, sup.c, sup.d}, v[4] = {g.a, g.b, g.c, g.d};
  bool same = (s[reg] & ~dyn) == (v[reg] & ~dyn);
  if (!same)
    note("leaf 0x%x.%u %s: the guest sees 0x%08x, the table says 0x%08x: "
         "the backend passes host bits through", leaf, sub,
         (const char *[]){"EAX", "EBX", "ECX", "EDX"}[reg], v[reg], s[reg]);
  return same;
}

static void test_cpuid_host(void) {
  struct regs4 sup, g, none;
  /* "host" is what a vCPU has without a template. */
  if (guest_cpuid("host", false, 1, 0, &g) &&
      guest_cpuid(NULL, false, 1, 0, &none)) {
    EXPECT_EQ(g.c, none.c);
    EXPECT_EQ(g.d, none.d);
  }
  struct regs4 th, tn;
  if (table_of("host", 1, 0, &th) && supported(1, 0, &sup)) {
    EXPECT_EQ(th.c, sup.c);
    EXPECT_EQ(th.d, sup.d);
    EXPECT_EQ(th.b >> 24, 0); /* vCPU 0's APIC id */
  }
  (void)tn;
  guest_sees_table(1, 0, 2);
  guest_sees_table(7, 0, 1);
  /* The hypervisor leaves stay (KVM's: "KVMKVMKVM"), for kvmclock. */
  if (supported(0x40000000, 0, &sup) &&
      guest_cpuid("host", false, 0x40000000, 0, &g)) {
    EXPECT_EQ(g.a, sup.a);
    EXPECT_EQ(g.b, sup.b);
  }
}

static void test_cpuid_baseline(void) {
  struct regs4 t1, t7, td, te, sup, supe, g, g7, gd, hv;
  uint32_t hidden = F_PNI | F_SSSE3 | F_CX16 | F_PCID | F_X2APIC | F_POPCNT |
                    F_XSAVE | F_AVX;
  uint32_t kept = F_FPU | F_CX8 | F_CMOV | F_FXSR | F_SSE2;
  /* The table libvmm sets: strict on every backend. */
  if (table_of("baseline", 1, 0, &t1) && supported(1, 0, &sup)) {
    EXPECT_EQ(t1.c & hidden, 0);
    EXPECT_EQ(t1.c & F_HYPERVISOR, sup.c & F_HYPERVISOR);
    EXPECT_EQ(t1.d & kept, sup.d & kept);
  }
  if (table_of("baseline", 7, 0, &t7))
    EXPECT_TRUE(t7.b == 0 && t7.c == 0 && t7.d == 0);
  if (table_of("baseline", 0xd, 0, &td))
    EXPECT_TRUE(td.a == 0 && td.b == 0 && td.c == 0 && td.d == 0);
  if (table_of("baseline", 0x80000001, 0, &te) &&
      supported(0x80000001, 0, &supe))
    EXPECT_EQ(te.d & (F_LM | F_NX | F_SYSCALL),
              supe.d & (F_LM | F_NX | F_SYSCALL));
  /* What the guest sees, through vmm_vm_set_cpu_template(). CMPXCHG16B
   * must be hidden everywhere (the Linux boot here depends on it); the
   * rest wherever the backend shows the guest its table. */
  bool honors = guest_sees_table(1, 0, 2) && guest_sees_table(7, 0, 1);
  if (guest_cpuid("baseline", true, 1, 0, &g)) {
    EXPECT_EQ(g.c & F_CX16, 0);
    EXPECT_EQ(g.d & kept, sup.d & kept);
    if (honors) {
      EXPECT_EQ(g.c & ~F_OSXSAVE, t1.c);
      EXPECT_EQ(g.d, t1.d);
    }
  }
  if (honors && guest_cpuid("baseline", true, 7, 0, &g7))
    EXPECT_EQ(g7.b, t7.b);
  if (honors && guest_cpuid("baseline", true, 0xd, 0, &gd))
    EXPECT_TRUE(gd.a == 0 && gd.c == 0);
  if (!honors)
    note("the backend adds host bits to leaves 1 and 7: of baseline's "
         "hidden features only those it manages (cx16 checked) are hidden "
         "from the guest");
  if (guest_cpuid("baseline", true, 0x40000000, 0, &hv) &&
      supported(0x40000000, 0, &sup))
    EXPECT_EQ(hv.b, sup.b);
  /* KVM's paravirtual features: none that is used through a hypercall
   * (pv-unhalt 7, pv-ipi 11, pv-sched-yield 13, poll-control 12,
   * hc-map-gpa-range 16) nor async PF (4, 10, 14), on every backend: a
   * Linux guest's SMP bring-up depends on it here (docs/platforms.md).
   * kvmclock (0, 3) stays where the backend has it. */
  struct regs4 pv, suppv;
  uint32_t hypercall_bits = 1u << 4 | 1u << 7 | 1u << 10 | 1u << 11 |
                            1u << 12 | 1u << 13 | 1u << 14 | 1u << 16;
  if (guest_cpuid("baseline", true, 0x40000001, 0, &pv) &&
      supported(0x40000001, 0, &suppv)) {
    EXPECT_EQ(pv.a & hypercall_bits, 0);
    EXPECT_EQ(pv.a & (1u << 0 | 1u << 3), suppv.a & (1u << 0 | 1u << 3));
  }
  if (guest_cpuid("host,-kvm-pv-unhalt", false, 0x40000001, 0, &pv) &&
      supported(0x40000001, 0, &suppv))
    EXPECT_EQ(pv.a, suppv.a & ~(1u << 7));
}

static void test_cpuid_edits(void) {
  struct regs4 sup, t1, t7, td, host, g;
  if (!supported(1, 0, &sup))
    return;
  /* -cx16 hides exactly cx16, in the table and in the guest. */
  if (table_of("host,-cx16", 1, 0, &t1)) {
    EXPECT_EQ(t1.c & F_CX16, 0);
    EXPECT_EQ(t1.c, sup.c & ~F_CX16);
    EXPECT_EQ(t1.d, sup.d);
  }
  if (guest_cpuid("host,-cx16", false, 1, 0, &g) &&
      guest_cpuid("host", false, 1, 0, &host)) {
    EXPECT_EQ(g.c & F_CX16, 0);
    EXPECT_EQ(g.c, host.c & ~F_CX16);
  }
  /* -xsave takes AVX, AVX2, AVX-512 and leaf 0xD with it. */
  if (table_of("host,-xsave", 1, 0, &t1) &&
      table_of("host,-xsave", 7, 0, &t7) &&
      table_of("host,-xsave", 0xd, 0, &td)) {
    EXPECT_EQ(t1.c & (F_XSAVE | F_AVX), 0);
    EXPECT_EQ(t7.b & (F_AVX2 | F_AVX512F), 0);
    EXPECT_TRUE(td.a == 0 && td.c == 0);
    EXPECT_EQ(t1.d, sup.d);
  }
  /* -avx512f keeps AVX; its state components leave leaf 0xD. */
  struct regs4 sup7, supd;
  if (supported(7, 0, &sup7) && (sup7.b & F_AVX512F) &&
      supported(0xd, 0, &supd) && table_of("host,-avx512f", 0xd, 0, &td) &&
      table_of("host,-avx512f", 7, 0, &t7)) {
    EXPECT_EQ(t7.b & F_AVX512F, 0);
    EXPECT_EQ(td.a & 0xe0, 0);
    EXPECT_EQ(td.a & 7, supd.a & 7);
  }
  /* +feature brings back what it needs, where the backend has it. */
  if ((sup.c & F_AVX) && table_of("baseline,+avx", 1, 0, &t1) &&
      table_of("baseline,+avx", 0xd, 0, &td)) {
    EXPECT_EQ(t1.c & (F_XSAVE | F_AVX), F_XSAVE | F_AVX);
    EXPECT_EQ(td.a & 7, 7); /* x87, SSE, AVX state */
  } else if (!(sup.c & F_AVX)) {
    note("backend has no AVX: +avx must be refused");
    struct test_vm t;
    if (CREATE(&t, NULL))
      EXPECT_RC(vmm_vcpu_set_cpu_template(t.vcpu, "baseline,+avx"),
                VMM_ENOTSUP);
    test_vm_destroy(&t);
  }
  if ((sup.c & F_CX16) && table_of("baseline,+cx16", 1, 0, &t1))
    EXPECT_EQ(t1.c & F_CX16, F_CX16);
}

/* ---- the API's refusals ---------------------------------------------- */

static void test_template_errors(void) {
  static const char *const bad[] = {
      "", "nope", "Host", "host,", "host,,-cx16", "host,cx16", "host,-",
      "host,-nosuchfeature", "baseline,+nosuch", "host -cx16"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = vmm_cpu_template_check(bad[i]);
    EXPECT_TRUEF(rc == VMM_EINVAL, "'%s' gave %s", bad[i], vmm_err_name(rc));
  }
  EXPECT_RC(vmm_cpu_template_check(NULL), VMM_EINVAL);
  EXPECT_RC(vmm_cpu_template_check("host,-nosuchfeature"), VMM_EINVAL);
  EXPECT_TRUEF(strstr(vmm_last_error(), "nosuchfeature") != NULL, "%s",
               vmm_last_error());
  EXPECT_RC(vmm_cpu_template_check("bogus"), VMM_EINVAL);
  EXPECT_TRUEF(strstr(vmm_last_error(), "bogus") != NULL, "%s",
               vmm_last_error());
  EXPECT_OK(vmm_cpu_template_check("host"));
  EXPECT_OK(vmm_cpu_template_check("baseline,+x2apic,-cx16,+avx512f"));
  EXPECT_STR(vmm_cpu_template_name(0), "host");
  EXPECT_STR(vmm_cpu_template_name(1), "baseline");
  EXPECT_TRUE(vmm_cpu_template_name(2) == NULL);
  unsigned n = 0;
  bool has_cx16 = false, has_xsave = false;
  while (vmm_cpu_feature_name(n)) {
    has_cx16 |= !strcmp(vmm_cpu_feature_name(n), "cx16");
    has_xsave |= !strcmp(vmm_cpu_feature_name(n), "xsave");
    n++;
  }
  EXPECT_TRUE(n > 50 && has_cx16 && has_xsave);

  EXPECT_RC(vmm_vcpu_set_cpu_template(NULL, "host"), VMM_EBADF);
  EXPECT_RC(vmm_vm_set_cpu_template(NULL, "host"), VMM_EBADF);
  struct test_vm t;
  if (CREATE(&t, "assist")) {
    EXPECT_RC(vmm_vcpu_set_cpu_template(t.vcpu, "nope"), VMM_EINVAL);
    EXPECT_RC(vmm_vm_set_cpu_template(t.vm, "host,-what"), VMM_EINVAL);
    char longspec[400];
    memset(longspec, 0, sizeof(longspec));
    strcpy(longspec, "host");
    while (strlen(longspec) + 6 < sizeof(longspec))
      strcat(longspec, ",-cx16");
    EXPECT_RC(vmm_vm_set_cpu_template(t.vm, longspec), VMM_E2BIG);
    EXPECT_OK(vmm_vcpu_set_cpu_template(t.vcpu, longspec)); /* no limit */
    EXPECT_RC(vmm_vcpu_set_assist(t.vcpu, 0x100), VMM_EINVAL);
    vmm_vcpu_stats_t st = {.size = 4};
    EXPECT_RC(vmm_vcpu_get_stats(t.vcpu, &st), VMM_EINVAL);
    EXPECT_RC(vmm_vcpu_get_stats(t.vcpu, NULL), VMM_EINVAL);
    /* A short struct gets only what fits. */
    uint64_t small[3] = {sizeof(small), 99, 99};
    EXPECT_OK(vmm_vcpu_get_stats(t.vcpu, (vmm_vcpu_stats_t *)small));
    EXPECT_EQ(small[1], 0);
    EXPECT_EQ(small[2], 0);
    /* Once started, the VM's template is fixed. */
    EXPECT_OK(test_vm_set_param(&t, AG_PARAM_MODE, AG_MODE_CPUID));
    if (EXPECT_OK(vmm_vm_start(t.vm))) {
      EXPECT_RC(vmm_vm_set_cpu_template(t.vm, "baseline"), VMM_ESTATE);
      vmm_vm_stop(t.vm, 0);
      vmm_vm_wait(t.vm, 10000, NULL);
    }
  }
  test_vm_destroy(&t);
}

static const struct test_def tests[] = {
    {"ring0_probe", test_ring0_probe},
    {"exceptions", test_exceptions},
    {"emulated", test_emulated},
    {"assist_off", test_assist_off},
    {"hidden_ud", test_hidden_ud},
    {"unhandled_stops_vm", test_unhandled_stops_vm},
    {"cpuid_host", test_cpuid_host},
    {"cpuid_baseline", test_cpuid_baseline},
    {"cpuid_edits", test_cpuid_edits},
    {"template_errors", test_template_errors},
};

int main(int argc, char **argv) {
  static const struct test_suite suites[] = {
      {"cpu", tests, sizeof(tests) / sizeof(tests[0])}};
  return test_main(argc, argv, "cpu_test", "--guest assist PATH", suites, 1,
                   120);
}
