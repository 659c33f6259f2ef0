#!/usr/bin/python3
"""model.py - the held state's promises under kills, checked against a model of what was
acknowledged to a client.

pkishared runs under tests/integration/fdstore.py (a stand-in for systemd's fd store that
restarts it whenever it dies) with killshim.so preloaded, so a kill can be placed exactly
at a hand-off to the store (before or after each FDSTORE=1 / FDSTOREREMOVE=1
notification), as well as at a random moment of an operation. The model records only
what a client was told: an upload acknowledged, a join that installed, a delete, a token
created or deleted. After every restart it checks what must hold whatever the daemon did
in between:
  - every acknowledged certificate key stays used: a re-upload with it is refused;
  - an acknowledged bundle is still held (same id), unless it was acknowledged gone, or
    its deadline passed, or a later operation that was cut short may have replaced it;
  - nothing acknowledged gone comes back, and a deadline is never extended;
  - fetches never exceed max-fetches, and never fall below the acknowledged ones;
  - an acknowledged token is still there until its deadline; a deleted one never returns.
Phase 1 kills at every hand-off of every kind of operation (upload, replacing upload,
delete, the last allowed fetch, expiry), before and after the message; phase 2 runs
random operations with random kills for --seconds. Exit 0 if every check held.

usage: model.py --pkishare P --pkishared D --shim SO --fdstore FDSTORE_PY --dir DIR
                [--seconds N] [--seed N]
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
for a in ("--pkishare", "--pkishared", "--shim", "--fdstore", "--dir"):
    ap.add_argument(a, required=True)
ap.add_argument("--seconds", type=float, default=20)
ap.add_argument("--seed", type=int, default=int(time.time()))
args = ap.parse_args()
rnd = random.Random(args.seed)
D = args.dir
R = os.path.join(D, "pki")
ARM = os.path.join(D, "arm")
TRACE = os.path.join(D, "trace")
failures = []
checks = 0


def log(msg):
    print(msg, flush=True)


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def check(ok, msg):
    global checks
    checks += 1
    if ok:
        return True
    fail(msg)
    return False


def run(*cmd, timeout=30):
    env = dict(os.environ, PKISHARE_ADMIN_SOCKET=os.path.join(D, "admin.sock"))
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([args.pkishare, *cmd], capture_output=True, text=True, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def starts():
    try:
        with open(os.path.join(D, "starts")) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def daemon_pid():
    with open(os.path.join(D, "pid")) as f:
        return int(f.read())


def status():
    """The daemon's status once it answers (it may be restarting)."""
    for _ in range(200):
        rc, out, _ = run("status", "-o", "json")
        if rc == 0:
            return json.loads(out)
        time.sleep(0.05)
    fail("the daemon does not answer status after 10 s")
    raise SystemExit(finish())


def port():
    with open(os.path.join(D, "port")) as f:
        return f.read().strip()


PIN = None


class Model:
    def __init__(self):
        self.used = []          # acknowledged certificate keys: each must stay refused
        self.held = None        # dict(id, key, max, fetches, deadline) acknowledged held
        self.held_may_go = False  # the operation being cut short may remove it
        self.gone = set()       # ids acknowledged gone: never served again
        self.tokens = {}        # id -> deadline (monotonic, this process's clock)
        self.deleted_tokens = set()


M = Model()


def upload(ttl="60s", max_fetches=0):
    cmd = ["upload-certs", "--pki-dir", os.path.join(R, "pki"), "--ttl", ttl]
    if max_fetches:
        cmd += ["--max-fetches", str(max_fetches)]
    t0 = time.monotonic()
    t0_wall = int(time.time())
    rc, out, err = run(*cmd)
    if rc == 0:
        key = out.strip().splitlines()[-1]
        st = status()
        b = st["bundle"]
        secs = int(ttl.rstrip("s"))
        M.used.append(key)
        if b is None and secs < 5 and time.time() >= t0_wall + secs:
            # A short life can be over before status answers on a loaded machine. Its
            # expiresAt is whole seconds (createdAt + ttl, createdAt no earlier than
            # t0_wall), so it may end up to a second before t0 + secs, never before the
            # wall clock reached t0_wall + secs.
            if M.held:
                M.gone.add(M.held["id"])
            M.held = None
            return rc
        if not check(b is not None, "an acknowledged upload is not held right after it"):
            return rc
        if M.held:
            M.gone.add(M.held["id"])
        M.held = dict(id=b["id"], key=key, max=max_fetches, fetches=0, deadline=t0 + secs,
                      by=set())
    return rc


NODES = ["node-2", "node-3", "node-4", "node-5"]


