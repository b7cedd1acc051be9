//! Writes a RUNPATH for the libpython that pyo3 links against, so the binary
//! runs the Python it was built for without `LD_LIBRARY_PATH` tricks.
//!
//! Why: pyenv's 3.11 and Debian's 3.11 share the soname `libpython3.11.so.1.0`;
//! without a RUNPATH a binary built against pyenv silently loads Debian's
//! library (see shared/design/embedding-facts.md, "Build settings").
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
