#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py — writes the binary seed corpora of the fuzz
targets (corpus-virtq, corpus-kernel, corpus-boot) and the text one (corpus-gdb). The
seeds are checked in; run this again only to change them:

    python3 tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- gdb remote protocol -------------------------------------------------
def frame(body):
    out = bytearray()
    for c in body:
        if c in b"$#}*":
            out += bytes([0x7D, c ^ 0x20])
        else:
            out.append(c)
    return b"$" + bytes(out) + b"#%02x" % (sum(out) & 0xFF)


gdb = {
    "qsupported": [b"qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386"],
    "session": [b"?", b"g", b"m1000,40", b"M1000,4:deadbeef", b"Z0,401000,1",
                b"z0,401000,1", b"c", b"s", b"vCont?", b"vCont;c", b"Hg0", b"qC",
                b"qfThreadInfo", b"qsThreadInfo", b"D", b"k"],
    "binary": [b"X1000,4:\x7d\x03\x7d\x04\x00\x01"],
    "regs": [b"p10", b"P10=0011223344556677", b"G" + b"00" * 64],
}
for name, pkts in gdb.items():
    write("corpus-gdb", name, b"+".join(frame(p) for p in pkts) + b"+")
# Run-length encoding ("0* " = '0' repeated 3 more times), Ctrl-C, a nack,
# a bad checksum.
write("corpus-gdb", "rle", b"$0* #%02x" % ((ord("0") + ord("*") + ord(" ")) & 0xFF))
write("corpus-gdb", "ctrlc", b"\x03+-$g#00$?#3f")

# ---- split virtqueue -----------------------------------------------------
# Guest RAM image: descriptor table at 0x1000, avail at 0x2000, used at
# 0x3000, buffers from 0x4000. Byte 0: log2(size) | 0x08 indirect |
# 0x10 event_idx; byte 1: chains to pop.
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def virtq(size_log2, feats, chains, rounds, indirect_tables=()):
    ram = bytearray(0x8000)
    for off in range(0x4000, 0x8000):
        ram[off] = off & 0xFF
    for i, (addr, ln, fl, nx) in enumerate(chains["desc"]):
        struct.pack_into("<QIHH", ram, 0x1000 + 16 * i, addr, ln, fl, nx)
    heads = chains["heads"]
    struct.pack_into("<HH", ram, 0x2000, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x2004 + 2 * i, h)
    for base, descs in indirect_tables:
        for i, (addr, ln, fl, nx) in enumerate(descs):
            struct.pack_into("<QIHH", ram, base + 16 * i, addr, ln, fl, nx)
    return bytes([size_log2 | feats, rounds]) + bytes(ram)


write("corpus-virtq", "blk-like", virtq(3, 0, {
    "desc": [(0x4000, 16, F_NEXT, 1), (0x4100, 512, F_NEXT | F_WRITE, 2),
             (0x4300, 1, F_WRITE, 0)],
    "heads": [0]}, 2))
write("corpus-virtq", "two-chains", virtq(4, 0x10, {
    "desc": [(0x4000, 64, 0, 0), (0x5000, 128, F_WRITE, 0)],
    "heads": [0, 1]}, 3))
write("corpus-virtq", "indirect", virtq(3, 0x08, {
    "desc": [(0x6000, 48, F_INDIRECT, 0)],
    "heads": [0]}, 2, [(0x6000, [(0x10000, 8, F_NEXT, 1),
                                 (0x4000, 10, F_NEXT, 2),
                                 (0x4400, 20, F_WRITE, 0)])]))
write("corpus-virtq", "loop", virtq(2, 0, {
    "desc": [(0x4000, 4, F_NEXT, 1), (0x4004, 4, F_NEXT, 0)],
    "heads": [0]}, 1))

# ---- kernel images -------------------------------------------------------
def bzimage():
    img = bytearray(0xA00 + 0x1000)
    img[0x1F1] = 4                                   # setup_sects
    struct.pack_into("<I", img, 0x1F4, 0x1000 // 16)  # syssize
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    img[0x200:0x202] = bytes([0xEB, 0x6A])
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020F)
    img[0x211] = 0x01                                # LOADED_HIGH
    struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)
    struct.pack_into("<I", img, 0x230, 0x200000)
    img[0x234] = 1
    struct.pack_into("<H", img, 0x236, 0x3)
    struct.pack_into("<I", img, 0x238, 2047)
    struct.pack_into("<Q", img, 0x258, 0x1000000)
    struct.pack_into("<I", img, 0x260, 0x100000)
    return bytes(img)


