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


# ---- virtio devices (virtio_fuzz.h) ---------------------------------------
# Header: flags (1 bring-up, 2 VERSION_1, 4 notify all), log2 queue size,
# operation count, device (blk, net, console, rng), driver features; then
# operations (kind, size, offset, value) and guest RAM from 0. Queue q's
# rings: descriptors at q * 0x800, available ring +0x400, used ring +0x500.
VQ_LOG2 = 3  # 8 entries
RING = 0x800
BUF = 0x4000  # buffers from here
F_INDIRECT, F_EVENT_IDX, F_VERSION_1 = 1 << 28, 1 << 29, 1 << 32
DEVICES = {"blk": 0, "net": 1, "console": 2, "rng": 3}


class Guest:
    """Guest RAM with split rings: chains of (gpa, len, writable)."""

    def __init__(self):
        self.ram = bytearray(BUF)
        self.next_buf = BUF
        self.heads = {}

    def put(self, gpa, data):
        end = gpa + len(data)
        if end > len(self.ram):
            self.ram += bytes(end - len(self.ram))
        self.ram[gpa:end] = data

    def buf(self, data=b"", size=None):
        size = size if size is not None else len(data)
        gpa = self.next_buf
        self.put(gpa, data.ljust(size, b"\0"))
        self.next_buf = (gpa + size + 15) & ~15
        return gpa

    def chain(self, q, bufs):
        """bufs: (gpa, len, writable); made available on queue q."""
        n = self.heads.get(q, 0)
        head = n * 4  # 4 descriptors per chain
        for i, (gpa, ln, w) in enumerate(bufs):
            nxt = i + 1 < len(bufs)
            flags = (1 if nxt else 0) | (2 if w else 0)
            self.put(q * RING + 16 * (head + i),
                     struct.pack("<QIHH", gpa, ln, flags, head + i + 1 if nxt else 0))
        self.put(q * RING + 0x400 + 4 + 2 * n, struct.pack("<H", head))
        self.heads[q] = n + 1
        self.put(q * RING + 0x400, struct.pack("<HH", 0, n + 1))


def op(kind, size=4, off=0, value=0):
    """size in bytes: 1, 2, 4 or 8 (the size byte's low two bits)."""
    return struct.pack("<BBHI", kind, {1: 0, 2: 1, 4: 2, 8: 3}[size], off, value)


def virtio_seed(dev, g, ops=(), flags=7, feats=F_VERSION_1 | F_INDIRECT | F_EVENT_IDX | 0xffffffff):
    hdr = struct.pack("<BBBBQ", flags, VQ_LOG2, len(ops), DEVICES[dev], feats)
    return hdr + b"".join(ops) + bytes(g.ram)


def blk_seeds():
    out = {}
    for name, typ, sector, data_len, w in [("read", 0, 1, 512, True),
                                           ("write", 1, 2, 512, False),
                                           ("flush", 4, 0, 0, False),
                                           ("get-id", 8, 0, 20, True)]:
        g = Guest()
        hdr = g.buf(struct.pack("<IIQ", typ, 0, sector))
        bufs = [(hdr, 16, False)]
        if data_len:
            bufs.append((g.buf(b"\x5a" * data_len), data_len, w))
        bufs.append((g.buf(size=1), 1, True))
        g.chain(0, bufs)
        out[name] = virtio_seed("blk", g)
    g = Guest()  # discard: one segment (sector, num_sectors, flags)
    hdr = g.buf(struct.pack("<IIQ", 11, 0, 0))
    seg = g.buf(struct.pack("<QII", 4, 8, 0))
    g.chain(1, [(hdr, 16, False), (seg, 16, False), (g.buf(size=1), 1, True)])
    out["discard-q1"] = virtio_seed("blk", g)
    # Config space reads (capacity at 0x100) and a bad request type.
    g = Guest()
    hdr = g.buf(struct.pack("<IIQ", 0x77, 0, 0))
    g.chain(0, [(hdr, 16, False), (g.buf(size=1), 1, True)])
    out["config-bad-type"] = virtio_seed("blk", g, [op(1, 4, 0x100), op(1, 4, 0x104),
                                                    op(1, 1, 0x114), op(0, 4, 0x100, 1)])
    return out


def net_seeds():
    frame = bytes(6) + b"\x02\0\0\0\0\x02" + b"\x08\x00" + b"\x45" * 46
    g = Guest()
    hdr = g.buf(bytes(12))
    g.chain(1, [(hdr, 12, False), (g.buf(frame), len(frame), False)])
    g.chain(0, [(g.buf(size=1526), 1526, True)])
    g.chain(0, [(g.buf(size=12), 12, True), (g.buf(size=1514), 1514, True)])
    # A frame in from the back-end: 60 bytes taken from the TX frame.
    src = hdr + 16
    return {"tx-rx": virtio_seed("net", g, [op(3, 1, src, len(frame)), op(6)]),
            "config": virtio_seed("net", Guest(), [op(1, 4, 0x100), op(1, 2, 0x104),
                                                  op(1, 2, 0x106)])}


def console_seeds():
    g = Guest()
    text = g.buf(b"hello from the guest\n")
    g.chain(1, [(text, 21, False)])
    g.chain(0, [(g.buf(size=64), 64, True)])
    return {"tx-rx": virtio_seed("console", g, [op(3, 1, text, 21), op(6)]),
            "config": virtio_seed("console", Guest(), [op(1, 2, 0x100), op(1, 2, 0x102),
                                                      op(1, 4, 0x104)])}


def rng_seeds():
    g = Guest()
    g.chain(0, [(g.buf(size=64), 64, True), (g.buf(size=32), 32, True)])
    g.chain(0, [(g.buf(size=16), 16, True)])
    bad = Guest()
    bad.chain(0, [(bad.buf(b"x" * 8), 8, False)])
    return {"fill": virtio_seed("rng", g), "readable": virtio_seed("rng", bad)}


per_device = {"blk": blk_seeds(), "net": net_seeds(), "console": console_seeds(),
              "rng": rng_seeds()}
for dev, seeds in per_device.items():
    for name, data in seeds.items():
        write("corpus-virtio-" + dev, name, data)
        # The transport targets get every device's seeds (byte 3 picks it).
        write("corpus-virtio-mmio", dev + "-" + name, data)
        write("corpus-virtio-pci", dev + "-" + name, data)
# Transport-level: registers by hand, no bring-up.
write("corpus-virtio-mmio", "registers", struct.pack("<BBBBQ", 0, 3, 6, 3, 0) +
      op(1, 4, 0x000) + op(0, 4, 0x070, 1) + op(0, 4, 0x070, 3) +
      op(0, 4, 0x030, 0) + op(1, 4, 0x034) + op(0, 4, 0x044, 1))
write("corpus-virtio-pci", "config-space", struct.pack("<BBBBQ", 0, 3, 8, 3, 0) +
      op(5, 4, 0x00) + op(5, 4, 0x10) + op(4, 4, 0x10, 0xffffffff) + op(5, 4, 0x10) +
      op(4, 4, 0x10, 0xe0000000) + op(5, 1, 0x34) + op(5, 4, 0x40) + op(4, 2, 0x04, 6))
