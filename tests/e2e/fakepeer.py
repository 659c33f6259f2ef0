#!/usr/bin/python3
"""e2e.multinode, case f: a fake control-plane node that a test registers in etcd by hand
as a holder of the cluster's bundle. It serves GET /v1/peer/bundle over TLS with a
serving certificate from the cluster CA (so that a puller's checks of the chain and the
address pass), and answers with the bytes of BODY: the test makes them differ from the
bundle announced in etcd. Every request is logged to LOG as
"ADDRESS CLIENT-CN PATH" (the puller's certificate is asked for, not required). With
"slow" after LOG it sends the body a byte a second, as a holder that stalls its pullers
would (each read on the puller's side is then within any read timeout).

usage: fakepeer.py ADDRESS PORT CERT KEY CA BODY LOG [slow]
"""
import http.server
import ssl
import sys
import time

ADDRESS, PORT, CERT, KEY, CA, BODY, LOG = sys.argv[1:8]
SLOW = len(sys.argv) > 8 and sys.argv[8] == "slow"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        cn = "-"
        cert = self.connection.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        with open(LOG, "a") as f:
            f.write("%s %s %s\n" % (self.client_address[0], cn, self.path))
        if self.path.startswith("/v1/peer/bundle"):
            with open(BODY, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b'{"reason": "no-such-route"}\n'
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if not SLOW:
            self.wfile.write(body)
            return
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            with open(LOG, "a") as f:
                f.write("cut after %d bytes\n" % i)

    def log_message(self, fmt, *args):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
ctx.load_verify_locations(CA)
ctx.verify_mode = ssl.CERT_OPTIONAL
srv = http.server.ThreadingHTTPServer((ADDRESS, int(PORT)), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("fakepeer: listening on %s:%s" % (ADDRESS, PORT), flush=True)
srv.serve_forever()
