/* src/gdbstub/commands.c — the gdb stub's commands: one packet body in,
 * one reply out (resume commands reply later, with the stop). Packet
 * bodies come from the network: every length and number is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub_priv.h"
#include "irq_internal.h"
#include "regs.h"
#include "vm_internal.h"

/* Bytes of memory one 'm' reply carries at most (two hex digits each). */
#define MEM_MAX ((VMM__GDB_PKT_MAX - 16) / 2)

static int reply(struct vmm__gdbstub *gs, const char *s) {
  return vmm__gdb_send_str(gs, s);
}

static int reply_err(struct vmm__gdbstub *gs, int code) {
  char e[8];
  snprintf(e, sizeof(e), "E%02x", (unsigned)(code < 0 ? -code : code) & 0xff);
  return reply(gs, e);
}

static bool starts(const char *p, const char *prefix) {
  return strncmp(p, prefix, strlen(prefix)) == 0;
}

/* A gdb thread id: vCPU id + 1; -1 all, 0 any. */
static bool parse_thread(const char *p, int64_t *out) {
  if (p[0] == '-' && p[1] == '1' && p[2] == 0) {
    *out = -1;
    return true;
  }
  uint64_t v;
  const char *q = p;
  if (vmm__gdb_parse_hex(&q, &v) < 0 || *q)
    return false;
  *out = (int64_t)(v > UINT32_MAX ? UINT32_MAX : v);
  return true;
}

static vmm_vcpu_t *vcpu_of_thread(struct vmm__gdbstub *gs, int64_t t) {
  if (t <= 0 || (uint64_t)t > gs->vm->max_vcpus)
    return NULL;
  return gs->vm->vcpus[t - 1];
}

static vmm_vcpu_t *cur_vcpu(struct vmm__gdbstub *gs) {
  vmm_vcpu_t *v = gs->cur < gs->vm->max_vcpus ? gs->vm->vcpus[gs->cur] : NULL;
  return v ? v : gs->vm->vcpus[vmm__gdb_first_vcpu(gs)];
}

/* ---- registers ------------------------------------------------------------- */

static int cmd_read_regs(struct vmm__gdbstub *gs) {
  struct vmm__gdb_state st;
  if (vmm__gdb_state_get(cur_vcpu(gs), &st) < 0)
    return reply_err(gs, 14);
  size_t o = 0;
  uint8_t val[16];
  for (size_t i = 0; i < vmm__gdb_reg_count(gs->arch); i++) {
    int n = vmm__gdb_reg_get(gs->arch, &st, i, val);
    vmm__gdb_tohex(gs->resp + o, val, (size_t)n);
    o += 2 * (size_t)n;
  }
  return vmm__gdb_send(gs, gs->resp, o);
}

static int cmd_write_regs(struct vmm__gdbstub *gs, const char *hex,
                          size_t len) {
  struct vmm__gdb_state st;
  vmm_vcpu_t *v = cur_vcpu(gs);
  if (vmm__gdb_state_get(v, &st) < 0)
    return reply_err(gs, 14);
  /* gdb may send fewer registers than it knows (a shorter 'g'). */
  size_t o = 0;
  uint8_t val[16];
  for (size_t i = 0; i < vmm__gdb_reg_count(gs->arch); i++) {
    uint8_t cur[16];
    int n = vmm__gdb_reg_get(gs->arch, &st, i, cur);
    if (o + 2 * (size_t)n > len)
      break;
    if (vmm__gdb_fromhex(val, hex + o, (size_t)n) < 0)
      return reply_err(gs, 22);
    o += 2 * (size_t)n;
    if (memcmp(val, cur, (size_t)n) != 0 && vmm__gdb_reg_set(gs->arch, &st, i, val) < 0)
      return reply_err(gs, 22);
  }
  if (vmm__gdb_state_set(v, &st) < 0)
    return reply_err(gs, 14);
  return reply(gs, "OK");
}

static int cmd_read_reg(struct vmm__gdbstub *gs, const char *p) {
  uint64_t n;
  if (vmm__gdb_parse_hex(&p, &n) < 0 || *p)
    return reply_err(gs, 22);
  struct vmm__gdb_state st;
  if (n >= vmm__gdb_reg_count(gs->arch))
    return reply_err(gs, 22);
  if (vmm__gdb_state_get(cur_vcpu(gs), &st) < 0)
    return reply_err(gs, 14);
  uint8_t val[16];
  int size = vmm__gdb_reg_get(gs->arch, &st, (size_t)n, val);
  vmm__gdb_tohex(gs->resp, val, (size_t)size);
  return vmm__gdb_send(gs, gs->resp, 2 * (size_t)size);
}

