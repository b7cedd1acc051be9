#!/usr/bin/env python3
"""Application-group switching benchmark (issue 4): is changing interpreters cheap?

The shared benchmark's hello app is served under two URL prefixes, /a and /b,
by wsgid with the benchmark's own httpd config (2 processes x 8 threads,
pinned to one CPU, wrk on the other).  wrk alternates its requests between
/a/hello and /b/hello.  Three layouts of the same config are compared:

  global       both prefixes in %{GLOBAL} (the main interpreter: no switching)
  one-group    both prefixes in one named group (one sub-interpreter)
  two-groups   /a in group "a", /b in group "b": every other request runs in
               another interpreter than the thread's previous one

Each layout is run --rounds times, interleaved, and the medians of requests/s
and of server CPU time per request (robust to other load on the machine) are
reported.  The issue's bar: two-groups >= 90 % of the single-group rate.

    bench/groups.py [--rounds 3] [--seconds 8] [--out bench/results/groups-STAMP.md]
"""
import argparse
import datetime
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("SHARED_BENCH", REPO.parent / "shared" / "bench"))
PORT = 18997

LAYOUTS = {
    "global": ("%{GLOBAL}", "%{GLOBAL}"),
    "one-group": ("shared", "shared"),
    "two-groups": ("a", "b"),
}

ALTERNATE_LUA = """
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/a/hello")
  end
  return wrk.format("GET", "/b/hello")
end
"""


def render(workdir: Path, groups) -> Path:
    base = (SHARED / "configs" / "httpd-base.conf.in").read_text()
    embedded = (SHARED / "configs" / "wsgi-embedded.conf.in").read_text()
    # The benchmark's embedded config, with its one WSGIScriptAlias replaced
    # by the two prefixes and their groups.
    embedded = re.sub(r"(?m)^WSGIApplicationGroup.*\n", "", embedded)
    embedded = re.sub(r"(?m)^WSGIScriptAlias.*\n", "", embedded)
    for prefix, group in zip(("a", "b"), groups):
        embedded += (
            f'WSGIScriptAlias /{prefix} "@@APPS@@/app.wsgi"\n'
            f"<Location /{prefix}>\n    WSGIApplicationGroup {group}\n</Location>\n"
        )
    text = base + "\n" + embedded
    values = {
        "WORKDIR": str(workdir), "PORT": str(PORT), "APPS": str(SHARED / "apps"),
        "PROCS": "2", "THREADS": "8", "TOTAL_THREADS": "16",
    }
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    (workdir / "run").mkdir(exist_ok=True)
    conf = workdir / "httpd.conf"
    conf.write_text(text)
    return conf


def process_cpu(pgid: int) -> dict:
    """Each process of the group: pid -> (command line, user s, system s)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(pid)] = (cmdline.strip(), int(fields[11]) / tick, int(fields[12]) / tick)
        except (OSError, ValueError, IndexError):
            pass
    return found


def group_cpu(pgid: int) -> float:
    return sum(user + system for _, user, system in process_cpu(pgid).values())


def run_one(wsgid: str, conf: Path, lua: Path, seconds: int):
    p = subprocess.Popen(["taskset", "-c", "1", wsgid, "-f", str(conf)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while True:
            try:
                for path in ("/a/hello", "/b/hello"):
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("wsgid did not come up")
                time.sleep(0.2)
        # Warm every thread in both interpreters.
        subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c50", "-d2s", "-s", str(lua),
                        f"http://127.0.0.1:{PORT}"], capture_output=True, check=False)
        c0 = group_cpu(p.pid)
        out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c50", f"-d{seconds}s", "-s", str(lua),
                              f"http://127.0.0.1:{PORT}"], capture_output=True, text=True, check=False).stdout
        c1 = group_cpu(p.pid)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=20)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, (c1 - c0) * 1e6 / max(reqs, 1), int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--wsgid", default=str(REPO / "target" / "release" / "wsgid"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    results = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="wsgid-groups-") as tmp:
        tmp = Path(tmp)
        lua = tmp / "alternate.lua"
        lua.write_text(ALTERNATE_LUA)
        for r in range(args.rounds):
            for name, groups in LAYOUTS.items():
                workdir = tmp / f"{name}-{r}"
                workdir.mkdir()
                rps, us, errs = run_one(args.wsgid, render(workdir, groups), lua, args.seconds)
                results[name].append((rps, us, errs))
                print(f"round {r + 1} {name:11s} {rps:9.0f} req/s  {us:6.1f} us/req  non-2xx {errs}", flush=True)
    med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
               sum(x[2] for x in v)) for n, v in results.items()}
    lines = [
        f"# Application-group switching — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"`bench/groups.py --rounds {args.rounds} --seconds {args.seconds}`: wsgid with the shared benchmark's "
        "embedded config (2 proc x 8 thr, `taskset -c 1`), wrk `-t1 -c50` (`taskset -c 0`) alternating "
        "`/a/hello` and `/b/hello`; medians of the interleaved rounds.",
        "",
        "| layout | req/s | server CPU µs/req | non-2xx | req/s vs one-group |",
        "|---|---:|---:|---:|---:|",
    ]
    base = med["one-group"][0]
    for n, (rps, us, errs) in med.items():
        lines.append(f"| {n} | {rps:,.0f} | {us:.1f} | {errs} | {rps / base:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0 if med["two-groups"][0] >= 0.9 * base else 1


if __name__ == "__main__":
    sys.exit(main())
