//! The crate's test binaries link libpython through wsgid-python: give them
//! the same RUNPATH as the server binary, so they load the Python they were
//! built for (without it, a 3.11 build silently picks up the system's
//! libpython3.11 and a 3.12/3.13 build finds none).
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
