#!/usr/bin/env python3
"""Test-only adversary for test_push.sh (never shipped): a relay between two
pushing agents (A and B) and the verifier's --push-listen address. It talks
to the verifier as each agent (it was given their certificates and keys)
and passes polls and answers through, except that it writes the nonce the
verifier issued to A into B's next quote request: B's TPM then quotes over
a nonce that was issued to another host.

usage: push_relay.py PUSH_URL VERIFIER_THUMBPRINT CERT_A KEY_A CERT_B KEY_B WORKDIR
prints "thumbprint SHA256:..." (its own server certificate, for the agents'
--verifier-thumbprint) and "ports PORT_A PORT_B"."""
import hashlib
import http.client
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.parse

push_url, vthumb, cert_a, key_a, cert_b, key_b, work = sys.argv[1:8]
up = urllib.parse.urlparse(push_url)
os.makedirs(work, exist_ok=True)
crt, key = os.path.join(work, "relay.crt"), os.path.join(work, "relay.key")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                "-days", "1", "-subj", "/CN=relay"], check=True, capture_output=True)
state = {"nonce_a": None}
lock = threading.Lock()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def upstream(cert, keyf, path, body):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, keyf)
    c = http.client.HTTPSConnection(up.hostname, up.port, context=ctx, timeout=60)
    c.connect()
    der = c.sock.getpeercert(binary_form=True)
    if "SHA256:" + hashlib.sha256(der).hexdigest() != vthumb.replace("sha256:", "SHA256:"):
        raise RuntimeError("verifier thumbprint mismatch")
    c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def handler_for(who, cert, keyf):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            try:
                status, data = upstream(cert, keyf, self.path, body)
            except Exception as e:  # the agent sees a failure and retries
                log(f"{who}: upstream failed: {e}")
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if status == 200:
                m = json.loads(data)
                if m.get("path") == "/v1/quote" and isinstance(m.get("body"), dict):
                    with lock:
                        if who == "A":
                            state["nonce_a"] = m["body"]["nonce"]
                        elif state["nonce_a"]:
                            log(f"B: rewrote nonce {m['body']['nonce'][:16]}... "
                                f"with A's {state['nonce_a'][:16]}...")
                            m["body"]["nonce"] = state["nonce_a"]
                            data = json.dumps(m).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return H


servers = []
for who, c, k in (("A", cert_a, key_a), ("B", cert_b, key_b)):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(who, c, k))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    s.daemon_threads = True
    servers.append(s)
    threading.Thread(target=s.serve_forever, daemon=True).start()

der = ssl.PEM_cert_to_DER_cert(open(crt).read())
print("thumbprint SHA256:" + hashlib.sha256(der).hexdigest())
print("ports %d %d" % (servers[0].server_address[1], servers[1].server_address[1]), flush=True)
threading.Event().wait()
