//! `wsgid`: host Python WSGI applications configured like Apache + mod_wsgi.
//!
//! `main` only parses the command line, runs it, and turns the outcome into
//! an exit status; the error chain is printed once.
#![forbid(unsafe_code)]

mod app;
mod cli;
mod express;
mod process;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: every request allocates and frees
/// many small buffers across the I/O and Python threads (head, environ
/// strings, channel blocks); glibc spent ~15% of the front end's CPU in
/// malloc/free and chunk consolidation on the hello benchmark, mimalloc's
/// thread-local free lists make that a small fraction.  Python's own
/// small-object allocator (pymalloc) is unaffected.
///
/// Built with mimalloc's `no_thp` feature: otherwise mimalloc asks for
/// transparent huge pages on its arenas (`madvise(MADV_HUGEPAGE)`), and each
/// process's first touches pull in whole 2 MiB pages — measured on the
/// benchmark config, 57 MiB of PSS after load instead of 22 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::parse();
    match app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wsgid: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
