#!/usr/bin/env python3
"""A small CLI over kazoo 2.11's recipes, driven by zkstate's Rust interop tests.

Usage: kazoo_tool.py SUBCOMMAND HOSTS ARGS...

Every subcommand prints its result as one JSON line on stdout and exits 0; on error it prints
a message on stderr and exits 1 (2 for bad usage). "Hold" subcommands (lock-hold, election-run,
json-register) print a line `READY {json}` once their node exists, then hold it until stdin is
closed or a line `release` arrives, then clean up and exit 0.

Subcommands:
  lock-hold HOSTS PATH IDENT              hold Lock(path, identifier)          READY {"node"}
  lock-try HOSTS PATH IDENT TIMEOUT       {"acquired": bool} (released at once)
  lock-contenders HOSTS PATH              Lock(path).contenders()              [ident, ...]
  election-run HOSTS PATH IDENT           contend in Election(path, ident)     READY {"node"}
  contenders HOSTS PATH                   Election(path).contenders()          [ident, ...]
  queue-put HOSTS PATH ITEM [PRIORITY]    Queue.put(item, priority)            {"ok": true}
  queue-get HOSTS PATH N                  up to N x Queue.get()                [item, ...]
  queue-len HOSTS PATH                    len(Queue)                           N
  lqueue-put HOSTS PATH ITEM [PRIORITY]   LockingQueue.put                     {"ok": true}
  lqueue-get HOSTS PATH N [TIMEOUT]       up to N x LockingQueue.get + consume [item, ...]
  lqueue-len HOSTS PATH                   len(LockingQueue)                    N
  counter-get HOSTS PATH [--curator]      Counter(path, support_curator).value N
  counter-set HOSTS PATH VALUE [--curator]  counter += VALUE - value           N (new value)
  json-register HOSTS PATH JSONTEXT       ephemeral node with JSONTEXT         READY {"path"}
  get HOSTS PATH                          {"data_b64","data","ephemeral","version"} | null
  children HOSTS PATH                     sorted children | null
  try-set HOSTS PATH DATA                 set(path, DATA), any version         {"ok": true} | {"error": NAME}
  try-create HOSTS PATH DATA              create(path, DATA), open ACL         {"ok": true} | {"error": NAME}
  try-set-acl HOSTS PATH                  set_acls(path, world:anyone:all)     {"ok": true} | {"error": NAME}
  get-acl HOSTS PATH                      get_acls(path)                       [{"scheme","id","perms"}] | null
  create-auth HOSTS PATH DATA             create(path, DATA, makepath) with the ACL auth::all (every
                                          identity of this session; missing parents get it too), read
                                          back                                 {"path", "acl": [...]}

Items are UTF-8 strings. "perms" is ZooKeeper's bit mask (31 = all).

Environment (every subcommand):
  ZKTOOL_SESSION_MS          session timeout in milliseconds (default 10000)
  ZKTOOL_CONNECT_TIMEOUT_S   how long to try connecting before exit 1 (default 30)
  ZKTOOL_TLS_CA              PEM CA file: connect over TLS (use_ssl=True, verify_certs=True)
  ZKTOOL_TLS_CERT, ZKTOOL_TLS_KEY
                             PEM client certificate and unencrypted key (both or neither)
  ZKTOOL_TLS_CHECK_HOSTNAME  "0" to skip matching the server certificate against the host name
                             (default: checked, so connect as localhost or 127.0.0.1)
  ZKTOOL_SASL                digest-md5:USER:PASSWORD authenticates with SASL DIGEST-MD5
                             (needs the pure-sasl package; PASSWORD may contain ':')
"""

import base64
import json
import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, Permissions


class UsageError(Exception):
    pass


