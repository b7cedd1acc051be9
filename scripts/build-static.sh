#!/usr/bin/env bash
# Build wsgid with libpython linked in statically, the way `python` itself is
# linked: extension modules then call into the executable, not through a
# shared library's PLT, and Debian's libpythonX.Y.a is its optimised (PGO +
# LTO) build.  Measured on the benchmark's environ workload: 90 against
# 125 us of CPU per request with Debian's libpython3.11.so (README,
# "Building for speed").
#
#   scripts/build-static.sh                  python3 on PATH
#   scripts/build-static.sh /usr/bin/python3.11
#
# Output: target/static/release/wsgid (CARGO_TARGET_DIR overrides target/static).
# Needs the Python's static library (Debian: libpythonX.Y-dev, which
# python3-dev pulls in; pyenv builds have one).  build.rs links the
# executables non-PIE and exports the C API for extension modules.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(command -v "${1:-python3}")
OUT=${CARGO_TARGET_DIR:-target/static}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CFG="$OUT/pyo3-static.cfg"

"$PY" - "$PY" > "$CFG" <<'PYEOF'
import os, sys, sysconfig
exe = sys.argv[1]
v = sysconfig.get_config_var
libpl, library = v("LIBPL"), v("LIBRARY")
archive = os.path.join(libpl, library or "")
if not library or not library.endswith(".a") or not os.path.isfile(archive) or os.path.islink(archive):
    sys.exit(f"{exe}: no static libpython at {archive}")
name = library[len("lib"):-len(".a")]
libs = []
for var in ("LIBS", "SYSLIBS", "MODLIBS"):
    for flag in (v(var) or "").split():
        if flag.startswith("-l") and flag[2:] not in libs:
            libs.append(flag[2:])
print("implementation=CPython")
print(f"version={sys.version_info[0]}.{sys.version_info[1]}")
print("shared=false")
print("abi3=false")
print(f"lib_name={name}")
print(f"lib_dir={libpl}")
print(f"executable={exe}")
print("pointer_width=64")
print("build_flags=")
print("suppress_build_script_link_lines=true")
print(f"extra_build_script_line=cargo:rustc-link-search=native={libpl}")
# The whole archive: an extension module may need a C API function that
# nothing in wsgid references.
print(f"extra_build_script_line=cargo:rustc-link-lib=static:+whole-archive={name}")
for lib in libs:
    print(f"extra_build_script_line=cargo:rustc-link-lib={lib}")
PYEOF

echo "== static libpython build with $PY ($CFG) into $OUT"
# The speed build is also linked with full ("fat") LTO rather than the
# release profile's thin LTO: inlining across all crates (tokio, http,
# pyo3, wsgid's own) took 3-5% off the CPU of an embedded request
# (bench/paired_ab.py, one core, hello and environ, 2026-11-27), for a
# link of ~1.5 min instead of ~30 s, which the everyday build keeps.
PYO3_CONFIG_FILE="$CFG" CARGO_TARGET_DIR="$OUT" CARGO_PROFILE_RELEASE_LTO=fat \
    cargo build --release --locked --bins
