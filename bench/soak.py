#!/usr/bin/python3
"""bench/soak.py - a mixed load on pkishared for a given time; prints the slopes of its
memory, descriptors and CPU, so a leak or a spin shows as a number (docs/performance.md).
Not a test: it asserts nothing, and CI does not run it.

usage: bench/soak.py [--minutes M] [--build DIR] [--sample SECONDS]

The daemon runs under tests/integration/fdstore.py (the held state in an fd store, as
under systemd). Four loads run at once, each in a loop:
  - good joins: `pkishare join` with a client certificate (uploads again when used up);
  - hostile clients: no certificate, a certificate of another CA, garbage bytes, a
    ClientHello then silence, a reset half-way through the handshake;
  - admin traffic: status, metrics, token create and delete, upload, delete;
  - a reload (SIGHUP) every 10 s.
Sampled every --sample seconds: RSS, anonymous memory, descriptors, threads and CPU
seconds (utime + stime); the slopes are least-squares fits over the second half of the
run (the first half warms caches and pools). A daemon that leaks shows a positive slope
of kB or descriptors per minute; an idle daemon's CPU between loads is shown apart.
"""
import argparse
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--minutes", type=float, default=5)
ap.add_argument("--build", default="build-test")
ap.add_argument("--sample", type=float, default=5)
a = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = os.path.join(root, a.build, "client", "pkishare")
PD = os.path.join(root, a.build, "daemon", "pkishared")
T = tempfile.mkdtemp(prefix="pkishare-soak.")
R = os.path.join(T, "r")
D = os.path.join(T, "d")
os.makedirs(D)
subprocess.run([P, "pki", "init", "--dir", R, "--node-name", "node-1", "--address", "127.0.0.1",
                "--key-type", "ecdsa"], check=True, capture_output=True)
O = os.path.join(T, "other")
subprocess.run([P, "pki", "init", "--dir", O, "--node-name", "node-1", "--address", "127.0.0.1",
                "--key-type", "ecdsa"], check=True, capture_output=True)
PIN = subprocess.run([P, "pki", "ca-cert-hash", os.path.join(R, "pki", "ca.crt")], check=True,
                     capture_output=True, text=True).stdout.strip()
env = dict(os.environ, PKISHARE_ADMIN_SOCKET=os.path.join(D, "admin.sock"))
log = open(os.path.join(T, "log"), "w")
mgr = subprocess.Popen(["/usr/bin/python3", os.path.join(root, "tests/integration/fdstore.py"), D,
                        "--", PD, "--config", "/dev/null",
                        "--tls-cert", os.path.join(R, "pkishared/tls.crt"),
                        "--tls-key", os.path.join(R, "pkishared/tls.key"),
                        "--client-ca", os.path.join(R, "clients/ca.crt"),
                        "--connection-timeout", "3s", "--tls-failure-limit", "100000",
                        "--per-address-limit", "900"], stdout=log, stderr=subprocess.STDOUT)


def pkishare(*args):
    return subprocess.run([P, *args], capture_output=True, text=True, env=env)


for _ in range(200):
    if pkishare("status").returncode == 0:
        break
    time.sleep(0.05)
port = int(open(os.path.join(D, "port")).read())
pid = int(open(os.path.join(D, "pid")).read())
stop = threading.Event()
counts = {"joins": 0, "hostile": 0, "admin": 0, "reloads": 0}
key = [None]


def upload():
    r = pkishare("upload-certs", "--pki-dir", os.path.join(R, "pki"), "--ttl", "10m")
    if r.returncode == 0:
        key[0] = r.stdout.strip().splitlines()[-1]


def joins():
    upload()
    while not stop.is_set():
        r = pkishare("join", "--server", f"127.0.0.1:{port}", "--ca-cert-hash", PIN,
                     "--certificate-key", key[0] or "0" * 64,
                     "--cert", os.path.join(R, "clients/node-2.crt"),
                     "--key", os.path.join(R, "clients/node-2.key"),
                     "--pki-dir", os.path.join(T, "join"), "--force")
        counts["joins"] += 1
        if r.returncode != 0:
            upload()


