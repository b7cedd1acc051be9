#!/usr/bin/env python3
"""Basic authentication through WSGIAuthUserScript (issue 6): does the auth
call cost less than one plain WSGI request?

The shared benchmark's hello app, with the benchmark's own embedded config
(2 processes x 8 threads, %{GLOBAL}, wsgid pinned to one CPU, wrk on the
other), in two layouts:

  plain   no authentication
  basic   AuthType Basic, AuthBasicProvider wsgi, a WSGIAuthUserScript whose
          check_password compares against a dict, Require valid-user; every
          request carries the right credentials

The layouts run --rounds times, interleaved; medians of requests/s and of
server CPU time per request are reported.  The cost of the auth call is
  (CPU/req with auth) - (CPU/req plain)
and the issue's bar is that it is below one plain request's CPU/req.

    bench/auth.py [--rounds 3] [--seconds 8] [--out bench/results/auth-STAMP.md]
"""
import argparse
import datetime
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import groups  # noqa: E402  (its server runner, CPU accounting and paths)

CHECK = '''
USERS = {"bench": "secret"}

def check_password(environ, user, password):
    known = USERS.get(user)
    if known is None:
        return None
    return known == password
'''

AUTH = '''
<Location />
    AuthType Basic
    AuthName "bench"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "@@WORKDIR@@/check.py"
    Require valid-user
</Location>
'''

# wrk: one path, the credentials on every request.
LUA = '''
wrk.headers["Authorization"] = "Basic YmVuY2g6c2VjcmV0"
request = function()
  return wrk.format("GET", "/hello")
end
'''


def render(workdir: Path, auth: bool) -> Path:
    base = (groups.SHARED / "configs" / "httpd-base.conf.in").read_text()
    embedded = (groups.SHARED / "configs" / "wsgi-embedded.conf.in").read_text()
    text = base + "\n" + embedded + (AUTH if auth else "")
    values = {
        "WORKDIR": str(workdir), "PORT": str(groups.PORT), "APPS": str(groups.SHARED / "apps"),
        "PROCS": "2", "THREADS": "8", "TOTAL_THREADS": "16",
    }
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    (workdir / "run").mkdir(exist_ok=True)
    (workdir / "check.py").write_text(CHECK)
    conf = workdir / "httpd.conf"
    conf.write_text(text)
    return conf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--wsgid", default=str(groups.REPO / "target" / "release" / "wsgid"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    layouts = {"plain": False, "basic": True}
    results = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory(prefix="wsgid-auth-") as tmp:
        tmp = Path(tmp)
        # The workers drop to the config's User: they must read check.py.
        tmp.chmod(0o755)
        lua = tmp / "auth.lua"
        lua.write_text(LUA)
        # groups.run_one warms up with /a/hello and /b/hello: the hello app
        # answers every path, and the warm-up carries no credentials, so
        # the protected layout is warmed by wrk's own first second.
        for r in range(args.rounds):
            for name, auth in layouts.items():
                workdir = tmp / f"{name}-{r}"
                workdir.mkdir()
                rps, us, errs = run(args.wsgid, render(workdir, auth), lua, args.seconds)
                results[name].append((rps, us, errs))
                print(f"round {r + 1} {name:6s} {rps:9.0f} req/s  {us:6.1f} us/req  non-2xx {errs}", flush=True)
    med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
               sum(x[2] for x in v)) for n, v in results.items()}
    plain_us, auth_us = med["plain"][1], med["basic"][1]
    cost = auth_us - plain_us
    lines = [
        f"# Basic auth through WSGIAuthUserScript — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"`bench/auth.py --rounds {args.rounds} --seconds {args.seconds}`: wsgid with the shared benchmark's "
        "embedded config (2 proc x 8 thr, `taskset -c 1`), wrk `-t1 -c50` (`taskset -c 0`) on `/hello`; "
        "medians of the interleaved rounds.",
        "",
        "| layout | req/s | server CPU µs/req | non-2xx |",
        "|---|---:|---:|---:|",
    ]
    for n, (rps, us, errs) in med.items():
        lines.append(f"| {n} | {rps:,.0f} | {us:.1f} | {errs} |")
    lines += ["", f"Auth call: {cost:.1f} µs of server CPU per request, "
              f"{cost / plain_us:.2f} x a plain request ({plain_us:.1f} µs)."]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0 if cost < plain_us else 1


def run(wsgid, conf, lua, seconds):
    # groups.run_one's warm-up fetches /a/hello and /b/hello without
    # credentials; a 401 there would stop it, so swap in a probe that
    # accepts any answer.
    import urllib.error
    real = groups.urllib.request.urlopen

    def lenient(url, timeout=2):
        try:
            return real(url, timeout=timeout)
        except urllib.error.HTTPError as e:
            return e
    groups.urllib.request.urlopen = lenient
    try:
        return groups.run_one(wsgid, conf, lua, seconds)
    finally:
        groups.urllib.request.urlopen = real


if __name__ == "__main__":
    sys.exit(main())
