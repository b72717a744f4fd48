#!/usr/bin/env python3
"""Edit the text of grub's EV_IPL events in a crypto-agile TCG event log.

usage: edit_eventlog.py IN OUT FROM TO [--keep-digests]

Every EV_IPL event (PCR 8) whose data contains FROM gets TO instead. By
default each edited event's digests are recomputed under grub's rule (the
hash of the text after its prefix, without or with the NUL, whichever the
original matched), so OUT is the log of a host that really booted TO: boot
a simulated host from it and its PCRs hold TO's measurements. With
--keep-digests the digests stay those of the original text: a log that
lies about its content while it still replays.

Test-only (test_attacks_software.sh); prints how many events it edited.
"""
import hashlib
import struct
import sys

EV_NO_ACTION = 0x03
EV_IPL = 0x0D
ALGS = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
PREFIXES = [b"grub_cmd: ", b"kernel_cmdline: ", b"module_cmdline: ",
            b"grub_kernel_cmdline ", b"grub_cmd "]


def payload_variants(data):
    for p in PREFIXES:
        if data.startswith(p):
            rest = data[len(p):]
            nul = rest.find(b"\0")
            text = rest if nul < 0 else rest[:nul]
            return [text, text + b"\0"] if nul >= 0 else [text]
    return []


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    keep = "--keep-digests" in sys.argv
    if len(args) != 4:
        sys.exit(__doc__)
    src, dst, frm, to = args[0], args[1], args[2].encode(), args[3].encode()
    buf = open(src, "rb").read()
    # Header: TCG_PCClientPCREvent (SHA-1 format) carrying Spec ID Event03.
    pcr, typ = struct.unpack_from("<II", buf, 0)
    size = struct.unpack_from("<I", buf, 28)[0]
    hdr_data = buf[32:32 + size]
    if typ != EV_NO_ACTION or not hdr_data.startswith(b"Spec ID Event03\0"):
        sys.exit("not a crypto-agile log")
    nalg = struct.unpack_from("<I", hdr_data, 24)[0]
    sizes = {}
    for i in range(nalg):
        alg, dsz = struct.unpack_from("<HH", hdr_data, 28 + 4 * i)
        sizes[alg] = dsz
    out = bytearray(buf[:32 + size])
    off = 32 + size
    edited = 0
    while off + 12 <= len(buf):
        pcr, typ, count = struct.unpack_from("<III", buf, off)
        if pcr == 0xFFFFFFFF or count == 0 or count > 8:
            break  # trailing padding
        p = off + 12
        digests = []
        for _ in range(count):
            alg = struct.unpack_from("<H", buf, p)[0]
            dsz = sizes[alg]
            digests.append((alg, buf[p + 2:p + 2 + dsz]))
            p += 2 + dsz
        dlen = struct.unpack_from("<I", buf, p)[0]
        data = buf[p + 4:p + 4 + dlen]
        off = p + 4 + dlen
        if typ == EV_IPL and frm in data and payload_variants(data):
            new = data.replace(frm, to)
            if not keep:
                old_v, new_v = payload_variants(data), payload_variants(new)
                nd = []
                for alg, d in digests:
                    if alg not in ALGS:
                        sys.exit("bank 0x%04x cannot be recomputed" % alg)
                    idx = [i for i, v in enumerate(old_v)
                           if hashlib.new(ALGS[alg], v).digest() == d]
                    if not idx:
                        sys.exit("event digest follows no grub rule")
                    nd.append((alg, hashlib.new(ALGS[alg], new_v[idx[0]]).digest()))
                digests = nd
            data = new
            edited += 1
        out += struct.pack("<III", pcr, typ, count)
        for alg, d in digests:
            out += struct.pack("<H", alg) + d
        out += struct.pack("<I", len(data)) + data
    out += buf[off:]
    open(dst, "wb").write(out)
    print(edited)


main()