def join(node=None):
    """A join by a client-CA node: counted once per node and bundle (a repeat gets the
    same bytes again without a new count)."""
    node = node or rnd.choice(NODES)
    target = os.path.join(D, "join-%d" % rnd.randrange(1 << 30))
    rc, _, err = run("join", "--server", "127.0.0.1:" + port(), "--ca-cert-hash", PIN,
                     "--certificate-key", (M.held and M.held["key"]) or "0" * 64,
                     "--cert", os.path.join(R, "clients", node + ".crt"),
                     "--key", os.path.join(R, "clients", node + ".key"),
                     "--pki-dir", target)
    if rc == 0 and M.held and node not in M.held["by"]:
        M.held["by"].add(node)
        M.held["fetches"] += 1
        if M.held["max"] and M.held["fetches"] >= M.held["max"]:
            M.gone.add(M.held["id"])
            M.held = None
    return rc


def delete():
    before = M.held
    rc, _, _ = run("delete-certs")
    if rc == 0 and before:
        M.gone.add(before["id"])
        M.held = None
    return rc


def token_create():
    rc, out, _ = run("token", "create", "--uses", "1", "--ttl", "60s")
    if rc == 0:
        tid = out.strip().splitlines()[-1].split(".")[0]
        M.tokens[tid] = time.monotonic() + 60
    return rc


def token_delete():
    if not M.tokens:
        return 0
    tid = rnd.choice(sorted(M.tokens))
    rc, _, _ = run("token", "delete", tid)
    del M.tokens[tid]  # unacknowledged: it may or may not be there
    if rc == 0:
        M.deleted_tokens.add(tid)
    return rc


def resolve_after_cut(st):
    """An operation was cut short: the held bundle may be gone only if that operation
    could remove it (delete, the last allowed fetch, expiry) or its deadline passed; a
    new one put in force by a cut upload is adopted by upload_cut."""
    if st["bundle"] is None and M.held:
        if M.held_may_go or time.monotonic() >= M.held["deadline"]:
            M.gone.add(M.held["id"])
            M.held = None


def verify(what):
    """Every promise, against the model."""
    st = status()
    b = st["bundle"]
    now = time.monotonic()
    if M.held and now < M.held["deadline"] - 1:
        if check(b is not None and b["id"] == M.held["id"],
                 f"{what}: the acknowledged bundle {M.held['id'][:8]} is not held "
                 f"(held: {b and b['id'][:8]}; state: {st['state']})"):
            check(b["fetches"] >= M.held["fetches"],
                  f"{what}: fetches went back from {M.held['fetches']} to {b['fetches']}")
            # +2: createdAt and expiresAt are whole seconds, and expiresInSeconds is
            # rounded up.
            check(b["expiresInSeconds"] <= M.held["deadline"] - now + 2,
                  f"{what}: the deadline was extended ({b['expiresInSeconds']} s left, "
                  f"{M.held['deadline'] - now:.0f} s acknowledged)")
            if M.held["max"]:
                check(b["fetches"] < M.held["max"],
                      f"{what}: a bundle past max-fetches is still held")
            M.held["fetches"] = b["fetches"]
    if b is not None:
        check(b["id"] not in M.gone, f"{what}: bundle {b['id'][:8]}, acknowledged gone, came back")
    ids = {t["id"] for t in st["tokens"]}
    for tid, deadline in list(M.tokens.items()):
        if now < deadline - 1:
            check(tid in ids, f"{what}: acknowledged token {tid} is gone")
    for tid in M.deleted_tokens:
        check(tid not in ids, f"{what}: deleted token {tid} came back")
    # One-time keys: the newest and a random older one (a refused upload changes nothing).
    keys = M.used[-2:] + ([rnd.choice(M.used)] if len(M.used) > 2 else [])
    for key in keys:
        rc, _, err = run("upload-certs", "--pki-dir", os.path.join(R, "pki"),
                         "--certificate-key", key)
        if not check(rc != 0 and "already used" in err,
                     f"{what}: a used certificate key was accepted again "
                     f"(exit {rc}; state: {st['state']})"):
            raise SystemExit(finish())


def finish():
    log(f"{checks} checks, {len(failures)} failed (seed {args.seed})")
    if failures:
        try:
            with open(os.path.join(D, "log")) as f:
                sys.stderr.write("--- fdstore.py and pkishared's log (tail)\n")
                sys.stderr.write("".join(f.readlines()[-60:]))
        except OSError:
            pass
    return 1 if failures else 0


def arm(n, mode):
    with open(ARM, "w") as f:
        f.write(f"{n} {mode}\n")


def disarm():
    try:
        os.unlink(ARM)
        return True  # still armed: the operation made fewer hand-offs
    except FileNotFoundError:
        return False


def wait_restart(before):
    for _ in range(200):
        if starts() > before:
            status()
            return True
        time.sleep(0.05)
    return False


def cut(op, n, mode, may_go=False, maybe_key=None):
    """Run op with a kill armed at hand-off n; True if the kill happened."""
    s0 = starts()
    arm(n, mode)
    M.held_may_go = may_go
    rc = op()
    time.sleep(0.15)
    killed = not disarm() or starts() > s0
    if killed:
        wait_restart(s0)
        resolve_after_cut(status())
    M.held_may_go = False
    return killed, rc


