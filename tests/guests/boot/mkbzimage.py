#!/usr/bin/env python3
"""tests/guests/boot/mkbzimage.py — wraps a static ELF64 test kernel into a
bzImage: a setup area whose header follows the Linux x86 boot protocol
2.15 (Documentation/arch/x86/boot.rst), then the kernel's segments as one
flat protected-mode payload. The kernel is not relocatable and must be
linked at its pref_address with the 64-bit entry 0x200 into the payload.

usage: mkbzimage.py IN.elf OUT.bzImage --initrd-max N --cmdline-size N
"""

import argparse
import struct
import sys

SETUP_SECTS = 4


def segments(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit("mkbzimage: not an ELF64 file")
    entry, phoff = struct.unpack_from("<QQ", elf, 24)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    segs = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and memsz:
            segs.append((paddr, elf[off:off + filesz], memsz))
    return entry, sorted(segs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--initrd-max", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--cmdline-size", type=lambda s: int(s, 0), required=True)
    a = ap.parse_args()

    entry, segs = segments(open(a.input, "rb").read())
    if not segs:
        sys.exit("mkbzimage: no PT_LOAD segment")
    base = segs[0][0]
    if entry != base + 0x200:
        sys.exit("mkbzimage: entry 0x%x is not the load address 0x%x + 0x200"
                 % (entry, base))
    end = max(p + len(d) for p, d, _ in segs)
    mem_end = max(p + m for p, _, m in segs)
    payload = bytearray(end - base)
    for p, d, _ in segs:
        payload[p - base:p - base + len(d)] = d
    payload += bytes(-len(payload) % 16)
    init_size = (mem_end - base + 0xfff) & ~0xfff

    setup = bytearray((SETUP_SECTS + 1) * 512)
    hdr_end = 0x26c  # the 2.15 header ends after kernel_info_offset

    def put(fmt, off, *v):
        struct.pack_into("<" + fmt, setup, off, *v)

    put("B", 0x1f1, SETUP_SECTS)
    put("I", 0x1f4, len(payload) // 16)      # syssize
    put("H", 0x1fa, 0xffff)                  # vid_mode: normal
    put("H", 0x1fe, 0xaa55)                  # boot_flag
    put("BB", 0x200, 0xeb, hdr_end - 0x202)  # jmp short past the header
    setup[0x202:0x206] = b"HdrS"
    put("H", 0x206, 0x020f)                  # protocol 2.15
    put("B", 0x211, 0x01)                    # loadflags: LOADED_HIGH
    put("I", 0x214, base)                    # code32_start
    put("I", 0x22c, a.initrd_max)            # initrd_addr_max
    put("I", 0x230, 0x200000)                # kernel_alignment
    put("B", 0x234, 0)                       # relocatable_kernel: no
    put("H", 0x236, 0x0001)                  # xloadflags: XLF_KERNEL_64
    put("I", 0x238, a.cmdline_size)          # cmdline_size
    put("Q", 0x258, base)                    # pref_address
    put("I", 0x260, init_size)               # init_size
    with open(a.output, "wb") as f:
        f.write(setup + payload)


if __name__ == "__main__":
    main()