def hostile():
    bad = ssl.create_default_context(cafile=os.path.join(R, "pki/ca.crt"))
    bad.check_hostname = False
    bad.load_cert_chain(os.path.join(O, "clients/node-2.crt"), os.path.join(O, "clients/node-2.key"))
    nocert = ssl.create_default_context(cafile=os.path.join(R, "pki/ca.crt"))
    nocert.check_hostname = False
    rnd = random.Random(1)
    while not stop.is_set():
        kind = rnd.randrange(5)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == 0:
                s.sendall(os.urandom(rnd.randrange(1, 600)))
            elif kind == 1:
                t = bad.wrap_socket(s)
                t.sendall(b"GET /v1/bundle HTTP/1.1\r\nHost: x\r\n\r\n")
                t.recv(100)
            elif kind == 2:
                t = nocert.wrap_socket(s)
                t.sendall(b"GET /v1/bundle HTTP/1.1\r\nHost: x\r\n\r\n")
                t.recv(100)
            elif kind == 3:
                s.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
                time.sleep(0.2)
            else:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        except (OSError, ssl.SSLError):
            pass
        counts["hostile"] += 1


def admin():
    i = 0
    while not stop.is_set():
        i += 1
        pkishare("status")
        subprocess.run(["curl", "-s", "--unix-socket", os.path.join(D, "admin.sock"),
                        "http://x/metrics"], capture_output=True)
        r = pkishare("token", "create", "--uses", "1", "--ttl", "1m")
        if r.returncode == 0:
            pkishare("token", "delete", r.stdout.strip().splitlines()[-1].split(".")[0])
        counts["admin"] += 1
        time.sleep(0.2)


def reloads():
    while not stop.wait(10):
        os.kill(pid, signal.SIGHUP)
        counts["reloads"] += 1


def sample():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    st = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    anon = 0
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Anonymous:"):
            anon = int(line.split()[1])
    return (time.monotonic(), int(st["VmRSS"].split()[0]), anon, len(os.listdir(f"/proc/{pid}/fd")),
            int(st["Threads"]), cpu)


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs) or 1
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


threads = [threading.Thread(target=f, daemon=True) for f in (joins, hostile, admin, reloads)]
for t in threads:
    t.start()
samples = []
end = time.monotonic() + a.minutes * 60
while time.monotonic() < end:
    samples.append(sample())
    time.sleep(a.sample)
stop.set()
for t in threads:
    t.join(timeout=15)
time.sleep(4)  # every connection cut by the timeout
idle0 = sample()
time.sleep(10)
idle1 = sample()
late = samples[len(samples) // 2:]
xs = [(s[0] - late[0][0]) / 60 for s in late]
print(f"soak: {a.minutes:g} min, {counts['joins']} joins, {counts['hostile']} hostile connections, "
      f"{counts['admin']} admin rounds, {counts['reloads']} reloads; {len(samples)} samples")
print(f"{'':28}{'start':>10}{'end':>10}{'slope/min (2nd half)':>24}")
for i, name in ((1, "RSS kB"), (2, "anonymous kB"), (3, "descriptors"), (4, "threads")):
    print(f"{name:28}{samples[0][i]:>10}{samples[-1][i]:>10}{slope(xs, [s[i] for s in late]):>24.2f}")
cpu_rate = slope(xs, [s[5] for s in late])
print(f"{'CPU s (under load)':28}{samples[0][5]:>10.2f}{samples[-1][5]:>10.2f}{cpu_rate:>24.2f}")
print(f"idle afterwards: {idle1[5] - idle0[5]:.3f} CPU s in 10 s, {idle1[3]} descriptors "
      f"(first sample {samples[0][3]}), {idle1[4]} threads, {idle1[1]} kB RSS")
mgr.send_signal(signal.SIGTERM)
mgr.wait(timeout=10)
subprocess.run(["rm", "-rf", T])
