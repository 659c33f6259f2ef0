#!/usr/bin/python3
"""e2e.etcd-client, coordd part: three pkishare-coordd (one etcd cluster) driven through
their sockets by this independent implementation of proto/coord.md.

  coordcheck.py SOCK1 SOCK2 SOCK3     the scenarios below; prints ok:/FAIL: lines
  coordcheck.py --queued SOCK PID     requests held in coordd's queue (PID stopped meanwhile)
  coordcheck.py --concurrent SOCK     a request answered while a connect to a peer that
                                      never answers is pending
  coordcheck.py --outage SOCK         answer times with etcd's quorum lost (SOCK's coordd
                                      tries hung members first)
  coordcheck.py --call SOCK OP ARGS   one call; prints the reply (for the uid check)
"""
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time

FAILS = 0


def check(what, cond):
    global FAILS
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILS += 1


def call(sock, op, args, timeout_ms=5000, raw=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout_ms / 1000 + 5)
    s.connect(sock)
    cookie = os.urandom(16).hex()
    msg = raw if raw is not None else json.dumps(
        {"v": 1, "op": op, "cookie": cookie, "timeoutMs": timeout_ms, "args": args}).encode()
    s.send(msg)
    data = s.recv(65536)
    s.close()
    if not data:
        return None
    rep = json.loads(data)
    if raw is None and rep.get("cookie") != cookie:
        raise SystemExit("a reply with another call's cookie")
    return rep


def request(op, args, timeout_ms):
    """A request's bytes and its cookie."""
    cookie = os.urandom(16).hex()
    return json.dumps({"v": 1, "op": op, "cookie": cookie, "timeoutMs": timeout_ms,
                       "args": args}).encode(), cookie


def send_only(sock, op, args, timeout_ms, conn=None):
    """Send one request (on conn, or a new connection) without waiting for its reply:
    (connection, cookie, the send time by CLOCK_MONOTONIC)."""
    if conn is None:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(sock)
    msg, cookie = request(op, args, timeout_ms)
    sent = time.monotonic()
    conn.send(msg)
    return conn, cookie, sent


def answers(pending, limit_s):
    """The replies to the calls in pending [(connection, cookie, sent)], each with the time
    it arrived after its own send (seconds); None for a call not answered within limit_s."""
    sel = selectors.DefaultSelector()
    out = [None] * len(pending)
    for i, (conn, _, _) in enumerate(pending):
        sel.register(conn, selectors.EVENT_READ, i)
    end = time.monotonic() + limit_s
    left = len(pending)
    while left and time.monotonic() < end:
        for key, _ in sel.select(end - time.monotonic()):
            i = key.data
            conn, cookie, sent = pending[i]
            data = conn.recv(65536)
            took = time.monotonic() - sent
            sel.unregister(conn)
            left -= 1
            rep = json.loads(data) if data else None
            if rep is not None and rep.get("cookie") != cookie:
                raise SystemExit("a reply with another call's cookie")
            out[i] = (rep, took)
    for conn, _, _ in pending:
        conn.close()
    return out


def hexid(n):
    return os.urandom(n).hex()


def announce(sock, bid, key, max_fetches, external=False):
    return call(sock, "announce", {
        "id": bid, "keyId": key, "sha256": hexid(32), "bytes": 4096,
        "expiresAt": "2099-01-01T00:00:00Z", "maxFetches": max_fetches,
        "hasExternal": external, "allowDropExternal": False, "origin": "cp-1"})


def claim(sock, bid, claim_id=None, cert="", client="cp-x"):
    return call(sock, "claim", {
        "id": bid, "claimId": claim_id or hexid(16), "client": client, "cert": cert,
        "source": "client-ca" if cert else "enrolled", "peer": "10.0.0.9:5000"})


