//! Link settings for the libpython that pyo3 was configured with.
//!
//! Shared libpython (the default): a RUNPATH, so the binary runs the Python
//! it was built for without `LD_LIBRARY_PATH` tricks.  Why: pyenv's 3.11 and
//! Debian's 3.11 share the soname `libpython3.11.so.1.0`; without a RUNPATH a
//! binary built against pyenv silently loads Debian's library (see
//! shared/design/embedding-facts.md, "Build settings").
//!
//! Static libpython (`scripts/build-static.sh`, a pyo3 config file with
//! `shared=false`): Debian's `libpythonX.Y.a` is the archive its own
//! `/usr/bin/pythonX.Y` is linked from, built without `-fPIC`, so the
//! executables are linked as non-PIE; and extension modules (`_json`,
//! `_ssl`, ...) find the C API in the executable only if its symbols are
//! exported, as `python` itself does with `-Xlinker -export-dynamic`.
fn main() {
    if pyo3_build_config::get().shared() {
        pyo3_build_config::add_libpython_rpath_link_args();
    } else {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
    }
}
