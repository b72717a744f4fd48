#!/usr/bin/env python3
"""Print the Authenticode SHA-256 of PE files (what UEFI firmware and shim
measure for an EV_EFI_BOOT_SERVICES_APPLICATION): the image hashed without
its checksum, its certificate-table entry and the certificate table. Used by
test_vm_tis.sh to tie the boot applications in a VM's event log to the
exact shim, grub and kernel files from Debian's packages."""
import hashlib
import struct
import sys


def authenticode_sha256(data: bytes) -> str:
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe:pe + 4] != b"PE\0\0":
        raise ValueError("not a PE image")
    opt = pe + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    dirs = opt + (112 if magic == 0x20B else 96)
    checksum = opt + 64
    certdir = dirs + 4 * 8
    size_headers = struct.unpack_from("<I", data, opt + 60)[0]
    cert_off, cert_len = struct.unpack_from("<II", data, certdir)
    end = cert_off if cert_off and cert_len else len(data)
    h = hashlib.sha256()
    h.update(data[:checksum])
    h.update(data[checksum + 4:certdir])
    h.update(data[certdir + 8:size_headers])
    h.update(data[size_headers:end])
    return h.hexdigest()


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        print(authenticode_sha256(f.read()))