def emit(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def ready(info):
    sys.stdout.write("READY " + json.dumps(info) + "\n")
    sys.stdout.flush()


def hold():
    """Blocks until stdin is closed or a line `release` arrives."""
    for line in sys.stdin:
        if line.strip() == "release":
            return


def security_options(env):
    """KazooClient keyword arguments for the ZKTOOL_TLS_* and ZKTOOL_SASL variables."""
    options = {}
    ca, cert, key = (env.get("ZKTOOL_TLS_" + name) for name in ("CA", "CERT", "KEY"))
    if bool(cert) != bool(key):
        raise UsageError("ZKTOOL_TLS_CERT and ZKTOOL_TLS_KEY go together")
    if cert and not ca:
        raise UsageError("ZKTOOL_TLS_CERT needs ZKTOOL_TLS_CA")
    if ca:
        options.update(
            use_ssl=True,
            verify_certs=True,
            ca=ca,
            check_hostname=env.get("ZKTOOL_TLS_CHECK_HOSTNAME", "1") != "0",
        )
        if cert:
            options.update(certfile=cert, keyfile=key)
    sasl = env.get("ZKTOOL_SASL")
    if sasl:
        mechanism, _, credentials = sasl.partition(":")
        user, sep, password = credentials.partition(":")
        if mechanism.lower() != "digest-md5" or not sep:
            raise UsageError("ZKTOOL_SASL must be digest-md5:USER:PASSWORD")
        options["sasl_options"] = {
            "mechanism": "DIGEST-MD5",
            "username": user,
            "password": password,
        }
    return options


def connect(hosts):
    timeout = float(os.environ.get("ZKTOOL_SESSION_MS", "10000")) / 1000.0
    connect_timeout = float(os.environ.get("ZKTOOL_CONNECT_TIMEOUT_S", "30"))
    client = KazooClient(hosts=hosts, timeout=timeout, **security_options(os.environ))
    try:
        client.start(timeout=connect_timeout)
    except Exception:
        client.close()
        raise
    return client


def close(client):
    client.stop()
    client.close()


def args_exactly(args, names, optional=()):
    if not (len(names) <= len(args) <= len(names) + len(optional)):
        raise UsageError("expected " + " ".join(list(names) + ["[%s]" % o for o in optional]))
    return args + [None] * (len(names) + len(optional) - len(args))


def split_flag(args, flag):
    return [a for a in args if a != flag], flag in args


def lock_hold(client, args):
    path, ident = args_exactly(args, ["PATH", "IDENT"])
    lock = client.Lock(path, ident)
    lock.acquire()
    ready({"node": lock.node})
    hold()
    lock.release()


def lock_try(client, args):
    path, ident, timeout = args_exactly(args, ["PATH", "IDENT", "TIMEOUT"])
    lock = client.Lock(path, ident)
    try:
        acquired = lock.acquire(timeout=float(timeout))
    except LockTimeout:
        acquired = False
    if acquired:
        lock.release()
    emit({"acquired": bool(acquired)})


def lock_contenders(client, args):
    (path,) = args_exactly(args, ["PATH"])
    emit(client.Lock(path).contenders())


def election_run(client, args):
    path, ident = args_exactly(args, ["PATH", "IDENT"])
    election = client.Election(path, ident)
    stop = threading.Event()
    failure = []

    def lead():
        stop.wait()

    def run():
        try:
            election.run(lead)
        except Exception as exc:  # cancelled while waiting, or session trouble
            if not stop.is_set():
                failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while election.lock.node is None:
        if failure:
            raise failure[0]
        if time.monotonic() > deadline:
            raise RuntimeError("election node not created within 30 s")
        time.sleep(0.01)
    ready({"node": election.lock.node})
    hold()
    stop.set()
    election.cancel()
    thread.join(10)


def contenders(client, args):
    (path,) = args_exactly(args, ["PATH"])
    emit(client.Election(path).contenders())


def priority_of(value):
    return 100 if value is None else int(value)


def queue_put(client, args):
    path, item, priority = args_exactly(args, ["PATH", "ITEM"], ["PRIORITY"])
    client.Queue(path).put(item.encode("utf-8"), priority=priority_of(priority))
    emit({"ok": True})


def queue_get(client, args):
    path, n = args_exactly(args, ["PATH", "N"])
    queue = client.Queue(path)
    items = []
    for _ in range(int(n)):
        item = queue.get()
        if item is None:
            break
        items.append(item.decode("utf-8"))
    emit(items)


def queue_len(client, args):
    (path,) = args_exactly(args, ["PATH"])
    emit(len(client.Queue(path)))


def lqueue_put(client, args):
    path, item, priority = args_exactly(args, ["PATH", "ITEM"], ["PRIORITY"])
    client.LockingQueue(path).put(item.encode("utf-8"), priority=priority_of(priority))
    emit({"ok": True})


def lqueue_get(client, args):
    path, n, timeout = args_exactly(args, ["PATH", "N"], ["TIMEOUT"])
    queue = client.LockingQueue(path)
    timeout = 1.0 if timeout is None else float(timeout)
    items = []
    for _ in range(int(n)):
        item = queue.get(timeout=timeout)
        if item is None:
            break
        items.append(item.decode("utf-8"))
        if not queue.consume():
            raise RuntimeError("failed to consume a LockingQueue item")
    emit(items)


def lqueue_len(client, args):
    (path,) = args_exactly(args, ["PATH"])
    emit(len(client.LockingQueue(path)))


def counter_get(client, args):
    args, curator = split_flag(args, "--curator")
    (path,) = args_exactly(args, ["PATH"])
    emit(client.Counter(path, support_curator=curator).value)


def counter_set(client, args):
    args, curator = split_flag(args, "--curator")
    path, value = args_exactly(args, ["PATH", "VALUE"])
    counter = client.Counter(path, support_curator=curator)
    counter += int(value) - counter.value
    emit(counter.post_value)


def json_register(client, args):
    path, text = args_exactly(args, ["PATH", "JSONTEXT"])
    json.loads(text)  # refuse to register something that is not JSON
    created = client.create(path, text.encode("utf-8"), ephemeral=True, makepath=True)
    ready({"path": created})
    hold()


def get(client, args):
    (path,) = args_exactly(args, ["PATH"])
    try:
        data, stat = client.get(path)
    except NoNodeError:
        emit(None)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    emit(
        {
            "data_b64": base64.b64encode(data).decode("ascii"),
            "data": text,
            "ephemeral": stat.ephemeralOwner != 0,
            "version": stat.version,
        }
    )


def children(client, args):
    (path,) = args_exactly(args, ["PATH"])
    try:
        emit(sorted(client.get_children(path)))
    except NoNodeError:
        emit(None)


def acl_json(acls):
    return [{"scheme": a.id.scheme, "id": a.id.id, "perms": a.perms} for a in acls]


def get_acl(client, args):
    (path,) = args_exactly(args, ["PATH"])
    try:
        acls, _ = client.get_acls(path)
    except NoNodeError:
        emit(None)
        return
    emit(acl_json(acls))


def create_auth(client, args):
    path, data = args_exactly(args, ["PATH", "DATA"])
    created = client.create(
        path, data.encode("utf-8"), acl=[ACL(Permissions.ALL, Id("auth", ""))], makepath=True
    )
    acls, _ = client.get_acls(created)
    emit({"path": created, "acl": acl_json(acls)})


def attempt(action):
    """Runs a write as a foreign (unauthenticated) client; reports kazoo's error class."""
    try:
        action()
        emit({"ok": True})
    except KazooException as exc:
        emit({"error": type(exc).__name__})


def try_set(client, args):
    path, data = args_exactly(args, ["PATH", "DATA"])
    attempt(lambda: client.set(path, data.encode("utf-8")))


def try_create(client, args):
    path, data = args_exactly(args, ["PATH", "DATA"])
    attempt(lambda: client.create(path, data.encode("utf-8"), acl=OPEN_ACL_UNSAFE))


def try_set_acl(client, args):
    (path,) = args_exactly(args, ["PATH"])
    attempt(lambda: client.set_acls(path, OPEN_ACL_UNSAFE))


COMMANDS = {
    "try-set": try_set,
    "try-create": try_create,
    "try-set-acl": try_set_acl,
    "lock-hold": lock_hold,
    "lock-try": lock_try,
    "lock-contenders": lock_contenders,
    "election-run": election_run,
    "contenders": contenders,
    "queue-put": queue_put,
    "queue-get": queue_get,
    "queue-len": queue_len,
    "lqueue-put": lqueue_put,
    "lqueue-get": lqueue_get,
    "lqueue-len": lqueue_len,
    "counter-get": counter_get,
    "counter-set": counter_set,
    "json-register": json_register,
    "get": get,
    "children": children,
    "get-acl": get_acl,
    "create-auth": create_auth,
}


def main(argv):
    if len(argv) < 2 or argv[0] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    command, hosts, args = COMMANDS[argv[0]], argv[1], list(argv[2:])
    try:
        client = connect(hosts)
    except UsageError as exc:
        sys.stderr.write("kazoo_tool %s: %s\n" % (argv[0], exc))
        return 2
    except Exception as exc:
        sys.stderr.write("kazoo_tool %s: failed to connect to %s: %r\n" % (argv[0], hosts, exc))
        return 1
    try:
        command(client, args)
        return 0
    except UsageError as exc:
        sys.stderr.write("usage: kazoo_tool.py %s HOSTS %s\n" % (argv[0], exc))
        return 2
    except Exception as exc:
        sys.stderr.write("kazoo_tool %s: %s: %r\n" % (argv[0], type(exc).__name__, exc))
        return 1
    finally:
        close(client)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
