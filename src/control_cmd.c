/* src/control_cmd.c — the control socket's commands: parsing a request,
 * carrying it out on the loop thread, building the response. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "control_internal.h"
#include "device_internal.h"
#include "migrate/job.h"
#include "vm_internal.h"

static const char *state_name(vmm_vm_state_t s) {
  switch (s) {
  case VMM_VM_CREATED:
    return "created";
  case VMM_VM_RUNNING:
    return "running";
  case VMM_VM_PAUSED:
    return "paused";
  case VMM_VM_STOPPED:
    return "stopped";
  }
  return "unknown";
}

static const char *stop_reason_name(uint32_t reason) {
  static const char *const names[] = {
      "none", "requested", "guest-exit", "reset", "halt", "shutdown",
      "debug", "error"};
  return reason < sizeof(names) / sizeof(names[0]) ? names[reason]
                                                   : "unknown";
}

/* What a command produces: a result object, or an error message. */
struct outcome {
  cJSON *result;
  char error[512];
};

static void fail(struct outcome *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct outcome *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o->error, sizeof(o->error), fmt, ap);
  va_end(ap);
}

/* {"state": ...} after a state change. */
static cJSON *state_result(vmm_vm_t *vm) {
  cJSON *r = cJSON_CreateObject();
  if (r)
    cJSON_AddStringToObject(r, "state", state_name(vmm_vm_state(vm)));
  return r;
}

/* ---- commands --------------------------------------------------------- */

static void cmd_pause(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  (void)req;
  /* vmm_vm_pause() kicks the vCPUs and waits for them at their safe
   * point; the loop thread is never one of them, so this cannot wait on
   * itself. */
  int rc = vmm_vm_pause(vm);
  if (rc < 0)
    fail(o, "pause: %s", vmm_last_error());
  else
    o->result = state_result(vm);
}

static void cmd_resume(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  (void)req;
  int rc = vmm_vm_resume(vm);
  if (rc < 0)
    fail(o, "resume: %s", vmm_last_error());
  else
    o->result = state_result(vm);
}

static void cmd_stop(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  int status = 0;
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(req, "status");
  if (st && !cJSON_IsNull(st)) {
    double d = cJSON_IsNumber(st) ? st->valuedouble : 0.5;
    if (!(d >= INT_MIN && d <= INT_MAX) || d != (double)(int)d) {
      fail(o, "stop: \"status\" must be an integer in %d..%d", INT_MIN,
           INT_MAX);
      return;
    }
    status = (int)d;
  }
  /* Asynchronous: the vCPUs are kicked and the VM is STOPPED once their
   * threads ended; "state" may still say running or paused. */
  int rc = vmm_vm_stop(vm, status);
  if (rc < 0) {
    fail(o, "stop: %s", vmm_last_error());
    return;
  }
  o->result = state_result(vm);
  if (o->result)
    cJSON_AddNumberToObject(o->result, "status", status);
}

static void cmd_describe(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  (void)req;
  char *text = NULL;
  int rc = vmm_vm_describe_json(vm, &text);
  if (rc < 0) {
    fail(o, "describe: %s", vmm_last_error());
    return;
  }
  o->result = cJSON_Parse(text);
  if (!o->result)
    fail(o, "describe: the VM's description is not valid JSON");
  else if (!cJSON_IsObject(o->result))
    fail(o, "describe: the VM's description is not a JSON object");
  free(text);
}

/* {"cmd":"snapshot","dir":PATH}: vmm_vm_snapshot() on the loop thread. */
static void cmd_snapshot(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  const cJSON *dir = cJSON_GetObjectItemCaseSensitive(req, "dir");
  if (!cJSON_IsString(dir) || !dir->valuestring[0]) {
    fail(o, "snapshot: \"dir\" must be a non-empty string");
    return;
  }
  int rc = vmm_vm_snapshot(vm, dir->valuestring);
  if (rc < 0) {
    fail(o, "%s", vmm_last_error());
    return;
  }
  o->result = state_result(vm);
  if (o->result)
    cJSON_AddStringToObject(o->result, "dir", dir->valuestring);
}

/* {"cmd":"migrate","path":P}: starts migrating the VM to the destination
 * listening on unix socket P (src/migrate/job.c) and answers at once;
 * "stats" reports how it goes. */
static void cmd_migrate(vmm_vm_t *vm, const cJSON *req, struct outcome *o) {
  const cJSON *path = cJSON_GetObjectItemCaseSensitive(req, "path");
  if (!cJSON_IsString(path)) {
    fail(o, "migrate: \"path\" (the destination's unix socket) is "
         "required");
    return;
  }
  if (vmm__migrate_job_start(vm, path->valuestring) < 0) {
    fail(o, "%s", vmm_last_error());
    return;
  }
  o->result = cJSON_CreateObject();
  if (o->result)
    cJSON_AddStringToObject(o->result, "migration", "running");
}

