#!/usr/bin/python3
"""holdopen.py HOST PORT CA CERT KEY SECONDS N: hold N connections open in each way a
client can stall a TLS handshake, for SECONDS, then print one line per way with how many
of its connections the server closed meanwhile:

  tcp        a TCP connect that says nothing
  partial    the first 20 bytes of a ClientHello
  hello      a whole ClientHello, then nothing
  halfcert   TLS 1.3 with a client certificate: half of the client's second flight
             (Certificate, CertificateVerify, Finished), then nothing
  drip       a ClientHello sent one byte every half second
  request    a finished handshake and half an HTTP request"""
import socket
import ssl
import sys
import time

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
seconds, n = float(sys.argv[6]), int(sys.argv[7])


def context(with_cert, tls13=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if with_cert:
        ctx.load_cert_chain(cert, key)
    if tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def hello(ctx):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return tls, incoming, outgoing.read(), outgoing


def connect():
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(True)
    return s


def second_flight(s, tls, incoming, outgoing):
    """Read the server's flight until the client has its own to send."""
    s.settimeout(5)
    while True:
        data = s.recv(65536)
        if not data:
            return b""
        incoming.write(data)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        out = outgoing.read()
        if out:
            return out


held = {w: [] for w in ("tcp", "partial", "hello", "halfcert", "drip", "request")}
drips = []
for _ in range(n):
    held["tcp"].append(connect())
    s = connect()
    s.sendall(hello(context(False))[2][:20])
    held["partial"].append(s)
    s = connect()
    s.sendall(hello(context(False))[2])
    held["hello"].append(s)
    s = connect()
    tls, incoming, ch, outgoing = hello(context(True, tls13=True))
    s.sendall(ch)
    flight = second_flight(s, tls, incoming, outgoing)
    s.sendall(flight[: len(flight) // 2])
    held["halfcert"].append(s)
    s = connect()
    drips.append((s, hello(context(False))[2]))
    held["drip"].append(s)
    s = context(True).wrap_socket(connect(), server_hostname=None)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    held["request"].append(s)

end = time.time() + seconds
step = 0
while time.time() < end:
    for s, data in drips:
        if step < len(data):
            try:
                s.send(data[step:step + 1])
            except OSError:
                pass
    step += 1
    time.sleep(0.5)


def closed(s):
    s.setblocking(False)
    try:
        return s.recv(65536) == b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except (OSError, ssl.SSLError):
        return True


for way, socks in held.items():
    print("%s %d/%d closed" % (way, sum(closed(s) for s in socks), len(socks)))
    for s in socks:
        s.close()