static int cmd_write_reg(struct vmm__gdbstub *gs, const char *p) {
  uint64_t n;
  if (vmm__gdb_parse_hex(&p, &n) < 0 || *p != '=' ||
      n >= vmm__gdb_reg_count(gs->arch))
    return reply_err(gs, 22);
  p++;
  struct vmm__gdb_state st;
  vmm_vcpu_t *v = cur_vcpu(gs);
  if (vmm__gdb_state_get(v, &st) < 0)
    return reply_err(gs, 14);
  uint8_t val[16];
  int size = vmm__gdb_reg_get(gs->arch, &st, (size_t)n, val);
  if (strlen(p) != 2 * (size_t)size ||
      vmm__gdb_fromhex(val, p, (size_t)size) < 0 ||
      vmm__gdb_reg_set(gs->arch, &st, (size_t)n, val) < 0)
    return reply_err(gs, 22);
  if (vmm__gdb_state_set(v, &st) < 0)
    return reply_err(gs, 14);
  return reply(gs, "OK");
}

/* ---- memory ------------------------------------------------------------------ */

/* "ADDR,LEN" followed by `term` (0: end of the packet). */
static bool parse_addr_len(const char **p, char term, uint64_t *addr,
                           uint64_t *len) {
  if (vmm__gdb_parse_hex(p, addr) < 0 || **p != ',')
    return false;
  (*p)++;
  if (vmm__gdb_parse_hex(p, len) < 0 || **p != term)
    return false;
  if (term)
    (*p)++;
  return true;
}

static int cmd_read_mem(struct vmm__gdbstub *gs, const char *p) {
  uint64_t addr, len;
  if (!parse_addr_len(&p, 0, &addr, &len))
    return reply_err(gs, 22);
  if (len > MEM_MAX)
    len = MEM_MAX; /* gdb asks again for the rest */
  uint8_t buf[MEM_MAX];
  if (vmm__gdb_mem(cur_vcpu(gs), addr, buf, (size_t)len, false) < 0)
    return reply_err(gs, 14);
  vmm__gdb_tohex(gs->resp, buf, (size_t)len);
  return vmm__gdb_send(gs, gs->resp, 2 * (size_t)len);
}

static int cmd_write_mem(struct vmm__gdbstub *gs, const char *p, size_t plen,
                         bool binary) {
  const char *start = p;
  uint64_t addr, len;
  if (!parse_addr_len(&p, ':', &addr, &len))
    return reply_err(gs, 22);
  size_t avail = plen - (size_t)(p - start);
  uint8_t buf[VMM__GDB_PKT_MAX];
  if (len > sizeof(buf) || (binary ? avail != len : avail != 2 * len))
    return reply_err(gs, 22);
  if (binary)
    memcpy(buf, p, (size_t)len);
  else if (vmm__gdb_fromhex(buf, p, (size_t)len) < 0)
    return reply_err(gs, 22);
  if (len && vmm__gdb_mem(cur_vcpu(gs), addr, buf, (size_t)len, true) < 0)
    return reply_err(gs, 14);
  return reply(gs, "OK");
}

/* ---- breakpoints ------------------------------------------------------------- */

static int cmd_break(struct vmm__gdbstub *gs, const char *p, bool insert) {
  int type = p[0] - '0';
  uint64_t addr, kind;
  p++;
  if (*p != ',')
    return reply_err(gs, 22);
  p++;
  if (vmm__gdb_parse_hex(&p, &addr) < 0 || *p != ',')
    return reply_err(gs, 22);
  p++;
  if (vmm__gdb_parse_hex(&p, &kind) < 0 || (*p && *p != ';'))
    return reply_err(gs, 22);
  int rc = insert ? vmm__gdb_bp_insert(gs, type, addr, kind)
                  : vmm__gdb_bp_remove(gs, type, addr, kind);
  if (rc == 1)
    return reply(gs, "");
  return rc < 0 ? reply_err(gs, rc) : reply(gs, "OK");
}

/* ---- resuming ------------------------------------------------------------------ */

