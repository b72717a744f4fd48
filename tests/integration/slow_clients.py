#!/usr/bin/env python3
"""Test-only slow-client attacker for test_attacks_api.sh (never shipped).

slow_clients.py HOST PORT SRC_ADDR SILENT DRIP SECONDS
slow_clients.py spread HOST PORT HEAVY_SRC HEAVY_N FIRST_SRC NSRC PER_SRC SECONDS

Opens DRIP TLS connections from SRC_ADDR that send an HTTP request one byte
every 0.5 s (never finishing it), then SILENT TCP connections that never
send a byte, and watches them all for SECONDS. Prints one JSON object:
  silent_open_1s / drip_open_1s   how many were still open after ~1 s
  silent_open_end / drip_open_end how many were still open at the end
  drip_closed_max_s               when the last dripper was closed (or null)

spread: many source addresses, each holding silent TCP connections. First
HEAVY_N from HEAVY_SRC, then PER_SRC from each of NSRC addresses counting up
from FIRST_SRC (127.0.0.X); "marked" on stderr once all are made; then it
watches them for SECONDS and prints one JSON object:
  heavy_connected / spread_connected  connections made
  heavy_open                          HEAVY_SRC's still open at the end
  spread_open_min / spread_open_max   per spread address, still open at the end
  total_open                          all still open at the end
"""
import json
import resource
import select
import socket
import ssl
import sys
import time


def silent_from(host, port, src, n):
    out = []
    for _ in range(n):
        s = socket.socket()
        # A loaded machine (the whole suite on 2 cores) can leave a SYN in
        # the listen backlog for over a second: wait for the connection
        # rather than count it as refused.
        s.settimeout(5)
        try:
            s.bind((src, 0))
            s.connect((host, port))
            s.setblocking(False)
            out.append(s)
        except OSError:
            s.close()
    return out


def watch(socks, seconds):
    """Poll until seconds pass; return the set of sockets the server closed."""
    closed = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        live = [s for s in socks if s not in closed]
        if not live:
            time.sleep(0.2)
            continue
        poller = select.poll()
        byfd = {}
        for s in live:
            poller.register(s.fileno(), select.POLLIN)
            byfd[s.fileno()] = s
        for fd, _ in poller.poll(200):
            s = byfd[fd]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(s)
    return closed


def spread(argv):
    host, port = argv[0], int(argv[1])
    heavy_src, heavy_n = argv[2], int(argv[3])
    first, nsrc, per = argv[4], int(argv[5]), int(argv[6])
    seconds = float(argv[7])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.monotonic()
    heavy = silent_from(host, port, heavy_src, heavy_n)
    base = first.rsplit(".", 1)
    groups = [silent_from(host, port, "%s.%d" % (base[0], int(base[1]) + i), per)
              for i in range(nsrc)]
    print("marked after %.1f s" % (time.monotonic() - t0), flush=True, file=sys.stderr)
    allsocks = heavy + [s for g in groups for s in g]
    closed = watch(allsocks, seconds)
    still = [sum(1 for s in g if s not in closed) for g in groups]
    report = {
        "heavy_connected": len(heavy),
        "spread_connected": sum(len(g) for g in groups),
        "heavy_open": sum(1 for s in heavy if s not in closed),
        "spread_open_min": min(still) if still else 0,
        "spread_open_max": max(still) if still else 0,
        "total_open": sum(1 for s in allsocks if s not in closed),
        "elapsed_s": round(time.monotonic() - t0, 1),
    }
    for s in allsocks:
        s.close()
    print(json.dumps(report), flush=True)


def main():
    if sys.argv[1] == "spread":
        spread(sys.argv[2:])
        return
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
        # A loaded machine (the whole suite on 2 cores) can leave a SYN in
        # the listen backlog for over a second: wait for the connection
        # rather than count it as refused.
        s.settimeout(5)
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
