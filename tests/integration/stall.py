#!/usr/bin/python3
"""stall.py HOST PORT PIDS N SECONDS: open N TLS connections that send a ClientHello and
then say nothing more; print the CPU seconds the processes PIDS (comma-separated) spent
meanwhile (all threads, from /proc/PID/stat). A server that waits in the kernel spends ~0."""
import os
import socket
import ssl
import sys
import time

host, port, pid, n, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])


def cpu_seconds():
    total = 0
    for p in pid.split(","):
        with open("/proc/%s/stat" % p) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of the whole line; 2 fields precede ")".
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
socks = []
for _ in range(n):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(outgoing.read())
    except OSError:
        break  # a server that handles one handshake at a time stops accepting
    socks.append(s)
if len(socks) < n:
    print("stall.py: only %d of %d connections were accepted" % (len(socks), n), file=sys.stderr)
time.sleep(0.2)  # let the server answer the hellos
before = cpu_seconds()
time.sleep(secs)
after = cpu_seconds()
print("%.3f" % (after - before))
for s in socks:
    s.close()