/* c/s with an optional address to resume at. */
static int cmd_resume(struct vmm__gdbstub *gs, const char *p, bool step) {
  vmm_vcpu_t *v = step && gs->cont < gs->vm->max_vcpus &&
                          gs->vm->vcpus[gs->cont]
                      ? gs->vm->vcpus[gs->cont]
                      : cur_vcpu(gs);
  if (*p) {
    uint64_t addr;
    vmm_regs_t r;
    if (vmm__gdb_parse_hex(&p, &addr) < 0 || vmm_vcpu_get_regs(v, &r) < 0)
      return reply_err(gs, 22);
    r.rip = addr;
    if (vmm_vcpu_set_regs(v, &r) < 0)
      return reply_err(gs, 14);
  }
  if (gs->exited)
    return reply(gs, gs->last_stop);
  gs->cur = vmm_vcpu_id(v);
  int rc = vmm__gdb_resume(gs, step ? vmm_vcpu_id(v) : UINT32_MAX);
  return rc < 0 ? reply_err(gs, rc) : 0;
}

/* vCont;ACTION[:THREAD]...: the first step action picks the vCPU that
 * steps (the others stay stopped); otherwise everything continues. */
static int cmd_vcont(struct vmm__gdbstub *gs, const char *p) {
  uint32_t step = UINT32_MAX;
  while (*p == ';') {
    p++;
    char a = *p++;
    if (a == 'C' || a == 'S') { /* a signal number: not delivered */
      uint64_t sig;
      if (vmm__gdb_parse_hex(&p, &sig) < 0)
        return reply_err(gs, 22);
    } else if (a != 'c' && a != 's') {
      return reply(gs, "");
    }
    int64_t t = -1;
    if (*p == ':') {
      p++;
      char tid[24];
      size_t n = strcspn(p, ";");
      if (n >= sizeof(tid))
        return reply_err(gs, 22);
      memcpy(tid, p, n);
      tid[n] = 0;
      p += n;
      if (!parse_thread(tid, &t))
        return reply_err(gs, 22);
    }
    if ((a == 's' || a == 'S') && step == UINT32_MAX) {
      vmm_vcpu_t *v = t > 0 ? vcpu_of_thread(gs, t) : cur_vcpu(gs);
      if (!v)
        return reply_err(gs, 22);
      step = vmm_vcpu_id(v);
    }
  }
  if (*p)
    return reply_err(gs, 22);
  if (gs->exited)
    return reply(gs, gs->last_stop);
  if (step != UINT32_MAX)
    gs->cur = step;
  int rc = vmm__gdb_resume(gs, step);
  return rc < 0 ? reply_err(gs, rc) : 0;
}

/* ---- queries -------------------------------------------------------------------- */

static int cmd_xfer_features(struct vmm__gdbstub *gs, const char *p) {
  /* qXfer:features:read:ANNEX:OFFSET,LENGTH */
  const char *annex = p;
  const char *colon = strchr(annex, ':');
  if (!colon)
    return reply_err(gs, 22);
  if ((size_t)(colon - annex) != strlen("target.xml") ||
      strncmp(annex, "target.xml", (size_t)(colon - annex)) != 0)
    return reply_err(gs, 0);
  p = colon + 1;
  uint64_t off, len;
  if (!parse_addr_len(&p, 0, &off, &len))
    return reply_err(gs, 22);
  const char *xml = vmm__gdb_target_xml(gs->arch);
  size_t total = strlen(xml);
  if (off > total)
    return reply_err(gs, 22);
  size_t n = total - (size_t)off;
  if (n > len)
    n = (size_t)len;
  if (n > sizeof(gs->resp) - 1)
    n = sizeof(gs->resp) - 1;
  gs->resp[0] = off + n < total ? 'm' : 'l';
  memcpy(gs->resp + 1, xml + off, n);
  return vmm__gdb_send(gs, gs->resp, n + 1);
}

