#!/usr/bin/env python3
"""Verifier memory per connected pushing agent (make bench-push).

Adds N push hosts (each with its own client certificate), disconnects them
(operator intent: nothing is scheduled, so the verifier only holds their
polls), then opens N idle mutual-TLS long polls to --push-listen, one per
certificate, the way attest-agent --push does (POST /push/v1/poll, held by
the verifier up to 25 s, answered 204, polled again). Prints the verifier's
resident memory before and after, and the difference per connection.

usage: push_idle.py API_URL TOKEN_FILE PUSH_URL VERIFIER_PID N WORKDIR

With PUSH_IDLE_AT_PEAK set, that shell command runs while the polls are
still held, after the measurement (make bench-push HEAPTRACK=1 stops the
verifier there to read its live heap)."""
import asyncio
import datetime
import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

api, token_file, push_url, vpid, n, work = sys.argv[1:7]
vpid, n = int(vpid), int(n)
token = open(token_file).read().strip()
pu = urllib.parse.urlparse(push_url)
au = urllib.parse.urlparse(api)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_certs():
    """One key, N self-signed certificates (distinct thumbprints)."""
    key = ec.generate_private_key(ec.SECP256R1())
    kp = os.path.join(work, "bench.key")
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    now = datetime.datetime.now(datetime.timezone.utc)
    out = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"push-bench-{i}")])
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(key.public_key()).serial_number(i + 1)
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
        p = os.path.join(work, f"bench{i}.crt")
        with open(p, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
        tp = "SHA256:" + c.fingerprint(hashes.SHA256()).hex()
        out.append((p, tp))
    return kp, out


def api_call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Authorization": "Bearer " + token,
                          "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")


def add_hosts(certs):
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(au.hostname, au.port, context=ctx, timeout=30)
    for i, (_, tp) in enumerate(certs):
        api_call(conn, "POST", "/api/v1/hosts",
                 {"mode": "push", "name": f"push-bench-{i}", "thumbprint": tp})
        api_call(conn, "POST", f"/api/v1/hosts/push-bench-{i}/disconnect")


held = 0


async def agent(cert, key, stop):
    """One idle pushing agent: poll, wait for the answer, poll again."""
    global held
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    reader, writer = await asyncio.open_connection(pu.hostname, pu.port, ssl=ctx)
    req = (f"POST /push/v1/poll HTTP/1.1\r\nHost: {pu.hostname}\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    while not stop.is_set():
        writer.write(req)
        await writer.drain()
        held += 1
        line = await reader.readline()
        held -= 1
        if not line:
            return
        length = 0
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        if length:
            await reader.readexactly(length)
        if not line.startswith(b"HTTP/1.1 204"):
            await asyncio.sleep(1)


async def run(certs, key):
    stop = asyncio.Event()
    before = rss_kb(vpid)
    tasks = []
    for cert, _ in certs:
        tasks.append(asyncio.create_task(agent(cert, key, stop)))
        if len(tasks) % 100 == 0:
            await asyncio.sleep(0.2)  # a fleet connects over a moment, not in one burst
    t0 = time.monotonic()
    while held < n and time.monotonic() - t0 < 60:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # let the verifier settle (its writes of the attaches)
    after = rss_kb(vpid)
    h = held
    if os.environ.get("PUSH_IDLE_AT_PEAK"):
        await asyncio.to_thread(subprocess.run, os.environ["PUSH_IDLE_AT_PEAK"], shell=True)
    stop.set()
    for t in tasks:
        t.cancel()
    return before, after, h


def main():
    os.makedirs(work, exist_ok=True)
    t = time.monotonic()
    key, certs = make_certs()
    add_hosts(certs)
    print(f"push bench: {n} push hosts added in {time.monotonic() - t:.1f} s", flush=True)
    before, after, h = asyncio.run(run(certs, key))
    per = (after - before) / max(h, 1)
    print(f"push bench: verifier RSS {before} KB with no pushing agent connected")
    print(f"push bench: verifier RSS {after} KB with {h} idle long polls held "
          f"({h} of {n} connected)")
    print(f"push bench: {per:.1f} KB of verifier memory per connected pushing agent")


main()
