#!/usr/bin/env python3
"""Test receivers for notifications (test_notify*.sh).

  notify_receiver.py https PORTFILE LOG CERT KEY SECRETFILE [PORT]
      An HTTPS server on 127.0.0.1 (PORT, or a free one written to PORTFILE).
      Every POST is checked (Content-Type, Idempotency-Key equal to the body's
      idempotency_key, X-Attest-Signature = sha256=HMAC-SHA256(secret, body))
      and appended to LOG as one JSON line; it answers 200, or 400 on a path
      starting with /reject, or 503 on /busy.
  notify_receiver.py syslog-unix SOCKET LOG
      A unix datagram socket; every datagram parsed as RFC 5424.
  notify_receiver.py syslog-tcp PORTFILE LOG [CERT KEY]
      A TCP (or TLS) server; the stream is split by RFC 6587 octet counting
      and each message parsed as RFC 5424.
Parsed syslog messages are appended to LOG as JSON lines with the header
fields and the structured data's parameters (or "error")."""
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import sys
import threading

lock = threading.Lock()


def append(log, obj):
    with lock, open(log, "a") as f:
        f.write(json.dumps(obj) + "\n")


def https(portfile, log, cert, key, secretfile, port=0):
    secret = open(secretfile, "rb").read().rstrip(b"\r\n")

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            rec = {"path": self.path}
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            got = self.headers.get("X-Attest-Signature", "")
            rec["sig_ok"] = hmac.compare_digest(want, got)
            rec["ctype_ok"] = self.headers.get("Content-Type") == "application/json"
            rec["key"] = self.headers.get("Idempotency-Key")
            rec["key_ok"] = bool(doc) and rec["key"] == doc.get("idempotency_key")
            rec["doc"] = doc
            append(log, rec)
            status = 400 if self.path.startswith("/reject") else \
                503 if self.path.startswith("/busy") else 200
            out = b'{"ok":true}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    class S(http.server.ThreadingHTTPServer):
        allow_reuse_address = True

    srv = S(("127.0.0.1", int(port)), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


# <PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID [SD-ID params] MSG
FRAME = re.compile(rb'^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[(?:[^\]\\]|\\.)*\])(?: (.*))?$',
                   re.S)
PARAM = re.compile(rb'([^= \]"]+)="((?:[^"\\]|\\.)*)"')


def parse(msg):
    m = FRAME.match(msg)
    if not m:
        return {"error": "not RFC 5424", "raw": msg.decode("utf-8", "replace")}
    pri, ts, host, app, proc, msgid, sd, text = m.groups()
    out = {"pri": int(pri), "timestamp": ts.decode(), "hostname": host.decode(),
           "app": app.decode(), "procid": proc.decode(), "msgid": msgid.decode(),
           "msg": (text or b"").decode("utf-8", "replace"), "sd": {}}
    if sd != b"-":
        sdid = sd[1:].split(b" ", 1)[0].rstrip(b"]")
        out["sd_id"] = sdid.decode()
        for k, v in PARAM.findall(sd):
            out["sd"][k.decode()] = re.sub(rb"\\(.)", rb"\1", v).decode()
    return out


def syslog_unix(path, log):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    while True:
        data = s.recv(65536)
        append(log, parse(data))


def syslog_tcp(portfile, log, cert=None, key=None):
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

    class H(socketserver.BaseRequestHandler):
        def handle(self):
            conn = self.request
            if ctx:
                try:
                    conn = ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            buf = b""
            while True:
                try:
                    d = conn.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    break
                buf += d
                while True:
                    m = re.match(rb"^([1-9][0-9]{0,5}) ", buf)
                    if not m:
                        if buf and not re.match(rb"^[0-9]{0,6}$", buf):
                            append(log, {"error": "bad octet count", "raw": buf[:40].decode("latin1")})
                            return
                        break
                    n = int(m.group(1))
                    if len(buf) < m.end() + n:
                        break
                    append(log, parse(buf[m.end():m.end() + n]))
                    buf = buf[m.end() + n:]

    class S(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = S(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "https":
        https(*sys.argv[2:])
    elif mode == "syslog-unix":
        syslog_unix(*sys.argv[2:])
    elif mode == "syslog-tcp":
        syslog_tcp(*sys.argv[2:])
    else:
        sys.exit("unknown mode " + mode)
