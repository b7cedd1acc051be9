#!/usr/bin/env python3
"""Server CPU time per request under wrk load: the figure to compare builds
by when the machine is shared (req/s moves with other tenants' load; CPU
per request much less).

    bench/cpu_per_request.py --path /hello -- target/bench/release/wsgid -f httpd.conf

Compare two builds by alternating calls (A B A B ...) and taking the
minimum and the median of each.

The server command is started in its own session pinned to CPU 1
(`taskset -c 1`), wrk runs on CPU 0 with `-t1 -cCONNS`; the server's CPU is
utime+stime summed over its process group, read from /proc before and after
the run.  The server must listen on 127.0.0.1:PORT (default 18999) and
answer PATH.  /environ sends the benchmark's 8 browser-like headers, /echo
POSTs a 64 KiB body (as ../shared/bench does).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groups import process_cpu  # noqa: E402  (the process group's CPU, as groups.py and auth.py count it)

ENVIRON_HEADERS = [
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    "Accept: text/html,application/xhtml+xml",
    "Accept-Language: en-US,en;q=0.5",
    "Accept-Encoding: gzip, deflate",
    "Cookie: session=abc123; theme=dark",
    "Referer: http://127.0.0.1/",
    "X-Request-Id: 12345",
    "X-Forwarded-For: 10.0.0.1",
]
POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\n' \
    'wrk.headers["Content-Type"] = "application/octet-stream"\n'




def load_args(path, lua):
    """wrk arguments for the workload at `path` (the benchmark's headers for
    /environ; the 64 KiB POST for /echo, written to the open file `lua`)."""
    extra = []
    if path == "/environ":
        for h in ENVIRON_HEADERS:
            extra += ["-H", h]
    if path == "/echo":
        lua.write(POST_LUA)
        lua.flush()
        extra += ["-s", lua.name]
    return extra


def stop(server):
    """SIGTERM to the server's process group; SIGKILL if it lingers."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def start_pinned(cmd):
    """The server command in its own session on CPU 1 (wrk gets CPU 0)."""
    return subprocess.Popen(["taskset", "-c", "1", *cmd], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_command(ap, args):
    """The server command given after `--` (an argparse REMAINDER `cmd`)."""
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give the server command after --")
    return cmd


def wait_up(port, path, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True)
        if r.stdout.strip() not in ("", "000"):
            return True
        time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default="/hello")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--port", type=int, default=18999)
    ap.add_argument("--settle", type=float, default=1.5,
                    help="seconds to wait after the first answer (workers starting)")
    ap.add_argument("--per-process", action="store_true",
                    help="also print each process's user and system CPU per request")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- server command")
    a = ap.parse_args()
    server = start_pinned(server_command(ap, a))
    try:
        if not wait_up(a.port, a.path):
            sys.exit(f"server did not answer on port {a.port}")
        time.sleep(a.settle)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            extra = load_args(a.path, lua)
            before = process_cpu(server.pid)
            out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{a.conns}",
                                  f"-d{a.seconds}s", *extra, f"http://127.0.0.1:{a.port}{a.path}"],
                                 capture_output=True, text=True).stdout
            after = process_cpu(server.pid)
        n = re.search(r"(\d+) requests in", out)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        requests = int(n.group(1)) if n else 0
        per = 1e6 / max(requests, 1)
        total = 0.0
        for pid, (cmdline, user, system) in sorted(after.items()):
            _, user0, system0 = before.get(pid, (cmdline, 0.0, 0.0))
            du, ds = (user - user0) * per, (system - system0) * per
            total += du + ds
            if a.per_process:
                # Divided by all requests: a process that served half of
                # them shows half its cost per request it served.
                print(f"  {pid:>7} {cmdline[:48]:48} user {du:6.1f} system {ds:6.1f} us/request")
        print(f"{a.path}: {requests} requests, {float(rps.group(1)) if rps else 0:.0f} req/s, "
              f"server CPU {total:.1f} us/request")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
