"""Baseline B of benches/apply.rs: kazoo creating the bench tree one `create` at a time.

Usage: kazoo_create.py HOSTS ROOT N
Creates ROOT, the groups ROOT/gGGGG and N leaves ROOT/gGGGG/nIIIIII with the same 100-byte
values as the Rust side (see `value` in apply.rs), each with one awaited `client.create`.
Prints {"seconds": S, "nodes": C}: time from after the session is connected to the last create
(connecting is excluded).
"""
import json
import sys
import time

from kazoo.client import KazooClient

GROUPS = 100
VALUE_BYTES = 100


def value(i):
    s = "value-%07d-" % i
    while len(s) < VALUE_BYTES:
        s += chr(ord("a") + len(s) % 26)
    return s.encode()


def main():
    hosts, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    groups = max(1, min(GROUPS, n))
    client = KazooClient(hosts=hosts, timeout=30.0)
    client.start(timeout=30)
    start = time.perf_counter()
    client.create(root, b"")
    for g in range(groups):
        client.create("%s/g%04d" % (root, g), b"")
    for i in range(n):
        client.create("%s/g%04d/n%06d" % (root, i % groups, i), value(i))
    elapsed = time.perf_counter() - start
    client.stop()
    client.close()
    print(json.dumps({"seconds": elapsed, "nodes": 1 + groups + n}))


if __name__ == "__main__":
    main()
