#!/usr/bin/env python3
"""Paired A/B of server CPU per request: both servers run at once (pinned to
CPU 1) and wrk (CPU 0) alternates between them in short windows, so that each
pair of windows sees the same machine.  On this shared VM the CPU a request
costs moves by +-25% from minute to minute (other tenants on the host, not
visible as steal); alternating whole runs could not resolve a 5-10% change,
the median of paired ratios can.

    bench/paired_ab.py --path /hello --a-port 18998 --b-port 18997 \\
        --a 'OLD/wsgid -f a.conf' --b 'NEW/wsgid -f b.conf'

The two configs must differ only in their Listen port (and run/socket
directories for daemon mode).  Prints each server's min and median CPU per
request and the median of the B/A ratios (below 1: B is cheaper), then
the same for requests per second (above 1: B serves more).
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_per_request import load_args, start_pinned, stop, wait_up  # noqa: E402
from groups import group_cpu  # noqa: E402


def window(port, path, seconds, conns, extra):
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
                          *extra, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True).stdout
    n = re.search(r"(\d+) requests in", out)
    return int(n.group(1)) if n else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="server A command line")
    ap.add_argument("--b", required=True, help="server B command line")
    ap.add_argument("--a-port", type=int, default=18998)
    ap.add_argument("--b-port", type=int, default=18997)
    ap.add_argument("--path", default="/hello")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--seconds", type=int, default=1)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    servers = {}
    try:
        for name, cmd, port in (("A", a.a, a.a_port), ("B", a.b, a.b_port)):
            servers[name] = (start_pinned(shlex.split(cmd)), port)
            if not wait_up(port, a.path):
                sys.exit(f"server {name} did not answer on port {port}")
        time.sleep(1.5)
        cost = {"A": [], "B": []}
        served = {"A": [], "B": []}
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            extra = load_args(a.path, lua)
            for name in ("A", "B"):  # warm-up
                window(servers[name][1], a.path, 1, a.conns, extra)
            for r in range(a.rounds):
                for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    proc, port = servers[name]
                    before = group_cpu(proc.pid)
                    n = window(port, a.path, a.seconds, a.conns, extra)
                    cost[name].append((group_cpu(proc.pid) - before) * 1e6 / max(n, 1))
                    served[name].append(n / a.seconds)
        for name in ("A", "B"):
            v = cost[name]
            print(f"{name}: min {min(v):.1f}  median {statistics.median(v):.1f} us/request")
        ratios = sorted(b / x for x, b in zip(cost["A"], cost["B"]))
        print(f"B/A paired ratio: median {statistics.median(ratios):.3f}  "
              f"[{', '.join(f'{x:.2f}' for x in ratios)}]")
        rps = sorted(b / max(x, 1) for x, b in zip(served["A"], served["B"]))
        print(f"B/A req/s ratio: median {statistics.median(rps):.3f}  "
              f"[{', '.join(f'{x:.2f}' for x in rps)}]  "
              f"(A median {statistics.median(served['A']):.0f}, "
              f"B median {statistics.median(served['B']):.0f} req/s)")
    finally:
        for proc, _ in servers.values():
            stop(proc)


if __name__ == "__main__":
    main()