static int cmd_query(struct vmm__gdbstub *gs, const char *p) {
  if (starts(p, "qSupported")) {
    gs->swbreak = strstr(p, "swbreak+") != NULL;
    gs->hwbreak = strstr(p, "hwbreak+") != NULL;
    snprintf(gs->resp, sizeof(gs->resp),
             "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;"
             "QStartNoAckMode+;vContSupported+", VMM__GDB_PKT_MAX);
    return reply(gs, gs->resp);
  }
  if (starts(p, "qXfer:features:read:"))
    return cmd_xfer_features(gs, p + strlen("qXfer:features:read:"));
  if (strcmp(p, "qAttached") == 0)
    return reply(gs, "1");
  if (strcmp(p, "qC") == 0) {
    snprintf(gs->resp, sizeof(gs->resp), "QC%x", gs->cur + 1);
    return reply(gs, gs->resp);
  }
  if (strcmp(p, "qfThreadInfo") == 0) {
    size_t o = 0;
    gs->resp[o++] = 'm';
    for (uint32_t i = 0; i < gs->vm->max_vcpus; i++) {
      if (!gs->vm->vcpus[i])
        continue;
      int n = snprintf(gs->resp + o, sizeof(gs->resp) - o, "%s%x",
                       o > 1 ? "," : "", i + 1);
      if (n < 0 || (size_t)n >= sizeof(gs->resp) - o)
        break;
      o += (size_t)n;
    }
    return vmm__gdb_send(gs, gs->resp, o);
  }
  if (strcmp(p, "qsThreadInfo") == 0)
    return reply(gs, "l");
  if (starts(p, "qThreadExtraInfo,")) {
    int64_t t;
    if (!parse_thread(p + strlen("qThreadExtraInfo,"), &t) ||
        !vcpu_of_thread(gs, t))
      return reply_err(gs, 22);
    char name[32];
    int n = snprintf(name, sizeof(name), "vCPU %u", (unsigned)(t - 1));
    vmm__gdb_tohex(gs->resp, (const uint8_t *)name, (size_t)n);
    return vmm__gdb_send(gs, gs->resp, 2 * (size_t)n);
  }
  if (starts(p, "qSymbol"))
    return reply(gs, "OK");
  return reply(gs, "");
}

int vmm__gdb_command(struct vmm__gdbstub *gs, const char *p, size_t len) {
  if (len == 0)
    return reply(gs, "");
  /* Binary data only in X packets; elsewhere a NUL ends the command. */
  if (p[0] != 'X' && strlen(p) != len)
    return reply_err(gs, 22);
  switch (p[0]) {
  case '?':
    return reply(gs, gs->last_stop);
  case 'g':
    return p[1] ? reply_err(gs, 22) : cmd_read_regs(gs);
  case 'G':
    return cmd_write_regs(gs, p + 1, len - 1);
  case 'p':
    return cmd_read_reg(gs, p + 1);
  case 'P':
    return cmd_write_reg(gs, p + 1);
  case 'm':
    return cmd_read_mem(gs, p + 1);
  case 'M':
    return cmd_write_mem(gs, p + 1, len - 1, false);
  case 'X':
    return cmd_write_mem(gs, p + 1, len - 1, true);
  case 'Z':
  case 'z':
    if (p[1] < '0' || p[1] > '9')
      return reply_err(gs, 22);
    return cmd_break(gs, p + 1, p[0] == 'Z');
  case 'c':
    return cmd_resume(gs, p + 1, false);
  case 's':
    return cmd_resume(gs, p + 1, true);
  case 'H': {
    int64_t t;
    if ((p[1] != 'g' && p[1] != 'c') || !parse_thread(p + 2, &t))
      return reply_err(gs, 22);
    if (t > 0 && !vcpu_of_thread(gs, t))
      return reply_err(gs, 22);
    uint32_t id = t > 0 ? (uint32_t)(t - 1) : UINT32_MAX;
    if (p[1] == 'g')
      gs->cur = t > 0 ? id : gs->cur;
    else
      gs->cont = id;
    return reply(gs, "OK");
  }
  case 'T': {
    int64_t t;
    return parse_thread(p + 1, &t) && vcpu_of_thread(gs, t)
               ? reply(gs, "OK")
               : reply_err(gs, 22);
  }
  case 'q':
    return cmd_query(gs, p);
  case 'Q':
    if (strcmp(p, "QStartNoAckMode") == 0) {
      int rc = reply(gs, "OK");
      gs->no_ack = true;
      return rc;
    }
    return reply(gs, "");
  case 'v':
    if (strcmp(p, "vCont?") == 0)
      return reply(gs, "vCont;c;C;s;S");
    if (starts(p, "vCont;"))
      return cmd_vcont(gs, p + 5);
    if (starts(p, "vKill")) {
      reply(gs, "OK");
      vmm__vm_request_stop(gs->vm, VMM_STOP_REQUESTED, 0, "gdb: kill");
      return -1;
    }
    return reply(gs, "");
  case 'D':
    reply(gs, "OK");
    return -1; /* the server detaches and lets the VM run */
  case 'k':
    vmm__vm_request_stop(gs->vm, VMM_STOP_REQUESTED, 0, "gdb: kill");
    return -1;
  default:
    return reply(gs, "");
  }
}
