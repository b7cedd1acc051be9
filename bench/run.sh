#!/usr/bin/env bash
# Run the shared load benchmark (../shared/bench, see its README; its
# servers.toml has the wsgid-embedded, wsgid-daemon and wsgid-cli entries,
# which call `wsgid` from PATH).  Results go under bench/results/ in this repo.
#
#   bench/run.sh                         the issue's comparison, pinned, all workloads
#   bench/run.sh --quick                 a smoke run
#   bench/run.sh --servers wsgid-embedded,granian --workloads hello
#
# Needs ../shared/bench/setup.sh to have been run once (Apache, wrk, the
# peers' virtualenv) and a release build (done here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${SHARED_BENCH:-$repo/../shared/bench}
# wsgid embeds the same Python as the peers it is measured against
# (Debian's python3.11; a pyenv build without PGO runs Python code ~25%
# slower, which would measure the interpreter build rather than the server),
# linked in statically as Debian's own /usr/bin/python3.11 is, which is what
# granian and gunicorn run in (scripts/build-static.sh; Apache's mod_wsgi
# loads libpython3.11.so), and optimised with a profile of a training run
# (scripts/build-pgo.sh; its training mix is not this benchmark's app).
# Override with BENCH_PYTHON=/path/to/python3; BENCH_BUILD=static measures
# the static build without the profile, BENCH_BUILD=shared the default,
# shared-libpython build.
bench_python=${BENCH_PYTHON:-/usr/bin/python3.11}
case "${BENCH_BUILD:-pgo}" in
shared)
    (cd "$repo" && PYO3_PYTHON="$bench_python" CARGO_TARGET_DIR="$repo/target/bench" \
        cargo build --release --locked)
    export PATH="$repo/target/bench/release:$PATH"
    ;;
static)
    CARGO_TARGET_DIR="$repo/target/bench-static" "$repo/scripts/build-static.sh" "$bench_python"
    export PATH="$repo/target/bench-static/release:$PATH"
    ;;
pgo)
    CARGO_TARGET_DIR="$repo/target/bench-pgo" "$repo/scripts/build-pgo.sh" "$bench_python"
    export PATH="$repo/target/bench-pgo/release:$PATH"
    ;;
*)
    echo "bench/run.sh: BENCH_BUILD is pgo, static or shared" >&2
    exit 2
    ;;
esac
stamp=$(date -u +%Y%m%d-%H%M%S)
args=("$@")
if ! printf '%s\n' "${args[@]}" | grep -q -- '^--servers$'; then
    args+=(--servers wsgid-embedded,apache-modwsgi-embedded,gunicorn-gthread,granian)
fi
if ! printf '%s\n' "${args[@]}" | grep -q -- '^--modes$'; then
    args+=(--modes pinned)
fi
mkdir -p "$here/results/raw"
exec python3 "$shared/run.py" \
    --out "$here/results/raw/$stamp.json" --report "$here/results/run-$stamp.md" "${args[@]}"