def elf(note=None, machine=62):
    img = bytearray(0x400)
    ehdr = struct.pack("<4sBBBB8sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0,
                       bytes(8), 2, machine, 1, 0x200010, 0x40, 0, 0,
                       64, 56, 2 if note else 1, 64, 0, 0)
    img[0:len(ehdr)] = ehdr
    struct.pack_into("<IIQQQQQQ", img, 0x40, 1, 7, 0x200, 0x200000,
                     0x200000, 0x200, 0x1000, 0x1000)
    if note:
        struct.pack_into("<IIQQQQQQ", img, 0x78, 4, 4, 0x100, 0, 0,
                         len(note), len(note), 4)
        img[0x100:0x100 + len(note)] = note
    return bytes(img)


pvh_note = struct.pack("<III4sQ", 4, 8, 18, b"Xen\0", 0x200010)
mb_hdr = struct.pack("<III", 0x1BADB002, 0, (-0x1BADB002) & 0xFFFFFFFF)
mb_aout = struct.pack("<IIIIIIII", 0x1BADB002, 0x10000,
                      (-(0x1BADB002 + 0x10000)) & 0xFFFFFFFF,
                      0x100000, 0x100000, 0x101000, 0x102000, 0x100020)
write("corpus-kernel", "bzimage", bzimage())
write("corpus-kernel", "elf", elf())
write("corpus-kernel", "pvh", elf(pvh_note))
write("corpus-kernel", "multiboot-elf", elf()[:0x200] + mb_hdr + bytes(0x200))
write("corpus-kernel", "multiboot-aout", bytes(0x40) + mb_aout + bytes(0x1000))

# ---- the loaders (boot_load_fuzz): byte 0 = 3 (an initrd and a command
# line), then the same images.
for name in os.listdir(os.path.join(HERE, "corpus-kernel")):
    with open(os.path.join(HERE, "corpus-kernel", name), "rb") as f:
        write("corpus-boot", name, b"\x03" + f.read())


# ---- live-migration stream (docs/migration.md) -----------------------------
M64 = (1 << 64) - 1


def mig_mix(h, w):
    h ^= (w * 0x9E3779B97F4A7C15) & M64
    h = ((h << 29) | (h >> 35)) & M64
    return (h * 0xBF58476D1CE4E5B9) & M64


def mig_hash(data):
    h = 0x6C6962766D6D6D67
    n = len(data) - len(data) % 8
    for i in range(0, n, 8):
        h = mig_mix(h, struct.unpack_from("<Q", data, i)[0])
    last = 0x80
    for b in data[n:]:
        last = ((last << 8) | b) & M64
    h = mig_mix(h, last ^ ((len(data) - n) << 56))
    return h ^ (h >> 31)


def mig_record(rtype, payload):
    rec = struct.pack("<HHIQ", 0x4D56, rtype, 0, len(payload)) + payload
    return rec + struct.pack("<Q", mig_hash(rec))


MIG_DESC = b'{"backend": "auto", "irqchip": false, "memory": [{"gpa": 0, "size": "1M"}]}'
MIG_VERSION = 0x000100  # libvmm 0.1.0 (vmm_version())


def mig_hello(desc=MIG_DESC, size=0x100000):
    fixed = b"LIBVMMMG" + struct.pack("<6I", 1, 4096, MIG_VERSION, 1, len(desc), 0)
    return mig_record(1, fixed + struct.pack("<QQII", 0, size, 0, 0) + desc)


def mig_pages(first, count, fill):
    return mig_record(4, struct.pack("<IIQ", 0, count, first) + bytes([fill]) * (4096 * count))


mig_end = lambda pages: mig_record(6, struct.pack("<QQ", pages, 1))
mig_round = lambda n: mig_record(3, struct.pack("<II", n, 0))
# Byte 0 of an input: 1 = the target recomputes the checksums, 0 = as is.
write("corpus-migrate", "hello", b"\x00" + mig_hello())
write("corpus-migrate", "pages-end", b"\x01" + mig_hello() + mig_round(1)
      + mig_pages(3, 2, 0x5A) + mig_round(0) + mig_end(2))
write("corpus-migrate", "state-end", b"\x01" + mig_hello() + mig_round(1)
      + mig_pages(0, 1, 1) + mig_record(5, b"\x00" * 64) + mig_end(1))
write("corpus-migrate", "abort", b"\x01" + mig_hello()
      + mig_record(8, struct.pack("<i", -5) + b"gone"))
