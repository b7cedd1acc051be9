#!/usr/bin/env bash
# Install what the tests need (Debian 12, as root or with sudo) and run them all:
# formatting, clippy, unit + integration tests (they start the real wsgid on
# loopback), then the conformance oracle on the cases wsgid claims to pass.
#
#   scripts/test.sh                 everything
#   ORACLE_CASES="01 18" scripts/test.sh   another set of oracle cases
#
# The oracle suite lives in ../shared/oracle (beside this checkout).  The
# Python that wsgid embeds is chosen at build time: PYO3_PYTHON, default the
# `python3` on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

# System packages: Apache + Debian's mod_wsgi (the oracle, and the peer in
# the benchmark), Python headers and libpython for the embedding.
PKGS=(apache2 libapache2-mod-wsgi-py3 apache2-utils python3-dev python3-venv)
installed=$(dpkg-query -W -f '${Status}\n' "${PKGS[@]}" 2>/dev/null | grep -c 'install ok installed' || true)
if [ "$installed" -eq "${#PKGS[@]}" ]; then
    echo "== system packages present"
else
    echo "== installing system packages: ${PKGS[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
fi
# Debian starts the system apache2 on port 80 when it is installed; the tests
# do not use it, so stop it rather than leave a stray server behind.
if command -v apache2ctl >/dev/null 2>&1 && pgrep -x apache2 >/dev/null 2>&1; then
    $SUDO apache2ctl stop >/dev/null 2>&1 || true
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
# llvm-profdata, for the profile-guided speed build below.
rustup component add llvm-tools >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build --release"
cargo build --release --locked

# cargo-nextest when installed, else cargo test, with the same arguments.
run_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run "$@"
    else
        cargo test "$@"
    fi
}

echo "== unit and integration tests"
run_tests --workspace --locked --no-fail-fast

# The build made for speed (README, "Building for speed"): libpython linked
# in statically, from Debian's python3.11 (python3-dev installs its
# libpython3.11.a), and optimised with a profile of a training run (which
# checks every answer it gets).  The integration tests run again against
# that binary, the one the benchmark measures.
STATIC_PYTHON=${STATIC_PYTHON:-/usr/bin/python3.11}
echo "== static-libpython profile-guided build with $STATIC_PYTHON, integration tests against it"
scripts/build-pgo.sh "$STATIC_PYTHON"
WSGID_TEST_SUBJECT="$PWD/target/static/release/wsgid" run_tests -p wsgid --locked --no-fail-fast

ORACLE=${ORACLE_DIR:-../shared/oracle}
CASES=${ORACLE_CASES:-"01 02 03 04 05 06 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24"}
if [ -f "$ORACLE/harness.py" ]; then
    echo "== conformance oracle: cases $CASES"
    # shellcheck disable=SC2086
    # Outputs go to a temporary folder: ../shared is read-only for us.
    python3 "$ORACLE/harness.py" compare --out "${TMPDIR:-/tmp}/wsgid-oracle-out" \
        --subject 'target/release/wsgid -f {conf}' $CASES
    # Case 07 runs daemon processes as nobody and www-data, which must read
    # the embedded Python's standard library: pyenv's lives under /root
    # (mode 0700), so the case runs against the static build of Debian's
    # python3.11 (as mod_wsgi's own is).  It also compares argv[0] of a
    # process without display-name: Apache's is '/usr/sbin/apache2', the
    # name it was started as; wsgid keeps the name it was started as, so
    # it is started under that name here (exec -a) and the comparison
    # checks that wsgid leaves argv[0] alone unless display-name is set.
    if [ -z "${ORACLE_CASES:-}" ]; then
        # Our own cases (tests/oracle), recorded from Apache the same way.
        echo "== conformance oracle: this repository's cases (tests/oracle)"
        python3 "$ORACLE/harness.py" compare --out "${TMPDIR:-/tmp}/wsgid-oracle-out" \
            --cases-dir tests/oracle --subject 'target/release/wsgid -f {conf}'
        echo "== conformance oracle: case 07 against the static Debian-Python build"
        python3 "$ORACLE/harness.py" compare --out "${TMPDIR:-/tmp}/wsgid-oracle-out" \
            --subject "bash -c \"exec -a /usr/sbin/apache2 $PWD/target/static/release/wsgid -f {conf}\"" 07
    fi
else
    echo "== conformance oracle not found at $ORACLE (set ORACLE_DIR); skipped" >&2
    exit 1
fi