/* Adds a counter (JSON numbers are doubles: exact up to 2^53). */
static void add_u64(cJSON *obj, const char *name, uint64_t v) {
  cJSON_AddNumberToObject(obj, name, (double)v);
}

static cJSON *exits_object(const vmm_vcpu_stats_t *s) {
  cJSON *e = cJSON_CreateObject();
  if (!e)
    return NULL;
  add_u64(e, "total", s->exits);
  add_u64(e, "io", s->exits_io);
  add_u64(e, "mmio", s->exits_mmio);
  add_u64(e, "hlt", s->exits_hlt);
  add_u64(e, "shutdown", s->exits_shutdown);
  add_u64(e, "debug", s->exits_debug);
  add_u64(e, "internal_error", s->exits_internal_error);
  add_u64(e, "other", s->exits_other);
  add_u64(e, "interrupted", s->exits_interrupted);
  return e;
}

static void sum_stats(vmm_vcpu_stats_t *t, const vmm_vcpu_stats_t *s) {
  t->exits += s->exits;
  t->exits_io += s->exits_io;
  t->exits_mmio += s->exits_mmio;
  t->exits_hlt += s->exits_hlt;
  t->exits_shutdown += s->exits_shutdown;
  t->exits_debug += s->exits_debug;
  t->exits_internal_error += s->exits_internal_error;
  t->exits_other += s->exits_other;
  t->exits_interrupted += s->exits_interrupted;
  t->assists += s->assists;
  t->emulation_failures += s->emulation_failures;
}

static uint64_t load(const uint64_t *counter) {
  return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void cmd_stats(vmm_vm_t *vm, const cJSON *req,
                      const struct vmm__control_counters *counters,
                      struct outcome *o) {
  (void)req;
  cJSON *r = cJSON_CreateObject();
  if (!r)
    return;
  o->result = r;
  vmm_vm_state_t state = vmm_vm_state(vm);
  cJSON_AddStringToObject(r, "state", state_name(state));
  uint64_t now = vmm__now_ns();
  uint64_t rel_now = now > vm->created_ns ? now - vm->created_ns : 0;
  uint64_t start = atomic_load(&vm->start_ns);
  uint64_t stopped = atomic_load(&vm->stopped_ns);
  uint64_t end = stopped ? stopped : rel_now;
  add_u64(r, "age_ns", rel_now);
  add_u64(r, "uptime_ns", start && end > start ? end - start : 0);

  if (state == VMM_VM_STOPPED) {
    vmm_vm_stop_info_t info = {.size = sizeof(info)};
    if (vmm_vm_wait(vm, 0, &info) == 0) {
      cJSON *s = cJSON_AddObjectToObject(r, "stop");
      if (s) {
        cJSON_AddStringToObject(s, "reason", stop_reason_name(info.reason));
        cJSON_AddNumberToObject(s, "status", info.status);
        if (info.vcpu != UINT32_MAX)
          cJSON_AddNumberToObject(s, "vcpu", info.vcpu);
        cJSON_AddStringToObject(s, "message", info.message);
      }
    }
  }

  /* The vCPU table and the device list change only before start, under
   * the VM lock; the counters are read atomically. */
  pthread_rwlock_rdlock(&vm->lock);
  vmm_vcpu_stats_t total;
  memset(&total, 0, sizeof(total));
  cJSON *vcpus = cJSON_AddArrayToObject(r, "vcpus");
  for (uint32_t i = 0; i < vm->max_vcpus && vcpus; i++) {
    vmm_vcpu_t *vcpu = vm->vcpus[i];
    if (!vcpu)
      continue;
    vmm_vcpu_stats_t s = {.size = sizeof(s)};
    if (vmm_vcpu_get_stats(vcpu, &s) < 0)
      continue;
    sum_stats(&total, &s);
    cJSON *v = cJSON_CreateObject();
    if (!v)
      break;
    cJSON_AddItemToArray(vcpus, v);
    cJSON_AddNumberToObject(v, "id", i);
    cJSON_AddItemToObject(v, "exits", exits_object(&s));
    add_u64(v, "assists", s.assists);
    add_u64(v, "emulation_failures", s.emulation_failures);
  }
  cJSON_AddItemToObject(r, "exits", exits_object(&total));

  cJSON *devs = cJSON_AddArrayToObject(r, "devices");
  for (vmm_device_t *d = vm->devices; d && devs; d = d->next) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
      break;
    cJSON_AddItemToArray(devs, j);
    cJSON_AddStringToObject(j, "type", d->ops->type);
    if (d->id[0])
      cJSON_AddStringToObject(j, "id", d->id);
    else
      cJSON_AddNullToObject(j, "id");
    add_u64(j, "pio", load(&d->counters.pio));
    add_u64(j, "mmio", load(&d->counters.mmio));
    add_u64(j, "notifications", load(&d->counters.notifications));
    add_u64(j, "interrupts", load(&d->counters.interrupts));
    add_u64(j, "host_errors", load(&d->counters.host_errors));
    const char *err = vmm_device_error(d);
    cJSON_AddBoolToObject(j, "failed", atomic_load(&d->failed) != 0);
    if (err)
      cJSON_AddStringToObject(j, "error", err);
    else
      cJSON_AddNullToObject(j, "error");
  }
  cJSON *other = cJSON_AddObjectToObject(r, "other_io");
  if (other) {
    add_u64(other, "pio", load(&vm->pio.unowned));
    add_u64(other, "mmio", load(&vm->mmio.unowned));
  }
  pthread_rwlock_unlock(&vm->lock);

  struct vmm__mig_job_info mi;
  if (vmm__migrate_job_info(vm, &mi)) {
    cJSON *m = cJSON_AddObjectToObject(r, "migration");
    if (m) {
      cJSON_AddStringToObject(m, "state", mi.state);
      cJSON_AddStringToObject(m, "path", mi.path);
      if (mi.error[0])
        cJSON_AddStringToObject(m, "error", mi.error);
      add_u64(m, "total_ns", mi.st.total_ns);
      add_u64(m, "downtime_ns", mi.st.downtime_ns);
      add_u64(m, "rounds", mi.st.rounds);
      add_u64(m, "pages", mi.st.pages_sent);
    }
  }

  cJSON *c = cJSON_AddObjectToObject(r, "control");
  if (c) {
    add_u64(c, "clients", counters->clients);
    add_u64(c, "accepted", counters->accepted);
    add_u64(c, "refused", counters->refused);
    add_u64(c, "dropped_slow", counters->dropped_slow);
    add_u64(c, "requests", counters->requests);
    add_u64(c, "errors", counters->errors);
    add_u64(c, "oversized", counters->oversized);
  }
}

