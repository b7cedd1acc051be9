#!/usr/bin/env bash
# Run the whole test suite (`cargo nextest run --workspace`) with wsgid
# embedding other Pythons: for each version, the newest matching pyenv
# install is the build's PYO3_PYTHON (and the first `python3` on PATH), and
# everything is built in its own CARGO_TARGET_DIR (target/py3.12, ...), so
# the main build in target/ is untouched.
#
#   scripts/test-pythons.sh                 3.12 and 3.13
#   scripts/test-pythons.sh 3.13            one version (major.minor or exact)
#   NEXTEST_ARGS="-E test(python_setup)" scripts/test-pythons.sh   a subset
#
# The integration tests start the binary cargo builds for them
# (CARGO_BIN_EXE_wsgid, in the version's target directory), so nothing else
# needs pointing at it.  Exit status: 0 when every version passed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
    VERSIONS=("$@")
else
    VERSIONS=(3.12 3.13)
fi

if ! command -v pyenv >/dev/null 2>&1; then
    echo "pyenv not found; it provides the Pythons to test with" >&2
    exit 2
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest not found (cargo install cargo-nextest --locked)" >&2
    exit 2
fi
PYENV_ROOT=$(pyenv root)

declare -A RESULT
failed=0
for want in "${VERSIONS[@]}"; do
    # Newest install whose version is exactly $want or starts with "$want.".
    full=$(pyenv versions --bare | sed 's/^[* ]*//' \
        | awk -v w="$want" '$1 == w || index($1, w ".") == 1 { print $1 }' \
        | sort -V | tail -n 1)
    python="$PYENV_ROOT/versions/$full/bin/python3"
    if [ -z "$full" ] || [ ! -x "$python" ]; then
        echo "== Python $want: no pyenv install found (pyenv install $want)" >&2
        RESULT[$want]="missing"
        failed=1
        continue
    fi
    series=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    target="target/py$series"
    log="$target/test-pythons.log"
    mkdir -p "$target"
    echo "== Python $full ($python) -> $target"
    (
        export PYO3_PYTHON="$python"
        export CARGO_TARGET_DIR="$target"
        export PATH="$PYENV_ROOT/versions/$full/bin:$PATH"
        # shellcheck disable=SC2086
        cargo nextest run --workspace --locked --no-fail-fast ${NEXTEST_ARGS:-} &&
            "$CARGO_TARGET_DIR/debug/wsgid" -V
    ) 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    summary=$(grep -E '^ +Summary ' "$log" | tail -n 1 | sed 's/^ *//')
    if [ "$status" -eq 0 ]; then
        RESULT[$want]="ok: Python $full: ${summary:-no summary}"
    else
        RESULT[$want]="FAILED (exit $status): Python $full: ${summary:-build failed, see $log}"
        failed=1
    fi
done

echo
echo "== results"
for want in "${VERSIONS[@]}"; do
    echo "$want: ${RESULT[$want]}"
done
exit "$failed"
