#!/usr/bin/env python3
"""What the verifier's live heap holds, per host (make bench-fleet-swarm HEAPTRACK=1).

Reads heaptrack's folded stacks of the memory still allocated when the
verifier was stopped with SIGKILL in steady state (heaptrack_print -F FILE
--flamegraph-cost-type leaked), sorts every allocation into the part of a
host it belongs to by the functions on its stack, and prints KB per host.

usage: heap_breakdown.py HOSTS FOLDED"""
import collections
import re
import sys

# (part, pattern on the stack), first match wins.
PARTS = [
    ("SQLite (page caches, statements)", r"sqlite3"),
    ("TLS sessions kept to resume (https_client)", r"sess_new_cb"),
    ("boot digests (catalog lookups, appraise_cache)", r"appraise_boot_digests_set|boot_get"),
    ("memo: the enrolled AK as an OpenSSL key", r"tpm_public_to_pkey|memo_ak_key|quote_ak"),
    ("memo: replayed PCRs, conclusions, components", r"verify_memo|memo_save|step_replay|verify_run|copy_text|appraise_memo|run_pipeline"),
    ("push: held polls and channels", r"dispatch \(https_server\.c\)|\(push\.c\)"),
    ("peer certificates (parsed X509)", r"ASN1_item_d2i|X509_new_ex"),
    ("TLS connections: SSL objects", r"SSL_new"),
    ("libevent: connections, bufferevents, requests", r"evhttp|bufferevent|event_new|evbuffer"),
    ("TLS connections: keys, transcript, session", r"event_base_loop"),
]


def main():
    hosts, path = int(sys.argv[1]), sys.argv[2]
    parts = [(name, re.compile(p)) for name, p in PARTS]
    agg = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            n = int(n) if n.isdigit() else 0
            if not n:
                continue
            total += n
            agg[next((name for name, rx in parts if rx.search(stack)), "other")] += n
    print(f"  live heap at the stop: {total / 1048576:.1f} MB, {total / hosts / 1024:.1f} KB/host")
    for name, n in agg.most_common():
        print(f"    {n / hosts / 1024:5.1f} KB/host  {name}")


main()
