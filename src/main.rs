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
