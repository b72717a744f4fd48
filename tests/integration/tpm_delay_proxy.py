#!/usr/bin/env python3
"""A slow TPM for tests and `make bench`: sits between a swtpm TCTI and swtpm.

    tpm_delay_proxy.py --upstream PORT --counts FILE [--delay CC=SECONDS]...

swtpm serves raw TPM commands on its data port P and its control channel on
P+1; the swtpm TCTI ("swtpm:host=127.0.0.1,port=P") talks to both. The proxy
listens on two consecutive loopback ports L and L+1 (prints "port L" once
ready), passes the control channel through untouched, and on the data channel
reads each command (header: tag, size, command code), waits the delay set for
its command code, forwards it, and relays the response. The defaults make
swtpm answer like a discrete chip: 2 s for TPM2_CreatePrimary, 300 ms for
TPM2_Create, TPM2_Sign and TPM2_Quote.

After every command it rewrites FILE (atomically) with the counts of commands
forwarded and of those answered with success, by name, e.g.
{"Quote": {"sent": 3, "ok": 3, "tpm_ms": 12.5}, ...} (a TPM may answer
TPM_RC_RETRY and get the command again; tpm_ms is swtpm's own time, without
the added delay), so a test can say exactly what the TPM was asked to do.
SIGTERM stops it.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

NAMES = {
    0x12A: "NV_DefineSpace", 0x131: "CreatePrimary",
    0x137: "NV_Write", 0x144: "Startup", 0x145: "Shutdown", 0x147: "ActivateCredential",
    0x148: "Certify", 0x14E: "NV_Read", 0x151: "PolicySecret", 0x153: "Create",
    0x157: "Load", 0x158: "Quote", 0x15D: "Sign", 0x161: "ContextLoad",
    0x162: "ContextSave", 0x165: "FlushContext", 0x169: "NV_ReadPublic",
    0x173: "ReadPublic", 0x176: "StartAuthSession", 0x17A: "GetCapability",
    0x17E: "PCR_Read", 0x181: "ReadClock", 0x182: "PCR_Extend", 0x171: "PolicyOR",
    0x17B: "GetRandom", 0x120: "EvictControl", 0x122: "NV_UndefineSpace",
}
DELAYS = {0x131: 2.0, 0x153: 0.3, 0x15D: 0.3, 0x158: 0.3}
MAX_CMD = 1 << 16

lock = threading.Lock()
counts = {}


def name_of(cc):
    return NAMES.get(cc, "0x%08x" % cc)


def write_counts(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f, sort_keys=True)
    os.replace(tmp, path)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_message(s):
    hdr = read_exact(s, 10)
    if hdr is None:
        return None, None
    _, size, code = struct.unpack(">HII", hdr)
    if size < 10 or size > MAX_CMD:
        return None, None
    rest = read_exact(s, size - 10)
    if rest is None:
        return None, None
    return hdr + rest, code


log_path = None
delays_path = None


def serve_data(client, upstream_port, counts_path):
    try:
        up = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        client.close()
        return
    try:
        while True:
            cmd, cc = read_message(client)
            if cmd is None:
                break
            delay = DELAYS.get(cc, 0.0)
            if delays_path:
                try:
                    with open(delays_path) as f:
                        delay = float(json.load(f).get(name_of(cc), delay))
                except (OSError, ValueError):
                    pass
            if delay:
                time.sleep(delay)
            t0 = time.monotonic()
            up.sendall(cmd)
            resp, rc = read_message(up)
            tpm_ms = (time.monotonic() - t0) * 1000.0
            if resp is None:
                break
            with lock:
                c = counts.setdefault(name_of(cc), {"sent": 0, "ok": 0, "tpm_ms": 0.0})
                c["sent"] += 1
                c["ok"] += rc == 0
                c["tpm_ms"] = round(c["tpm_ms"] + tpm_ms, 3)
                write_counts(counts_path)
            if log_path:
                with lock, open(log_path, "a") as f:
                    f.write("%s 0x%08x\n" % (name_of(cc), rc))
            client.sendall(resp)
    except OSError:
        pass
    finally:
        up.close()
        client.close()


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve_ctrl(client, upstream_port):
    try:
        up = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(up, client), daemon=True).start()
    pipe(client, up)


def listen_pair():
    for _ in range(50):
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        a.listen(16)
        b.listen(16)
        return port, a, b
    sys.exit("tpm_delay_proxy: no free pair of ports")


def accept_loop(sock, handler, *args):
    while True:
        c, _ = sock.accept()
        threading.Thread(target=handler, args=(c,) + args, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", type=int, required=True, help="swtpm data port")
    ap.add_argument("--counts", required=True, help="file for the command counts (JSON)")
    ap.add_argument("--delay", action="append", default=[],
                    help="CC=SECONDS (CC in hex, e.g. 0x158=0.3); repeatable")
    ap.add_argument("--no-delay", action="store_true", help="count only")
    ap.add_argument("--log", help="append each command's name and response code here")
    ap.add_argument("--delays-file",
                    help="JSON {NAME: SECONDS} read before each command when it exists; "
                    "overrides the delays (a test can make one command hang)")
    args = ap.parse_args()
    if args.no_delay:
        DELAYS.clear()
    for d in args.delay:
        cc, sec = d.split("=", 1)
        DELAYS[int(cc, 16)] = float(sec)
    global log_path, delays_path
    log_path = args.log
    delays_path = args.delays_file
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    port, data, ctrl = listen_pair()
    with lock:
        write_counts(args.counts)
    threading.Thread(target=accept_loop, args=(ctrl, serve_ctrl, args.upstream + 1),
                     daemon=True).start()
    print("port %d" % port, flush=True)
    accept_loop(data, serve_data, args.upstream, args.counts)


if __name__ == "__main__":
    main()
