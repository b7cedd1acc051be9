#!/usr/bin/env bash
# The speed build (scripts/build-static.sh: libpython linked in statically,
# fat LTO) with profile-guided optimisation of wsgid's own code: build it
# instrumented, run it on a mix of typical requests (scripts/pgo/: embedded
# and daemon mode, static files, request bodies, errors; not the benchmark's
# application), and build it again with the counts that run produced, so
# that the compiler lays out, inlines and orders branches for the paths
# requests take.  Measured (bench/paired_ab.py, one core, 2026-11-27):
# 12% less CPU per embedded hello request, 8% environ, 12% POST 64 KiB,
# 16% daemon-mode hello, against the same build without the profile.
#
#   scripts/build-pgo.sh                  python3 on PATH
#   scripts/build-pgo.sh /usr/bin/python3.11
#
# Output: target/static/release/wsgid (CARGO_TARGET_DIR overrides
# target/static), the same place as build-static.sh's; the instrumented
# build goes to its pgo-instrumented/ and the profile to its pgo-data/.
# Needs llvm-profdata of the compiler's LLVM version: rustup's llvm-tools
# component, added here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(command -v "${1:-python3}")
OUT=${CARGO_TARGET_DIR:-target/static}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

PROFDATA="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
    echo "== adding rustup's llvm-tools (llvm-profdata)"
    rustup component add llvm-tools
fi
if [ ! -x "$PROFDATA" ]; then
    echo "build-pgo.sh: no llvm-profdata at $PROFDATA (rustup component add llvm-tools)" >&2
    exit 1
fi

DATA="$OUT/pgo-data"
rm -rf "$DATA"
mkdir -p "$DATA"

echo "== 1/3: instrumented build"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$DATA" CARGO_TARGET_DIR="$OUT/pgo-instrumented" \
    scripts/build-static.sh "$PY"
# Build scripts and proc macros ran instrumented too; their counts are not
# wsgid's.
rm -f "$DATA"/*.profraw

echo "== 2/3: training run (scripts/pgo/train.py)"
# One file per process: the master, its workers and the daemon processes
# each write theirs when they exit.
LLVM_PROFILE_FILE="$DATA/wsgid-%p.profraw" \
    python3 scripts/pgo/train.py "$OUT/pgo-instrumented/release/wsgid"
shopt -s nullglob
profiles=("$DATA"/wsgid-*.profraw)
if [ "${#profiles[@]}" -lt 3 ]; then
    echo "build-pgo.sh: the training run left ${#profiles[@]} profiles (master, workers and daemon expected)" >&2
    exit 1
fi
"$PROFDATA" merge -o "$DATA/wsgid.profdata" "${profiles[@]}"

echo "== 3/3: optimised build with the profile"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$DATA/wsgid.profdata" CARGO_TARGET_DIR="$OUT" \
    scripts/build-static.sh "$PY"