/* ---- requests ---------------------------------------------------------- */

struct command {
  const char *name;
  void (*fn)(vmm_vm_t *vm, const cJSON *req, struct outcome *o);
};

static const struct command commands[] = {
    {"describe", cmd_describe}, {"pause", cmd_pause},
    {"resume", cmd_resume},     {"stop", cmd_stop},
    {"stats", NULL /* needs the counters: called directly */},
    {"snapshot", cmd_snapshot}, {"migrate", cmd_migrate},
};

/* The response line for `id` (may be NULL: "id": null). */
static char *response(const cJSON *id, struct outcome *o) {
  cJSON *resp = cJSON_CreateObject();
  char *line = NULL;
  if (!resp)
    goto out;
  cJSON *idc = id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull();
  if (!idc)
    goto out;
  cJSON_AddItemToObject(resp, "id", idc);
  if (o->error[0]) {
    cJSON_AddFalseToObject(resp, "ok");
    cJSON_AddStringToObject(resp, "error", o->error);
  } else {
    cJSON_AddTrueToObject(resp, "ok");
    cJSON_AddItemToObject(resp, "result", o->result);
    o->result = NULL;
  }
  line = cJSON_PrintUnformatted(resp);
out:
  cJSON_Delete(o->result);
  o->result = NULL;
  cJSON_Delete(resp);
  return line;
}

char *vmm__control_error_line(const char *message) {
  struct outcome o = {.result = NULL};
  snprintf(o.error, sizeof(o.error), "%s", message);
  return response(NULL, &o);
}

char *vmm__control_request(vmm_vm_t *vm, struct vmm__control_counters *counters,
                           const char *line, size_t len) {
  struct outcome o = {.result = NULL};
  const cJSON *id = NULL;
  const char *end = NULL;
  counters->requests++;
  cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
  if (!req) {
    size_t at = end && end >= line ? (size_t)(end - line) : 0;
    fail(&o, "malformed JSON near byte %zu", at);
  } else if (!cJSON_IsObject(req)) {
    fail(&o, "a request is a JSON object: {\"id\": ..., \"cmd\": ...}");
  } else {
    id = cJSON_GetObjectItemCaseSensitive(req, "id");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
    if (id && !cJSON_IsNumber(id) && !cJSON_IsString(id) &&
        !cJSON_IsNull(id)) {
      id = NULL;
      fail(&o, "\"id\" must be a number, a string or null");
    } else if (!cmd) {
      fail(&o, "missing \"cmd\"");
    } else if (!cJSON_IsString(cmd)) {
      fail(&o, "\"cmd\" must be a string");
    } else if (strcmp(cmd->valuestring, "stats") == 0) {
      cmd_stats(vm, req, counters, &o);
    } else {
      const struct command *c = NULL;
      for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].fn && strcmp(commands[i].name, cmd->valuestring) == 0)
          c = &commands[i];
      if (c) {
        c->fn(vm, req, &o);
      } else {
        char name[64];
        snprintf(name, sizeof(name), "%s", cmd->valuestring);
        fail(&o, "unknown command '%s' (describe, pause, resume, stop, "
             "stats, snapshot, migrate)", name);
      }
    }
  }
  if (!o.error[0] && !o.result)
    fail(&o, "out of memory building the response");
  if (o.error[0])
    counters->errors++;
  char *out = response(id, &o);
  cJSON_Delete(req);
  return out;
}
