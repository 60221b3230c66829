/* src/x86/decode.c — the x86 instruction decoder: what each opcode byte
 * takes (ModRM, immediate) comes from one table per opcode map, built
 * from the opcode maps of the Intel SDM volume 2, appendix A. It decodes
 * structure (length, operands), not semantics: callers (the emulation
 * assist, MMIO decode) look up what they handle by map and opcode. */
#include "x86/decode.h"

#include <string.h>

/* Immediate kinds (low 4 bits of a table entry). */
enum {
  I_NONE = 0,
  I_B,     /* 8 bits */
  I_W,     /* 16 bits */
  I_Z,     /* 16 or 32 bits by operand size */
  I_V,     /* 16, 32 or 64 bits by operand size (MOV r, imm) */
  I_WB,    /* 16 then 8 bits (ENTER) */
  I_AP,    /* far pointer: offset (16/32) then a 16-bit selector */
  I_MOFFS, /* an address-size offset (MOV A0..A3) */
  I_JB,    /* 8-bit relative branch */
  I_JZ,    /* 16/32-bit relative branch (32 in 64-bit mode) */
};
#define F_M 0x0010     /* ModRM follows */
#define F_I64 0x0020   /* invalid in 64-bit mode */
#define F_D64 0x0040   /* operand size defaults to 64 bits in 64-bit mode */
#define F_X 0x0080     /* invalid in every mode */
#define F_PFX 0x0100   /* a prefix (handled before the table is used) */
#define F_GRP3 0x0200  /* F6/F7: the immediate is there for /0 and /1 only */
#define F_ESC 0x0400   /* 0F: escape to the two-byte map */
#define F_VEX 0x0800   /* C4/C5/62: VEX/EVEX where the mode allows */
#define F_MREG 0x1000  /* ModRM.mod is ignored: always a register (MOV CRn) */
#define F_ESC3 0x2000  /* 0F 38 / 0F 3A: escape to a three-byte map */

#define IMM(e) ((e) & 0xf)

/* Shorthands for the tables. */
#define __ 0
#define M_ F_M
#define MB (F_M | I_B)
#define MZ (F_M | I_Z)
#define IB I_B
#define IZ I_Z
#define X_ F_X
#define PF F_PFX
#define NV F_I64
#define D6 F_D64
#define JB (I_JB | F_D64)
#define JZ (I_JZ | F_D64)

/* One-byte opcodes, one row per high nibble. */
static const uint16_t map_1b[256] = {
  /* 0 */ M_, M_, M_, M_, IB, IZ, NV, NV, M_, M_, M_, M_, IB, IZ, NV, F_ESC,
  /* 1 */ M_, M_, M_, M_, IB, IZ, NV, NV, M_, M_, M_, M_, IB, IZ, NV, NV,
  /* 2 */ M_, M_, M_, M_, IB, IZ, PF, NV, M_, M_, M_, M_, IB, IZ, PF, NV,
  /* 3 */ M_, M_, M_, M_, IB, IZ, PF, NV, M_, M_, M_, M_, IB, IZ, PF, NV,
  /* 4 */ __, __, __, __, __, __, __, __, __, __, __, __, __, __, __, __,
  /* 5 */ D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6, D6,
  /* 6 */ NV, NV, M_ | NV | F_VEX, M_, PF, PF, PF, PF,
          IZ | D6, MZ, IB | D6, MB, __, __, __, __,
  /* 7 */ JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB, JB,
  /* 8 */ MB, MZ, MB | NV, MB, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
          M_ | D6,
  /* 9 */ __, __, __, __, __, __, __, __, __, __, I_AP | NV, __, D6, D6, __,
          __,
  /* A */ I_MOFFS, I_MOFFS, I_MOFFS, I_MOFFS, __, __, __, __, IB, IZ, __, __,
          __, __, __, __,
  /* B */ IB, IB, IB, IB, IB, IB, IB, IB, I_V, I_V, I_V, I_V, I_V, I_V, I_V,
          I_V,
  /* C */ MB, MB, I_W | D6, D6, M_ | NV | F_VEX, M_ | NV | F_VEX, MB, MZ,
          I_WB | D6, D6, I_W, __, __, IB, NV, __,
  /* D */ M_, M_, M_, M_, IB | NV, IB | NV, NV, __, M_, M_, M_, M_, M_, M_, M_,
          M_,
  /* E */ JB, JB, JB, JB, IB, IB, IB, IB, JZ, JZ, I_AP | NV, JB, __, __, __,
          __,
  /* F */ PF, __, PF, PF, __, __, M_ | F_GRP3 | I_B, M_ | F_GRP3 | I_Z, __,
          __, __, __, __, __, M_, M_ | D6,
};

