#!/usr/bin/python3
"""fdstore.py - just enough of systemd's service manager for pkishared's file descriptor
store, so the integration suite (and its ASan build) exercise the restore path.

It listens on 127.0.0.1:0 and on DIR/admin.sock, passes both to pkishared by name
("https", "admin") like pkishared.socket does, keeps every file pkishared sends with
FDSTORE=1/FDNAME= (duplicates of one file once, FDSTOREREMOVE=1 drops a name), and starts
pkishared again whenever it exits, handing the kept files back in LISTEN_FDS and
LISTEN_FDNAMES after the two sockets.

usage: fdstore.py DIR [--deny-memfd-secret] [--fdstore-max N] [--no-fdstore-env]
                     [--preload SO] -- PKISHARED ARG...
Writes DIR/port, DIR/pid (rewritten at each start), DIR/starts, DIR/store (a line
"NAME /proc/MANAGER_PID/fd/N" per kept file). SIGTERM stops the daemon and the manager.
--deny-memfd-secret: a seccomp filter makes memfd_secret fail with EPERM (the fallback).
--fdstore-max N: keep at most N files (systemd's FileDescriptorStoreMax=, default 8 as in
the shipped unit): files past it are closed and only this manager's log says so, as
systemd does; the daemon is told N in $FDSTORE as systemd 254 and later do (252 is asked
over the bus; the system suite covers that). --no-fdstore-env: do not set $FDSTORE.
--preload SO: LD_PRELOAD for the daemon only (the robustness suite's kill shim).
"""
import array
import errno
import os
import select
import signal
import socket
import sys
import time

d = sys.argv[1]
deny = "--deny-memfd-secret" in sys.argv
fdstore_max = int(sys.argv[sys.argv.index("--fdstore-max") + 1]) if "--fdstore-max" in sys.argv[:sys.argv.index("--")] else 8
fdstore_env = "--no-fdstore-env" not in sys.argv[:sys.argv.index("--")]
preload = sys.argv[sys.argv.index("--preload") + 1] if "--preload" in sys.argv[:sys.argv.index("--")] else None
cmd = sys.argv[sys.argv.index("--") + 1:]

https = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
https.bind(("127.0.0.1", 0))
https.listen(64)
admin = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
admin.bind(os.path.join(d, "admin.sock"))
admin.listen(16)
notify_path = os.path.join(d, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
with open(os.path.join(d, "port"), "w") as f:
    f.write(str(https.getsockname()[1]))

store = []  # (name, fd)
starts = 0
stopping = False


def write_store():
    with open(os.path.join(d, "store.new"), "w") as f:
        for name, fd in store:
            f.write(f"{name} /proc/{os.getpid()}/fd/{fd}\n")
    os.rename(os.path.join(d, "store.new"), os.path.join(d, "store"))


def start():
    global starts
    fds = [https.fileno(), admin.fileno()] + [fd for _, fd in store]
    names = ["https", "admin"] + [n for n, _ in store]
    pid = os.fork()
    if pid == 0:
        if deny:
            import seccomp
            f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
            f.add_rule(seccomp.ERRNO(errno.EPERM), "memfd_secret")
            f.load()
        high = [os.dup(fd) for fd in fds]  # out of the way of 3..3+n
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
        env = dict(os.environ, LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names),
                   LISTEN_PID=str(os.getpid()), NOTIFY_SOCKET=notify_path)
        if preload:
            env["LD_PRELOAD"] = preload
        if fdstore_env:
            env["FDSTORE"] = str(fdstore_max)
        else:
            env.pop("FDSTORE", None)
        os.closerange(3 + len(fds), 1024)
        os.execve(cmd[0], cmd, env)
    starts += 1
    with open(os.path.join(d, "pid"), "w") as f:
        f.write(str(pid))
    with open(os.path.join(d, "starts"), "w") as f:
        f.write(str(starts))
    return pid


def same_file(a, b):
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def on_message():
    msg, anc, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[:len(data) - len(data) % a.itemsize])
            fds.extend(a)
    fields = dict(line.split("=", 1) for line in msg.decode().splitlines() if "=" in line)
    if fields.get("FDSTORE") == "1":
        for fd in fds:
            if any(same_file(fd, kept) for _, kept in store):
                os.close(fd)
            elif len(store) >= fdstore_max:
                print(f"fdstore.py: too many stored descriptors ({fdstore_max}); closing "
                      f"{fields.get('FDNAME', 'stored')}", file=sys.stderr, flush=True)
                os.close(fd)
            else:
                store.append((fields.get("FDNAME", "stored"), fd))
        write_store()
    elif fields.get("FDSTOREREMOVE") == "1":
        for name, fd in [e for e in store if e[0] == fields.get("FDNAME")]:
            os.close(fd)
            store.remove((name, fd))
        write_store()
    else:
        for fd in fds:
            os.close(fd)
    if "STATUS" in fields:
        with open(os.path.join(d, "status"), "w") as f:
            f.write(fields["STATUS"])


def on_term(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
write_store()
pid = start()
while True:
    try:
        r, _, _ = select.select([notify], [], [], 0.05)
    except InterruptedError:
        r = []
    if r:
        on_message()
    if stopping:
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        sys.exit(0)
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        while select.select([notify], [], [], 0)[0]:
            on_message()
        time.sleep(0.1)
        pid = start()
