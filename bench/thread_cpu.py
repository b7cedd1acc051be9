#!/usr/bin/env python3
"""Where a request's CPU goes, by thread role: perf samples on the server's
core under wrk load, split into the I/O (event-loop) threads and the Python
threads, each into kernel, libpython and the server's own code, and divided
by the requests served while perf recorded.

    bench/thread_cpu.py --path /hello -- target/bench/release/wsgid -f httpd.conf
    bench/thread_cpu.py --port 18996 --io busiest -- granian --interface wsgi ...

The server runs pinned to CPU 1 (its own session), wrk on CPU 0 (`-t1
-cCONNS`), and `perf record -C 1 -F FREQ` samples CPU 1 for --seconds in the
middle of the load.  Roles: wsgid names its threads (`wsgid-io*` event loop,
`wsgid-py-*` Python); for a server whose threads share one name (granian:
`tokio-rt-worker`), `--io busiest` takes each process's busiest thread as its
event loop.  The figure to compare two servers by is the same row measured a
few minutes apart; the kernel's share of the I/O thread (the TCP write of the
response, the same work for any server) shows how fast the host was.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_per_request import load_args, server_command, start_pinned, stop, wait_up  # noqa: E402


def record(a, cmd, data):
    """Run the server and the load; perf records the middle of it.  Returns
    the requests per second wrk measured."""
    server = start_pinned(cmd)
    try:
        if not wait_up(a.port, a.path):
            sys.exit(f"server did not answer on port {a.port}")
        time.sleep(a.settle)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            extra = load_args(a.path, lua)
            wrk = subprocess.Popen(
                ["taskset", "-c", "0", "wrk", "-t1", f"-c{a.conns}", f"-d{a.seconds + 4}s",
                 *extra, f"http://127.0.0.1:{a.port}{a.path}"],
                stdout=subprocess.PIPE, text=True)
            time.sleep(2)
            subprocess.run(["perf", "record", "-q", "-C", "1", "-F", str(a.freq), "-o", data,
                            "--", "sleep", str(a.seconds)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            out = wrk.communicate()[0]
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        return float(rps.group(1)) if rps else 0.0
    finally:
        stop(server)


def samples(data):
    """(pid, tid, comm, kernel?, dso) per sample."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,ip,dso"],
                         capture_output=True, text=True).stdout
    line = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+\((.*)\)\s*$")
    for text in out.splitlines():
        m = line.match(text)
        if m:
            comm, pid, tid, dso = m.groups()
            yield pid, tid, comm, dso.startswith("[kernel"), dso


def roles(rows, io_rule):
    """tid -> 'I/O' or 'Python' (None: not the server's, e.g. perf)."""
    per_tid = collections.Counter((pid, tid, comm) for pid, tid, comm, _, _ in rows)
    busiest = {}
    for (pid, tid, _), n in per_tid.items():
        if n > busiest.get(pid, ("", 0))[1]:
            busiest[pid] = (tid, n)
    role = {}
    for pid, tid, comm in per_tid:
        if comm in ("perf", "swapper", "wrk") or comm.startswith("swapper"):
            continue
        if io_rule == "busiest":
            role[tid] = "I/O" if busiest[pid][0] == tid else "Python"
        elif comm.startswith("wsgid-io"):
            role[tid] = "I/O"
        elif comm.startswith("wsgid-py"):
            role[tid] = "Python"
        else:
            role[tid] = "other"
    return role


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default="/hello")
    ap.add_argument("--port", type=int, default=18998)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=4, help="perf recording time")
    ap.add_argument("--freq", type=int, default=1999, help="perf samples per second")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--io", choices=["names", "busiest"], default="names",
                    help="how to tell the event-loop threads (see above)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- server command")
    a = ap.parse_args()
    cmd = server_command(ap, a)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        rps = record(a, cmd, data)
        rows = list(samples(data))
    if rps <= 0:
        sys.exit("wrk measured no requests")
    role = roles(rows, a.io)
    cells = collections.Counter()
    for _, tid, _, kernel, dso in rows:
        r = role.get(tid)
        if r is None:
            continue
        part = "kernel" if kernel else ("libpython" if "python3" in os.path.basename(dso)
                                        and "cpython-" not in dso else "server")
        cells[(r, part)] += 1
    per_request = 1e6 / (a.freq * a.seconds * rps)
    print(f"{a.path}: {rps:.0f} req/s; µs of CPU per request (perf -F {a.freq}, {a.seconds} s)")
    print(f"{'':8} {'kernel':>8} {'server':>8} {'libpython':>10} {'total':>8}")
    for r in ("I/O", "Python", "other"):
        row = [cells[(r, p)] * per_request for p in ("kernel", "server", "libpython")]
        if sum(row) > 0.05:
            print(f"{r:8} {row[0]:8.1f} {row[1]:8.1f} {row[2]:10.1f} {sum(row):8.1f}")
    print(f"{'all':8} {sum(cells.values()) * per_request:37.1f}")


if __name__ == "__main__":
    main()