/* Two-byte opcodes (0F xx). */
static const uint16_t map_0f[256] = {
  /* 0 */ M_, M_, M_, M_, X_, __, __, __, __, __, X_, __, X_, M_, __, MB,
  /* 1 */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* 2 */ M_ | F_MREG, M_ | F_MREG, M_ | F_MREG, M_ | F_MREG, X_, X_, X_, X_,
          M_, M_, M_, M_, M_, M_, M_, M_,
  /* 3 */ __, __, __, __, __, __, X_, __, F_ESC3, X_, F_ESC3, X_, X_, X_, X_,
          X_,
  /* 4 */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* 5 */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* 6 */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* 7 */ MB, MB, MB, MB, M_, M_, M_, __, M_, M_, X_, X_, M_, M_, M_, M_,
  /* 8 */ JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ, JZ,
  /* 9 */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* A */ D6, D6, __, M_, MB, M_, X_, X_, D6, D6, __, M_, MB, M_, M_, M_,
  /* B */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, MB, M_, M_, M_, M_, M_,
  /* C */ M_, M_, MB, M_, MB, MB, MB, M_, __, __, __, __, __, __, __, __,
  /* D */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* E */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
  /* F */ M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
};

/* 0F 38 xx: every opcode has ModRM and no immediate; 0F 3A xx: ModRM and
 * an 8-bit immediate. VEX/EVEX-encoded opcodes of map 1 all have ModRM
 * (but VZEROUPPER/VZEROALL, 77) and take an immediate where the legacy
 * opcode does. */
static uint16_t vex_entry(unsigned map, uint8_t op) {
  switch (map) {
  case VMM__X86_MAP_0F:
    if (op == 0x77)
      return __;
    return (uint16_t)(F_M | (IMM(map_0f[op]) == I_B ? I_B : I_NONE));
  case VMM__X86_MAP_0F38:
    return F_M;
  default:
    return MB;
  }
}

struct cursor {
  const uint8_t *buf;
  size_t size, pos;
};

/* Bytes [pos, pos + n) exist and keep the instruction within 15 bytes. */
static int need(const struct cursor *c, size_t n) {
  if (c->pos + n > VMM__X86_MAX_LEN)
    return c->size >= VMM__X86_MAX_LEN || c->pos + n <= c->size
               ? VMM__X86_DECODE_TOO_LONG
               : VMM__X86_DECODE_TRUNCATED;
  if (c->pos + n > c->size)
    return VMM__X86_DECODE_TRUNCATED;
  return 0;
}

static uint64_t take(struct cursor *c, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v |= (uint64_t)c->buf[c->pos + i] << (8 * i);
  c->pos += n;
  return v;
}

static int64_t sign_extend(uint64_t v, unsigned bytes) {
  if (bytes == 0 || bytes >= 8)
    return (int64_t)v;
  unsigned shift = 64 - 8 * bytes;
  return (int64_t)(v << shift) >> shift;
}

/* 16-bit addressing: base and index of each ModRM.rm value. */
static const int8_t rm16_base[8] = {3, 3, 5, 5, VMM__X86_REG_NONE,
                                    VMM__X86_REG_NONE, 5, 3};
static const int8_t rm16_index[8] = {6, 7, 6, 7, 6, 7, VMM__X86_REG_NONE,
                                     VMM__X86_REG_NONE};

