#!/usr/bin/env python3
"""Test-only slow-client attacker for test_attacks_api.sh (never shipped).

slow_clients.py HOST PORT SRC_ADDR SILENT DRIP SECONDS

Opens DRIP TLS connections from SRC_ADDR that send an HTTP request one byte
every 0.5 s (never finishing it), then SILENT TCP connections that never
send a byte, and watches them all for SECONDS. Prints one JSON object:
  silent_open_1s / drip_open_1s   how many were still open after ~1 s
  silent_open_end / drip_open_end how many were still open at the end
  drip_closed_max_s               when the last dripper was closed (or null)
"""
import json
import resource
import select
import socket
import ssl
import sys
import time


def main():
    host, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n_silent, n_drip, seconds = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.monotonic()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    drip = []
    for _ in range(n_drip):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.bind((src, 0))
            s.connect((host, port))
            t = ctx.wrap_socket(s)
            t.setblocking(False)
            drip.append(t)
        except OSError:
            s.close()
    silent = []
    for _ in range(n_silent):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.bind((src, 0))
            s.connect((host, port))
            s.setblocking(False)
            silent.append(s)
        except OSError:
            s.close()
    req = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000
    closed = {}
    report = {"silent_connected": len(silent), "drip_connected": len(drip)}
    i = 0
    start = time.monotonic()
    marked = False
    while time.monotonic() - start < seconds:
        live = [s for s in silent + drip if s not in closed]
        if live:
            poller = select.poll()
            byfd = {}
            for s in live:
                poller.register(s.fileno(), select.POLLIN)
                byfd[s.fileno()] = s
            for fd, _ in poller.poll(500):
                s = byfd[fd]
                try:
                    data = s.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed[s] = time.monotonic() - start
        else:
            time.sleep(0.5)
        for s in drip:
            if s not in closed and i < len(req):
                try:
                    s.send(req[i:i + 1])
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    closed[s] = time.monotonic() - start
        i += 1
        if not marked and time.monotonic() - start >= 1.0:
            marked = True
            report["silent_open_1s"] = sum(1 for s in silent if s not in closed)
            report["drip_open_1s"] = sum(1 for s in drip if s not in closed)
            print("marked after %.1f s" % (time.monotonic() - t0), flush=True, file=sys.stderr)
    report["silent_open_end"] = sum(1 for s in silent if s not in closed)
    report["drip_open_end"] = sum(1 for s in drip if s not in closed)
    dc = [closed[s] for s in drip if s in closed]
    report["drip_closed_max_s"] = round(max(dc), 1) if dc else None
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(report), flush=True)


main()
