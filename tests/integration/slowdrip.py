#!/usr/bin/python3
"""slowdrip.py HOST PORT CA CERT KEY SECONDS: complete a mutual-TLS handshake, then send an
HTTP request one byte per second, never finishing it. Prints how many seconds passed
before the server closed the connection, or "open" if it was still open after SECONDS."""
import socket
import ssl
import sys
import time

host, port, ca, cert, key, limit = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6], float(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False
raw = socket.create_connection((host, port))
s = ctx.wrap_socket(raw, server_hostname=host)
start = time.time()
request = b"GET /v1/bundle HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 1000
for b in request:
    if time.time() - start > limit:
        print("open")
        sys.exit(0)
    try:
        s.send(bytes([b]))
        s.settimeout(1.0)
        try:
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
    except (OSError, ssl.SSLError):
        break
print("%.0f" % (time.time() - start))