/* ModRM, SIB and displacement. rex_x/rex_b extend index and base. */
static int decode_modrm(struct cursor *c, struct vmm__x86_insn *d,
                        bool force_reg, unsigned rex_r, unsigned rex_x,
                        unsigned rex_b) {
  int rc = need(c, 1);
  if (rc)
    return rc;
  d->has_modrm = true;
  d->modrm = (uint8_t)take(c, 1);
  d->mod = d->modrm >> 6;
  d->reg = (uint8_t)(((d->modrm >> 3) & 7) | (rex_r << 3));
  unsigned rm = d->modrm & 7;
  if (d->mod == 3 || force_reg) {
    d->rm = (uint8_t)(rm | (rex_b << 3));
    return 0;
  }
  d->has_mem = true;
  d->base = d->index = VMM__X86_REG_NONE;
  d->scale = 1;
  d->rm = (uint8_t)rm;
  unsigned disp = d->mod == 1 ? 1 : 0;
  if (d->addrsize == 2) {
    if (d->mod == 0 && rm == 6) {
      disp = 2;
    } else {
      d->base = rm16_base[rm];
      d->index = rm16_index[rm];
      if (d->mod == 2)
        disp = 2;
    }
  } else {
    if (d->mod == 2)
      disp = 4;
    if (rm == 4) {
      rc = need(c, 1);
      if (rc)
        return rc;
      d->has_sib = true;
      d->sib = (uint8_t)take(c, 1);
      unsigned base = d->sib & 7, index = ((d->sib >> 3) & 7) | (rex_x << 3);
      d->scale = (uint8_t)(1u << (d->sib >> 6));
      if (index != 4)
        d->index = (int8_t)index;
      if (base == 5 && d->mod == 0)
        disp = 4; /* no base, disp32 */
      else
        d->base = (int8_t)(base | (rex_b << 3));
    } else if (rm == 5 && d->mod == 0) {
      disp = 4;
      if (d->mode == 64)
        d->base = VMM__X86_REG_RIP;
    } else {
      d->base = (int8_t)(rm | (rex_b << 3));
    }
  }
  rc = need(c, disp);
  if (rc)
    return rc;
  d->disp_size = (uint8_t)disp;
  d->disp = sign_extend(take(c, disp), disp);
  return 0;
}

/* Reads the immediates of kind `kind`. */
static int decode_imm(struct cursor *c, struct vmm__x86_insn *d,
                      unsigned kind) {
  unsigned n = 0, n2 = 0;
  unsigned z = d->opsize == 2 ? 2 : 4;
  switch (kind) {
  case I_B: case I_JB: n = 1; break;
  case I_W: n = 2; break;
  case I_Z: n = z; break;
  case I_V: n = d->opsize; break;
  case I_WB: n = 2, n2 = 1; break;
  case I_AP: n = z, n2 = 2; break;
  case I_MOFFS: n = d->addrsize; break;
  case I_JZ: n = d->mode == 64 ? 4 : z; break;
  default: return 0;
  }
  int rc = need(c, n + n2);
  if (rc)
    return rc;
  d->imm_size = (uint8_t)n;
  d->imm = take(c, n);
  d->imm2_size = (uint8_t)n2;
  d->imm2 = take(c, n2);
  d->is_branch_rel = kind == I_JB || kind == I_JZ;
  if (kind == I_MOFFS) {
    d->has_mem = true;
    d->base = d->index = VMM__X86_REG_NONE;
    d->scale = 1;
    d->disp = (int64_t)d->imm;
  }
  return 0;
}

