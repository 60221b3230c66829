/* src/x86/decode.h — a table-driven x86 instruction decoder: length,
 * prefixes, opcode map, ModRM/SIB, memory operand and immediate. */
#ifndef VMM__X86_DECODE_H
#define VMM__X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM__X86_MAX_LEN 15

/* Opcode maps (the byte after 0F, 0F 38, 0F 3A; VEX/EVEX select them by
 * their map field). */
enum vmm__x86_map {
  VMM__X86_MAP_1B = 0,
  VMM__X86_MAP_0F = 1,
  VMM__X86_MAP_0F38 = 2,
  VMM__X86_MAP_0F3A = 3,
};

/* Prefix flags. */
#define VMM__X86_P_LOCK (1u << 0)
#define VMM__X86_P_REP (1u << 1)   /* F3 */
#define VMM__X86_P_REPNE (1u << 2) /* F2 */
#define VMM__X86_P_OPSIZE (1u << 3) /* 66 */
#define VMM__X86_P_ADDRSIZE (1u << 4) /* 67 */
#define VMM__X86_P_SEG (1u << 5)   /* a segment override: see `seg` */
#define VMM__X86_P_REX (1u << 6)
#define VMM__X86_P_VEX (1u << 7)
#define VMM__X86_P_EVEX (1u << 8)

/* Register numbers as in ModRM/SIB (0 = rAX ... 15 = r15). */
#define VMM__X86_REG_NONE (-1)
#define VMM__X86_REG_RIP 16
/* Segment registers in encoding order, for `seg`. */
enum vmm__x86_seg {
  VMM__X86_SEG_ES, VMM__X86_SEG_CS, VMM__X86_SEG_SS, VMM__X86_SEG_DS,
  VMM__X86_SEG_FS, VMM__X86_SEG_GS, VMM__X86_SEG_NONE = 0xff
};

struct vmm__x86_insn {
  uint8_t len;       /* bytes, 1..15 */
  uint8_t mode;      /* code size the bytes were decoded for: 16, 32, 64 */
  uint8_t map;       /* enum vmm__x86_map */
  uint8_t opcode;    /* the opcode byte within the map */
  uint32_t prefixes; /* VMM__X86_P_* */
  uint8_t seg;       /* enum vmm__x86_seg */
  uint8_t rex;       /* the REX byte (0x40..0x4f), 0 if none */
  uint8_t opsize;    /* effective operand size in bytes: 2, 4 or 8 */
  uint8_t addrsize;  /* effective address size in bytes: 2, 4 or 8 */
  /* VEX/EVEX fields (when the prefix flag is set). */
  uint8_t vex_l;     /* vector length: 0 (128), 1 (256), 2 (512) */
  uint8_t vex_vvvv;  /* the extra source register, un-inverted */
  uint8_t vex_w;
  uint8_t vex_pp;    /* implied prefix: 0 none, 1 66, 2 F3, 3 F2 */

  bool has_modrm;
  uint8_t modrm;
  uint8_t mod;       /* modrm[7:6] */
  uint8_t reg;       /* modrm[5:3] with REX.R / VEX.R (0..15) */
  uint8_t rm;        /* modrm[2:0] with REX.B when it names a register */
  bool has_sib;
  uint8_t sib;

  /* The memory operand, when ModRM names memory. `base`/`index` are
   * register numbers or VMM__X86_REG_NONE (`base` may be
   * VMM__X86_REG_RIP); 16-bit forms use BX/BP/SI/DI as base and index. */
  bool has_mem;
  int8_t base, index;
  uint8_t scale;     /* 1, 2, 4 or 8 */
  uint8_t disp_size; /* 0, 1, 2 or 4 */
  int64_t disp;      /* sign-extended */
  /* A moffs operand (A0..A3) is reported as has_mem with no base/index. */

  uint8_t imm_size;  /* bytes of the (first) immediate, 0 if none */
  uint8_t imm2_size; /* ENTER's second immediate, far pointers' selector */
  uint64_t imm;      /* zero-extended from imm_size bytes */
  uint64_t imm2;
  bool is_branch_rel; /* imm is a relative branch displacement */
};

/* Decode results besides 0. */
#define VMM__X86_DECODE_TRUNCATED (-1) /* the bytes end inside the insn */
#define VMM__X86_DECODE_INVALID (-2)   /* not an instruction in this mode
                                          (the CPU would raise #UD) */
#define VMM__X86_DECODE_TOO_LONG (-3)  /* more than 15 bytes (#GP) */

/*
 * Decodes the instruction at buf[0..size) for code of `mode` bits (16, 32
 * or 64). Never reads past buf[size - 1]. Returns 0 with *out filled, or
 * one of VMM__X86_DECODE_* (out->len then holds how far it got).
 */
int vmm__x86_decode(const uint8_t *buf, size_t size, unsigned mode,
                    struct vmm__x86_insn *out);

/* The code mode of a CS descriptor and EFER.LMA / CR0.PE: 16, 32 or 64. */
unsigned vmm__x86_code_mode(bool cr0_pe, bool efer_lma, bool cs_l, bool cs_db,
                            bool rflags_vm);

#endif