def upload_cut(ttl="60s", max_fetches=0):
    """An upload whose acknowledgement may not arrive: what it may have put in force is
    learnt from the daemon if it is held after the restart (the key is in the output
    only when acknowledged, so the candidate is told by the status id)."""
    before = status()["bundle"]
    rc = upload(ttl, max_fetches)
    if rc != 0:
        st = status()
        b = st["bundle"]
        if b is not None and (before is None or b["id"] != before["id"]):
            # In force though unacknowledged: its key is unknown to the client (a key
            # never printed is never used by anyone), so only its id is recorded.
            if M.held:
                M.gone.add(M.held["id"])
            M.held = dict(id=b["id"], key=None, max=max_fetches, fetches=0,
                          deadline=time.monotonic() + int(ttl.rstrip("s")), by=set())
    return rc


def phase_handoffs():
    """Kill at every hand-off of each kind of operation, before and after the message."""
    kinds = {
        "first upload": (lambda: (delete(), None), lambda: upload_cut(), False),
        "replacing upload": (lambda: upload(), lambda: upload_cut(), False),
        "delete": (lambda: upload(), delete, True),
        "last allowed fetch": (lambda: upload(max_fetches=1), join, True),
        "expiry": (lambda: upload(ttl="1s"), lambda: time.sleep(1.6), True),
    }
    for name, (setup, op, may_go) in kinds.items():
        for n in range(4):
            hit = False
            for mode in ("before", "after"):
                setup()
                killed, _ = cut(op, n, mode, may_go=may_go)
                if not killed:
                    continue
                hit = True
                log(f"killed {mode} hand-off {n} of a {name}")
                verify(f"kill {mode} hand-off {n} of a {name}")
                token_create()
            if not hit:
                break


def phase_random(seconds):
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        rounds += 1
        op = rnd.choice(["upload", "upload", "join", "join", "delete", "token", "untoken",
                         "short"])
        kill = rnd.choice(["none", "none", "handoff", "random"])
        fn = {"upload": upload_cut, "join": join, "delete": delete, "token": token_create,
              "untoken": token_delete,
              "short": lambda: upload_cut(ttl="1s", max_fetches=rnd.choice([0, 1, 2]))}[op]
        may_go = op in ("join", "delete", "short")
        if kill == "handoff":
            cut(fn, rnd.randrange(3), rnd.choice(["before", "after"]), may_go=may_go)
        elif kill == "random":
            s0 = starts()
            pid = daemon_pid()
            delay = rnd.uniform(0, 0.05)
            killer = subprocess.Popen(["sh", "-c", f"sleep {delay}; kill -KILL {pid}"])
            M.held_may_go = may_go
            fn()
            killer.wait()
            if starts() > s0 or wait_restart(s0):
                resolve_after_cut(status())
            M.held_may_go = False
        else:
            fn()
        verify(f"random round {rounds} ({op}, kill: {kill})")
    log(f"{rounds} random rounds")


def main():
    global PIN
    os.makedirs(D, exist_ok=True)
    subprocess.run([args.pkishare, "pki", "init", "--dir", R, "--node-name", "node-1",
                    "--address", "127.0.0.1", "--key-type", "ecdsa"]
                   + [a for n in NODES for a in ("--client", n)], check=True,
                   capture_output=True)
    PIN = subprocess.run([args.pkishare, "pki", "ca-cert-hash", os.path.join(R, "pki", "ca.crt")],
                         check=True, capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, PKS_KILL_ARM=ARM, PKS_KILL_TRACE=TRACE)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    logf = open(os.path.join(D, "log"), "w")
    mgr = subprocess.Popen(["/usr/bin/python3", args.fdstore, D, "--preload", args.shim, "--",
                            args.pkishared,
                            "--config", "/dev/null", "--listen", "127.0.0.1:0",
                            "--tls-cert", os.path.join(R, "pkishared", "tls.crt"),
                            "--tls-key", os.path.join(R, "pkishared", "tls.key"),
                            "--client-ca", os.path.join(R, "clients", "ca.crt"),
                            "--max-ttl", "1h"],
                           env=env, stdout=logf, stderr=subprocess.STDOUT)
    try:
        st = status()
        check(st["state"]["kept"], f"the state is kept under fdstore.py: {st['state']}")
        log(f"seed {args.seed}")
        phase_handoffs()
        phase_random(args.seconds)
        with open(os.path.join(D, "log")) as f:
            text = f.read()
        check("Sanitizer" not in text and "runtime error" not in text,
              "a sanitizer report in the daemon's log")
        log(f"{starts() - 1} restarts")
    finally:
        mgr.send_signal(signal.SIGTERM)
        try:
            mgr.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mgr.kill()
    rc = finish()
    if rc == 0:
        shutil.rmtree(D, ignore_errors=True)
    return rc


sys.exit(main())