/* VEX (C4, C5) or EVEX (62) after the prefixes; sets map and opcode. */
static int decode_vex(struct cursor *c, struct vmm__x86_insn *d, uint8_t esc,
                      unsigned *rex_r, unsigned *rex_x, unsigned *rex_b) {
  unsigned nbytes = esc == 0xc5 ? 1 : esc == 0xc4 ? 2 : 3;
  int rc = need(c, nbytes + 1); /* payload and the opcode */
  if (rc)
    return rc;
  const uint8_t *p = c->buf + c->pos;
  unsigned map;
  bool m64 = d->mode == 64;
  if (esc == 0xc5) {
    d->prefixes |= VMM__X86_P_VEX;
    *rex_r = m64 ? !(p[0] & 0x80) : 0;
    d->vex_vvvv = (uint8_t)((~p[0] >> 3) & 0xf);
    d->vex_l = (p[0] >> 2) & 1;
    d->vex_pp = p[0] & 3;
    map = VMM__X86_MAP_0F;
  } else if (esc == 0xc4) {
    d->prefixes |= VMM__X86_P_VEX;
    *rex_r = m64 ? !(p[0] & 0x80) : 0;
    *rex_x = m64 ? !(p[0] & 0x40) : 0;
    *rex_b = m64 ? !(p[0] & 0x20) : 0;
    map = p[0] & 0x1f;
    d->vex_w = p[1] >> 7;
    d->vex_vvvv = (uint8_t)((~p[1] >> 3) & 0xf);
    d->vex_l = (p[1] >> 2) & 1;
    d->vex_pp = p[1] & 3;
  } else {
    d->prefixes |= VMM__X86_P_EVEX;
    if (p[0] & 0x08 || !(p[1] & 0x04)) /* reserved bits */
      return VMM__X86_DECODE_INVALID;
    *rex_r = m64 ? !(p[0] & 0x80) : 0;
    *rex_x = m64 ? !(p[0] & 0x40) : 0;
    *rex_b = m64 ? !(p[0] & 0x20) : 0;
    map = p[0] & 7;
    d->vex_w = p[1] >> 7;
    d->vex_vvvv = (uint8_t)((~p[1] >> 3) & 0xf);
    d->vex_pp = p[1] & 3;
    d->vex_l = (p[2] >> 5) & 3;
  }
  c->pos += nbytes;
  if (map < VMM__X86_MAP_0F || map > VMM__X86_MAP_0F3A)
    return VMM__X86_DECODE_INVALID;
  d->map = (uint8_t)map;
  d->opcode = (uint8_t)take(c, 1);
  if (m64 && d->vex_w)
    d->opsize = 8;
  return 0;
}

unsigned vmm__x86_code_mode(bool cr0_pe, bool efer_lma, bool cs_l, bool cs_db,
                            bool rflags_vm) {
  if (!cr0_pe || rflags_vm)
    return 16;
  if (efer_lma && cs_l)
    return 64;
  return cs_db ? 32 : 16;
}

static int finish(struct cursor *c, struct vmm__x86_insn *d, int rc) {
  d->len = (uint8_t)(c->pos > VMM__X86_MAX_LEN ? VMM__X86_MAX_LEN : c->pos);
  return rc;
}

