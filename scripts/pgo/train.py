#!/usr/bin/env python3
"""The training run of the profile-guided build (scripts/build-pgo.sh).

Starts the instrumented wsgid on train.conf, sends a mix of requests over
keep-alive connections from a few threads (embedded and daemon mode; GET,
HEAD, POST of small and large bodies, static files, errors), checks every
answer, and stops the server so that each process writes its profile
(LLVM_PROFILE_FILE, set by the caller).  A wrong answer fails the run: a
build that serves wrongly must not be the one optimised.

    train.py WSGID [--rounds N]
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.5",
    "Accept-Encoding": "gzip, deflate",
    "Referer": "http://localhost/index.html",
    "Cookie": "session=0123456789abcdef; theme=dark",
    "Cache-Control": "max-age=0",
}
SMALL = b"name=value&other=thing"
LARGE = b"y" * 65536
LINES = b"line of text\n" * 200

# (method, path, headers, body, expected status): one round, for each of
# the prefixes "" (embedded) and "/d" (the daemon process group).
MIX = [
    ("GET", "/hello", {}, None, 200),
    ("GET", "/hello", BROWSER, None, 200),
    ("GET", "/environ", BROWSER, None, 200),
    ("HEAD", "/hello", {}, None, 200),
    ("POST", "/echo", {"Content-Type": "application/x-www-form-urlencoded"}, SMALL, 200),
    ("POST", "/echo", {"Content-Type": "application/octet-stream"}, LARGE, 200),
    ("POST", "/lines", {"Transfer-Encoding": "chunked"}, LINES, 200),
    ("GET", "/large", {}, None, 200),
    ("GET", "/file", {}, None, 200),
    ("GET", "/write", {}, None, 200),
    ("GET", "/redirect", {}, None, 302),
    ("GET", "/missing?x=1", {}, None, 404),
    ("GET", "/error", {}, None, 500),
]
STATIC = [
    ("GET", "/static/page.html", BROWSER, None, 200),
    ("GET", "/static/nothing.html", {}, None, 404),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"train.py: wsgid exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("train.py: wsgid did not start listening")


def chunked(body):
    for i in range(0, len(body), 1000):
        yield body[i:i + 1000]


def client(port, rounds, failures):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for r in range(rounds):
            if r % 25 == 24:
                conn.close()  # some new connections too
            for prefix in ("", "/d"):
                for method, path, headers, body, status in MIX:
                    send(conn, method, prefix + path, headers, body, status, failures)
            for method, path, headers, body, status in STATIC:
                send(conn, method, path, headers, body, status, failures)
    except Exception as e:  # noqa: BLE001 - reported, the run fails
        failures.append(f"client: {e!r}")
    finally:
        conn.close()


def send(conn, method, path, headers, body, status, failures):
    if headers.get("Transfer-Encoding") == "chunked":
        conn.request(method, path, body=chunked(body), headers=headers, encode_chunked=True)
    else:
        conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status != status:
        failures.append(f"{method} {path}: {resp.status}, expected {status}")
    if resp.will_close:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wsgid")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--threads", type=int, default=6)
    args = ap.parse_args()
    run = tempfile.mkdtemp(prefix="wsgid-pgo-")
    try:
        port = free_port()
        with open(os.path.join(HERE, "train.conf")) as f:
            conf = f.read()
        conf = conf.replace("@RUN@", run).replace("@PORT@", str(port)).replace("@HERE@", HERE)
        conf_path = os.path.join(run, "httpd.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        proc = subprocess.Popen([args.wsgid, "-f", conf_path])
        try:
            wait_up(port, proc)
            failures = []
            started = time.monotonic()
            threads = [threading.Thread(target=client, args=(port, args.rounds, failures))
                       for _ in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            n = args.threads * args.rounds * (2 * len(MIX) + len(STATIC))
            print(f"train.py: {n} requests in {time.monotonic() - started:.1f} s")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                sys.exit("train.py: wsgid did not stop within 60 s")
        if failures:
            sys.exit("train.py: wrong answers:\n  " + "\n  ".join(failures[:20]))
        if code != 0:
            sys.exit(f"train.py: wsgid exited with {code}")
    finally:
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
