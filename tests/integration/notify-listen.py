#!/usr/bin/python3
"""notify-listen.py SOCKET SECONDS OUT: receive sd_notify datagrams on a unix socket for
SECONDS and write each message on its own line (newlines inside become '|') to OUT."""
import os
import socket
import sys
import time

path, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.time() + seconds
with open(out, "w") as f:
    f.write("listening\n")
    f.flush()
    while time.time() < end:
        try:
            msg = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        f.write(msg.replace("\n", "|") + "\n")
        f.flush()
os.unlink(path)