def scenarios(socks):
    for i, s in enumerate(socks):
        r = call(s, "ping", {})
        check(f"coordd {i + 1} answers ping", r and r["ok"] and r["result"]["version"] == 1)

    # One-time keys hold cluster-wide: a key id announced on one node is refused on another.
    a, key = hexid(16), hexid(8)
    r = announce(socks[0], a, key, 3)
    check("announce on node 1", r["ok"] and r["result"]["replaced"] == "")
    r = announce(socks[1], hexid(16), key, 3)
    check("the same key id on node 2 is refused (key-reused)",
          not r["ok"] and r["error"] == "key-reused")
    r = call(socks[2], "keyIdSeen", {"keyId": key})
    check("node 3 sees the key id as used", r["ok"] and r["result"]["seen"] is True)

    # Twelve racers over three nodes against maxFetches 3: exactly three slots.
    results = []
    lock = threading.Lock()

    def racer(i):
        rep = claim(socks[i % 3], a)
        with lock:
            results.append(rep)
    threads = [threading.Thread(target=racer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    oks = [r for r in results if r["ok"] and r["result"]["result"] == "ok"]
    gone = [r for r in results if r["ok"] and r["result"]["result"] == "gone"]
    nos = sorted(r["result"]["fetchNo"] for r in oks)
    check(f"12 racers over 3 nodes, maxFetches 3: exactly 3 slots ({len(oks)} ok, {len(gone)} gone)",
          len(oks) == 3 and len(gone) == 9 and nos == [1, 2, 3])
    check("exactly one claim took the last slot", sum(r["result"]["last"] for r in oks) == 1)
    check("the others are told used-up",
          all(r["result"]["gone"]["reason"] == "used-up" for r in gone))
    v = call(socks[1], "view", {})["result"]
    check("the view: no current bundle, the last one used up",
          v["current"] is None and v["gone"]["reason"] == "used-up" and v["gone"]["id"] == a)

    # A claim asked again (its answer lost) answers the same, counted once.
    b = hexid(16)
    announce(socks[0], b, hexid(8), 5)
    cid = hexid(16)
    r1 = claim(socks[0], b, cid)
    r2 = claim(socks[1], b, cid)
    check("a claim asked twice (two nodes) answers the same fetch number",
          r1["ok"] and r2["ok"] and r1["result"]["fetchNo"] == r2["result"]["fetchNo"] == 1)
    # The same client-ca certificate again: its slot, not a new one.
    cert = hexid(32)
    r3 = claim(socks[2], b, cert=cert)
    r4 = claim(socks[0], b, cert=cert)
    check("a client-ca certificate again gets its slot back, not counted",
          r3["result"]["fetchNo"] == 2 and r4["result"]["repeat"] and r4["result"]["fetchNo"] == 2)
    v = call(socks[0], "view", {})["result"]
    check(f"two fetches counted ({v['current'] and v['current']['fetches']})",
          v["current"] and v["current"]["fetches"] == 2 and v["current"]["id"] == b)

    # Unclaim: a slot no client got goes back; a certificate's slot that a repeat served
    # (on another node) does not, even when the node whose client left asks.
    cid5 = hexid(16)
    cert5 = hexid(32)
    r5 = claim(socks[1], b, cid5, cert=cert5)
    r6 = claim(socks[2], b, cert=cert5)
    u = call(socks[1], "unclaim", {"id": b, "claimId": cid5})
    v = call(socks[0], "view", {})["result"]
    check("an unclaim under a served repeat gives nothing back (3 counted, "
          f"{v['current'] and v['current']['fetches']})",
          r5["ok"] and r6["ok"] and r6["result"]["repeat"] and u["ok"] and
          v["current"] and v["current"]["fetches"] == 3)
    r7 = claim(socks[0], b, cert=cert5)
    check("... and that certificate still gets its slot, not counted",
          r7["ok"] and r7["result"]["repeat"] and r7["result"]["fetchNo"] == r5["result"]["fetchNo"])
    cid8 = hexid(16)
    r8 = claim(socks[2], b, cid8)
    u = call(socks[0], "unclaim", {"id": b, "claimId": cid8})
    v = call(socks[1], "view", {})["result"]
    check(f"an unclaim of a slot nobody got gives it back (3 counted, {v['current'] and v['current']['fetches']})",
          r8["ok"] and u["ok"] and v["current"] and v["current"]["fetches"] == 3)
    u = call(socks[0], "unclaim", {"id": b, "claimId": cid8})
    v = call(socks[1], "view", {})["result"]
    check("... asked again, nothing more (still 3)", u["ok"] and v["current"]["fetches"] == 3)

    # A claim for another bundle than the current one counts nothing.
    r = claim(socks[1], a)
    check("a claim of a bundle no longer current: 'other', the current one named",
          r["result"]["result"] == "other" and r["result"]["current"] == b)

    # Holders: registered on one node, seen from another.
    pin = "sha256:" + hexid(32)
    r = call(socks[0], "hold", {"id": b, "node": "cp-1", "peerAddress": "10.0.0.1:9443",
                                "servingPin": pin})
    r = call(socks[2], "holders", {"id": b})
    check("a holder registered on node 1 is listed on node 3",
          r["ok"] and r["result"]["holders"] == [
              {"node": "cp-1", "peerAddress": "10.0.0.1:9443", "servingPin": pin}])

    # wait: a change made on one node wakes a wait on another; no change, no wake.
    rev = call(socks[2], "view", {})["result"]["revision"]
    r = call(socks[2], "wait", {"since": rev}, timeout_ms=1000)
    check("wait with nothing changing ends at its time, unchanged",
          r["ok"] and r["result"]["changed"] is False)
    woke = {}

    def waiter():
        woke["r"] = call(socks[2], "wait", {"since": rev}, timeout_ms=10000)
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    call(socks[0], "retire", {"id": b, "reason": "deleted"})
    t.join()
    check("a delete on node 1 wakes a wait on node 3",
          woke["r"]["ok"] and woke["r"]["result"]["changed"] is True)
    r = claim(socks[1], b)
    check("a deleted bundle is gone everywhere",
          r["result"]["result"] == "gone" and r["result"]["gone"]["reason"] == "deleted")
    r = call(socks[1], "retire", {"id": b, "reason": "deleted"})
    check("retire of what is not current: not-current", not r["ok"] and r["error"] == "not-current")

    # A bundle without the external etcd files after one that had them.
    c = hexid(16)
    announce(socks[0], c, hexid(8), 0, external=True)
    r = announce(socks[1], hexid(16), hexid(8), 0, external=False)
    check("dropping external etcd files is refused", not r["ok"] and r["error"] == "drops-external-etcd")

    # The last slot given back (its client never got it): the bundle is current again.
    d = hexid(16)
    announce(socks[0], d, hexid(8), 1, external=True)
    cd = hexid(16)
    r = claim(socks[1], d, cd)
    v = call(socks[2], "view", {})["result"]
    used_up = r["ok"] and r["result"]["last"] and v["current"] is None
    u = call(socks[2], "unclaim", {"id": d, "claimId": cd})
    v = call(socks[0], "view", {})["result"]
    check("the last slot, given back: the bundle is current again, nothing counted",
          used_up and u["ok"] and v["current"] and v["current"]["id"] == d and
          v["current"]["fetches"] == 0 and v["gone"] is None)
    r = claim(socks[2], d)
    check("... and the next joiner gets that slot", r["ok"] and r["result"]["result"] == "ok" and
          r["result"]["fetchNo"] == 1 and r["result"]["last"])

    # Deleted after its last slot was claimed: the delete is recorded, and an unclaim of
    # that slot (its client never got it) does not bring the bundle back.
    e = hexid(16)
    announce(socks[0], e, hexid(8), 1)
    ce = hexid(16)
    r = claim(socks[1], e, ce)
    last = r["ok"] and r["result"]["last"]
    rt = call(socks[2], "retire", {"id": e, "reason": "deleted"})
    u = call(socks[0], "unclaim", {"id": e, "claimId": ce})
    v = call(socks[1], "view", {})["result"]
    check(f"a delete after the last claim holds: the unclaim brings nothing back (retire "
          f"{rt['ok']}, unclaim {u['ok']}, current {v['current'] and v['current']['id']}, "
          f"gone {v['gone'] and v['gone']['reason']})",
          last and rt["ok"] and u["ok"] and v["current"] is None and v["gone"] and
          v["gone"]["reason"] == "deleted" and v["gone"]["id"] == e)

    # What is not of the protocol's form.
    r = call(socks[0], None, None, raw=b"not json at all")
    check("garbage: bad-request", r and not r["ok"] and r["error"] == "bad-request")
    ck = hexid(16)
    r = call(socks[0], None, None, raw=json.dumps(
        {"v": 2, "op": "ping", "cookie": ck, "timeoutMs": 5, "args": {}}).encode())
    check("another protocol version: bad-version, with its cookie",
          r and r["error"] == "bad-version" and r["cookie"] == ck)
    r = call(socks[0], "claim", {"id": a, "claimId": "x", "client": "c", "cert": "",
                                 "source": "enrolled", "peer": "p"})
    check("a field not of its form: bad-request naming it",
          not r["ok"] and r["error"] == "bad-request" and "claimId" in r["message"])


def queued(sock, pid):
    """Requests that wait in coordd's queue (coordd stopped meanwhile, as if busy): one
    held past its timeoutMs is answered timeout without an etcd call; one whose caller hung
    up is dropped. Both are announces of fresh key ids, so an execution would show."""
    conn, _, _ = send_only(sock, "ping", {}, 5000)
    conn.recv(65536)  # the connection is accepted: its requests carry their send time
    key = hexid(8)
    os.kill(pid, signal.SIGSTOP)
    try:
        pend = [send_only(sock, "announce", {
            "id": hexid(16), "keyId": key, "sha256": hexid(32), "bytes": 1,
            "expiresAt": "2099-01-01T00:00:00Z", "maxFetches": 1, "hasExternal": True,
            "allowDropExternal": True, "origin": "cp-q"}, 500, conn)]
        time.sleep(1.0)
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    (rep, took), = answers(pend, 10)
    late = time.monotonic() - resumed
    check(f"a request held in the queue past its timeoutMs: timeout at once "
          f"({rep and rep.get('error')}, {late * 1000:.0f} ms after coordd went on)",
          rep is not None and not rep["ok"] and rep["error"] == "timeout" and late < 0.5)
    r = call(sock, "keyIdSeen", {"keyId": key})
    check("... and not executed (its key id unused)", r["ok"] and r["result"]["seen"] is False)

    key = hexid(8)
    os.kill(pid, signal.SIGSTOP)
    try:
        c, _, _ = send_only(sock, "announce", {
            "id": hexid(16), "keyId": key, "sha256": hexid(32), "bytes": 1,
            "expiresAt": "2099-01-01T00:00:00Z", "maxFetches": 1, "hasExternal": True,
            "allowDropExternal": True, "origin": "cp-q"}, 5000)
        c.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    r = call(sock, "keyIdSeen", {"keyId": key})
    check("a request whose caller hung up while it was queued is not executed",
          r["ok"] and r["result"]["seen"] is False)


def black_hole():
    """A TCP address on loopback where a connect is never answered, nothing outside this
    process touched: a listener whose accept queue is full (backlog 0 and one connection
    never accepted) drops every further SYN. (listener, filler, "127.0.0.1:PORT")."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    filler = socket.create_connection(lst.getsockname(), timeout=5)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(lst.getsockname())
        raise SystemExit("the black hole accepts connections; cannot run --concurrent")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return lst, filler, "127.0.0.1:%d" % lst.getsockname()[1]


def concurrent(sock):
    """A connect to a registered node whose address never answers holds coordd up to 3 s.
    A view sent on another connection meanwhile must be answered first, while the connect
    is still pending: an ordering, not a time. (One request at a time, the view waits for
    the connect's 3 s, and its reply comes second.)"""
    lst, filler, addr = black_hole()
    try:
        node = "cp-blackhole-" + hexid(4)
        r = call(sock, "register", {"node": node, "peerAddress": addr,
                                    "servingPin": "sha256:" + hexid(32)})
        check(f"a node registered at a black hole ({addr})", r and r["ok"])
        slow = send_only(sock, "connect", {"node": node}, 10000)
        # Time for coordd to read the connect and start it (it is pending either way).
        time.sleep(0.3)
        fast = send_only(sock, "view", {}, 10000)
        sel = selectors.DefaultSelector()
        sel.register(slow[0], selectors.EVENT_READ, "connect")
        sel.register(fast[0], selectors.EVENT_READ, "view")
        first = sel.select(15)
        order = sorted(k.data for k, _ in first)
        check(f"a view is answered while a connect to a peer that never answers is pending "
              f"(ready first: {order})", order == ["view"])
        got = answers([fast, slow], 15)
        view, connect = got
        check("... the view says ok", bool(view and view[0] and view[0]["ok"]))
        said = (f"{connect[0] and connect[0].get('error')}, {connect[1] * 1000:.0f} ms"
                if connect else "no answer")
        check(f"... and the connect then fails unreachable ({said})",
              connect and connect[0] and not connect[0]["ok"] and
              connect[0]["error"] == "unreachable")
    finally:
        filler.close()
        lst.close()


def outage(sock):
    """etcd's quorum lost, sock's coordd trying hung members first: requests sent on
    separate connections in quick succession are each answered within timeoutMs + 1.5 s
    of their own send, however long the queue; one abandoned in the queue is dropped."""
    pend = [send_only(sock, "keyIdSeen", {"keyId": hexid(8)}, 1500) for _ in range(6)]
    got = answers(pend, 30)
    times = " ".join(f"{g[1] * 1000:.0f}" if g else "none" for g in got)
    errors = " ".join(g[0]["error"] if g and g[0] and not g[0]["ok"] else "?" for g in got)
    check(f"6 queued requests (timeoutMs 1500), each answered within 3000 ms of its send "
          f"(ms: {times}; {errors})",
          all(g and g[0] and g[1] < 3.0 for g in got))
    check("... and none of them said ok", all(g and g[0] and not g[0]["ok"] for g in got))
    # More slow requests than coordd has workers (4), so that the next one waits in its
    # queue until its caller has long hung up.
    slow = [send_only(sock, "keyIdSeen", {"keyId": hexid(8)}, 3000) for _ in range(6)]
    time.sleep(0.1)
    c, _, _ = send_only(sock, "announce", {
        "id": hexid(16), "keyId": hexid(8), "sha256": hexid(32), "bytes": 1,
        "expiresAt": "2099-01-01T00:00:00Z", "maxFetches": 1, "hasExternal": False,
        "allowDropExternal": False, "origin": "cp-o"}, 10000)
    c.close()
    after = send_only(sock, "ping", {}, 10000)
    got = answers(slow + [after], 30)
    times = ", ".join(f"{g[1] * 1000:.0f} ms" if g else "none" for g in got)
    print(f"outage: the slow requests and the one after the abandoned one answered after "
          f"{times}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--queued":
        queued(sys.argv[2], int(sys.argv[3]))
        print(f"coordcheck: {FAILS} failed")
        sys.exit(1 if FAILS else 0)
    if sys.argv[1] == "--concurrent":
        concurrent(sys.argv[2])
        print(f"coordcheck: {FAILS} failed")
        sys.exit(1 if FAILS else 0)
    if sys.argv[1] == "--outage":
        outage(sys.argv[2])
        print(f"coordcheck: {FAILS} failed")
        sys.exit(1 if FAILS else 0)
    if sys.argv[1] == "--call":
        try:
            print(json.dumps(call(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))
        except (OSError, ValueError) as e:
            print("refused:", e)
        sys.exit(0)
    scenarios(sys.argv[1:4])
    print(f"coordcheck: {FAILS} failed")
    sys.exit(1 if FAILS else 0)