int vmm__x86_decode(const uint8_t *buf, size_t size, unsigned mode,
                    struct vmm__x86_insn *d) {
  memset(d, 0, sizeof(*d));
  d->seg = VMM__X86_SEG_NONE;
  d->base = d->index = VMM__X86_REG_NONE;
  if (mode != 16 && mode != 32 && mode != 64)
    return VMM__X86_DECODE_INVALID;
  d->mode = (uint8_t)mode;
  struct cursor c = {buf, buf ? size : 0, 0};
  static const uint8_t seg_of[8] = {
      VMM__X86_SEG_ES, VMM__X86_SEG_CS, VMM__X86_SEG_SS, VMM__X86_SEG_DS};

  /* Legacy prefixes and REX. A REX counts only right before the opcode:
   * a legacy prefix after it makes the CPU ignore it. */
  int rc;
  for (;;) {
    if ((rc = need(&c, 1)))
      return finish(&c, d, rc);
    uint8_t b = c.buf[c.pos];
    if (mode == 64 && (b & 0xf0) == 0x40) {
      d->rex = b;
      c.pos++;
      continue;
    }
    if (!(map_1b[b] & F_PFX) && b != 0xf0 && b != 0xf2 && b != 0xf3)
      break;
    d->rex = 0;
    c.pos++;
    switch (b) {
    case 0xf0: d->prefixes |= VMM__X86_P_LOCK; break;
    case 0xf2: d->prefixes = (d->prefixes & ~VMM__X86_P_REP) |
                             VMM__X86_P_REPNE; break;
    case 0xf3: d->prefixes = (d->prefixes & ~VMM__X86_P_REPNE) |
                             VMM__X86_P_REP; break;
    case 0x66: d->prefixes |= VMM__X86_P_OPSIZE; break;
    case 0x67: d->prefixes |= VMM__X86_P_ADDRSIZE; break;
    case 0x64: d->seg = VMM__X86_SEG_FS, d->prefixes |= VMM__X86_P_SEG; break;
    case 0x65: d->seg = VMM__X86_SEG_GS, d->prefixes |= VMM__X86_P_SEG; break;
    default: /* 26 2E 36 3E */
      d->seg = seg_of[(b >> 3) & 3];
      d->prefixes |= VMM__X86_P_SEG;
      break;
    }
  }
  unsigned rex_w = (d->rex >> 3) & 1, rex_r = (d->rex >> 2) & 1,
           rex_x = (d->rex >> 1) & 1, rex_b = d->rex & 1;
  if (d->rex)
    d->prefixes |= VMM__X86_P_REX;
  bool p66 = d->prefixes & VMM__X86_P_OPSIZE;
  bool p67 = d->prefixes & VMM__X86_P_ADDRSIZE;
  if (mode == 64) {
    d->opsize = rex_w ? 8 : p66 ? 2 : 4;
    d->addrsize = p67 ? 4 : 8;
  } else if (mode == 32) {
    d->opsize = p66 ? 2 : 4;
    d->addrsize = p67 ? 2 : 4;
  } else {
    d->opsize = p66 ? 4 : 2;
    d->addrsize = p67 ? 4 : 2;
  }

  uint8_t op = c.buf[c.pos++];
  uint16_t e = map_1b[op];
  d->map = VMM__X86_MAP_1B;
  d->opcode = op;
  if ((e & F_VEX) && (mode == 64 || (c.pos < c.size &&
                                     c.buf[c.pos] >= 0xc0))) {
    /* VEX/EVEX: in 16/32-bit code only when the next byte could not be a
     * memory ModRM of LES/LDS/BOUND. No legacy 66/F2/F3/LOCK or REX may
     * precede it. */
    if (d->rex || (d->prefixes & (VMM__X86_P_OPSIZE | VMM__X86_P_REP |
                                  VMM__X86_P_REPNE | VMM__X86_P_LOCK)))
      return finish(&c, d, VMM__X86_DECODE_INVALID);
    rc = decode_vex(&c, d, op, &rex_r, &rex_x, &rex_b);
    if (rc)
      return finish(&c, d, rc);
    e = vex_entry(d->map, d->opcode);
  } else if (e & F_ESC) {
    if ((rc = need(&c, 1)))
      return finish(&c, d, rc);
    op = c.buf[c.pos++];
    e = map_0f[op];
    d->map = VMM__X86_MAP_0F;
    d->opcode = op;
    if (e & F_ESC3) {
      if ((rc = need(&c, 1)))
        return finish(&c, d, rc);
      d->map = op == 0x38 ? VMM__X86_MAP_0F38 : VMM__X86_MAP_0F3A;
      d->opcode = c.buf[c.pos++];
      e = d->map == VMM__X86_MAP_0F38 ? F_M : MB;
    }
  }
  if ((e & F_X) || (mode == 64 && (e & F_I64)))
    return finish(&c, d, VMM__X86_DECODE_INVALID);
  if (mode == 64 && (e & F_D64) && !rex_w)
    d->opsize = p66 ? 2 : 8;

  if (e & F_M) {
    rc = decode_modrm(&c, d, e & F_MREG, rex_r, rex_x, rex_b);
    if (rc)
      return finish(&c, d, rc);
  }
  unsigned kind = IMM(e);
  if ((e & F_GRP3) && ((d->modrm >> 3) & 7) > 1)
    kind = I_NONE; /* F6/F7 /2../7 (NOT, NEG, MUL...) take no immediate */
  rc = decode_imm(&c, d, kind);
  if (rc)
    return finish(&c, d, rc);
  if (!(e & F_M) && d->map == VMM__X86_MAP_1B) {
    /* Registers encoded in the opcode (push, pop, xchg, mov, bswap) are
     * extended by REX.B. */
    d->rm = (uint8_t)((op & 7) | (rex_b << 3));
  }
  if (!(e & F_M) && d->map == VMM__X86_MAP_0F)
    d->rm = (uint8_t)((op & 7) | (rex_b << 3));
  return finish(&c, d, 0);
}
