#!/usr/bin/env python3
"""POST /v1/quote to an attest-agent COUNT times over one kept-alive TLS
connection (client certificate = a pinned verifier), for the leak test and
`make bench`.

    agent_quote_loop.py --port P --cert C --key K --count N [--pid PID]
                        [--sample-at N]...

Prints one line per sample point:
"after N quotes: rss_kb R private_kb P private_dirty_kb D" (from
/proc/PID/smaps_rollup: Rss, Private_Clean + Private_Dirty, Private_Dirty;
each the lowest of 15 readings over 1.5 s of idleness). Private_Clean counts
library pages no other process maps at that moment, so it moves with what
else runs on the machine; Private_Dirty is the process's own. At the
end "latency_ms min M median M p99 M max M". Exits 1 on any answer that is
not 200.
"""
import argparse
import http.client
import json
import os
import ssl
import sys
import time


def memory(pid):
    """(Rss, Private_Clean + Private_Dirty, Private_Dirty) in kB."""
    rss = priv = dirty = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Rss":
                rss = int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                priv += int(v.split()[0])
                if k == "Private_Dirty":
                    dirty = int(v.split()[0])
    return rss, priv, dirty


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--sample-at", type=int, action="append", default=[])
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test pins the agent elsewhere
    ctx.load_cert_chain(args.cert, args.key)
    conn = None
    lat = []
    samples = set(args.sample_at)
    for i in range(1, args.count + 1):
        body = json.dumps({"nonce": os.urandom(32).hex()})
        t0 = time.monotonic()
        for attempt in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection("127.0.0.1", args.port, context=ctx,
                                                       timeout=60)
                conn.request("POST", "/v1/quote", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                # the agent drops idle or long-lived connections: reconnect once
                if conn is not None:
                    conn.close()
                conn = None
                if attempt == 1:
                    raise
        lat.append((time.monotonic() - t0) * 1000.0)
        if r.status != 200:
            print("quote %d: HTTP %d %s" % (i, r.status, data[:200]), file=sys.stderr)
            return 1
        if i in samples and args.pid:
            # idle figures: the agent trims its free pages 200 ms after its
            # last job, and a loaded machine may run that late; read every
            # 100 ms for 1.5 s and keep the lowest of each figure, so a
            # reading neither catches a connection's buffers in flight nor
            # comes before the trim
            readings = []
            for _ in range(15):
                time.sleep(0.1)
                readings.append(memory(args.pid))
            rss, priv, dirty = (min(m[k] for m in readings) for k in range(3))
            print("after %d quotes: rss_kb %d private_kb %d private_dirty_kb %d" %
                  (i, rss, priv, dirty), flush=True)
    lat.sort()
    n = len(lat)
    print("latency_ms min %.1f median %.1f p99 %.1f max %.1f" %
          (lat[0], lat[n // 2], lat[min(n - 1, (n * 99) // 100)], lat[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
